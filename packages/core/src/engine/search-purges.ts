import { createFileDurably, crc32c, LOG_ID_SIZE } from '@memmapfs/wal';
import type { StoreFileSystem } from '../types.js';
import { readSearchSnapshotMark } from './search-snapshot.js';

const MAGIC = Buffer.from('MMFS-PRG', 'ascii');
const VERSION = 1;
const LOG_ID_OFFSET = 16;
const PURGES_OFFSET = LOG_ID_OFFSET + LOG_ID_SIZE;
const SIZE = PURGES_OFFSET + 4;

/**
 * How many purges (`compact({ erase: true })`) the saved search index of a log went through, in a file
 * of its own (`index/purges`). The description of the saved index carries the count too, but it may be
 * deleted (by hand, by a repair, by a log cut that makes it useless) while a process still holds an
 * index it loaded before the last purge: the count kept here is what still refuses that index's save,
 * which would name again the files the purge removed. Written under the index's save lock.
 *
 * Layout (36 bytes): magic "MMFS-PRG" | version u32 | CRC32C of the rest u32 | log id (16 bytes) | purges u32.
 */
export async function writeSearchPurges(path: string, logId: string, purges: number, files: StoreFileSystem): Promise<void> {
  const buf = Buffer.alloc(SIZE);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(VERSION, 8);
  buf.write(logId, LOG_ID_OFFSET, LOG_ID_SIZE, 'hex');
  buf.writeUInt32LE(purges, PURGES_OFFSET);
  buf.writeUInt32LE(crc32c(buf.subarray(16)), 12);
  await createFileDurably(path, buf, files);
}

/**
 * The purges counted for the log `logId`: 0 when none were (no file, or one of another log);
 * `'damaged'` when the file is there but not whole (the count is not known). A read that fails throws:
 * a count not read is never taken for none.
 */
export async function readSearchPurges(path: string, logId: string, files: Pick<StoreFileSystem, 'readFile'>): Promise<number | 'damaged'> {
  let buf: Buffer;
  try {
    buf = await files.readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException)?.code === 'ENOENT') return 0;
    throw error;
  }
  if (buf.length !== SIZE || !buf.subarray(0, 8).equals(MAGIC) || buf.readUInt32LE(8) !== VERSION || buf.readUInt32LE(12) !== crc32c(buf.subarray(16))) return 'damaged';
  return buf.toString('hex', LOG_ID_OFFSET, PURGES_OFFSET) === logId ? buf.readUInt32LE(PURGES_OFFSET) : 0;
}

/**
 * The purges the saved search index of log `logId` went through, as far as they are known: `kept`, the
 * count kept apart (`purgesPath`; `'damaged'` when that file is not whole), and `described`, the one in
 * the saved description (`snapshotPath`; 0 when there is none of this log), which a purge whose count
 * could not be written apart still holds. (The description's is read as a load reads it: bounded, for
 * its header's checksum does not cover it.) A read that fails throws.
 */
export async function purgesCounted(purgesPath: string, snapshotPath: string, logId: string, files: Pick<StoreFileSystem, 'readFile' | 'open'>): Promise<{ kept: number | 'damaged'; described: number }> {
  const kept = await readSearchPurges(purgesPath, logId, files);
  const mark = await readSearchSnapshotMark(snapshotPath, files, true);
  return { kept, described: mark?.logId === logId ? Math.min(mark.purges, MAX_DESCRIBED_PURGES) : 0 };
}

/** The highest count of purges taken from a saved description's header (see `purgesCounted`). */
export const MAX_DESCRIBED_PURGES = 0x7fffffff;
