/**
 * The words of every indexed memory, each with a small integer id and the number of memories holding
 * it, and a sorted list of them to find the words a prefix begins.
 *
 * The sorted list is brought up to date by merging in the words added since, once there are enough of
 * them to be worth an O(vocabulary) merge; until then they are looked through one by one. Words no
 * memory holds any more lose their id at once and leave the sorted list at the next merge.
 */
export class Vocabulary {
  readonly #ids = new Map<string, number>();
  /** The word of each id; `undefined` for a free id. */
  readonly #words: Array<string | undefined> = [];
  /** How many memories hold the word of each id. */
  #frequencies = new Int32Array(1024);
  readonly #freeIds: number[] = [];
  /** Words in code-unit order, and the id each had when sorted: an entry whose id now has another word (or none) is stale. */
  #sorted: string[] = [];
  #sortedIds: number[] = [];
  /** Words added since `#sorted` was last merged. */
  #recent = new Set<string>();
  #removedSinceMerge = 0;

  /** The id of `word`, or -1 when no memory holds it. */
  idOf(word: string): number {
    return this.#ids.get(word) ?? -1;
  }

  /** The word of an id in use. */
  wordOf(id: number): string {
    return this.#words[id]!;
  }

  /** How many memories hold the word of `id`. */
  documentFrequency(id: number): number {
    return this.#frequencies[id]!;
  }

  /** Counts one more memory holding `word` and returns its id. */
  hold(word: string): number {
    let id = this.#ids.get(word);
    if (id === undefined) {
      id = this.#freeIds.pop() ?? this.#words.length;
      this.#ids.set(word, id);
      this.#words[id] = word;
      if (id >= this.#frequencies.length) {
        const grown = new Int32Array(this.#frequencies.length * 2);
        grown.set(this.#frequencies);
        this.#frequencies = grown;
      }
      this.#frequencies[id] = 0;
      this.#recent.add(word);
    }
    this.#frequencies[id]!++;
    return id;
  }

  /** Counts one memory fewer holding the word of `id`; the id is freed when none is left. */
  release(id: number): void {
    if (--this.#frequencies[id]! > 0) return;
    const word = this.#words[id]!;
    this.#ids.delete(word);
    this.#words[id] = undefined;
    this.#freeIds.push(id);
    if (!this.#recent.delete(word)) this.#removedSinceMerge++;
  }

  /**
   * The ids of the words that begin with `prefix` (itself included), at most `limit`: those held by
   * the most memories, and `prefix` itself whenever it is a word.
   */
  wordsWithPrefix(prefix: string, limit: number): number[] {
    if (limit < 1) return [];
    const pending = this.#recent.size + this.#removedSinceMerge;
    if (pending > 0 && pending * pending >= this.#sorted.length) this.sortWords();
    const chosen = new CommonestWords(limit, this.#frequencies);
    const sorted = this.#sorted;
    for (let i = lowerBound(sorted, prefix); i < sorted.length && sorted[i]!.startsWith(prefix); i++) {
      const id = this.#sortedIds[i]!;
      if (this.#words[id] === sorted[i]) chosen.offer(id);
    }
    for (const word of this.#recent) if (word.startsWith(prefix)) chosen.offer(this.#ids.get(word)!);
    const exact = this.#ids.get(prefix);
    return exact === undefined ? chosen.ids : chosen.including(exact);
  }

  /** Every word in use as `[id, word]`, for a snapshot. */
  entries(): Array<[number, string]> {
    return [...this.#ids].map(([word, id]) => [id, word]);
  }

  /** Merges the words added since into the sorted list now (a prefix search does when enough are). */
  sortWords(): void {
    const added = [...this.#recent].sort(compareCodeUnits);
    const words: string[] = [];
    const ids: number[] = [];
    const old = this.#sorted;
    const oldIds = this.#sortedIds;
    let i = 0;
    let j = 0;
    while (i < old.length || j < added.length) {
      const fromOld = j >= added.length || (i < old.length && old[i]! < added[j]!);
      const word = fromOld ? old[i]! : added[j]!;
      const id = fromOld ? oldIds[i++]! : this.#ids.get(added[j++]!)!;
      // (A word removed and added again since the last merge can be in both lists.)
      if (this.#words[id] === word && words[words.length - 1] !== word) {
        words.push(word);
        ids.push(id);
      }
    }
    this.#sorted = words;
    this.#sortedIds = ids;
    this.#recent = new Set();
    this.#removedSinceMerge = 0;
  }
}

/** The ids of the `limit` words held by the most memories among those offered, most first (ties: lower id). */
class CommonestWords {
  readonly ids: number[] = [];
  readonly #limit: number;
  readonly #frequencies: Int32Array;

  constructor(limit: number, frequencies: Int32Array) {
    this.#limit = limit;
    this.#frequencies = frequencies;
  }

  offer(id: number): void {
    const ids = this.ids;
    const frequency = this.#frequencies[id]!;
    const ranksAbove = (other: number): boolean => frequency > this.#frequencies[other]! || (frequency === this.#frequencies[other]! && id < other);
    if (ids.length === this.#limit && !ranksAbove(ids[ids.length - 1]!)) return;
    if (ids.includes(id)) return;
    let at = ids.length;
    while (at > 0 && ranksAbove(ids[at - 1]!)) at--;
    ids.splice(at, 0, id);
    if (ids.length > this.#limit) ids.pop();
  }

  /** The ids, with `id` in place of the last one unless it is already there. */
  including(id: number): number[] {
    if (this.ids.includes(id)) return this.ids;
    return this.ids.length < this.#limit ? [...this.ids, id] : [...this.ids.slice(0, -1), id];
  }
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The first index of `sorted` whose word is not below `word`. */
function lowerBound(sorted: readonly string[], word: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < word) low = middle + 1;
    else high = middle;
  }
  return low;
}
