import { MemMapError } from './errors.js';

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
  const vector = new Float32Array(numbers.length);
  for (let i = 0; i < numbers.length; i++) {
    const n = numbers[i];
    if (typeof n !== 'number' || !Number.isFinite(n)) throw invalid(`has ${typeof n === 'number' ? n : typeof n} at index ${i}; every number must be finite`);
    vector[i] = n;
  }
  if (vector.every((n) => n === 0)) throw invalid('is all zeros: it has no direction to compare by');
  return new Uint8Array(vector.buffer);
}

/** A memory's stored embedding as a fresh `Float32Array` (the caller may change it). */
export function embeddingOf(bytes: Uint8Array): Float32Array {
  return new Float32Array(new Uint8Array(bytes).buffer);
}

/** `queryMemory`'s `hybrid`, checked: the text's weight in a hybrid search, or `undefined` for none. */
export function checkHybrid(hybrid: unknown, withEmbedding: boolean, method: string): number | undefined {
  if (hybrid === undefined || hybrid === false) return undefined;
  if (!withEmbedding) throw new MemMapError('INVALID_ARGUMENT', `${method}: hybrid needs an embedding to combine the text with; pass { embedding, hybrid }.`);
  if (hybrid === true) return 0.5;
  const textWeight = (hybrid as { textWeight?: unknown } | null)?.textWeight;
  if (typeof hybrid !== 'object' || typeof textWeight !== 'number' || !(textWeight >= 0 && textWeight <= 1)) {
    throw new MemMapError('INVALID_ARGUMENT', `${method}: hybrid must be true or { textWeight } with a number from 0 to 1, got ${JSON.stringify(hybrid)}.`);
  }
  return textWeight;
}
