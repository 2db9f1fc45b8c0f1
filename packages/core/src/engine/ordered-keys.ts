/** Keys a block holds at most before it splits in two. */
const BLOCK_MAX = 512;

/**
 * A set of strings kept in ascending order of UTF-16 code units (the order of `<`), for listings by
 * prefix and after a key that cost the keys they return plus a binary search, not the whole set.
 * Sorted blocks of at most `BLOCK_MAX` keys, found by their last keys: adding or removing a key moves
 * at most a block's worth of references (a sorted list of sorted lists, as Python's sortedcontainers
 * does), where one sorted array would move half the set.
 */
export class OrderedKeys {
  private readonly blocks: string[][] = [];
  /** The last key of each block, for the binary search that finds a key's block. */
  private readonly lasts: string[] = [];

  /** The keys of `keys`, which holds each key once (a `Map`'s keys). */
  static from(keys: Iterable<string>): OrderedKeys {
    const sorted = [...keys].sort();
    const ordered = new OrderedKeys();
    const size = BLOCK_MAX / 2;
    for (let at = 0; at < sorted.length; at += size) {
      const block = sorted.slice(at, at + size);
      ordered.blocks.push(block);
      ordered.lasts.push(block[block.length - 1]!);
    }
    return ordered;
  }

  /** Adds `key`; a key already there stays once. */
  add(key: string): void {
    if (this.blocks.length === 0) {
      this.blocks.push([key]);
      this.lasts.push(key);
      return;
    }
    // (Past every block's last key: the last block takes it.)
    const b = Math.min(this.blockOf(key), this.blocks.length - 1);
    const block = this.blocks[b]!;
    const at = firstNotBelow(block, key);
    if (block[at] === key) return;
    block.splice(at, 0, key);
    if (at === block.length - 1) this.lasts[b] = key;
    if (block.length > BLOCK_MAX) {
      const upper = block.splice(BLOCK_MAX / 2);
      this.blocks.splice(b + 1, 0, upper);
      this.lasts.splice(b, 1, block[block.length - 1]!, upper[upper.length - 1]!);
    }
  }

  /** Removes `key`, if there. */
  delete(key: string): void {
    const b = this.blockOf(key);
    const block = this.blocks[b];
    if (block === undefined) return;
    const at = firstNotBelow(block, key);
    if (block[at] !== key) return;
    block.splice(at, 1);
    if (block.length === 0) {
      this.blocks.splice(b, 1);
      this.lasts.splice(b, 1);
    } else if (at === block.length) {
      this.lasts[b] = block[block.length - 1]!;
    }
  }

  /** The keys from `start` on (or after it, without `inclusive`), in order. */
  *from(start: string, inclusive: boolean): Generator<string, void, undefined> {
    for (let b = this.blockOf(start), first = true; b < this.blocks.length; b++, first = false) {
      const block = this.blocks[b]!;
      let at = 0;
      if (first) {
        at = firstNotBelow(block, start);
        if (!inclusive && block[at] === start) at++;
      }
      for (; at < block.length; at++) yield block[at]!;
    }
  }

  /** The index of the first block whose last key is not below `key` (the number of blocks when none). */
  private blockOf(key: string): number {
    return firstNotBelow(this.lasts, key);
  }
}

/** The index of the first of the sorted `keys` that is not below `key` (`keys.length` when none). */
function firstNotBelow(keys: readonly string[], key: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (keys[mid]! < key) low = mid + 1;
    else high = mid;
  }
  return low;
}
