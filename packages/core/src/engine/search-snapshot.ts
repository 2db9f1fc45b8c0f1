import type { StoreFileSystem } from '../types.js';
import { crc32c } from '@node-rs/crc32';
import { createFileDurably } from '@memmapfs/wal';

const MAGIC = Buffer.from('MMFS-IDX', 'ascii');
const VERSION = 1;
const FIXED_SIZE = 33;

/** A saved search index and the log position it covers. */
export interface SearchSnapshot {
  /** Provider that wrote it; another provider cannot read it. */
  readonly provider: string;
  /** Every record up to this LSN is in the index. */
  readonly lsn: number;
  /** Offset just past that record in the WAL: tells a snapshot of this log from one of an older log. */
  readonly walOffset: number;
  readonly data: Uint8Array;
}

/**
 * Layout: magic "MMFS-IDX" | version u32 | CRC32C of the rest u32 | lsn f64 | walOffset f64 |
 * provider name length u8 | provider name | provider data.
 */
export async function writeSearchSnapshot(path: string, snapshot: SearchSnapshot, files: StoreFileSystem): Promise<void> {
  const name = Buffer.from(snapshot.provider, 'utf8');
  const buf = Buffer.alloc(FIXED_SIZE + name.length + snapshot.data.byteLength);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(VERSION, 8);
  buf.writeDoubleLE(snapshot.lsn, 16);
  buf.writeDoubleLE(snapshot.walOffset, 24);
  buf.writeUInt8(name.length, 32);
  name.copy(buf, FIXED_SIZE);
  buf.set(snapshot.data, FIXED_SIZE + name.length);
  buf.writeUInt32LE(crc32c(buf.subarray(16)), 12);
  await createFileDurably(path, buf, files);
}

/** Reads a snapshot; `undefined` when it is missing, damaged or of another version (it is then rebuilt). */
export async function readSearchSnapshot(path: string, files: StoreFileSystem): Promise<SearchSnapshot | undefined> {
  let buf: Buffer;
  try {
    buf = await files.readFile(path);
  } catch {
    return undefined;
  }
  if (buf.length < FIXED_SIZE || !buf.subarray(0, 8).equals(MAGIC) || buf.readUInt32LE(8) !== VERSION) return undefined;
  if (buf.readUInt32LE(12) !== crc32c(buf.subarray(16))) return undefined;
  const nameLength = buf.readUInt8(32);
  if (FIXED_SIZE + nameLength > buf.length) return undefined;
  return {
    lsn: buf.readDoubleLE(16),
    walOffset: buf.readDoubleLE(24),
    provider: buf.toString('utf8', FIXED_SIZE, FIXED_SIZE + nameLength),
    data: buf.subarray(FIXED_SIZE + nameLength),
  };
}
