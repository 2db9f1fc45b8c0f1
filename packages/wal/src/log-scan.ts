import { FRAME_HEADER_SIZE, MAX_PAYLOAD_SIZE, frameSeed, readFrame } from './wal-frame.js';
import { WAL_HEADER_SIZE } from './wal-header.js';
import { WalError } from './wal-error.js';
import { PUT_SEGMENT_BACK } from './log-segments.js';
import type { WalRecord } from './write-ahead-log.js';

/** Result of scanning the records of a log image. */
export interface LogScan {
  /**
   * Every whole, valid record, in LSN order, of commits whose records are all there. Payloads are views
   * into the scanned buffer.
   */
  readonly records: WalRecord[];
  /** Offset just past the last record kept. */
  readonly end: number;
  /** Bytes after `end` that form no valid record: a torn tail (a write cut short, or zeroes). */
  readonly tornBytes: number;
  /** LSN of the last valid record (`firstLsn - 1` when there is none). */
  readonly lastLsn: number;
  /** The LSNs of the records in `records` whose commit goes on after them (the frame's continues flag). */
  readonly continuing: ReadonlySet<number>;
  /** In `'report'` mode: damage followed by valid records (in `'throw'` mode that throws instead). */
  readonly damage?: LogDamage;
}

/** A damaged record with committed records after it. */
export interface LogDamage {
  /** The LSN the damaged record should carry. */
  readonly lsn: number;
  /** Byte offset of the damaged record. */
  readonly offset: number;
  /** What is wrong with it. */
  readonly reason: string;
  /** The first valid record found after it that was written once it was durable, or (when only the commit marker vouches for more) the end of what was committed. */
  readonly next: { readonly lsn: number; readonly offset: number };
}

/** Options of `scanLog`. */
export interface ScanOptions {
  /** The CRC32C seed of the log's frames (`frameSeed(logId)`). */
  seed: number;
  /** `'throw'` (default): damage is a `WalError` `WAL_CORRUPT`. `'report'`: returned in `damage`. */
  onDamage?: 'throw' | 'report';
  /**
   * Offset (in `buf`) up to which records are known committed, from a commit marker of this log. It is a
   * lower bound (the marker is not fsynced, so after a power loss it may be older than the log): a bad
   * frame before it is damage, whatever follows; after it, a valid frame written once the bad record was
   * durable still makes it damage.
   */
  committedEnd?: number;
  /**
   * The LSN the same marker says was committed last: a scan that ends before it (at a bad frame or at
   * the end of `buf`) is damage, records are missing, whatever the offsets say.
   */
  committedLsn?: number;
}

/**
 * Reads every record of `buf` from `start`, the first expected to carry `firstLsn`.
 *
 * The scan stops at the first frame that is cut short or fails its checks. That frame is damage, and
 * the scan throws `WAL_CORRUPT` naming its LSN and offset (it never guesses), when a valid frame
 * written after that record had been made durable follows anywhere after it, or when the commit marker
 * says records past it were committed. Otherwise the rest is a torn tail: a write cut short, which no acknowledged append
 * depends on (reported in `tornBytes`, for the writer to truncate), unless it is all zeros: the room a
 * writer wrote ahead of its records (`tornBytes` 0). Because every frame's checksum is
 * seeded with the log's identity, bytes inside a record (a block copy, a stored file) can never pass
 * for a frame.
 *
 * The records of one commit stand or fall together: when the scan stops inside a commit (its last
 * record read still says another follows), that commit's records are left out and counted as torn.
 */
export function scanLog(buf: Buffer, start: number, firstLsn: number, path: string, options: ScanOptions): LogScan {
  const { seed, committedEnd, committedLsn } = options;
  const onDamage = options.onDamage ?? 'throw';
  const records: WalRecord[] = [];
  const continuing = new Set<number>();
  let offset = start;
  let lsn = firstLsn;
  // Where the commit being read began: a scan may only stop at such a place.
  let commitStart = { offset, records: 0, lsn };
  const toCommitStart = () => {
    records.length = commitStart.records;
    offset = commitStart.offset;
    lsn = commitStart.lsn;
  };
  const damaged = (reason: string, next: { lsn: number; offset: number }, evidence: string): LogScan => {
    const at = { lsn, offset };
    if (onDamage === 'throw') throw damageError(path, at.lsn, at.offset, reason, evidence);
    toCommitStart();
    return { records, end: offset, tornBytes: 0, lastLsn: lsn - 1, continuing, damage: { ...at, reason, next } };
  };
  while (offset < buf.length) {
    const frame = readFrame(buf, offset, seed, lsn);
    if (frame.kind !== 'record') {
      const reason = frame.kind === 'invalid' ? frame.reason : 'it is cut short';
      const later = findProofOfDamage(buf, offset + 1, lsn, seed);
      if (later) return damaged(reason, later, `and record ${later.lsn} (at byte ${later.offset}) was written after it had been made durable`);
      if (committedEnd !== undefined && offset < committedEnd) return damaged(reason, { lsn, offset: committedEnd }, `but the commit marker says records up to byte ${committedEnd} were committed`);
      if (committedLsn !== undefined && commitStart.lsn - 1 < committedLsn) return damaged(reason, { lsn, offset }, `but the commit marker says records up to ${committedLsn} were committed`);
      break;
    }
    records.push(frame.record);
    if (frame.continues) continuing.add(frame.record.lsn);
    offset = frame.end;
    lsn += 1;
    if (!frame.continues) commitStart = { offset, records: records.length, lsn };
  }
  if (committedEnd !== undefined && offset < committedEnd && offset >= buf.length) {
    return damaged('the log ends there', { lsn, offset: committedEnd }, `but the commit marker says records up to byte ${committedEnd} were committed: records are missing`);
  }
  if (committedLsn !== undefined && offset >= buf.length && commitStart.lsn - 1 < committedLsn) {
    return damaged('the log ends there', { lsn, offset }, `but the commit marker says records up to ${committedLsn} were committed: records are missing`);
  }
  toCommitStart();
  // Zeros after the last whole commit are the log's room written ahead, not a torn write.
  return { records, end: offset, tornBytes: dataEnd(buf, offset) > offset ? buf.length - offset : 0, lastLsn: lsn - 1, continuing };
}

const ZEROS = Buffer.alloc(64 * 1024);

/**
 * The offset just past the last byte of `buf` from `from` on that is not zero (`from` when all are): a
 * writer writes zeros ahead of its records (see `FileWal`), which no frame, record or torn write is.
 */
export function dataEnd(buf: Buffer, from: number): number {
  let end = buf.length;
  while (end > from) {
    const start = Math.max(from, end - ZEROS.length);
    if (buf.compare(ZEROS, 0, end - start, start, end) !== 0) break;
    end = start;
  }
  while (end > from && buf[end - 1] === 0) end--;
  return end;
}

/** The `WAL_CORRUPT` error for damage to record `lsn` at byte `offset`, with what shows it is damage. */
export function damageError(path: string, lsn: number, offset: number, reason: string, evidence: string): WalError {
  // (Repair mends state.wal only: a sealed segment never changes, so a later backup holds it whole.)
  const advice = path.endsWith('.seg') ? `${PUT_SEGMENT_BACK} (\`memmapfs repair\` cannot mend a sealed segment)` : 'The store will not guess: run `memmapfs repair` (it keeps the intact records before and after the damage and backs up the original), or restore the file from a backup';
  return new WalError('WAL_CORRUPT', `${path}: record ${lsn} at byte ${offset} is damaged (${reason}), ${evidence}. ${advice}.`, { lsn, offset });
}

/**
 * Looks, at every offset from `from` on, for a valid frame written when the log was already durable
 * past `lsn` (so the record `lsn` had been made durable before, and its loss is damage, not a torn
 * write). Cheap checks come first (length, LSN range, type, lag), so that payload bytes rarely cost a
 * checksum; zeros (room written ahead) are skipped.
 */
export function findProofOfDamage(buf: Buffer, from: number, lsn: number, seed: number): { lsn: number; offset: number } | undefined {
  return findFrame(buf, from, lsn, seed, (found, lag) => found - lag >= lsn);
}

/**
 * The first valid frame at an offset from `from` on whose LSN is past `lsn`, whenever it was written:
 * where a reader resynchronises after damage (`resyncLog`). Zeros (room written ahead) are skipped.
 */
export function findNextFrame(buf: Buffer, from: number, lsn: number, seed: number): { lsn: number; offset: number } | undefined {
  return findFrame(buf, from, lsn, seed, () => true);
}

/** The first valid frame from `from` on with an LSN past `lsn` that `accept` takes, given its LSN and lag. */
function findFrame(buf: Buffer, from: number, lsn: number, seed: number, accept: (found: number, lag: number) => boolean): { lsn: number; offset: number } | undefined {
  // A frame has bytes that are not zero in its header (its LSN): none begins in zeros written ahead.
  const data = dataEnd(buf, from);
  const maxLsn = lsn + Math.ceil((data - from) / FRAME_HEADER_SIZE);
  const highs = new Set([Math.floor(lsn / 0x1_0000_0000), Math.floor(maxLsn / 0x1_0000_0000)]);
  const lsnAt = (p: number) => buf.readUInt32LE(p + 8) + buf.readUInt32LE(p + 12) * 0x1_0000_0000;
  for (let p = from; p < data && p + FRAME_HEADER_SIZE <= buf.length; p++) {
    const length = buf.readUInt32LE(p);
    const end = p + FRAME_HEADER_SIZE + length;
    if (length > MAX_PAYLOAD_SIZE || end > buf.length) continue;
    const high = buf.readUInt32LE(p + 12);
    if (!highs.has(high)) continue;
    const found = lsnAt(p);
    if (found <= lsn || found > maxLsn || buf.readUInt8(p + 16) === 0) continue;
    const lag = buf.readUInt32LE(p + 17);
    if (lag < 1 || !accept(found, lag)) continue;
    // (Not required to be followed by the next record's frame: that one may be a torn write whose
    // first page was lost. The checksum, seeded with the log's identity, decides.)
    if (readFrame(buf, p, seed, found).kind === 'record') return { lsn: found, offset: p };
  }
  return undefined;
}

/**
 * Whether the records of a log image were written for the log id `logId`: its first record (after the
 * header) passes its checks with that id's seed (and carries `firstLsn`, when given), or there is no record at all. Lets maintenance tell
 * which of several copies of a damaged header belongs to the records.
 */
export function recordsBelongTo(image: Buffer, logId: string, firstLsn?: number): boolean {
  if (image.length <= WAL_HEADER_SIZE) return true;
  return readFrame(image, WAL_HEADER_SIZE, frameSeed(logId), firstLsn).kind === 'record';
}
