import type { SearchDocument, SearchHit, SearchProvider, SearchRequest } from '@memmapfs/core';
import { Index } from 'flexsearch';
import { restoreFastUpdate } from './fast-update.js';
import { MemoryLabels } from './memory-labels.js';
import { decodeSnapshot, encodeSnapshot, snapshotError } from './snapshot.js';

/** How flexsearch splits words into indexed terms. */
export type FlexSearchTokenize = 'strict' | 'forward' | 'reverse' | 'full';

/** Options of the flexsearch provider. Every option is optional; the defaults suit agent memories. */
export interface FlexSearchProviderOptions {
  /**
   * How words are indexed. `'forward'` (default) indexes every word beginning, so `'mem'` finds
   * `'memory'`; `'strict'` whole words only (smallest index, no prefix matching); `'reverse'` beginnings
   * and endings; `'full'` every substring (largest index).
   */
  tokenize?: FlexSearchTokenize;
  /** Number of relevance levels a word position is scored into (flexsearch `resolution`). Default 9. */
  resolution?: number;
  /**
   * Whether a multi-word query also finds memories holding only some of its words, ranked below those
   * holding all of them. Default `true`; `false` returns only memories holding every word.
   */
  suggest?: boolean;
}

const tokenizers: readonly FlexSearchTokenize[] = ['strict', 'forward', 'reverse', 'full'];

/** Smallest page of candidates asked of flexsearch when filters may drop some. */
const MIN_FILTERED_PAGE = 64;

/**
 * Creates a search provider backed by a flexsearch `Index` held in memory.
 *
 * flexsearch indexes the text; tags (AND) and namespace are matched exactly by the provider, which
 * pages through flexsearch's ranked ids until `limit` memories pass. Hits are scored by rank,
 * `1 / (1 + rank)`, since flexsearch returns an order and no scores.
 *
 * @example
 * await MemMapFS.init(root, { search: flexsearch({ tokenize: 'strict' }) });
 */
export function flexsearch(options: FlexSearchProviderOptions = {}): SearchProvider {
  const tokenize = options.tokenize ?? 'forward';
  const resolution = options.resolution ?? 9;
  const suggest = options.suggest ?? true;
  if (!tokenizers.includes(tokenize)) {
    throw new Error(`[memmapfs] [search] [flexsearch] tokenize must be one of ${tokenizers.map((t) => `'${t}'`).join(', ')}; got ${JSON.stringify(tokenize)}.`);
  }
  if (!Number.isInteger(resolution) || resolution < 1) {
    throw new Error(`[memmapfs] [search] [flexsearch] resolution must be a positive integer; got ${JSON.stringify(resolution)}.`);
  }

  const createIndex = (fastupdate = true): Index => new Index({ tokenize, resolution, fastupdate });

  let index = createIndex();
  let labels = new MemoryLabels();

  const findCandidates = (text: string, limit: number, offset: number): number[] => {
    try {
      return (index.search(text, { limit, offset, suggest }) ?? []) as number[];
    } catch {
      return [];
    }
  };

  return {
    name: 'flexsearch',
    supports: { snapshot: true, prefix: tokenize !== 'strict' },

    add(doc: SearchDocument): void {
      if (labels.has(doc.id)) index.remove(doc.id);
      labels.set(doc.id, doc.tags, doc.namespace);
      index.add(doc.id, doc.text);
    },

    remove(id: number): void {
      if (!labels.has(id)) return;
      index.remove(id);
      labels.delete(id);
    },

    search(request: SearchRequest): SearchHit[] {
      if (!labels.canMatch(request)) return [];
      const filtered = request.namespace !== undefined || (request.tags?.length ?? 0) > 0;
      const ids: number[] = [];
      const seen = new Set<number>();
      let offset = 0;
      let pageSize = filtered ? Math.max(request.limit * 2, MIN_FILTERED_PAGE) : request.limit;
      while (ids.length < request.limit) {
        const page = findCandidates(request.text, pageSize, offset);
        for (const id of page) {
          if (seen.has(id)) continue;
          seen.add(id);
          if (labels.matches(id, request)) ids.push(id);
          if (ids.length === request.limit) break;
        }
        if (page.length < pageSize) break;
        offset += page.length;
        pageSize *= 2;
      }
      return ids.map((id, rank) => ({ id, score: 1 / (1 + rank) }));
    },

    clear(): void {
      index = createIndex();
      labels = new MemoryLabels();
    },

    async exportSnapshot(): Promise<Uint8Array> {
      const parts: Array<[string, string]> = [];
      await index.export((key: string, data: string) => {
        parts.push([key, data]);
      });
      return encodeSnapshot({ settings: { tokenize, resolution }, parts, memories: labels.entries() });
    },

    async importSnapshot(bytes: Uint8Array): Promise<void> {
      const snapshot = decodeSnapshot(bytes);
      if (snapshot.settings.tokenize !== tokenize || snapshot.settings.resolution !== resolution) {
        throw snapshotError(`it was made with tokenize '${snapshot.settings.tokenize}' and resolution ${snapshot.settings.resolution}, this provider uses '${tokenize}' and ${resolution}`);
      }
      const restored = createIndex(false);
      const restoredLabels = new MemoryLabels();
      try {
        for (const [key, data] of snapshot.parts) restored.import(key, data);
        for (const [id, namespace, tags] of snapshot.memories) restoredLabels.set(id, tags, namespace);
      } catch (cause) {
        throw snapshotError('flexsearch could not read it', cause);
      }
      restoreFastUpdate(restored);
      index = restored;
      labels = restoredLabels;
    },

    close(): void {
      index = createIndex();
      labels = new MemoryLabels();
    },
  };
}
