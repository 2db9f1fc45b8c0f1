import type { KvPairs } from '../checkpoint/kv-pairs.js';
import { OrderedKeys } from './ordered-keys.js';

/**
 * The store's KV pairs: those of the checkpoint it opened from (`base`: in format 5 read in place through
 * the file's mapping, never copied whole into the heap) and, in the heap, the changes applied since
 * (`changes`: a value, or `null` for a key deleted). Applying a change reads nothing of the base, so a
 * damaged checkpoint never stops the log from being applied; a read that meets a damaged part of it is
 * `CHECKPOINT_CORRUPT`.
 */
export class KvTable {
  private readonly changes = new Map<string, Uint8Array | null>();
  /** The keys of `changes` in order, once a listing asked for them (then kept up). */
  private changedOrder: OrderedKeys | undefined;
  /**
   * How many keys there are, once counted, then kept by each change (which looks its key up, base
   * included, only while it is kept; forgotten when the base cannot say).
   */
  private counted: number | undefined;

  /** Over the pairs of the checkpoint the store opened from; without, a store that has none yet. */
  constructor(private readonly base?: KvPairs) {}

  /**
   * The table `live` becomes once the checkpoint written from `frozen` (taken from it by `frozen()`) is:
   * that checkpoint's pairs, `pairs`, and the changes applied to `live` since.
   */
  static after(pairs: KvPairs, live: KvTable, frozen: KvTable): KvTable {
    const table = new KvTable(pairs);
    // (A change applied since is another value object, or a key frozen knows nothing of.)
    for (const [key, value] of live.changes) if (!frozen.changes.has(key) || frozen.changes.get(key) !== value) table.changes.set(key, value);
    // (A table with no checkpoint under it forgets a key deleted: one frozen had and live has not was deleted since.)
    for (const key of frozen.changes.keys()) if (!live.changes.has(key)) table.changes.set(key, null);
    return table;
  }

  get(key: string): Uint8Array | undefined {
    const changed = this.changes.get(key);
    if (changed !== undefined) return changed ?? undefined;
    return this.base?.get(key);
  }

  has(key: string): boolean {
    const changed = this.changes.get(key);
    if (changed !== undefined) return changed !== null;
    return this.base?.has(key) ?? false;
  }

  /** Sets `key` (a change applied from the log). */
  set(key: string, value: Uint8Array): void {
    this.recount(key, 1);
    if (!this.changes.has(key)) this.changedOrder?.add(key);
    this.changes.set(key, value);
  }

  /** Deletes `key` (a change applied from the log); one not there stays so. */
  delete(key: string): void {
    this.recount(key, -1);
    if (this.base === undefined) {
      if (this.changes.delete(key)) this.changedOrder?.delete(key);
    } else {
      if (!this.changes.has(key)) this.changedOrder?.add(key);
      this.changes.set(key, null);
    }
  }

  /** Before `key` is set (`1`) or deleted (`-1`): the count kept, while there is one. */
  private recount(key: string, change: 1 | -1): void {
    if (this.counted === undefined) return;
    try {
      if (this.has(key) !== (change === 1)) this.counted += change;
    } catch {
      // (A damaged group of the base: counted again, and said, when next asked.)
      this.counted = undefined;
    }
  }

  /** How many keys there are (counted once, the changes looked up in the base; then kept by each change). */
  get size(): number {
    if (this.counted === undefined) {
      let size = this.base?.count ?? 0;
      for (const [key, value] of this.changes) {
        const inBase = this.base?.has(key) ?? false;
        if (value === null && inBase) size--;
        else if (value !== null && !inBase) size++;
      }
      this.counted = size;
    }
    return this.counted;
  }

  /** The keys from `start` on (or after it, without `inclusive`), in ascending order of UTF-16 code units. */
  *from(start: string, inclusive: boolean): Generator<string, void, undefined> {
    const changed = (this.changedOrder ??= OrderedKeys.from(this.changes.keys())).from(start, inclusive);
    const based = this.base?.keysFrom(start, inclusive);
    let a = changed.next();
    let b = based?.next();
    while (!a.done || (b !== undefined && !b.done)) {
      if (b === undefined || b.done || (!a.done && a.value <= b.value)) {
        const key = a.value as string;
        if (b !== undefined && !b.done && b.value === key) b = based!.next();
        a = changed.next();
        if (this.changes.get(key) !== null) yield key;
      } else {
        const key = b.value;
        b = based!.next();
        yield key;
      }
    }
  }

  /** Every pair, in ascending order of key. */
  *entries(): Generator<[string, Uint8Array], void, undefined> {
    for (const key of this.from('', true)) yield [key, this.get(key)!];
  }

  /**
   * The table as it stands, for a checkpoint written from it while changes go on: the same base, a copy
   * of the changes.
   */
  frozen(): KvTable {
    const copy = new KvTable(this.base);
    for (const [key, value] of this.changes) copy.changes.set(key, value);
    copy.counted = this.counted;
    return copy;
  }
}
