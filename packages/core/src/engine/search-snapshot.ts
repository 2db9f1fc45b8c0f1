import type { StoreFileSystem } from '../types.js';
import { crc32c } from '@memmapfs/wal';
import { createFileDurably, LOG_ID_SIZE } from '@memmapfs/wal';

const MAGIC = Buffer.from('MMFS-IDX', 'ascii');
const VERSION = 3;
const LOG_ID_OFFSET = 24;
const CHECKSUM_OFFSET = LOG_ID_OFFSET + LOG_ID_SIZE;
const SAVED_AT_OFFSET = CHECKSUM_OFFSET + 4;
const PURGES_OFFSET = SAVED_AT_OFFSET + 8;
const NAME_LENGTH_OFFSET = PURGES_OFFSET + 4;
const FIXED_SIZE = NAME_LENGTH_OFFSET + 1;

/** A saved search index and the log position it covers. */
export interface SearchSnapshot {
  /** Provider that wrote it; another provider cannot read it. */
  readonly provider: string;
  /** Identity of the log it was built from (the log header's id): a snapshot of another log is never used. */
  readonly logId: string;
  /** Every record of that log up to this LSN is in the index. */
  readonly lsn: number;
  /** The frame checksum of the record at `lsn` (0 for LSN 0): tells it from a record that took its LSN after a crash cut the log. */
  readonly checksum: number;
  /** The clock when it was saved (ms): memories that had expired by then are not in it. */
  readonly savedAt: number;
  /**
   * How many purges (`compact({ erase: true })`) the index has been through: an index loaded before the
   * last one may hold what deleted memories said, and is never saved over it.
   */
  readonly purges: number;
  readonly data: Uint8Array;
}

/**
 * Layout: magic "MMFS-IDX" | version u32 | CRC32C of the rest u32 | lsn f64 | log id (16 bytes) |
 * checksum of the record at lsn u32 | saved at f64 (ms) | purges u32 | provider name length u8 |
 * provider name | provider data.
 */
export async function writeSearchSnapshot(path: string, snapshot: SearchSnapshot, files: StoreFileSystem): Promise<void> {
  const name = Buffer.from(snapshot.provider, 'utf8');
  const buf = Buffer.alloc(FIXED_SIZE + name.length + snapshot.data.byteLength);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(VERSION, 8);
  buf.writeDoubleLE(snapshot.lsn, 16);
  buf.write(snapshot.logId, LOG_ID_OFFSET, LOG_ID_SIZE, 'hex');
  buf.writeUInt32LE(snapshot.checksum >>> 0, CHECKSUM_OFFSET);
  buf.writeDoubleLE(snapshot.savedAt, SAVED_AT_OFFSET);
  buf.writeUInt32LE(snapshot.purges, PURGES_OFFSET);
  buf.writeUInt8(name.length, NAME_LENGTH_OFFSET);
  name.copy(buf, FIXED_SIZE);
  buf.set(snapshot.data, FIXED_SIZE + name.length);
  buf.writeUInt32LE(crc32c(buf.subarray(16)), 12);
  await createFileDurably(path, buf, files);
}

/** Reads a snapshot; `undefined` when it is missing, damaged or of another version (it is then rebuilt). */
export async function readSearchSnapshot(path: string, files: Pick<StoreFileSystem, 'readFile'>): Promise<SearchSnapshot | undefined> {
  let buf: Buffer;
  try {
    buf = await files.readFile(path);
  } catch {
    return undefined;
  }
  if (buf.length < FIXED_SIZE || !buf.subarray(0, 8).equals(MAGIC) || buf.readUInt32LE(8) !== VERSION) return undefined;
  if (buf.readUInt32LE(12) !== crc32c(buf.subarray(16))) return undefined;
  const nameLength = buf.readUInt8(NAME_LENGTH_OFFSET);
  if (FIXED_SIZE + nameLength > buf.length) return undefined;
  return {
    lsn: buf.readDoubleLE(16),
    logId: buf.toString('hex', LOG_ID_OFFSET, CHECKSUM_OFFSET),
    checksum: buf.readUInt32LE(CHECKSUM_OFFSET),
    savedAt: buf.readDoubleLE(SAVED_AT_OFFSET),
    purges: buf.readUInt32LE(PURGES_OFFSET),
    provider: buf.toString('utf8', FIXED_SIZE, FIXED_SIZE + nameLength),
    data: buf.subarray(FIXED_SIZE + nameLength),
  };
}

/** Where a saved search index stands, read from the start of its file alone (not checked: `readSearchSnapshot` checks it all). */
export interface SearchSnapshotMark {
  readonly lsn: number;
  readonly logId: string;
  readonly purges: number;
}

/** Reads the LSN and log id a snapshot covers from its first bytes; `undefined` when there is none of this version. */
export async function readSearchSnapshotMark(path: string, files: Pick<StoreFileSystem, 'open'>): Promise<SearchSnapshotMark | undefined> {
  let handle;
  try {
    handle = await files.open(path, 'r');
    const head = Buffer.alloc(NAME_LENGTH_OFFSET);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead < head.length || !head.subarray(0, 8).equals(MAGIC) || head.readUInt32LE(8) !== VERSION) return undefined;
    return { lsn: head.readDoubleLE(16), logId: head.toString('hex', LOG_ID_OFFSET, CHECKSUM_OFFSET), purges: head.readUInt32LE(PURGES_OFFSET) };
  } catch {
    return undefined;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
