import { createHash } from 'node:crypto';
import { ToolFailure } from './tool-errors.js';

/** Where the next page starts. */
export interface PagePosition {
  /** Hits before the page: those already returned (`recall`). */
  readonly offset: number;
  /** Where the listing resumes (`list_memories`: core's cursor; `kv_list`: the last key returned). */
  readonly resume?: string;
}

/** What a cursor holds, before encoding. */
interface CursorBody {
  /** Format version. */
  v: 1;
  /** The tool that returned it. */
  t: string;
  /** Digest of the arguments that chose the hits (query, tags, namespace, filter). */
  q: string;
  /** The offset of the next page. */
  o: number;
  /** Where the listing resumes, if it says so. */
  r?: string;
}

/**
 * An opaque `cursor` for the page after this one: base64url of a small JSON object naming the tool, a
 * digest of the arguments that chose the items (`listing`), and the position. A client passes it back
 * unchanged with the same arguments.
 */
export function encodeCursor(tool: string, listing: unknown, position: PagePosition): string {
  const body: CursorBody = { v: 1, t: tool, q: listingDigest(listing), o: position.offset, ...(position.resume !== undefined ? { r: position.resume } : {}) };
  return Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
}

/**
 * The position a `cursor` of `encodeCursor` holds. Fails with `INVALID_CURSOR` when it is not one, or
 * when it was returned by another tool or for other arguments than `listing`.
 */
export function decodeCursor(cursor: string, tool: string, listing: unknown): PagePosition {
  const body = parseBody(cursor);
  if (body === undefined || body.t !== tool) {
    throw new ToolFailure('INVALID_CURSOR', `${tool}: cursor is not one that ${tool} returned; pass nextCursor from the previous result unchanged, or leave cursor out for the first page.`);
  }
  if (body.q !== listingDigest(listing)) {
    throw new ToolFailure('INVALID_CURSOR', `${tool}: cursor belongs to a call with other arguments; repeat the arguments of the call that returned it (only cursor changes), or leave cursor out to start over.`);
  }
  return body.r === undefined ? { offset: body.o } : { offset: body.o, resume: body.r };
}

function parseBody(cursor: string): CursorBody | undefined {
  // (Room for a key of 1,024 bytes, each escaped as JSON can: \u0001 is six characters.)
  if (!/^[A-Za-z0-9_-]{1,16384}$/.test(cursor)) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const { v, t, q, o, r } = body as Partial<CursorBody>;
  if (v !== 1 || typeof t !== 'string' || typeof q !== 'string' || !Number.isSafeInteger(o) || (o as number) < 0 || (r !== undefined && typeof r !== 'string')) return undefined;
  return body as CursorBody;
}

/** A short digest of `listing` that does not depend on the order of object keys. */
function listingDigest(listing: unknown): string {
  return createHash('sha256').update(canonicalJson(listing)).digest('base64url').slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
