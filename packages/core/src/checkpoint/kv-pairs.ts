/**
 * The KV pairs of a checkpoint, as its reader gives them: read in place from the KV section
 * (`CheckpointKv`, format 5), or decoded into the heap from the tables of formats 3 and 4
 * (`DecodedKvPairs`). Keys come in ascending order of UTF-16 code units (the order of `<`).
 */
export interface KvPairs {
  /** Number of pairs. */
  readonly count: number;
  /** The value of `key`, or `undefined`. */
  get(key: string): Uint8Array | undefined;
  has(key: string): boolean;
  /** The keys from `start` on (or after it, without `inclusive`), in order. */
  keysFrom(start: string, inclusive: boolean): Generator<string, void, undefined>;
  /** Every pair, in order of key. */
  entries(): Generator<[string, Uint8Array], void, undefined>;
  /**
   * The pairs that pass their checks, in order of key (every check made again); `onDamaged` hears how
   * many pairs each part that fails its check holds (those are skipped).
   */
  checkedEntries(onDamaged: (pairs: number) => void): Generator<[string, Uint8Array], void, undefined>;
  /** What is wrong with the pairs (every check made, and the keys' order), or `undefined`. */
  verify(): string | undefined;
}

/** The KV pairs of a checkpoint of format 3 or 4, decoded into the heap with its tables (their checksum checked then). */
export class DecodedKvPairs implements KvPairs {
  private readonly keys: string[];
  private readonly values: Uint8Array[];

  /** `pairs` in any order; of a key given twice, the last value. */
  constructor(pairs: Iterable<readonly [string, Uint8Array]>) {
    const byKey = new Map(pairs);
    this.keys = [...byKey.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.values = this.keys.map((key) => byKey.get(key)!);
  }

  get count(): number {
    return this.keys.length;
  }

  /** The first index whose key is not below `key` (`count` when none). */
  private lowerBound(key: string): number {
    let low = 0;
    let high = this.keys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.keys[middle]! < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  get(key: string): Uint8Array | undefined {
    const at = this.lowerBound(key);
    return this.keys[at] === key ? this.values[at] : undefined;
  }

  has(key: string): boolean {
    return this.keys[this.lowerBound(key)] === key;
  }

  *keysFrom(start: string, inclusive: boolean): Generator<string, void, undefined> {
    let at = this.lowerBound(start);
    if (!inclusive && this.keys[at] === start) at++;
    for (; at < this.keys.length; at++) yield this.keys[at]!;
  }

  *entries(): Generator<[string, Uint8Array], void, undefined> {
    for (let at = 0; at < this.keys.length; at++) yield [this.keys[at]!, this.values[at]!];
  }

  checkedEntries(): Generator<[string, Uint8Array], void, undefined> {
    return this.entries();
  }

  verify(): undefined {
    return undefined;
  }
}
