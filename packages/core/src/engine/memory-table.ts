import type { MemoryRecord } from './log-records.js';

/** Deleted ids are dropped from the order once there are more than this many and they are half of it. */
const COMPACT_AFTER_DELETES = 1024;

/**
 * The memories of the store by id, able to list the newest first without sorting: ids are LSNs, and
 * records are applied in LSN order, so new ids arrive in increasing order. Besides the map, an array
 * keeps the ids sorted; deleted ids stay in it until they make up half of it.
 */
export class MemoryTable {
  readonly #byId = new Map<number, MemoryRecord>();
  #order: number[] = [];
  #deletedInOrder = 0;

  get(id: number): MemoryRecord | undefined {
    return this.#byId.get(id);
  }

  has(id: number): boolean {
    return this.#byId.has(id);
  }

  /** Adds or replaces a memory. */
  set(id: number, memory: MemoryRecord): void {
    if (!this.#byId.has(id)) {
      const last = this.#order.at(-1);
      if (last === undefined || id > last) {
        this.#order.push(id);
      } else {
        const at = this.#insertionPoint(id);
        // A deleted id still in the order is live again rather than listed twice.
        if (this.#order[at] === id) this.#deletedInOrder--;
        else this.#order.splice(at, 0, id);
      }
    }
    this.#byId.set(id, memory);
  }

  delete(id: number): boolean {
    if (!this.#byId.delete(id)) return false;
    if (++this.#deletedInOrder > COMPACT_AFTER_DELETES && this.#deletedInOrder * 2 > this.#order.length) {
      this.#order = this.#order.filter((kept) => this.#byId.has(kept));
      this.#deletedInOrder = 0;
    }
    return true;
  }

  /** Index of the first id in `#order` that is not lower than `id` (for ids that arrive out of order). */
  #insertionPoint(id: number): number {
    let low = 0;
    let high = this.#order.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#order[middle]! < id) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Every memory, in the order they were added. */
  values(): IterableIterator<MemoryRecord> {
    return this.#byId.values();
  }

  /** Up to `limit` memories that pass `keep`, newest (highest id) first. */
  newest(limit: number, keep: (memory: MemoryRecord) => boolean): MemoryRecord[] {
    const found: MemoryRecord[] = [];
    for (let i = this.#order.length - 1; i >= 0 && found.length < limit; i--) {
      const memory = this.#byId.get(this.#order[i]!);
      if (memory && keep(memory)) found.push(memory);
    }
    return found;
  }
}
