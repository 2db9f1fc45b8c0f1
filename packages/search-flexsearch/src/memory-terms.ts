import type { IdTable } from './id-table.js';
import { Vocabulary } from './vocabulary.js';

/** A word's count in one memory is kept up to this (BM25's weight hardly grows past a few). */
const MAX_COUNT = 1023;
const COUNT_RANGE = MAX_COUNT + 1;

/** The words of one memory, as the collection statistics see it. */
export interface MemoryWords {
  /** Number of words, repeats included. */
  readonly length: number;
  /** `wordId * COUNT_RANGE + count` of each distinct word, ascending (so by word id). */
  readonly entries: readonly number[];
}

/**
 * Which words each memory holds and how often, with the collection statistics BM25 needs: the number
 * of memories, their average length, and (in the `Vocabulary`) how many memories hold each word.
 * FlexSearch gives neither counts nor statistics, and removing a memory must know its words.
 */
export class MemoryTerms {
  readonly vocabulary = new Vocabulary();
  readonly #memories = new Map<number, MemoryWords>();
  #totalLength = 0;

  /** Number of memories. */
  get count(): number {
    return this.#memories.size;
  }

  /** Average number of words of a memory (1 when there are none). */
  get averageLength(): number {
    return this.#memories.size === 0 ? 1 : this.#totalLength / this.#memories.size || 1;
  }

  /** Whether the memory is known. */
  has(id: number): boolean {
    return this.#memories.has(id);
  }

  /**
   * Records the words of a memory (which must not be known) and returns each distinct word with its
   * count, in order of first appearance.
   */
  add(id: number, words: readonly string[]): Map<string, number> {
    const counts = new Map<string, number>();
    for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
    const entries: number[] = [];
    for (const [word, count] of counts) entries.push(this.vocabulary.hold(word) * COUNT_RANGE + Math.min(count, MAX_COUNT));
    entries.sort((a, b) => a - b);
    this.#memories.set(id, { length: words.length, entries });
    this.#totalLength += words.length;
    return counts;
  }

  /** Forgets a memory; unknown ids are ignored. */
  delete(id: number): void {
    const memory = this.#memories.get(id);
    if (memory === undefined) return;
    this.#memories.delete(id);
    this.#totalLength -= memory.length;
    for (const entry of memory.entries) this.vocabulary.release(Math.floor(entry / COUNT_RANGE));
  }

  /** The words of a memory, or `undefined` when it is unknown. */
  wordsOf(id: number): MemoryWords | undefined {
    return this.#memories.get(id);
  }

  /** The memories and their words, for a snapshot. */
  toSnapshot(): MemoryTermsSnapshot {
    const words: Array<string | null> = [];
    for (const [id, word] of this.vocabulary.entries()) words[id] = word;
    for (let id = 0; id < words.length; id++) words[id] ??= null;
    return { words, memories: [...this.#memories].map(([id, memory]) => [id, memory.length, [...memory.entries]]) };
  }

  /** Adds the memories of a snapshot made by `toSnapshot` (to an empty instance); throws on malformed content. */
  restore(snapshot: MemoryTermsSnapshot): void {
    const { words, memories } = snapshot;
    for (const [id, length, entries] of memories) {
      const restored = entries.map((entry) => {
        const word = words[Math.floor(entry / COUNT_RANGE)];
        if (typeof word !== 'string') throw new TypeError(`memory ${id} holds an unknown word`);
        return this.vocabulary.hold(word) * COUNT_RANGE + (entry % COUNT_RANGE);
      });
      restored.sort((a, b) => a - b);
      this.#memories.set(id, { length, entries: restored });
      this.#totalLength += length;
    }
    this.vocabulary.sortWords();
  }
}

/**
 * Adds to `counts[slot]` how often each word of `memory` is there, for the words `slots` gives a slot
 * (those it has no value for are skipped).
 */
export function addWordCounts(memory: MemoryWords, slots: IdTable, counts: Float64Array): void {
  for (const entry of memory.entries) {
    const wordId = Math.floor(entry / COUNT_RANGE);
    const slot = slots.get(wordId);
    if (slot >= 0) counts[slot]! += entry - wordId * COUNT_RANGE;
  }
}

/** `MemoryTerms` as stored in a snapshot. */
export interface MemoryTermsSnapshot {
  /** The word of each word id used below (`null` for ids not in use). */
  readonly words: ReadonlyArray<string | null>;
  /** `[id, length, entries]` of each memory: `entries` as kept in memory, `wordId * 1024 + count`. */
  readonly memories: ReadonlyArray<readonly [number, number, readonly number[]]>;
}
