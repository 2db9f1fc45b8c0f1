import type { SearchHit } from '@memmapfs/core';
import { Index } from 'flexsearch';
import { restoreFastUpdate } from './fast-update.js';
import type { TextIndex } from './text-index.js';

/** Settings of a `FlexSearchOrderIndex`. */
export interface FlexSearchOrderIndexOptions {
  /** FlexSearch's tokenizer: which parts of each word are indexed. */
  readonly tokenize: 'forward' | 'reverse' | 'full';
  /** Number of relevance levels a word's position is filed at. */
  readonly resolution: number;
  /** Whether hits may hold only some of the query words. */
  readonly suggest: boolean;
}

/** A `FlexSearchOrderIndex` as stored in a snapshot. */
interface FlexSearchOrderIndexSnapshot {
  /** FlexSearch's own `export()` output, `[key, data]` in export order. */
  readonly parts: Array<[string, string]>;
}

/** Smallest page of candidates asked of FlexSearch when filters may drop some. */
const MIN_FILTERED_PAGE = 64;

/** Longer words are not indexed (as FlexSearch's own encoder does): `'full'` indexes every substring. */
const MAX_WORD_LENGTH = 1024;

/**
 * Word beginnings, endings or substrings in a FlexSearch index, ranked in FlexSearch's own order
 * (earlier word positions first; with `suggest`, more matched words first). FlexSearch gives no
 * scores, so a hit's score is `1 / (1 + rank)`.
 */
export class FlexSearchOrderIndex implements TextIndex {
  readonly prefix = true;
  /** Its tokenizers index word beginnings (or substrings): a word cannot be told from one it begins. */
  readonly wholeWords = false;
  readonly #options: FlexSearchOrderIndexOptions;
  #index: Index;

  constructor(options: FlexSearchOrderIndexOptions) {
    this.#options = options;
    this.#index = this.#createIndex(true);
  }

  add(id: number, words: readonly string[]): void {
    if (words.length > 0) this.#index.add(id, words.join(' '));
  }

  remove(id: number): void {
    this.#index.remove(id);
  }

  search(words: readonly string[], limit: number, accepts: (id: number) => boolean): SearchHit[] {
    const query = words.join(' ');
    const ids: number[] = [];
    const seen = new Set<number>();
    let offset = 0;
    let pageSize = Math.max(limit * 2, MIN_FILTERED_PAGE);
    while (ids.length < limit) {
      const page = (this.#index.search(query, { limit: pageSize, offset, suggest: this.#options.suggest }) ?? []) as number[];
      for (const id of page) {
        if (seen.has(id)) continue;
        seen.add(id);
        if (accepts(id)) ids.push(id);
        if (ids.length === limit) break;
      }
      if (page.length < pageSize) break;
      offset += page.length;
      pageSize *= 2;
    }
    return ids.map((id, rank) => ({ id, score: 1 / (1 + rank) }));
  }

  async exportSnapshot(): Promise<FlexSearchOrderIndexSnapshot> {
    const parts: Array<[string, string]> = [];
    await this.#index.export((key: string, data: string) => {
      parts.push([key, data]);
    });
    return { parts };
  }

  importSnapshot(data: unknown): void {
    const snapshot = data as Partial<FlexSearchOrderIndexSnapshot> | null;
    if (!Array.isArray(snapshot?.parts)) throw new TypeError('the index content is incomplete');
    const index = this.#createIndex(false);
    for (const [key, part] of snapshot.parts) index.import(key, part);
    restoreFastUpdate(index);
    this.#index = index;
  }

  #createIndex(fastupdate: boolean): Index {
    return new Index({
      tokenize: this.#options.tokenize,
      resolution: this.#options.resolution,
      fastupdate,
      // The provider splits words itself; FlexSearch gets them space-separated.
      encode: (text: string) => text.split(' ').filter((word) => word.length <= MAX_WORD_LENGTH),
    });
  }
}
