import { adapterOptionError, type SearchHit } from '@memmapfs/core';

/** The largest `vectors.dimensions` accepted: more than any embedding model in use gives. */
export const MAX_DIMENSIONS = 65_536;

/**
 * The `vectors` option, checked: the length of the embeddings to index, or `undefined` for no vector
 * search. Throws a message saying what is wrong and what to give instead.
 */
export function checkVectorsOption(vectors: unknown): number | undefined {
  if (vectors === undefined) return undefined;
  if (typeof vectors !== 'object' || vectors === null || Array.isArray(vectors)) {
    throw adapterOptionError('orama', `vectors must be { dimensions }, the length of your model's embeddings (e.g. { dimensions: 384 }); got ${describe(vectors)}`);
  }
  const dimensions = (vectors as { dimensions?: unknown }).dimensions;
  if (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions < 1 || dimensions > MAX_DIMENSIONS) {
    throw adapterOptionError('orama', `vectors.dimensions must be an integer from 1 to ${MAX_DIMENSIONS}, the length of your model's embeddings (e.g. 384); got ${describe(dimensions)}`);
  }
  return dimensions;
}

/**
 * A hybrid search's hits, best first, at most `limit`: each memory scores `textWeight` × its text
 * relevance (its BM25 score divided by the best one among `textHits`, so from 0 to 1) plus
 * (1 − `textWeight`) × its cosine similarity (0 when it has no embedding). A memory in either list is
 * a hit. Ties go to the higher id (the newer memory), as in the store's other rankings.
 */
export function rankHybrid(textHits: readonly SearchHit[], vectorHits: readonly SearchHit[], textWeight: number, limit: number): SearchHit[] {
  let best = 0;
  for (const hit of textHits) best = Math.max(best, hit.score);
  const scores = new Map<number, number>();
  for (const hit of textHits) scores.set(hit.id, best > 0 ? textWeight * (hit.score / best) : 0);
  for (const hit of vectorHits) scores.set(hit.id, (scores.get(hit.id) ?? 0) + (1 - textWeight) * hit.score);
  return [...scores]
    .map(([id, score]) => ({ id, score }))
    .sort((a, b) => b.score - a.score || b.id - a.id)
    .slice(0, limit);
}

function describe(value: unknown): string {
  return value === undefined ? 'undefined' : typeof value === 'number' && !Number.isFinite(value) ? String(value) : JSON.stringify(value) ?? typeof value;
}
