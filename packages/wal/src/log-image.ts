import { encodeWalHeader } from './wal-header.js';
import { frameSeed, frameSize, writeFrame } from './wal-frame.js';
import type { WalHeader, WalRecord } from './write-ahead-log.js';

/** A record to frame again: its LSN, and whether its commit goes on after it (default: it ends there). */
export type RecordToFrame = Pick<WalRecord, 'type' | 'payload' | 'lsn'> & { readonly continues?: boolean };

/**
 * The bytes of a whole log file: `header`, then `records` framed for that header's log id, keeping
 * their LSNs (which must run on from the header's first LSN, one by one) and their commits. For
 * maintenance that rewrites a log, e.g. repair keeping the records around damage under a new identity.
 */
export function encodeLogImage(header: WalHeader, records: readonly RecordToFrame[]): Buffer {
  return Buffer.concat([encodeWalHeader(header), encodeFrames(header.logId, records)]);
}

/**
 * `records` framed for the log `logId`, back to back, keeping their LSNs, each commit (records joined by
 * `continues`) written as one write once every record before it was durable: its first frame has lag 1,
 * the next ones 2, 3, … (as the log writes a commit), so that a later reader still tells where each
 * commit begins and ends. For maintenance that rewrites records of a log (repair).
 */
export function encodeFrames(logId: string, records: readonly RecordToFrame[]): Buffer {
  let size = 0;
  for (const record of records) size += frameSize(record);
  const frames = Buffer.allocUnsafe(size);
  const seed = frameSeed(logId);
  let offset = 0;
  let commitFirst: number | undefined;
  for (const record of records) {
    commitFirst ??= record.lsn;
    offset = writeFrame(frames, offset, seed, record.lsn, record, commitFirst - 1, record.continues === true);
    if (record.continues !== true) commitFirst = undefined;
  }
  return frames;
}
