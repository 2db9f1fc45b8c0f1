import { encodeWalHeader, WAL_HEADER_SIZE } from './wal-header.js';
import { frameSeed, frameSize, writeFrame } from './wal-frame.js';
import type { WalHeader, WalRecord } from './write-ahead-log.js';

/**
 * The bytes of a whole log file: `header`, then `records` framed for that header's log id, each a
 * commit of its own, keeping their LSNs (which must run on from 1). For maintenance that rewrites a
 * log, e.g. repair keeping the records before damage under a new identity.
 */
export function encodeLogImage(header: WalHeader, records: ReadonlyArray<Pick<WalRecord, 'type' | 'payload' | 'lsn'>>): Buffer {
  let size = WAL_HEADER_SIZE;
  for (const record of records) size += frameSize(record);
  const image = Buffer.allocUnsafe(size);
  encodeWalHeader(header).copy(image, 0);
  const seed = frameSeed(header.logId);
  let offset = WAL_HEADER_SIZE;
  for (const record of records) offset = writeFrame(image, offset, seed, record.lsn, record, record.lsn - 1, false);
  return image;
}
