import type { OramaProviderOptions, SearchDocument, SearchHit, SearchProvider, SearchRequest } from '@memmapfs/core';
import { create, load, remove, save, search, upsert, type Orama } from '@orama/orama';
import { decodeSnapshot, encodeSnapshot, snapshotError } from './snapshot.js';
import { WordSearchIndex } from './word-search.js';
import { createWordTokenizer } from './word-tokenizer.js';

export type { OramaProviderOptions };

/** Only what is searched or filtered on is stored in Orama: less heap, smaller snapshots. */
const memorySchema = {
  text: 'string',
  tags: 'enum[]',
  namespace: 'enum',
} as const;

type MemoryIndex = Orama<typeof memorySchema>;

/**
 * Creates a search provider backed by an in-memory Orama database, ranking hits by BM25.
 *
 * A multi-word query finds memories holding any of its words; those holding more of them score higher.
 * Words match by their beginning (`'mem'` finds `'memory'`).
 *
 * @example
 * await MemMapFS.init(root, { search: orama({ tolerance: 1 }) });
 */
export function orama(options: OramaProviderOptions = {}): SearchProvider {
  const tolerance = options.tolerance ?? 0;
  if (!Number.isInteger(tolerance) || tolerance < 0) {
    throw new Error(`[memmapfs] [search] [orama] tolerance must be a non-negative integer; got ${JSON.stringify(tolerance)}.`);
  }
  const relevance = options.relevance;

  // (The word tokenizer returns each word of a text once.)
  const wordSearch = new WordSearchIndex({ distinctWords: true });
  const createIndex = (): MemoryIndex =>
    create({ schema: memorySchema, sort: { enabled: false }, components: { tokenizer: createWordTokenizer(), index: wordSearch.component } });
  let index = createIndex();

  const findHits = async (request: SearchRequest): Promise<SearchHit[]> => {
    const tags = request.tags ?? [];
    const where = {
      ...(tags.length > 0 ? { tags: { containsAll: [...tags] } } : {}),
      ...(request.namespace !== undefined ? { namespace: { eq: request.namespace } } : {}),
    };
    wordSearch.limitNextSearch(request.limit);
    const results = await search(index, {
      term: request.text,
      properties: ['text'],
      limit: request.limit,
      tolerance,
      ...(relevance === undefined ? {} : { relevance }),
      ...(Object.keys(where).length > 0 ? { where } : {}),
    });
    return results.hits.map((hit) => ({ id: Number(hit.id), score: hit.score }));
  };

  return {
    name: 'orama',
    supports: { snapshot: true, prefix: true },

    async add(doc: SearchDocument): Promise<void> {
      await upsert(index, { id: String(doc.id), text: doc.text, tags: [...doc.tags], namespace: doc.namespace });
    },

    async remove(id: number): Promise<void> {
      await remove(index, String(id));
    },

    async search(request: SearchRequest): Promise<SearchHit[]> {
      if (request.text.trim() === '') return [];
      try {
        return await findHits(request);
      } catch {
        return [];
      }
    },

    clear(): void {
      index = createIndex();
    },

    async exportSnapshot(): Promise<Uint8Array> {
      return encodeSnapshot(save(index));
    },

    async importSnapshot(bytes: Uint8Array): Promise<void> {
      const snapshot = decodeSnapshot(bytes);
      const restored = createIndex();
      try {
        load(restored, snapshot.data);
      } catch (cause) {
        throw snapshotError('Orama could not read it', cause);
      }
      index = restored;
    },

    close(): void {
      index = createIndex();
    },
  };
}
