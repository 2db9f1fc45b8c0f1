import { crc32c } from '@node-rs/crc32';
import type { WalEntry, WalRecord } from './write-ahead-log.js';

/**
 * Frame layout (little-endian): payload length u32 | CRC32C u32 | LSN u64 | type u8 | payload.
 * The CRC covers everything after itself (LSN, type, payload), so a frame with a stale LSN fails too.
 * The type byte holds the record type (1–127) in its low 7 bits; its high bit (`CONTINUES`) says that
 * the next record belongs to the same append: the records of one append stand or fall together.
 */
export const FRAME_HEADER_SIZE = 17;
/** Largest record type: the type byte's high bit is the `CONTINUES` flag. */
export const MAX_RECORD_TYPE = 127;
/** High bit of the type byte: the next record belongs to the same append. */
const CONTINUES = 0x80;
/** Largest payload a frame may carry. Larger length fields are treated as damage. */
export const MAX_PAYLOAD_SIZE = 256 * 1024 * 1024;

/**
 * Writes one frame for `entry` with `lsn` into `target` at `offset`; returns the offset after it.
 * `continues`: the next record belongs to the same append.
 */
export function writeFrame(target: Buffer, offset: number, lsn: number, entry: WalEntry, continues = false): number {
  const length = entry.payload.byteLength;
  target.writeUInt32LE(length, offset);
  target.writeUInt32LE(lsn % 0x1_0000_0000, offset + 8);
  target.writeUInt32LE(Math.floor(lsn / 0x1_0000_0000), offset + 12);
  target.writeUInt8(continues ? entry.type | CONTINUES : entry.type, offset + 16);
  target.set(entry.payload, offset + FRAME_HEADER_SIZE);
  const end = offset + FRAME_HEADER_SIZE + length;
  target.writeUInt32LE(crc32c(target.subarray(offset + 8, end)), offset + 4);
  return end;
}

/** Size of the frame that carries `entry`. */
export function frameSize(entry: WalEntry): number {
  return FRAME_HEADER_SIZE + entry.payload.byteLength;
}

/** Outcome of reading the frame at one offset. */
export type FrameRead =
  | { readonly kind: 'record'; readonly record: WalRecord; readonly end: number; readonly continues: boolean }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string };

/** Reads the frame at `offset`, expecting LSN `expectedLsn`. Never throws. */
export function readFrame(buf: Buffer, offset: number, expectedLsn: number): FrameRead {
  if (offset + FRAME_HEADER_SIZE > buf.length) return { kind: 'incomplete' };
  const length = buf.readUInt32LE(offset);
  if (length > MAX_PAYLOAD_SIZE) return { kind: 'invalid', reason: `length field ${length} exceeds the maximum record size` };
  const end = offset + FRAME_HEADER_SIZE + length;
  if (end > buf.length) return { kind: 'incomplete' };
  if (buf.readUInt32LE(offset + 4) !== crc32c(buf.subarray(offset + 8, end))) return { kind: 'invalid', reason: 'checksum mismatch' };
  const lsn = buf.readUInt32LE(offset + 8) + buf.readUInt32LE(offset + 12) * 0x1_0000_0000;
  if (lsn !== expectedLsn) return { kind: 'invalid', reason: `sequence break: LSN ${lsn} where ${expectedLsn} was expected` };
  const typeByte = buf.readUInt8(offset + 16);
  const type = typeByte & ~CONTINUES;
  if (type === 0) return { kind: 'invalid', reason: 'record type 0' };
  return { kind: 'record', record: { lsn, type, offset, payload: buf.subarray(offset + FRAME_HEADER_SIZE, end) }, end, continues: typeByte !== type };
}
