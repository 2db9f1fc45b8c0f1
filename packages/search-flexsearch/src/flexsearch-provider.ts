import type { FlexSearchProviderOptions, FlexSearchTokenize, JsonValue, SearchDocument, SearchHit, SearchProvider, SearchRequest } from '@memmapfs/core';
import { FlexSearchOrderIndex } from './flexsearch-order-index.js';
import { MemoryLabels } from './memory-labels.js';
import { RankedWordIndex } from './ranked-word-index.js';
import { decodeSnapshot, encodeSnapshot, snapshotError } from './snapshot.js';
import type { TextIndex } from './text-index.js';
import { adapterOptionError, checkAdapterOptions, queryWords, wordTokens } from '@memmapfs/core';

export type { FlexSearchProviderOptions, FlexSearchTokenize };

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
  checkAdapterOptions(options, ['tokenize', 'resolution', 'prefixWords', 'suggest'], 'flexsearch');
  const tokenize = options.tokenize ?? 'strict';
  const resolution = options.resolution ?? (tokenize === 'strict' ? 16 : 9);
  const prefixWords = options.prefixWords ?? 32;
  const suggest = options.suggest ?? true;
  if (!tokenizers.includes(tokenize)) {
    throw adapterOptionError('flexsearch', `tokenize must be one of ${tokenizers.map((t) => `'${t}'`).join(', ')}; got ${JSON.stringify(tokenize)}`);
  }
  if (!Number.isInteger(resolution) || resolution < 1) {
    throw adapterOptionError('flexsearch', `resolution must be a positive integer; got ${JSON.stringify(resolution)}`);
  }
  if (!Number.isInteger(prefixWords) || prefixWords < 0) {
    throw adapterOptionError('flexsearch', `prefixWords must be a non-negative integer; got ${JSON.stringify(prefixWords)}`);
  }

  const createTextIndex = (): TextIndex =>
    tokenize === 'strict' ? new RankedWordIndex({ levels: resolution, prefixWords, suggest }) : new FlexSearchOrderIndex({ tokenize, resolution, suggest });

  let text = createTextIndex();
  let labels = new MemoryLabels();
  // The options given (checked above), recorded with the saved index: a store opened later without a
  // search option makes this provider again with them.
  const given: { [key: string]: JsonValue } = {};
  if (options.tokenize !== undefined) given.tokenize = tokenize;
  if (options.resolution !== undefined) given.resolution = resolution;
  if (options.prefixWords !== undefined) given.prefixWords = prefixWords;
  if (typeof options.suggest === 'boolean') given.suggest = options.suggest;

  return {
    name: 'flexsearch',
    // (BM25 with 'strict'; the other tokenizers score by rank in one list, which no other list compares with.)
    supports: { snapshot: true, prefix: text.prefix, wholeWords: text.wholeWords, comparableScores: tokenize === 'strict' },
    spec: Object.keys(given).length > 0 ? { provider: 'flexsearch', options: given } : { provider: 'flexsearch' },

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
        const words = queryWords(request.text);
        if (words.length === 0) return [];
        const filtered = request.namespace !== undefined || (request.tags?.length ?? 0) > 0;
        return text.search(words, request.limit, filtered ? (id) => labels.matches(id, request) : () => true, request.prefix === false);
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
