import { MemMapError, type MemMapFS } from '@memmapfs/core';
import { indexError } from './item-embeddings.js';

/**
 * Fails with `INVALID_ARGUMENT`, saying how to open the store instead, unless the store's search
 * provider searches embeddings of `dims` numbers. Core does not tell what its provider supports, so a
 * vector query in `namespace` (one hit at most) asks it: core refuses an embedding its provider cannot
 * search. Writes nothing; works on a read-only store. Other failures (a closed store) are thrown as they are.
 */
export async function checkVectorSearch(store: Pick<MemMapFS, 'queryMemory'>, dims: number, namespace: string, method: string): Promise<void> {
  const unit = Array.from({ length: dims }, (_, i) => (i === 0 ? 1 : 0));
  try {
    await store.queryMemory('', { embedding: unit, namespace, limit: 1 });
  } catch (error) {
    if (!MemMapError.is(error, 'INVALID_ARGUMENT')) throw error;
    const other = /the '([^']*)' search provider takes embeddings of (\d+)/.exec(error.message);
    const none = /'([^']*)' has none/.exec(error.message);
    const why = other ? `the store's search provider '${other[1]}' takes embeddings of ${other[2]}` : none ? `the store's search provider '${none[1]}' has no vector search` : `the store refused a query embedding of that length (${error.message})`;
    throw indexError(method, `index.dims is ${dims}, and ${why}. Open the store with a provider that searches embeddings of ${dims} numbers, e.g. MemMapFS.init(folder, { search: { provider: 'orama', options: { vectors: { dimensions: ${dims} } } } }), or leave index out: search(prefix, { query }) is then full-text search.`, error);
  }
}
