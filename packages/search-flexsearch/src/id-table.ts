/** Keys below this live in arrays; larger ones (and non-integers) in a `Map`. */
const ARRAY_KEYS = 1 << 26;

/**
 * A table from ids to small non-negative integers, for the length of one search, emptied in O(1):
 * each array slot is stamped with the generation it was written in, and `clear` starts a new one.
 * Memory and word ids are small integers in practice (the store counts memories up; the vocabulary
 * reuses freed word ids), so lookups cost an array read instead of a hash.
 */
export class IdTable {
  #stamps = new Int32Array(0);
  #values = new Int32Array(0);
  #generation = 1;
  readonly #large = new Map<number, number>();

  /** Forgets every entry. */
  clear(): void {
    if (++this.#generation === 0x7fffffff) {
      this.#stamps.fill(0);
      this.#generation = 1;
    }
    this.#large.clear();
  }

  /** The value of `key`, or -1 when it has none. */
  get(key: number): number {
    if (key >= 0 && key < this.#stamps.length && Number.isInteger(key)) return this.#stamps[key] === this.#generation ? this.#values[key]! : -1;
    return key >= 0 && key < ARRAY_KEYS && Number.isInteger(key) ? -1 : (this.#large.get(key) ?? -1);
  }

  /** Sets the value (0 or more) of `key`. */
  set(key: number, value: number): void {
    if (key >= 0 && key < ARRAY_KEYS && Number.isInteger(key)) {
      if (key >= this.#stamps.length) this.#grow(key);
      this.#stamps[key] = this.#generation;
      this.#values[key] = value;
    } else {
      this.#large.set(key, value);
    }
  }

  #grow(key: number): void {
    const size = Math.min(ARRAY_KEYS, Math.max(key + 1, this.#stamps.length * 2, 1024));
    const stamps = new Int32Array(size);
    const values = new Int32Array(size);
    stamps.set(this.#stamps);
    values.set(this.#values);
    this.#stamps = stamps;
    this.#values = values;
  }
}
