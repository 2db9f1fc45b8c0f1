import { MemMapError } from './errors.js';

/** The version of the cursor's contents, so that a later layout can refuse an older cursor clearly. */
const VERSION = 1;

/**
 * The cursor of `listMemories`: where the next page starts (after memory `after`), opaque to callers
 * (base64url of a small JSON object), so that what it holds may change.
 */
export function encodeMemoryCursor(after: number): string {
  return Buffer.from(JSON.stringify({ v: VERSION, after }), 'utf8').toString('base64url');
}

/** The id a cursor made by `encodeMemoryCursor` goes on after; `INVALID_ARGUMENT` for anything else. */
export function decodeMemoryCursor(cursor: unknown, method: string): number {
  const refuse = () => new MemMapError('INVALID_ARGUMENT', `${method}: cursor must be the nextCursor of an earlier page, as it was returned; got ${typeof cursor === 'string' ? JSON.stringify(cursor.slice(0, 40)) : typeof cursor}. Leave it out to start from the first page.`);
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > 200) throw refuse();
  let parsed: { v?: unknown; after?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as typeof parsed;
  } catch {
    throw refuse();
  }
  if (parsed === null || typeof parsed !== 'object' || parsed.v !== VERSION || !Number.isSafeInteger(parsed.after) || (parsed.after as number) < 0) throw refuse();
  return parsed.after as number;
}
