import type { SearchDocument, SearchHit, SearchProvider, SearchRequest } from '@memmapfs/core';

/**
 * A search provider with vector search for the tests: memories holding every query word for text,
 * and brute-force cosine similarity over the embeddings of `dimensions` numbers for vectors. Records
 * each request.
 */
export class CosineSearch implements SearchProvider {
  readonly name = 'cosine-test';
  readonly supports: SearchProvider['supports'];
  readonly docs = new Map<number, SearchDocument>();
  readonly requests: SearchRequest[] = [];

  constructor(dimensions: number) {
    this.supports = { snapshot: false, prefix: false, vectors: { dimensions } };
  }

  add(doc: SearchDocument): void {
    this.docs.set(doc.id, doc);
  }

  remove(id: number): void {
    this.docs.delete(id);
  }

  clear(): void {
    this.docs.clear();
  }

  search(request: SearchRequest): SearchHit[] {
    this.requests.push(request);
    const hits: SearchHit[] = [];
    const words = request.text.toLowerCase().split(/\W+/u).filter(Boolean);
    for (const doc of this.docs.values()) {
      if (request.namespace !== undefined && doc.namespace !== request.namespace) continue;
      if (!(request.tags ?? []).every((tag) => doc.tags.includes(tag))) continue;
      if (request.embedding !== undefined) {
        if (doc.embedding?.length === request.embedding.length) hits.push({ id: doc.id, score: cosine(doc.embedding, request.embedding) });
      } else if (words.length > 0 && words.every((word) => doc.text.toLowerCase().includes(word))) {
        hits.push({ id: doc.id, score: words.length / (1 + doc.text.length / 1000) });
      }
    }
    return hits.sort((a, b) => b.score - a.score || a.id - b.id).slice(0, request.limit);
  }
}

function cosine(a: Float32Array, b: Float32Array): number {
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
