// A search backend of your own: a complete `SearchProvider` that passes `@memmapfs/testkit`'s
// `searchProviderSuite` (tests/integration/test/custom-provider-example.test.ts runs it), registered
// under a name of its own and chosen by that name, with typed options, like the built-in ones.
//
// Run: sh scripts/pnpm.sh --filter @memmapfs/examples custom-search-provider
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemMapFS, queryWords, registerSearchProvider, wordTokens, type SearchDocument, type SearchHit, type SearchProvider, type SearchRequest } from '@memmapfs/core';

/** Options of the `word-index` provider. */
export interface WordIndexOptions {
  /** BM25 term-frequency saturation. Default 1.2. */
  k1?: number;
  /** BM25 length normalization, from 0 to 1. Default 0.75. */
  b?: number;
}

// Declaration merging makes `{ provider: 'word-index', options: { … } }` type-checked where this module is imported.
declare module '@memmapfs/core' {
  interface SearchProviders {
    'word-index': WordIndexOptions;
  }
}

/** What the index keeps of a memory: its words (counted), its length in words, its labels. */
interface IndexedMemory {
  readonly counts: Map<string, number>;
  readonly length: number;
  readonly tags: readonly string[];
  readonly namespace: string;
}

/**
 * An inverted index in the heap, ranked by BM25: each word maps to the memories that hold it; the last
 * query word also matches the words it begins (`'pref'` finds `'preferences'`), as one types.
 *
 * `name` is what the store records with a snapshot of the index: a store saved by a provider of another
 * name (or by `formatVersion`s it does not know) is rebuilt from the memories instead of imported. The
 * store owns the truth (its log); the index is derived data it may `clear` and rebuild at any time.
 */
export class WordIndexProvider implements SearchProvider {
  readonly name = 'word-index';
  // `snapshot: true`: the store saves the index on close and imports it on the next open instead of re-adding every memory.
  readonly supports = { snapshot: true, prefix: true };
  readonly #memories = new Map<number, IndexedMemory>();
  readonly #postings = new Map<string, Set<number>>();
  #totalLength = 0;
  readonly #k1: number;
  readonly #b: number;

  constructor(options: WordIndexOptions = {}) {
    this.#k1 = options.k1 ?? 1.2;
    this.#b = options.b ?? 0.75;
    if (!(this.#k1 > 0) || !(this.#b >= 0 && this.#b <= 1)) throw new Error(`word-index: k1 must be positive and b from 0 to 1, got k1=${this.#k1}, b=${this.#b}.`);
  }

  add(doc: SearchDocument): void {
    this.remove(doc.id);
    const words = wordTokens(doc.text);
    const counts = new Map<string, number>();
    for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
    for (const word of counts.keys()) {
      let holders = this.#postings.get(word);
      if (!holders) this.#postings.set(word, (holders = new Set()));
      holders.add(doc.id);
    }
    this.#memories.set(doc.id, { counts, length: words.length, tags: [...doc.tags], namespace: doc.namespace });
    this.#totalLength += words.length;
  }

  remove(id: number): void {
    const memory = this.#memories.get(id);
    if (!memory) return;
    for (const word of memory.counts.keys()) {
      const holders = this.#postings.get(word)!;
      holders.delete(id);
      if (holders.size === 0) this.#postings.delete(word);
    }
    this.#memories.delete(id);
    this.#totalLength -= memory.length;
  }

  clear(): void {
    this.#memories.clear();
    this.#postings.clear();
    this.#totalLength = 0;
  }

  search(request: SearchRequest): SearchHit[] {
    // (Each word once, the last one last even when it also comes earlier: it is the one matched as a prefix.)
    const words = queryWords(request.text);
    const last = words.at(-1);
    const scores = new Map<number, number>();
    const total = this.#memories.size;
    const averageLength = total === 0 ? 1 : this.#totalLength / total;
    const scoreWord = (word: string) => {
      const holders = this.#postings.get(word);
      if (!holders) return;
      // FTS5's IDF, floored just above zero so that a word every memory holds still counts.
      const idf = Math.max(1e-6, Math.log((total - holders.size + 0.5) / (holders.size + 0.5)));
      for (const id of holders) {
        const memory = this.#memories.get(id)!;
        if (!this.#passes(memory, request)) continue;
        const tf = memory.counts.get(word)!;
        const weight = (idf * tf * (this.#k1 + 1)) / (tf + this.#k1 * (1 - this.#b + (this.#b * memory.length) / averageLength));
        scores.set(id, (scores.get(id) ?? 0) + weight);
      }
    };
    for (const word of words) scoreWord(word);
    // The last word as a prefix: every longer indexed word it begins (a scan of the words; a sorted
    // dictionary would make it a range, as the built-in providers do).
    if (last !== undefined) for (const word of this.#postings.keys()) if (word.length > last.length && word.startsWith(last)) scoreWord(word);
    return [...scores]
      .map(([id, score]) => ({ id, score }))
      .sort((a, b) => b.score - a.score || b.id - a.id)
      .slice(0, request.limit);
  }

  async exportSnapshot(): Promise<Uint8Array> {
    const memories = [...this.#memories].map(([id, m]) => [id, [...m.counts], m.length, m.tags, m.namespace]);
    return Buffer.from(JSON.stringify({ formatVersion: 1, memories }));
  }

  async importSnapshot(snapshot: Uint8Array): Promise<void> {
    const parsed = JSON.parse(Buffer.from(snapshot).toString('utf8')) as { formatVersion: number; memories: Array<[number, Array<[string, number]>, number, string[], string]> };
    // Throwing here is safe: the store then clears the provider and rebuilds it from the memories.
    if (parsed.formatVersion !== 1) throw new Error(`word-index: snapshot format ${parsed.formatVersion} is not one this version reads.`);
    this.clear();
    for (const [id, counts, length, tags, namespace] of parsed.memories) {
      for (const [word] of counts) {
        let holders = this.#postings.get(word);
        if (!holders) this.#postings.set(word, (holders = new Set()));
        holders.add(id);
      }
      this.#memories.set(id, { counts: new Map(counts), length, tags, namespace });
      this.#totalLength += length;
    }
  }

  #passes(memory: IndexedMemory, request: SearchRequest): boolean {
    return (request.namespace === undefined || memory.namespace === request.namespace) && (request.tags ?? []).every((tag) => memory.tags.includes(tag));
  }
}

/** Makes `'word-index'` a name `MemMapFS.init` accepts in this process. */
export function registerWordIndex(): void {
  registerSearchProvider('word-index', (options) => new WordIndexProvider(options));
}

// Run as a program: use it in a store, by name.
if (import.meta.url === `file://${process.argv[1]}`) {
  registerWordIndex();
  const root = await mkdtemp(join(tmpdir(), 'memmapfs-custom-provider-'));
  try {
    await using fs = await MemMapFS.init(root, { search: { provider: 'word-index', options: { k1: 1.5 } } });
    await fs.appendMemories([{ text: 'The user prefers dark mode' }, { text: 'The user lives in Lyon' }, { text: 'Preferences were saved at noon' }]);
    for (const hit of await fs.queryMemory('dark pref')) console.log(`${hit.score.toFixed(3)}  ${hit.text}`);
    console.log(`search provider: ${fs.stats().search}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
