import { crc32c } from './crc32c.js';
import type { WalEntry, WalRecord } from './write-ahead-log.js';

/**
 * Frame layout (little-endian): payload length u32 | CRC32C u32 | LSN u64 | type u8 | lag u32 | payload.
 *
 * - The CRC covers everything after itself (LSN, type, lag, payload) and starts from the log's
 *   seed (the CRC32C of its log id): a frame of another log, or bytes of a record that happen to look
 *   like a frame, never pass; nor does a frame with a stale LSN.
 * - The type byte holds the record type (1–127) in its low 7 bits; its high bit (`CONTINUES`) says that
 *   the next record belongs to the same commit. A commit's records stand or fall together.
 * - `lag` is this record's LSN minus the LSN up to which the log was durable when it was written (1 for
 *   the first record of a commit written after an fsync). A frame found after a bad one proves the bad
 *   one is damage only if the bad record was already durable when the frame was written; otherwise the
 *   two may have been in the page cache together when power was lost (a torn write).
 */
export const FRAME_HEADER_SIZE = 21;
/** Largest record type: the type byte's high bit is the `CONTINUES` flag. */
export const MAX_RECORD_TYPE = 127;
/** High bit of the type byte: the next record belongs to the same commit. */
const CONTINUES = 0x80;
/** Largest payload a frame may carry. Larger length fields are treated as damage. */
export const MAX_PAYLOAD_SIZE = 256 * 1024 * 1024;

/** The CRC32C state every frame checksum of the log with `logId` (hex) starts from. */
export function frameSeed(logId: string): number {
  return crc32c(Buffer.from(logId, 'hex'));
}

/**
 * Writes one frame for `entry` with `lsn` into `target` at `offset`; returns the offset after it.
 * `durableLsn`: the LSN up to which the log is durable as this record is written; `continues`: the next
 * record belongs to the same commit.
 */
export function writeFrame(target: Buffer, offset: number, seed: number, lsn: number, entry: Pick<WalEntry, 'type' | 'payload'>, durableLsn: number, continues: boolean): number {
  const length = entry.payload.byteLength;
  target.writeUInt32LE(length, offset);
  target.writeUInt32LE(lsn % 0x1_0000_0000, offset + 8);
  target.writeUInt32LE(Math.floor(lsn / 0x1_0000_0000), offset + 12);
  target.writeUInt8(continues ? entry.type | CONTINUES : entry.type, offset + 16);
  target.writeUInt32LE(Math.min(lsn - durableLsn, 0xffff_ffff), offset + 17);
  target.set(entry.payload, offset + FRAME_HEADER_SIZE);
  const end = offset + FRAME_HEADER_SIZE + length;
  target.writeUInt32LE(crc32c(target.subarray(offset + 8, end), seed), offset + 4);
  return end;
}

/** Size of the frame that carries `entry`. */
export function frameSize(entry: WalEntry): number {
  return FRAME_HEADER_SIZE + entry.payload.byteLength;
}

/** Outcome of reading the frame at one offset. */
export type FrameRead =
  | {
      readonly kind: 'record';
      readonly record: WalRecord;
      readonly end: number;
      /** The next record belongs to the same commit. */
      readonly continues: boolean;
      /** The LSN up to which the log was durable when this record was written. */
      readonly durableLsn: number;
    }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string };

/** Reads the frame at `offset`, expecting LSN `expectedLsn` (any LSN when `undefined`). Never throws. */
export function readFrame(buf: Buffer, offset: number, seed: number, expectedLsn: number | undefined): FrameRead {
  if (offset + FRAME_HEADER_SIZE > buf.length) return { kind: 'incomplete' };
  const length = buf.readUInt32LE(offset);
  if (length > MAX_PAYLOAD_SIZE) return { kind: 'invalid', reason: `length field ${length} exceeds the maximum record size` };
  const end = offset + FRAME_HEADER_SIZE + length;
  if (end > buf.length) return { kind: 'incomplete' };
  if (buf.readUInt32LE(offset + 4) !== crc32c(buf.subarray(offset + 8, end), seed)) return { kind: 'invalid', reason: 'checksum mismatch' };
  const lsn = buf.readUInt32LE(offset + 8) + buf.readUInt32LE(offset + 12) * 0x1_0000_0000;
  if (expectedLsn !== undefined && lsn !== expectedLsn) return { kind: 'invalid', reason: `sequence break: LSN ${lsn} where ${expectedLsn} was expected` };
  const typeByte = buf.readUInt8(offset + 16);
  const type = typeByte & ~CONTINUES;
  if (type === 0) return { kind: 'invalid', reason: 'record type 0' };
  const lag = buf.readUInt32LE(offset + 17);
  if (lag < 1 || lag > lsn) return { kind: 'invalid', reason: `lag ${lag} is impossible for LSN ${lsn}` };
  return {
    kind: 'record',
    record: { lsn, type, offset, checksum: buf.readUInt32LE(offset + 4), payload: buf.subarray(offset + FRAME_HEADER_SIZE, end) },
    end,
    continues: typeByte !== type,
    durableLsn: lsn - lag,
  };
}
