import type { SearchHit } from '@memmapfs/core';
import { Index } from 'flexsearch';
import { inverseDocumentFrequency, termWeight, weightLevel } from './bm25.js';
import { restoreFastUpdate } from './fast-update.js';
import { IdTable } from './id-table.js';
import { addWordCounts, MemoryTerms, type MemoryTermsSnapshot } from './memory-terms.js';
import { rankedSearch, type LevelLists, type RankedQueryWord } from './ranked-search.js';
import type { TextIndex } from './text-index.js';

/** Settings of a `RankedWordIndex`. */
export interface RankedWordIndexOptions {
  /** Number of relevance levels a word's BM25 weight in a memory is filed at. */
  readonly levels: number;
  /** How many indexed words the last query word may stand for as a prefix; 0: none. */
  readonly prefixWords: number;
  /** Whether hits may hold only some of the query words. */
  readonly suggest: boolean;
}

/** A `RankedWordIndex` as stored in a snapshot. */
interface RankedWordIndexSnapshot {
  /** FlexSearch's own `export()` output, `[key, data]` in export order. */
  readonly parts: Array<[string, string]>;
  /** The words of every memory. */
  readonly terms: MemoryTermsSnapshot;
}

/**
 * Whole words in a FlexSearch index, ranked by BM25 as SQLite FTS5 ranks.
 *
 * FlexSearch files each memory under each of its words at a relevance level: here the level of the
 * word's BM25 weight in that memory (how often it is there, for the memory's length), not its position.
 * A word's list is thus read best first, and a search reads only as far as the best hits need (see
 * `rankedSearch`), scoring each memory it meets exactly from the counts kept beside FlexSearch. The last
 * query word also stands for the `prefixWords` most common indexed words it begins, found in the
 * vocabulary instead of indexing every word beginning.
 */
export class RankedWordIndex implements TextIndex {
  readonly prefix: boolean;
  readonly wholeWords = true;
  readonly #options: RankedWordIndexOptions;
  #terms = new MemoryTerms();
  /** Each distinct word of the memory being added, with its relevance level (read by FlexSearch's `score`). */
  #addingLevels = new Map<string, number>();
  #index: Index;
  /** Per search: the query word each indexed word counts for. */
  readonly #queryWordOf = new IdTable();
  /** Per search: the memories scored already. */
  readonly #scored = new IdTable();

  constructor(options: RankedWordIndexOptions) {
    this.#options = options;
    this.prefix = options.prefixWords > 0;
    this.#index = this.#createIndex(true);
  }

  add(id: number, words: readonly string[]): void {
    const counts = this.#terms.add(id, words);
    if (counts.size === 0) return;
    const averageLength = this.#terms.averageLength;
    const levels = new Map<string, number>();
    for (const [word, count] of counts) levels.set(word, weightLevel(termWeight(count, words.length, averageLength), this.#options.levels));
    this.#addingLevels = levels;
    this.#index.add(id, [...counts.keys()].join(' '));
  }

  remove(id: number): void {
    if (!this.#terms.has(id)) return;
    this.#index.remove(id);
    this.#terms.delete(id);
  }

  search(words: readonly string[], limit: number, accepts: (id: number) => boolean, wholeWords = false): SearchHit[] {
    const terms = this.#terms;
    const vocabulary = terms.vocabulary;
    const count = terms.count;
    if (count === 0) return [];
    const queryWordOf = this.#queryWordOf;
    queryWordOf.clear();
    const queryWords: RankedQueryWord[] = words.map((word, i) => {
      const ids = this.prefix && !wholeWords && i === words.length - 1 ? vocabulary.wordsWithPrefix(word, this.#options.prefixWords) : [vocabulary.idOf(word)].filter((id) => id >= 0);
      for (const id of ids) queryWordOf.set(id, i);
      return { lists: ids.map((id) => this.#levelLists(vocabulary.wordOf(id))), idf: inverseDocumentFrequency(estimatedHolders(ids.map((id) => vocabulary.documentFrequency(id)), count), count) };
    });
    const averageLength = terms.averageLength;
    const everyWord = !this.#options.suggest;
    const counts = new Float64Array(queryWords.length);
    const score = (id: number): number | undefined => {
      const memory = terms.wordsOf(id);
      if (memory === undefined || !accepts(id)) return undefined;
      counts.fill(0);
      addWordCounts(memory, queryWordOf, counts);
      let total = 0;
      for (let i = 0; i < counts.length; i++) {
        if (counts[i]! > 0) total += queryWords[i]!.idf * termWeight(counts[i]!, memory.length, averageLength);
        else if (everyWord) return undefined;
      }
      return total;
    };
    return rankedSearch(queryWords, this.#options.levels, limit, everyWord, score, this.#scored);
  }

  async exportSnapshot(): Promise<RankedWordIndexSnapshot> {
    const parts: Array<[string, string]> = [];
    await this.#index.export((key: string, data: string) => {
      parts.push([key, data]);
    });
    return { parts, terms: this.#terms.toSnapshot() };
  }

  importSnapshot(data: unknown): void {
    const snapshot = data as Partial<RankedWordIndexSnapshot> | null;
    if (!Array.isArray(snapshot?.parts) || !Array.isArray(snapshot.terms?.words) || !Array.isArray(snapshot.terms.memories)) {
      throw new TypeError('the index content is incomplete');
    }
    const index = this.#createIndex(false);
    for (const [key, part] of snapshot.parts) index.import(key, part);
    this.#terms.restore(snapshot.terms);
    restoreFastUpdate(index);
    this.#index = index;
  }

  /** The memories holding `word`, by level, as FlexSearch keeps them (read, never changed). */
  #levelLists(word: string): LevelLists {
    return (this.#index.search(word, { resolve: false }) as unknown as { result: LevelLists }).result;
  }

  #createIndex(fastupdate: boolean): Index {
    return new Index({
      tokenize: 'strict',
      resolution: this.#options.levels,
      fastupdate,
      // The provider splits words itself; FlexSearch gets them space-separated.
      encode: (text: string) => text.split(' '),
      score: (_content: string[], term: string) => this.#addingLevels.get(term) ?? this.#options.levels - 1,
    });
  }
}

/**
 * How many memories hold at least one of several words, each held by one of `frequencies` of `count`
 * memories, taking the words as independent: FTS5 counts a prefix's memories exactly, which the
 * vocabulary cannot.
 */
function estimatedHolders(frequencies: readonly number[], count: number): number {
  if (frequencies.length === 1) return frequencies[0]!;
  let missing = 1;
  for (const frequency of frequencies) missing *= 1 - frequency / count;
  return count * (1 - missing);
}
