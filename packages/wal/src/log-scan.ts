import { FRAME_HEADER_SIZE, MAX_PAYLOAD_SIZE, readFrame } from './wal-frame.js';
import { WalError } from './wal-error.js';
import type { WalRecord } from './write-ahead-log.js';

/** Result of scanning the records of a log image. */
export interface LogScan {
  /**
   * Every whole, valid record, in LSN order, of appends whose records are all there. Payloads are views
   * into the scanned buffer.
   */
  readonly records: WalRecord[];
  /** Offset just past the last record kept. */
  readonly end: number;
  /** Bytes after `end` that form no valid record: a torn tail (a write cut short, or zeroes). */
  readonly tornBytes: number;
  /** LSN of the last valid record (`firstLsn - 1` when there is none). */
  readonly lastLsn: number;
  /** In `'report'` mode: damage followed by valid records (in `'throw'` mode that throws instead). */
  readonly damage?: LogDamage;
}

/** A damaged record with valid records after it. */
export interface LogDamage {
  /** The LSN the damaged record should carry. */
  readonly lsn: number;
  /** Byte offset of the damaged record. */
  readonly offset: number;
  /** What is wrong with it. */
  readonly reason: string;
  /** The first valid record found after it, or (when the commit marker vouches for more) the end of what was committed. */
  readonly next: { readonly lsn: number; readonly offset: number };
}

/** Options of `scanLog`. */
export interface ScanOptions {
  /** `'throw'` (default): damage is a `WalError` `WAL_CORRUPT`. `'report'`: returned in `damage`. */
  onDamage?: 'throw' | 'report';
  /**
   * Offset (in `buf`) up to which the records are known committed, from a commit marker that belongs to
   * this log. A bad frame before it is damage, whatever follows; a bad frame at or after it ends a
   * torn tail, whatever follows (block copies in records carry arbitrary user bytes, so a search for
   * later valid frames could be fooled). Without it, damage is told from a torn tail by whether a
   * valid frame with a later LSN follows.
   */
  committedEnd?: number;
}

/**
 * Reads every record of `buf` from `start`, the first expected to carry `firstLsn`.
 *
 * The scan stops at the first frame that is cut short or fails its checks. If no valid frame with a
 * later LSN follows anywhere after it, the rest is a torn tail (reported in `tornBytes`, for the
 * writer to truncate). If one does, records after damage would be lost silently, so the scan throws
 * `WAL_CORRUPT` naming the LSN and offset of the damaged record instead of guessing.
 *
 * The records of one append stand or fall together: when the scan stops inside an append (its last
 * record still says another follows) that was not committed, that append's records are left out and
 * counted as torn bytes. Records the commit marker covers are never left out.
 */
export function scanLog(buf: Buffer, start: number, firstLsn: number, path: string, options: ScanOptions = {}): LogScan {
  const onDamage = options.onDamage ?? 'throw';
  const committedEnd = options.committedEnd;
  const records: WalRecord[] = [];
  let offset = start;
  let lsn = firstLsn;
  // Where the append being read began: the scan may only stop at such a place, unless committed.
  let appendStart = { offset, records: 0, lsn };
  // Damage ends the scan for repair, which drops everything after `end`: an append cut by it goes whole.
  const toAppendStart = (evenIfCommitted = false) => {
    if (appendStart.offset === offset || (!evenIfCommitted && committedEnd !== undefined && appendStart.offset < committedEnd)) return;
    records.length = appendStart.records;
    offset = appendStart.offset;
    lsn = appendStart.lsn;
  };
  while (offset < buf.length) {
    const frame = readFrame(buf, offset, lsn);
    if (frame.kind !== 'record') {
      if (committedEnd !== undefined && offset >= committedEnd) break;
      const later = committedEnd !== undefined ? { lsn, offset: committedEnd } : findLaterRecord(buf, offset + 1, lsn);
      if (later !== undefined) {
        const why = frame.kind === 'invalid' ? frame.reason : committedEnd !== undefined ? 'it is cut short' : 'its length runs past the end of the record that follows';
        if (onDamage === 'report') {
          const damage = { lsn, offset, reason: why, next: later };
          toAppendStart(true);
          return { records, end: offset, tornBytes: 0, lastLsn: lsn - 1, damage };
        }
        const evidence = committedEnd !== undefined ? `but the commit marker says records up to byte ${committedEnd} were committed` : `and valid records follow it (LSN ${later.lsn} at byte ${later.offset})`;
        throw new WalError('WAL_CORRUPT', `${path}: record ${lsn} at byte ${offset} is damaged (${why}), ${evidence}. The store will not guess: restore the file from a backup, or keep a copy and cut the log at byte ${offset} to open it with the records before the damage.`, { lsn, offset });
      }
      break;
    }
    records.push(frame.record);
    offset = frame.end;
    lsn += 1;
    if (!frame.continues) appendStart = { offset, records: records.length, lsn };
  }
  if (committedEnd !== undefined && offset < committedEnd && offset >= buf.length) {
    const damage = { lsn, offset, reason: 'the log ends there', next: { lsn, offset: committedEnd } };
    if (onDamage === 'report') {
      toAppendStart(true);
      return { records, end: offset, tornBytes: 0, lastLsn: lsn - 1, damage };
    }
    throw new WalError('WAL_CORRUPT', `${path}: the log ends at byte ${offset}, record ${lsn}, but the commit marker says records up to byte ${committedEnd} were committed. Records are missing: restore the file from a backup.`, { lsn, offset });
  }
  toAppendStart();
  return { records, end: offset, tornBytes: buf.length - offset, lastLsn: lsn - 1 };
}

/** Looks for any valid frame at or after `from` whose LSN is at least `minLsn`. */
function findLaterRecord(buf: Buffer, from: number, minLsn: number): { lsn: number; offset: number } | undefined {
  const maxLsn = minLsn + Math.ceil((buf.length - from) / FRAME_HEADER_SIZE);
  for (let p = from; p + FRAME_HEADER_SIZE <= buf.length; p++) {
    const length = buf.readUInt32LE(p);
    if (length > MAX_PAYLOAD_SIZE || p + FRAME_HEADER_SIZE + length > buf.length) continue;
    const high = buf.readUInt32LE(p + 12);
    if (high !== Math.floor(minLsn / 0x1_0000_0000) && high !== Math.floor(maxLsn / 0x1_0000_0000)) continue;
    const lsn = buf.readUInt32LE(p + 8) + high * 0x1_0000_0000;
    if (lsn < minLsn || lsn > maxLsn || buf.readUInt8(p + 16) === 0) continue;
    const frame = readFrame(buf, p, lsn);
    if (frame.kind === 'record') return { lsn, offset: p };
  }
  return undefined;
}
