import type { SearchHit } from '@memmapfs/core';

/**
 * What the provider asks of an index of memory texts: it tokenizes, keeps tags and namespaces, and
 * wraps snapshots; the index finds and ranks. Implemented by `RankedWordIndex` (`tokenize: 'strict'`)
 * and `FlexSearchOrderIndex` (the other tokenizers).
 */
export interface TextIndex {
  /** Whether the last query word also matches the words it begins. */
  readonly prefix: boolean;
  /** Whether `search` with `wholeWords` matches whole words only (an index of word beginnings cannot). */
  readonly wholeWords: boolean;
  /** Indexes a memory's words (the id is not indexed yet). */
  add(id: number, words: readonly string[]): void;
  /** Removes a memory; unknown ids are ignored. */
  remove(id: number): void;
  /**
   * The best `limit` memories for the distinct query `words` among those `accepts` lets through, best
   * first; with `wholeWords`, the last word matches itself only.
   */
  search(words: readonly string[], limit: number, accepts: (id: number) => boolean, wholeWords?: boolean): SearchHit[];
  /** The index as JSON-compatible data, for a snapshot. */
  exportSnapshot(): Promise<unknown>;
  /** Fills this (empty) index from `exportSnapshot` data; throws when it cannot. */
  importSnapshot(data: unknown): void;
}
