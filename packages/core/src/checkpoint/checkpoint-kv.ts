import type { FileHandle } from 'node:fs/promises';
import { crc32c } from '@memmapfs/wal';
import { damaged } from './checkpoint-rows.js';
import type { KvPairs } from './kv-pairs.js';
import { SectionWriter } from './section-writer.js';

/**
 * One KV row of a checkpoint's KV section (docs/FORMAT.md), 16 bytes, little-endian: the offset of its
 * key in the section's data, f64 | key length u32 | value length u32. The value's bytes follow the
 * key's. Rows are sorted by key, in ascending order of UTF-16 code units (the order of `<`).
 */
export const KV_ROW_SIZE = 16;
/** Rows per check: the CRC32C of their keys and values, continued over the rows themselves. */
export const KV_ROWS_PER_CHECK = 64;
const DATA_OFFSET = 0;
const KEY_LENGTH = 8;
const VALUE_LENGTH = 12;

/** Where a checkpoint's KV section lies in its file, as its tables say (`kvSection`). */
export interface KvSectionPlace {
  /** Of its first row. */
  readonly offset: number;
  /** Rows: KV pairs. */
  readonly count: number;
  /** Bytes of keys and values, after the rows; the checks follow them. */
  readonly dataLength: number;
}

/** The bytes the KV section of `count` pairs with `dataLength` bytes of keys and values takes, checks included. */
export function kvSectionLength(count: number, dataLength: number): number {
  return count * KV_ROW_SIZE + dataLength + 4 * Math.ceil(count / KV_ROWS_PER_CHECK);
}

/**
 * Writes the KV section at `offset` of the file `handle`: `count` pairs from `pairs`, which must yield
 * exactly that many, keys strictly ascending (the order of `<`). Resolves where it lies and its length.
 */
export async function writeKvSection(handle: FileHandle, offset: number, pairs: Iterable<readonly [string, Uint8Array]>, count: number): Promise<KvSectionPlace & { readonly length: number }> {
  const rows = new SectionWriter(handle, offset);
  const data = new SectionWriter(handle, offset + count * KV_ROW_SIZE);
  const checks = Buffer.alloc(4 * Math.ceil(count / KV_ROWS_PER_CHECK));
  const groupRows = Buffer.allocUnsafe(KV_ROW_SIZE * KV_ROWS_PER_CHECK);
  let groupData = 0;
  let written = 0;
  let last: string | undefined;
  for (const [key, value] of pairs) {
    if (written === count) throw new Error(`checkpoint KV section: more than the ${count} pairs counted`);
    if (last !== undefined && !(key > last)) throw new Error(`checkpoint KV pairs out of order: ${JSON.stringify(key)} after ${JSON.stringify(last)}`);
    last = key;
    const keyBytes = Buffer.from(key, 'utf8');
    const at = KV_ROW_SIZE * (written % KV_ROWS_PER_CHECK);
    groupRows.writeDoubleLE(data.written, at + DATA_OFFSET);
    groupRows.writeUInt32LE(keyBytes.length, at + KEY_LENGTH);
    groupRows.writeUInt32LE(value.byteLength, at + VALUE_LENGTH);
    groupData = crc32c(value, crc32c(keyBytes, groupData));
    const keyWrite = data.write(keyBytes);
    if (keyWrite) await keyWrite;
    const valueWrite = data.write(value);
    if (valueWrite) await valueWrite;
    written++;
    if (written % KV_ROWS_PER_CHECK === 0 || written === count) {
      const group = Math.floor((written - 1) / KV_ROWS_PER_CHECK);
      const groupBytes = groupRows.subarray(0, KV_ROW_SIZE * (written - group * KV_ROWS_PER_CHECK));
      checks.writeUInt32LE(crc32c(groupBytes, groupData), 4 * group);
      groupData = 0;
      // (Copied into the writer's buffer, or written out before this resolves: the buffer is reused.)
      const rowsWrite = rows.write(groupBytes);
      if (rowsWrite) await rowsWrite;
    }
  }
  if (written !== count) throw new Error(`checkpoint KV section: ${written} pairs where ${count} were counted`);
  await rows.flush();
  await data.flush();
  const checksOffset = offset + count * KV_ROW_SIZE + data.written;
  for (let done = 0; done < checks.length;) {
    const { bytesWritten } = await handle.write(checks, done, checks.length - done, checksOffset + done);
    done += bytesWritten;
  }
  return { offset, count, dataLength: data.written, length: kvSectionLength(count, data.written) };
}

/**
 * The KV pairs of a checkpoint, read in place: rows sorted by key in a mapping of the file, found by
 * binary search, a key decoded where a search probes it, a value a view of the mapping. Nothing is
 * copied into the heap up front. Every row is checked before it is first used: the group of rows it
 * belongs to, with their keys and values, against that group's CRC32C (`CHECKPOINT_CORRUPT` when it
 * fails).
 */
export class CheckpointKv implements KvPairs {
  /** Number of pairs. */
  readonly count: number;
  private readonly rows: Buffer;
  private readonly data: Buffer;
  private readonly checks: Buffer;
  /** One bit per group of rows: checked already. */
  private readonly checked: Uint8Array;

  /** The section `place` of the checkpoint file `file` (its whole mapping); `source` names it in errors. */
  constructor(file: Buffer, place: KvSectionPlace, private readonly source: string) {
    const { offset, count, dataLength } = place;
    const valid = (n: number) => Number.isSafeInteger(n) && n >= 0;
    if (!valid(offset) || !valid(count) || !valid(dataLength) || offset + kvSectionLength(count, dataLength) > file.length) throw damaged(`the KV section of ${source}`, 'it lies outside the file');
    this.count = count;
    this.rows = file.subarray(offset, offset + count * KV_ROW_SIZE);
    this.data = file.subarray(offset + count * KV_ROW_SIZE, offset + count * KV_ROW_SIZE + dataLength);
    this.checks = file.subarray(offset + count * KV_ROW_SIZE + dataLength, offset + kvSectionLength(count, dataLength));
    this.checked = new Uint8Array(Math.ceil(Math.ceil(count / KV_ROWS_PER_CHECK) / 8));
  }

  /** Checks the group of rows `index` belongs to, once (`again`: even if it was checked before). */
  private check(index: number, again = false): void {
    const group = Math.floor(index / KV_ROWS_PER_CHECK);
    const bit = 1 << (group & 7);
    if (!again && (this.checked[group >> 3]! & bit) !== 0) return;
    const first = group * KV_ROWS_PER_CHECK;
    const end = Math.min(first + KV_ROWS_PER_CHECK, this.count);
    const what = () => `KV pairs ${first}–${end - 1} in ${this.source}`;
    // A group's keys and values are contiguous (written in row order); an offset out of range fails here.
    const from = this.rows.readDoubleLE(first * KV_ROW_SIZE + DATA_OFFSET);
    const lastRow = (end - 1) * KV_ROW_SIZE;
    const to = this.rows.readDoubleLE(lastRow + DATA_OFFSET) + this.rows.readUInt32LE(lastRow + KEY_LENGTH) + this.rows.readUInt32LE(lastRow + VALUE_LENGTH);
    if (!(Number.isSafeInteger(from) && from >= 0 && to >= from && to <= this.data.length)) throw damaged(what(), 'their keys and values are out of range');
    const crc = crc32c(this.rows.subarray(first * KV_ROW_SIZE, end * KV_ROW_SIZE), crc32c(this.data.subarray(from, to)));
    if (crc !== this.checks.readUInt32LE(4 * group)) throw damaged(what(), 'they fail their checksum');
    this.checked[group >> 3]! |= bit;
  }

  /** The key of row `index` (its group checked first, unless `checked` is false). */
  keyAt(index: number, checked = true): string {
    if (checked) this.check(index);
    const at = index * KV_ROW_SIZE;
    const from = this.rows.readDoubleLE(at + DATA_OFFSET);
    const to = from + this.rows.readUInt32LE(at + KEY_LENGTH);
    if (!(from >= 0 && to <= this.data.length)) throw damaged(`KV pair ${index} in ${this.source}`, 'its key is out of range');
    return this.data.toString('utf8', from, to);
  }

  /** The value bytes of row `index`, a view of the mapping (its group checked first). */
  valueAt(index: number): Uint8Array {
    this.check(index);
    const at = index * KV_ROW_SIZE;
    const from = this.rows.readDoubleLE(at + DATA_OFFSET) + this.rows.readUInt32LE(at + KEY_LENGTH);
    return this.data.subarray(from, from + this.rows.readUInt32LE(at + VALUE_LENGTH));
  }

  /** The first row whose key is not below `key` (`count` when none). */
  lowerBound(key: string): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.keyAt(middle) < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The row of `key`, or -1. */
  indexOf(key: string): number {
    const at = this.lowerBound(key);
    return at < this.count && this.keyAt(at) === key ? at : -1;
  }

  /** The value of `key`, or `undefined`. */
  get(key: string): Uint8Array | undefined {
    const at = this.indexOf(key);
    return at < 0 ? undefined : this.valueAt(at);
  }

  has(key: string): boolean {
    return this.indexOf(key) >= 0;
  }

  /** The keys from `start` on (or after it, without `inclusive`), in order. */
  *keysFrom(start: string, inclusive: boolean): Generator<string, void, undefined> {
    let at = this.lowerBound(start);
    if (!inclusive && at < this.count && this.keyAt(at) === start) at++;
    for (; at < this.count; at++) yield this.keyAt(at);
  }

  /** Every pair, in order of key. */
  *entries(): Generator<[string, Uint8Array], void, undefined> {
    for (let at = 0; at < this.count; at++) yield [this.keyAt(at), this.valueAt(at)];
  }

  /**
   * The pairs of the groups that pass their check, in order of key (every group checked again);
   * `onDamaged` hears how many pairs each group that fails it holds (those are skipped).
   */
  *checkedEntries(onDamaged: (pairs: number) => void): Generator<[string, Uint8Array], void, undefined> {
    for (let first = 0; first < this.count; first += KV_ROWS_PER_CHECK) {
      const end = Math.min(first + KV_ROWS_PER_CHECK, this.count);
      try {
        this.check(first, true);
      } catch {
        onDamaged(end - first);
        continue;
      }
      for (let at = first; at < end; at++) yield [this.keyAt(at, false), this.valueAt(at)];
    }
  }

  /** What is wrong with the section (every group checked, and the keys' order), or `undefined`. */
  verify(): string | undefined {
    let last: string | undefined;
    for (let at = 0; at < this.count; at++) {
      let key: string;
      try {
        if (at % KV_ROWS_PER_CHECK === 0) this.check(at, true);
        key = this.keyAt(at, false);
      } catch (error) {
        return (error as Error).message;
      }
      if (last !== undefined && !(key > last)) return `KV pair ${at} in ${this.source} is out of order`;
      last = key;
    }
    return undefined;
  }
}
