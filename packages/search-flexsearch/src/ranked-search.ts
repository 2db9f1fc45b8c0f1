import type { SearchHit } from '@memmapfs/core';
import { levelCeiling, MAX_TERM_WEIGHT } from './bm25.js';
import type { IdTable } from './id-table.js';
import { TopHits } from './top-hits.js';

/**
 * Memories scored before a search stops allowing for unread memories that hold several of the words a
 * prefix stands for (see `ceilingOf`): a short prefix stands for many common words, and allowing for
 * that would read most of their lists.
 */
const READS_ALLOWING_SHARED_WORDS = 4096;

/** The memories holding one indexed word, grouped by relevance level (best first), as FlexSearch keeps them. */
export type LevelLists = ReadonlyArray<readonly number[] | null | undefined>;

/** One query word: the indexed words it stands for (several for a prefix) and its IDF. */
export interface RankedQueryWord {
  /** Each indexed word's memories, by level. */
  readonly lists: readonly LevelLists[];
  /** Weight of the query word (BM25's IDF). */
  readonly idf: number;
}

/** A query word's progress: how much its unread levels can still add to a memory's score. */
interface WordProgress {
  readonly word: RankedQueryWord;
  readonly cursors: Cursor[];
  /** The most the word's unread levels can add (0 once every list is read). */
  ceiling: number;
  /** Number of its lists with levels left to read. */
  unread: number;
}

interface Cursor {
  readonly progress: WordProgress;
  readonly lists: LevelLists;
  /** The next level to read; `lists.length` once all are read. */
  level: number;
  /** What the next level can add to a memory's score: the word's IDF times the level's ceiling. */
  gain: number;
}

/**
 * Finds the best `limit` memories for `words` by reading their lists a level at a time, always the
 * level that could add most to a score, and stops once no memory left unread could beat the `limit`th
 * best (the levels say how much a word can weigh in the memories filed there): a common word's long
 * list is mostly left unread. `score` gives a memory's exact score, or `undefined` when it is not a hit
 * (filtered out, or missing a word that must be there); each memory is scored once (`seen`, cleared
 * first, records which were). With `everyWord`, hits hold every word, so the search also stops once
 * the lists of any one word are read.
 *
 * The result is the exact top by score, but for a query word standing for several words (a prefix)
 * once `READS_ALLOWING_SHARED_WORDS` memories are scored: from then on an unread memory is taken to hold
 * one of them at most, and the order is close to exact.
 */
export function rankedSearch(
  words: readonly RankedQueryWord[],
  levels: number,
  limit: number,
  everyWord: boolean,
  score: (id: number) => number | undefined,
  seen: IdTable,
): SearchHit[] {
  const pending = new CursorHeap();
  const progress: WordProgress[] = words.map((word) => {
    const state: WordProgress = { word, cursors: [], ceiling: 0, unread: 0 };
    for (const lists of word.lists) {
      const cursor: Cursor = { progress: state, lists, level: 0, gain: 0 };
      if (advanceToLevel(cursor, 0, levels)) {
        state.cursors.push(cursor);
        pending.push(cursor);
        state.unread++;
      }
    }
    state.ceiling = ceilingOf(state, true);
    return state;
  });
  let bound = progress.reduce((sum, state) => sum + state.ceiling, 0);
  let wordsRead = progress.filter((state) => state.unread === 0).length;
  const best = new TopHits(limit);
  seen.clear();
  let scored = 0;
  let sharedWords = true;
  for (;;) {
    const next = pending.pop();
    if (next === undefined || (everyWord && wordsRead > 0)) break;
    if (best.full && best.lowest >= bound) break;
    for (const id of next.lists[next.level]!) {
      if (seen.get(id) >= 0) continue;
      seen.set(id, 0);
      scored++;
      const value = score(id);
      if (value !== undefined) best.offer(id, value);
    }
    const state = next.progress;
    if (advanceToLevel(next, next.level + 1, levels)) pending.push(next);
    else if (--state.unread === 0) wordsRead++;
    if (sharedWords && scored >= READS_ALLOWING_SHARED_WORDS) {
      sharedWords = false;
      for (const other of progress) other.ceiling = ceilingOf(other, false);
      bound = progress.reduce((sum, other) => sum + other.ceiling, 0);
    } else {
      bound -= state.ceiling;
      state.ceiling = ceilingOf(state, sharedWords);
      bound += state.ceiling;
    }
  }
  return best.sorted();
}

/** Moves the cursor to the first level from `level` with memories; false when there is none. */
function advanceToLevel(cursor: Cursor, level: number, levels: number): boolean {
  while (level < cursor.lists.length && !(cursor.lists[level]?.length)) level++;
  cursor.level = level;
  cursor.gain = level < cursor.lists.length ? cursor.progress.word.idf * levelCeiling(level, levels) : 0;
  return level < cursor.lists.length;
}

/**
 * The most a query word's unread levels can add to the score of a memory not read yet. For a prefix
 * standing for several words, such a memory may hold several of them, whose counts add up: BM25's
 * weight grows ever slower with the count, so it is at most the sum of each word's, and never more
 * than the largest weight. Without `sharedWords`, the memory is taken to hold one of them at most.
 */
function ceilingOf(state: WordProgress, sharedWords: boolean): number {
  let sum = 0;
  let largest = 0;
  for (const cursor of state.cursors) {
    sum += cursor.gain;
    if (cursor.gain > largest) largest = cursor.gain;
  }
  return sharedWords ? Math.min(sum, state.word.idf * MAX_TERM_WEIGHT) : largest;
}

/** Whether cursor `a` is read before `b`: the greater gain first, and for equal gains the shorter level (less to score). */
function before(a: Cursor, b: Cursor): boolean {
  return a.gain > b.gain || (a.gain === b.gain && a.lists[a.level]!.length < b.lists[b.level]!.length);
}

/** Cursors in the order they are read (`before`). */
class CursorHeap {
  readonly #cursors: Cursor[] = [];

  push(cursor: Cursor): void {
    const heap = this.#cursors;
    heap.push(cursor);
    let at = heap.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!before(cursor, heap[parent]!)) break;
      heap[at] = heap[parent]!;
      at = parent;
    }
    heap[at] = cursor;
  }

  pop(): Cursor | undefined {
    const heap = this.#cursors;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= heap.length) break;
      const child = left + 1 < heap.length && before(heap[left + 1]!, heap[left]!) ? left + 1 : left;
      if (!before(heap[child]!, last)) break;
      heap[at] = heap[child]!;
      at = child;
    }
    heap[at] = last;
    return top;
  }
}
