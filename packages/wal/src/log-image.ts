import { encodeWalHeader } from './wal-header.js';
import { frameSeed, frameSize, writeFrame } from './wal-frame.js';
import type { WalHeader, WalRecord } from './write-ahead-log.js';

/**
 * The bytes of a whole log file: `header`, then `records` framed for that header's log id, each a
 * commit of its own, keeping their LSNs (which must run on from the header's first LSN, one by one).
 * For maintenance that rewrites a log, e.g. repair keeping the records around damage under a new
 * identity.
 */
export function encodeLogImage(header: WalHeader, records: ReadonlyArray<Pick<WalRecord, 'type' | 'payload' | 'lsn'>>): Buffer {
  return Buffer.concat([encodeWalHeader(header), encodeFrames(header.logId, records)]);
}

/**
 * `records` framed for the log `logId`, back to back, each a commit of its own written once every record
 * before it was durable (lag 1), keeping their LSNs. For maintenance that appends records to a copy of
 * a log it keeps the identity of (repair filling the LSNs of records lost to damage).
 */
export function encodeFrames(logId: string, records: ReadonlyArray<Pick<WalRecord, 'type' | 'payload' | 'lsn'>>): Buffer {
  let size = 0;
  for (const record of records) size += frameSize(record);
  const frames = Buffer.allocUnsafe(size);
  const seed = frameSeed(logId);
  let offset = 0;
  for (const record of records) offset = writeFrame(frames, offset, seed, record.lsn, record, record.lsn - 1, false);
  return frames;
}
