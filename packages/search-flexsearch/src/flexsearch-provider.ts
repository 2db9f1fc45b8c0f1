import type { SearchDocument, SearchHit, SearchProvider, SearchRequest } from '@memmapfs/core';
import { FlexSearchOrderIndex } from './flexsearch-order-index.js';
import { MemoryLabels } from './memory-labels.js';
import { RankedWordIndex } from './ranked-word-index.js';
import { decodeSnapshot, encodeSnapshot, snapshotError } from './snapshot.js';
import type { TextIndex } from './text-index.js';
import { wordTokens } from '@memmapfs/core';

/** How flexsearch splits words into indexed terms. */
export type FlexSearchTokenize = 'strict' | 'forward' | 'reverse' | 'full';

/** Options of the flexsearch provider. Every option is optional; the defaults suit agent memories. */
export interface FlexSearchProviderOptions {
  /**
   * How words are indexed. `'strict'` (default): whole words, ranked by BM25; the last query word
   * also matches the `prefixWords` most common words it begins. `'forward'` indexes every word
   * beginning, so every query word matches as a prefix; `'reverse'` beginnings and endings; `'full'`
   * every substring (largest index). These three rank in FlexSearch's order (earlier positions first).
   */
  tokenize?: FlexSearchTokenize;
  /**
   * Number of relevance levels flexsearch files a memory at under each of its words (flexsearch
   * `resolution`): with `'strict'`, levels of the word's BM25 weight in the memory (default 16); with
   * the other tokenizers, of the word's position (default 9).
   */
  resolution?: number;
  /**
   * With `tokenize: 'strict'`: how many indexed words the last query word may stand for as a prefix,
   * the ones most memories hold (and the word itself, if indexed). Default 32; `0` turns prefix
   * matching off (`supports.prefix` is then `false`).
   */
  prefixWords?: number;
  /**
   * Whether a multi-word query also finds memories holding only some of its words. Default `true`;
   * `false` returns only memories holding every word.
   */
  suggest?: boolean;
}

const tokenizers: readonly FlexSearchTokenize[] = ['strict', 'forward', 'reverse', 'full'];

/**
 * Creates a search provider backed by a flexsearch `Index` held in memory.
 *
 * With the default `tokenize: 'strict'`, flexsearch indexes whole words and hits are ranked by BM25
 * (as SQLite FTS5 ranks), the last query word also matching the most common words it begins. With the
 * other tokenizers, flexsearch matches word parts and hits come in its order, scored `1 / (1 + rank)`.
 * Tags (AND) and namespace are matched exactly by the provider.
 *
 * @example
 * await MemMapFS.init(root, { search: flexsearch({ prefixWords: 8 }) });
 */
export function flexsearch(options: FlexSearchProviderOptions = {}): SearchProvider {
  const tokenize = options.tokenize ?? 'strict';
  const resolution = options.resolution ?? (tokenize === 'strict' ? 16 : 9);
  const prefixWords = options.prefixWords ?? 32;
  const suggest = options.suggest ?? true;
  if (!tokenizers.includes(tokenize)) {
    throw new Error(`[memmapfs] [search] [flexsearch] tokenize must be one of ${tokenizers.map((t) => `'${t}'`).join(', ')}; got ${JSON.stringify(tokenize)}.`);
  }
  if (!Number.isInteger(resolution) || resolution < 1) {
    throw new Error(`[memmapfs] [search] [flexsearch] resolution must be a positive integer; got ${JSON.stringify(resolution)}.`);
  }
  if (!Number.isInteger(prefixWords) || prefixWords < 0) {
    throw new Error(`[memmapfs] [search] [flexsearch] prefixWords must be a non-negative integer; got ${JSON.stringify(prefixWords)}.`);
  }

  const createTextIndex = (): TextIndex =>
    tokenize === 'strict' ? new RankedWordIndex({ levels: resolution, prefixWords, suggest }) : new FlexSearchOrderIndex({ tokenize, resolution, suggest });

  let text = createTextIndex();
  let labels = new MemoryLabels();

  return {
    name: 'flexsearch',
    supports: { snapshot: true, prefix: text.prefix },

    add(doc: SearchDocument): void {
      if (labels.has(doc.id)) text.remove(doc.id);
      labels.set(doc.id, doc.tags, doc.namespace);
      text.add(doc.id, wordTokens(doc.text));
    },

    remove(id: number): void {
      if (!labels.has(id)) return;
      text.remove(id);
      labels.delete(id);
    },

    search(request: SearchRequest): SearchHit[] {
      if (!labels.canMatch(request)) return [];
      try {
        const words = [...new Set(wordTokens(request.text))];
        if (words.length === 0) return [];
        const filtered = request.namespace !== undefined || (request.tags?.length ?? 0) > 0;
        return text.search(words, request.limit, filtered ? (id) => labels.matches(id, request) : () => true);
      } catch {
        return [];
      }
    },

    clear(): void {
      text = createTextIndex();
      labels = new MemoryLabels();
    },

    async exportSnapshot(): Promise<Uint8Array> {
      return encodeSnapshot({ settings: { tokenize, resolution }, memories: labels.entries(), index: await text.exportSnapshot() });
    },

    async importSnapshot(bytes: Uint8Array): Promise<void> {
      const snapshot = decodeSnapshot(bytes);
      if (snapshot.settings.tokenize !== tokenize || snapshot.settings.resolution !== resolution) {
        throw snapshotError(`it was made with tokenize '${snapshot.settings.tokenize}' and resolution ${snapshot.settings.resolution}, this provider uses '${tokenize}' and ${resolution}`);
      }
      const restored = createTextIndex();
      const restoredLabels = new MemoryLabels();
      try {
        restored.importSnapshot(snapshot.index);
        for (const [id, namespace, tags] of snapshot.memories) restoredLabels.set(id, tags, namespace);
      } catch (cause) {
        throw snapshotError('flexsearch could not read it', cause);
      }
      text = restored;
      labels = restoredLabels;
    },

    close(): void {
      text = createTextIndex();
      labels = new MemoryLabels();
    },
  };
}
