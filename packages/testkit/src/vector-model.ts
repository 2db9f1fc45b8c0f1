import type { SearchDocument, SearchHit, SearchRequest } from '@memmapfs/core';
import { expect } from 'vitest';

/** How far a provider's similarity may be from the model's (float32 storage, summing order). */
export const SIMILARITY_TOLERANCE = 1e-6;

/** A memory's score in the model: its id and cosine similarity. */
export interface ModelHit {
  readonly id: number;
  readonly score: number;
}

/** mulberry32: the same numbers on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A vector of numbers from −1 to 1, never all zeros, so similarities of both signs occur. */
export function randomVector(random: () => number, dimensions: number): Float32Array {
  const vector = Float32Array.from({ length: dimensions }, () => random() * 2 - 1);
  if (vector.every((n) => n === 0)) vector[0] = 1;
  return vector;
}

/** Cosine similarity, from −1 to 1. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

/** The request's tags (AND) and namespace filters. */
export function passesFilters(doc: SearchDocument, request: Pick<SearchRequest, 'tags' | 'namespace'>): boolean {
  return (request.namespace === undefined || doc.namespace === request.namespace) && (request.tags ?? []).every((tag) => doc.tags.includes(tag));
}

/** The document has an embedding a provider of `dimensions` searches. */
export function hasVector(doc: SearchDocument, dimensions: number): boolean {
  return doc.embedding?.length === dimensions;
}

/**
 * What a vector search must return, by brute force: every document passing the filters whose embedding
 * has the query's length, most similar first (ties to the lower id), however dissimilar.
 */
export function nearestByCosine(docs: Iterable<SearchDocument>, request: SearchRequest & { embedding: Float32Array }): ModelHit[] {
  const hits: ModelHit[] = [];
  for (const doc of docs) {
    if (!passesFilters(doc, request) || !hasVector(doc, request.embedding.length)) continue;
    hits.push({ id: doc.id, score: cosine(doc.embedding!, request.embedding) });
  }
  return hits.sort((a, b) => b.score - a.score || a.id - b.id);
}

/**
 * Checks `hits` against the model's ranking, allowing ties: there are as many as the model has (up to
 * `limit`), and the i-th hit is a memory the model ranks, whose similarity is the model's i-th one.
 */
export function expectNearest(hits: readonly SearchHit[], model: readonly ModelHit[], limit: number, label: string): void {
  const similarity = new Map(model.map((hit) => [hit.id, hit.score]));
  expect(hits.length, `${label}: number of hits`).toBe(Math.min(limit, model.length));
  hits.forEach((hit, i) => {
    const score = similarity.get(hit.id);
    expect(score, `${label}: hit ${hit.id} at ${i} is a memory with an embedding that passes the filters`).toBeDefined();
    expect(Math.abs(score! - model[i]!.score), `${label}: hit ${hit.id} at ${i} has similarity ${score}, the model's ${i}-th best is ${model[i]!.score}`).toBeLessThanOrEqual(SIMILARITY_TOLERANCE);
  });
}

/**
 * Checks that `values` (e.g. the text scores of hits, in hit order) do not increase, allowing ties
 * within `SIMILARITY_TOLERANCE` of the largest.
 */
export function expectDescending(values: readonly number[], label: string): void {
  const slack = SIMILARITY_TOLERANCE * Math.max(1, ...values.map(Math.abs));
  for (let i = 1; i < values.length; i++) {
    expect(values[i]!, `${label}: position ${i}`).toBeLessThanOrEqual(values[i - 1]! + slack);
  }
}
