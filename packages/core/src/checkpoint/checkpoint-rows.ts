import type { BlockRef } from '@memmapfs/blocks';
import { crc32c } from '@memmapfs/wal';
import type { Codec } from '../contracts/codec.js';
import { MemMapError } from '../errors.js';
import { isEmbeddingBytes, type MemoryRecord } from '../engine/log-records.js';

/**
 * One memory row of a checkpoint file (docs/FORMAT.md), 72 bytes, little-endian:
 * id f64 | createdAt f64 | updatedAt f64 | expiresAt f64 (NaN: none) | block offset f64 |
 * labels offset f64 | chunk u32 | block length u32 | block CRC32C u32 | labels length u32 |
 * version f64 (the LSN of the record that wrote this version of the memory).
 * The labels (tags, namespace, meta) are the codec's encoding of `[tags, namespace, meta]` in the
 * labels section; rows are sorted by id.
 */
export const ROW_SIZE = 72;
/** Rows per row check: the CRC32C of that many rows followed by their labels. */
export const ROWS_PER_CHECK = 64;
const ID = 0;
const CREATED_AT = 8;
const UPDATED_AT = 16;
const EXPIRES_AT = 24;
const BLOCK_OFFSET = 32;
const LABELS_OFFSET = 40;
const CHUNK = 48;
const BLOCK_LENGTH = 52;
const BLOCK_CRC = 56;
const LABELS_LENGTH = 60;
const VERSION = 64;
/** Where a row holds its id, expiry, labels offset and labels length: what a copy of rows reads or moves. */
export const ROW_ID = ID;
export const ROW_EXPIRES_AT = EXPIRES_AT;
export const ROW_LABELS_OFFSET = LABELS_OFFSET;
export const ROW_LABELS_LENGTH = LABELS_LENGTH;
export const ROW_VERSION = VERSION;

/**
 * The memories of a checkpoint, read in place: rows sorted by id in a mapping of the file, looked up
 * by binary search and decoded one at a time when asked for. Nothing is copied into the heap up front.
 * Every row is checked before it is first used: the group of rows it belongs to, with their labels,
 * against that group's CRC32C (`CHECKPOINT_CORRUPT` when it fails).
 */
export class CheckpointMemories {
  /** Number of memories (rows). */
  readonly count: number;
  /** One bit per group of rows: checked already. */
  private readonly checked: Uint8Array;

  constructor(
    private readonly rows: Buffer,
    private readonly labels: Buffer,
    private readonly checks: Buffer,
    private readonly codec: Codec,
    private readonly source: string,
    /** Whether its labels may hold embeddings (a checkpoint of format version 4): a copy of its rows must say so too. */
    readonly mayHoldEmbeddings = false,
  ) {
    this.count = rows.length / ROW_SIZE;
    this.checked = new Uint8Array(Math.ceil(Math.ceil(this.count / ROWS_PER_CHECK) / 8));
  }

  /** Checks the group of rows `index` belongs to, once (`again`: even if it was checked before). */
  private check(index: number, again = false): void {
    const group = Math.floor(index / ROWS_PER_CHECK);
    const bit = 1 << (group & 7);
    if (!again && (this.checked[group >> 3]! & bit) !== 0) return;
    const first = group * ROWS_PER_CHECK;
    const end = Math.min(first + ROWS_PER_CHECK, this.count);
    this.verifyGroup(group, this.rows.subarray(first * ROW_SIZE, end * ROW_SIZE), this.labels, 0);
  }

  /**
   * Checks group `group` on `rows` (its rows' bytes) and `labels` (bytes of the labels section from
   * `labelsBase` on, holding the group's): its labels must lie there, and the CRC32C of its rows then
   * its labels must be the check the file holds, which is returned; `CHECKPOINT_CORRUPT` otherwise. The
   * group is marked checked.
   */
  private verifyGroup(group: number, rows: Buffer, labels: Buffer, labelsBase: number): number {
    const first = group * ROWS_PER_CHECK;
    const end = first + rows.length / ROW_SIZE;
    // The group's labels are contiguous (written in row order); an offset out of range fails here.
    const from = rows.readDoubleLE(LABELS_OFFSET);
    const last = rows.length - ROW_SIZE;
    const to = rows.readDoubleLE(last + LABELS_OFFSET) + rows.readUInt32LE(last + LABELS_LENGTH);
    if (!(from >= labelsBase && to >= from && to <= labelsBase + labels.length)) throw damaged(`rows ${first}–${end - 1} in ${this.source}`, 'their labels are out of range');
    const crc = crc32c(labels.subarray(from - labelsBase, to - labelsBase), crc32c(rows));
    if (4 * group + 4 > this.checks.length || crc !== this.checks.readUInt32LE(4 * group)) throw damaged(`rows ${first}–${end - 1} in ${this.source}`, 'they fail their checksum');
    this.checked[group >> 3]! |= 1 << (group & 7);
    return crc;
  }

  /**
   * Checks again, once each, the groups of rows `indices` (ascending) lie in, checked before or not: a
   * page of them may have been read back from the disk since, and records made from them must not
   * carry damage into the next checkpoint under its fresh checksums.
   */
  recheck(indices: readonly number[]): void {
    let last = -1;
    for (const index of indices) {
      const group = Math.floor(index / ROWS_PER_CHECK);
      if (group === last) continue;
      last = group;
      this.check(index, true);
    }
  }

  /** Forgets which groups were checked: each is checked again when next read (damage was found in one). */
  forgetChecks(): void {
    this.checked.fill(0);
  }

  /**
   * How many rows lie in groups that fail their check (every group is checked again): of the groups
   * that begin before row `to`, from the one row `from` lies in (for a check in slices of whole groups).
   */
  unreadableRows(from = 0, to = this.count): number {
    let rows = 0;
    const end = Math.min(to, this.count);
    for (let first = from - (from % ROWS_PER_CHECK); first < end; first += ROWS_PER_CHECK) if (!this.groupWhole(first)) rows += Math.min(ROWS_PER_CHECK, this.count - first);
    return rows;
  }

  /**
   * The block references of the rows in groups that pass their check; `onDamaged` hears how many rows
   * each group that fails it holds (those rows are skipped: what they say cannot be trusted).
   */
  *checkedRefs(onDamaged: (rows: number) => void): IterableIterator<BlockRef> {
    for (let first = 0; first < this.count; first += ROWS_PER_CHECK) {
      const end = Math.min(first + ROWS_PER_CHECK, this.count);
      if (!this.groupWhole(first, false)) {
        onDamaged(end - first);
        continue;
      }
      for (let index = first; index < end; index++) yield this.refAt(index);
    }
  }

  /** Whether the group of rows `index` belongs to passes its check (checked again, unless `again` is false). */
  groupWhole(index: number, again = true): boolean {
    try {
      this.check(index, again);
      return true;
    } catch (error) {
      if (!MemMapError.is(error, 'CHECKPOINT_CORRUPT')) throw error;
      return false;
    }
  }

  /** Where row `index` says its labels lie in the labels section, unchecked: `[offset, length]`. */
  labelsSpan(index: number): readonly [number, number] {
    const at = index * ROW_SIZE;
    return [this.rows.readDoubleLE(at + LABELS_OFFSET), this.rows.readUInt32LE(at + LABELS_LENGTH)];
  }

  /** The length of the labels section. */
  get labelsLength(): number {
    return this.labels.length;
  }

  /**
   * Row `index` of a group that fails its check, as a memory record if it reads back whole where it can
   * be checked, else `undefined`: an id and a version that are LSNs with `id ≤ version ≤ lastLsn`, times
   * a `Date` can hold (an expiry after the creation: one before it had expired already; not checked
   * against each other otherwise: a damaged time must not cost an intact text), labels that begin at `labelsFrom` (where the row before
   * ends) or end at `labelsTo` (where the row after begins: rows lie in order in the labels section) and
   * decode, in one of `namespaces` when the checkpoint counts them, and a block `blockWhole` finds whole
   * (its checksum is the row's). What none of these checks (an id or a version still in order, a time,
   * a tag or meta value) could be damaged all the same: nothing else says what they were.
   */
  salvageRow(index: number, check: { lastLsn: number; labelsFrom: number; labelsTo: number; namespaces: ReadonlySet<string> | undefined; blockWhole: (ref: BlockRef) => boolean }): MemoryRecord | undefined {
    const at = index * ROW_SIZE;
    const rows = this.rows;
    const id = rows.readDoubleLE(at + ID);
    const version = rows.readDoubleLE(at + VERSION);
    if (!Number.isSafeInteger(id) || !Number.isSafeInteger(version) || id < 1 || version < id || version > check.lastLsn) return undefined;
    const createdAt = rows.readDoubleLE(at + CREATED_AT);
    const updatedAt = rows.readDoubleLE(at + UPDATED_AT);
    const expiresAt = rows.readDoubleLE(at + EXPIRES_AT);
    if (!isTime(createdAt) || !isTime(updatedAt) || !(Number.isNaN(expiresAt) || (isTime(expiresAt) && expiresAt > createdAt))) return undefined;
    const [labelsOffset, labelsLength] = this.labelsSpan(index);
    // (Either side: a neighbour whose own span is damaged must not cost this row.)
    if ((labelsOffset !== check.labelsFrom && labelsOffset + labelsLength !== check.labelsTo) || labelsOffset < 0 || labelsOffset + labelsLength > this.labels.length) return undefined;
    const ref = this.rawRef(at);
    if (!Number.isSafeInteger(ref.offset) || ref.offset < 0 || !check.blockWhole(ref)) return undefined;
    let labels: Pick<MemoryRecord, 'tags' | 'namespace' | 'meta' | 'embedding'>;
    try {
      labels = decodeLabels(this.codec, this.labels.subarray(labelsOffset, labelsOffset + labelsLength), () => `memory ${id} in ${this.source}`);
    } catch {
      return undefined;
    }
    if (check.namespaces && !check.namespaces.has(labels.namespace)) return undefined;
    const record: MemoryRecord = { id, ref, tags: labels.tags, namespace: labels.namespace, meta: labels.meta, createdAt, updatedAt, expiresAt: Number.isNaN(expiresAt) ? undefined : expiresAt, version };
    return labels.embedding === undefined ? record : { ...record, embedding: labels.embedding };
  }

  /** The id of row `index`. */
  idAt(index: number): number {
    this.check(index);
    return this.rows.readDoubleLE(index * ROW_SIZE + ID);
  }

  /** The expiry of row `index`, if it has one (`checked: false`: as `indexOf`). */
  expiresAt(index: number, checked = true): number | undefined {
    if (checked) this.check(index);
    const value = this.rows.readDoubleLE(index * ROW_SIZE + EXPIRES_AT);
    return Number.isNaN(value) ? undefined : value;
  }

  /**
   * Row index of `id`, or -1; the row found is checked. `checked: false` reads the ids without checking
   * their rows: for the bookkeeping of changes applied over the rows, which must never fail on a damaged
   * checkpoint (what a caller reads of a row is checked).
   */
  indexOf(id: number, checked = true): number {
    if (checked) {
      // The ids read as they lie, then the row found checked: one group's CRC rather than one for each
      // group the search passes. A row that is not found is looked for again checking every step, so
      // that damage the search passed cannot hide it.
      const found = this.indexOf(id, false);
      if (found >= 0) {
        this.check(found);
        return found;
      }
    }
    let low = 0;
    let high = this.count - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const at = checked ? this.idAt(middle) : this.rows.readDoubleLE(middle * ROW_SIZE + ID);
      if (at < id) low = middle + 1;
      else if (at > id) high = middle - 1;
      else if (at === id) return middle;
      // (Not a number: a damaged row, which matches no id.)
      else return -1;
    }
    return -1;
  }

  /** Index of the first row whose id is above `id` (`count` when none is). */
  firstAbove(id: number): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.idAt(middle) <= id) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The version of row `index` (the LSN of the record that wrote it), without decoding its labels. */
  versionAt(index: number): number {
    this.check(index);
    return this.rows.readDoubleLE(index * ROW_SIZE + VERSION);
  }

  /**
   * The memory `id`, decoded from its row, or `undefined`. With `recheck`, for a record to be made from
   * it (an update): the row's group is checked again first, so that damage read back since its first
   * check goes no further.
   */
  get(id: number, recheck = false): MemoryRecord | undefined {
    const index = this.indexOf(id);
    if (index < 0) return undefined;
    if (recheck) this.check(index, true);
    return this.record(index);
  }

  /** The block reference of row `index` (no labels decoded). */
  refAt(index: number): BlockRef {
    this.check(index);
    return this.rawRef(index * ROW_SIZE);
  }

  /**
   * The block reference row `index` says, unchecked: its group may fail its check. For repair, which
   * trusts it only where a whole record of the log carries a copy of that very block (its checksum too).
   */
  uncheckedRefAt(index: number): BlockRef {
    return this.rawRef(index * ROW_SIZE);
  }

  /** The block reference of the row at byte `at`, unchecked. */
  private rawRef(at: number): BlockRef {
    return refOfRow(this.rows, at);
  }

  /** Row `index` as a memory record. */
  record(index: number): MemoryRecord {
    this.check(index);
    return recordOfRow(this.rows, index * ROW_SIZE, this.labels, 0, this.codec, this.source);
  }

  /**
   * Copies of the bytes of rows `from` to `to` (excluded), and of their labels, which follow one another
   * in row order from `labelsOffset` (of the labels section): to copy into another checkpoint as they
   * are. Each group of them is checked now, checked before or not, on the copies: what a copy takes
   * under new checksums is what was checked. With them, `groupChecks`: the checks of the groups they lie
   * in (from the group of `from` on), which they matched. Given `scratch`, the copies are made in its
   * buffers (grown as needed) and are good until the next call with it; else in new ones.
   */
  rawRows(from: number, to: number, scratch?: CopyScratch): { rows: Buffer; labels: Buffer; labelsOffset: number; groupChecks: number[] } {
    // The whole groups the rows lie in, and their labels, copied into the heap first and checked there:
    // a page of the mapping read back changed between a check and a copy would otherwise go out under
    // a new checksum.
    const firstGroup = Math.floor(from / ROWS_PER_CHECK);
    const start = firstGroup * ROWS_PER_CHECK;
    const end = Math.min(Math.ceil(to / ROWS_PER_CHECK) * ROWS_PER_CHECK, this.count);
    const rows = copyInto(scratch, 'rows', this.rows.subarray(start * ROW_SIZE, end * ROW_SIZE));
    const labelsStart = rows.readDoubleLE(LABELS_OFFSET);
    const last = rows.length - ROW_SIZE;
    const labelsEnd = rows.readDoubleLE(last + LABELS_OFFSET) + rows.readUInt32LE(last + LABELS_LENGTH);
    if (!(labelsStart >= 0 && labelsEnd >= labelsStart && labelsEnd <= this.labels.length)) throw damaged(`rows ${start}–${end - 1} in ${this.source}`, 'their labels are out of range');
    const labels = copyInto(scratch, 'labels', this.labels.subarray(labelsStart, labelsEnd));
    const groupChecks: number[] = [];
    for (let group = firstGroup; group * ROWS_PER_CHECK < end; group++) {
      const first = group * ROWS_PER_CHECK;
      const groupRows = rows.subarray((first - start) * ROW_SIZE, (Math.min(first + ROWS_PER_CHECK, end) - start) * ROW_SIZE);
      groupChecks.push(this.verifyGroup(group, groupRows, labels, labelsStart));
    }
    const slice = rows.subarray((from - start) * ROW_SIZE, (to - start) * ROW_SIZE);
    const labelsOffset = slice.readDoubleLE(LABELS_OFFSET);
    const sliceLast = slice.length - ROW_SIZE;
    const sliceLabelsEnd = slice.readDoubleLE(sliceLast + LABELS_OFFSET) + slice.readUInt32LE(sliceLast + LABELS_LENGTH);
    if (!(labelsOffset >= labelsStart && sliceLabelsEnd >= labelsOffset && sliceLabelsEnd <= labelsEnd)) throw damaged(`rows ${from}–${to - 1} in ${this.source}`, 'their labels are out of range');
    return { rows: slice, labels: labels.subarray(labelsOffset - labelsStart, sliceLabelsEnd - labelsStart), labelsOffset, groupChecks };
  }
}

/**
 * Buffers a caller lends `CheckpointMemories.rawRows` for its copies, reused from one call to the next:
 * a checkpoint copies every row of the last one, and new memory for each copy costs more than the copy
 * (the kernel zeroes every fresh page).
 */
export interface CopyScratch {
  rows?: Buffer;
  labels?: Buffer;
}

/** The largest copy `CopyScratch` keeps a buffer for: a larger one (labels with big metadata) is a buffer of its own, let go after use. */
export const SCRATCH_KEPT_BYTES = 8 * 1024 * 1024;

/**
 * The size to give a reused buffer that must hold `needed` bytes: twice that (at least 64 KiB), up to
 * `SCRATCH_KEPT_BYTES`; past it, exactly `needed` (a buffer that size is let go after use).
 */
export function scratchBytes(needed: number): number {
  return needed > SCRATCH_KEPT_BYTES ? needed : Math.min(SCRATCH_KEPT_BYTES, Math.max(64 * 1024, 2 * needed));
}

/**
 * A copy of `bytes`: in `scratch[which]` (grown to twice what is needed, up to `SCRATCH_KEPT_BYTES`,
 * when too small), else, or when larger than that, in a new buffer.
 */
export function copyInto(scratch: CopyScratch | undefined, which: 'rows' | 'labels', bytes: Uint8Array): Buffer {
  if (!scratch || bytes.length > SCRATCH_KEPT_BYTES) return Buffer.from(bytes);
  let buffer = scratch[which];
  if (!buffer || buffer.length < bytes.length) buffer = scratch[which] = Buffer.allocUnsafe(scratchBytes(bytes.length));
  buffer.set(bytes);
  return buffer.subarray(0, bytes.length);
}

/**
 * Writes the row of `memory` into `target` at `at`, its labels being at `labelsOffset` (`labelsLength`
 * bytes). (A DataView, not a Buffer's methods, which write a double a byte at a time.)
 */
export function writeRow(target: DataView, at: number, memory: MemoryRecord, labelsOffset: number, labelsLength: number): void {
  target.setFloat64(at + ID, memory.id, true);
  target.setFloat64(at + CREATED_AT, memory.createdAt, true);
  target.setFloat64(at + UPDATED_AT, memory.updatedAt, true);
  target.setFloat64(at + EXPIRES_AT, memory.expiresAt ?? Number.NaN, true);
  target.setFloat64(at + BLOCK_OFFSET, memory.ref.offset, true);
  target.setFloat64(at + LABELS_OFFSET, labelsOffset, true);
  target.setUint32(at + CHUNK, u32(memory.ref.chunk, 'chunk', memory.id), true);
  target.setUint32(at + BLOCK_LENGTH, u32(memory.ref.length, 'block length', memory.id), true);
  target.setUint32(at + BLOCK_CRC, memory.ref.crc >>> 0, true);
  target.setUint32(at + LABELS_LENGTH, u32(labelsLength, 'labels length', memory.id), true);
  target.setFloat64(at + VERSION, memory.version ?? memory.id, true);
}

/** `value`, which must fit a row's u32 field `what` (a DataView would wrap it silently, as a Buffer does not). */
function u32(value: number, what: string, id: number): number {
  if (value >>> 0 !== value) throw new RangeError(`memory ${id}: its ${what} ${value} does not fit a checkpoint row (0 to 2³²−1)`);
  return value;
}

/**
 * The memory of the row at byte `at` of `rows`, its labels read from `labels` (which holds the labels
 * section from its byte `labelsBase` on). `source` names where the rows lie, for an error.
 */
export function recordOfRow(rows: Buffer, at: number, labels: Buffer, labelsBase: number, codec: Codec, source: string): MemoryRecord {
  const id = rows.readDoubleLE(at + ID);
  const labelsOffset = rows.readDoubleLE(at + LABELS_OFFSET) - labelsBase;
  const labelsLength = rows.readUInt32LE(at + LABELS_LENGTH);
  const { tags, namespace, meta, embedding } = decodeLabels(codec, labels.subarray(labelsOffset, labelsOffset + labelsLength), () => `memory ${id} in ${source}`);
  const expiresAt = rows.readDoubleLE(at + EXPIRES_AT);
  const record: MemoryRecord = { id, ref: refOfRow(rows, at), tags, namespace, meta, createdAt: rows.readDoubleLE(at + CREATED_AT), updatedAt: rows.readDoubleLE(at + UPDATED_AT), expiresAt: Number.isNaN(expiresAt) ? undefined : expiresAt, version: rows.readDoubleLE(at + VERSION) };
  return embedding === undefined ? record : { ...record, embedding };
}

/** The block reference of the row at byte `at` of `rows`. */
export function refOfRow(rows: Buffer, at: number): BlockRef {
  return { chunk: rows.readUInt32LE(at + CHUNK), offset: rows.readDoubleLE(at + BLOCK_OFFSET), length: rows.readUInt32LE(at + BLOCK_LENGTH), crc: rows.readUInt32LE(at + BLOCK_CRC) };
}

/** The labels of a memory as a checkpoint stores them. */
export function encodeLabels(codec: Codec, memory: MemoryRecord): Uint8Array {
  return codec.encode(memory.embedding === undefined ? [memory.tags, memory.namespace, memory.meta] : [memory.tags, memory.namespace, memory.meta, memory.embedding]);
}

function decodeLabels(codec: Codec, bytes: Uint8Array, what: () => string): Pick<MemoryRecord, 'tags' | 'namespace' | 'meta' | 'embedding'> {
  let value: unknown;
  try {
    // (From a copy: a codec that decodes binaries as views into its input would hand out the mapping's bytes.)
    value = codec.decode(Buffer.from(bytes));
  } catch (cause) {
    throw damaged(what(), `the ${codec.name} codec cannot decode its labels`, cause);
  }
  if (!Array.isArray(value) || (value.length !== 3 && value.length !== 4)) throw damaged(what(), 'its labels are malformed');
  const [tags, namespace, meta, embedding] = value as [unknown, unknown, unknown, unknown];
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string') || typeof namespace !== 'string' || typeof meta !== 'object' || meta === null || Array.isArray(meta) || (value.length === 4 && !isEmbeddingBytes(embedding))) {
    throw damaged(what(), 'its labels are malformed');
  }
  const labels = { tags: tags as string[], namespace, meta: meta as Record<string, unknown> };
  return value.length === 4 ? { ...labels, embedding: embedding as Uint8Array } : labels;
}

/** `CHECKPOINT_CORRUPT`: `what` of a checkpoint is damaged, `why`. */
export function damaged(what: string, why: string, cause?: unknown): MemMapError {
  return new MemMapError('CHECKPOINT_CORRUPT', `The checkpoint is damaged: ${what}: ${why}. Run \`memmapfs verify\`: it says whether the log still holds what the checkpoint covers (then deleting the store's checkpoints folder makes the next open rebuild everything from the log) or not (then the checkpoint is the only copy of those memories: keep it; \`memmapfs repair --salvage\` writes it again with every row that reads back whole).`, { cause, subsystem: 'checkpoint' });
}

/** Whether `value` is a time a `Date` can hold (milliseconds from the epoch), as `restoreMemories` accepts. */
function isTime(value: number): boolean {
  return Math.abs(value) <= 8.64e15;
}
