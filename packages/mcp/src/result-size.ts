import { maxResultBytes } from './limits.js';

/** The UTF-8 bytes of `value` as JSON. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/** Room a result keeps, within `maxResultBytes`, for what surrounds its memories (cursors, flags). */
const ENVELOPE_BYTES = 4096;

/** A memory as a result holds it: its text may be cut short (`textTruncated`) to fit. */
interface FittableMemory {
  text: string;
  meta: Record<string, unknown>;
  textTruncated?: true;
  textBytes?: number;
  metaOmitted?: true;
}

/**
 * `memory` as it fits in `budget` bytes of JSON: as it is, or with its text cut short (never inside a
 * character), `textTruncated: true` and the whole text's UTF-8 length as `textBytes`; and, should its
 * `meta` alone be too long, without it (`metaOmitted: true`).
 */
export function fitMemory<M extends FittableMemory>(memory: M, budget = maxResultBytes - ENVELOPE_BYTES): M {
  if (jsonBytes(memory) <= budget) return memory;
  if (jsonBytes({ ...memory, text: '' }) > budget) memory = { ...memory, meta: {}, metaOmitted: true };
  if (jsonBytes(memory) <= budget) return memory;
  const full = memory.text;
  const cut = (length: number): M => ({ ...memory, text: full.slice(0, length), textTruncated: true, textBytes: Buffer.byteLength(full) });
  // The longest prefix that fits, by bisection on its length in code units.
  let low = 0;
  let high = full.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (jsonBytes(cut(middle)) <= budget) low = middle;
    else high = middle - 1;
  }
  // (Not half a surrogate pair.)
  const code = full.charCodeAt(low - 1);
  return cut(code >= 0xd800 && code <= 0xdbff ? low - 1 : low);
}

/**
 * The first of `memories` that fit in one result together: at least one (its text cut short if it alone
 * is too long, see `fitMemory`), then each while the page stays within `maxResultBytes`.
 */
export function fitPage<M extends FittableMemory>(memories: readonly M[]): M[] {
  const budget = maxResultBytes - ENVELOPE_BYTES;
  const page: M[] = [];
  let bytes = 2;
  for (const memory of memories) {
    const size = jsonBytes(memory) + 1;
    if (page.length > 0 && bytes + size > budget) break;
    page.push(page.length === 0 && size > budget ? fitMemory(memory, budget - bytes) : memory);
    bytes += page.length === 1 ? Math.min(size, budget) : size;
  }
  return page;
}
