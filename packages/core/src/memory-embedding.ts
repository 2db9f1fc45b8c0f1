import { MemMapError } from './errors.js';
import { describeValue } from './validation.js';

/**
 * A caller's embedding, checked, as the float32 bytes a record keeps: a `Float32Array` or an array of
 * finite numbers, of exactly `dimensions` numbers (the search provider's). `dimensions` undefined: the
 * provider has no vector search, which is `INVALID_ARGUMENT` saying how to get one.
 */
export function checkEmbedding(value: unknown, method: string, dimensions: number | undefined, provider: string): Uint8Array {
  const invalid = (why: string) => new MemMapError('INVALID_ARGUMENT', `${method}: embedding ${why}.`);
  if (dimensions === undefined) {
    throw invalid(`needs a search provider with vector search, and '${provider}' has none: open the store with one, e.g. { search: { provider: 'orama', options: { vectors: { dimensions: 384 } } } } (the length of your model's embeddings)`);
  }
  if (!(value instanceof Float32Array) && !Array.isArray(value)) throw invalid(`must be a Float32Array or an array of numbers, got ${value === null ? 'null' : typeof value}`);
  const numbers = value as ArrayLike<unknown>;
  if (numbers.length !== dimensions) throw invalid(`has ${numbers.length} numbers; the '${provider}' search provider takes embeddings of ${dimensions}`);
  // Little-endian whatever the host's byte order: a store's files move between machines.
  const bytes = new Uint8Array(numbers.length * 4);
  const view = new DataView(bytes.buffer);
  let allZero = true;
  for (let i = 0; i < numbers.length; i++) {
    const n = numbers[i];
    if (typeof n !== 'number' || !Number.isFinite(n)) throw invalid(`has ${typeof n === 'number' ? n : typeof n} at index ${i}; every number must be finite`);
    view.setFloat32(i * 4, n, true);
    const kept = view.getFloat32(i * 4, true);
    if (!Number.isFinite(kept)) throw invalid(`has ${n} at index ${i}, beyond the float32 range embeddings are kept in (±3.4e38); scale it down`);
    allZero &&= kept === 0;
  }
  if (allZero) throw invalid('is all zeros: it has no direction to compare by');
  return bytes;
}

/** A memory's stored embedding (float32 little-endian bytes) as a fresh `Float32Array` (the caller may change it). */
export function embeddingOf(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const vector = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < vector.length; i++) vector[i] = view.getFloat32(i * 4, true);
  return vector;
}

/** `queryMemory`'s `hybrid`, checked: the text's weight in a hybrid search, or `undefined` for none. */
export function checkHybrid(hybrid: unknown, withEmbedding: boolean, method: string): number | undefined {
  if (hybrid === undefined || hybrid === false) return undefined;
  if (!withEmbedding) throw new MemMapError('INVALID_ARGUMENT', `${method}: hybrid needs an embedding to combine the text with; pass { embedding, hybrid }.`);
  if (hybrid === true) return 0.5;
  const textWeight = (hybrid as { textWeight?: unknown } | null)?.textWeight;
  if (typeof hybrid !== 'object' || typeof textWeight !== 'number' || !(textWeight >= 0 && textWeight <= 1)) {
    throw new MemMapError('INVALID_ARGUMENT', `${method}: hybrid must be true or { textWeight } with a number from 0 to 1, got ${typeof hybrid === 'object' && hybrid !== null && !Array.isArray(hybrid) ? `{ textWeight: ${describeValue(textWeight)} }` : describeValue(hybrid)}.`);
  }
  return textWeight;
}
