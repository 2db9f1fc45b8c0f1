import { crc32c } from './crc32c.js';
import type { WalHeader } from './write-ahead-log.js';
import { WalError } from './wal-error.js';

/** First 8 bytes of every log file. */
export const WAL_MAGIC = Buffer.from('MMFS-WAL', 'ascii');
/** The format version this release writes. It also reads version 3 (a log of one file, from LSN 1). */
export const WAL_FORMAT_VERSION = 4;
/** The oldest format version this release reads. */
const OLDEST_READABLE_VERSION = 3;
/** Size of the fixed header at the start of the log; the first record follows it. */
export const WAL_HEADER_SIZE = 64;
/** Size of a log's identity in bytes (shown as 32 hex digits). */
export const LOG_ID_SIZE = 16;
const CODEC_NAME_MAX = 24;
const FIRST_LSN_OFFSET = 36;
const LOG_ID_OFFSET = 44;
const CRC_OFFSET = WAL_HEADER_SIZE - 4;

/** A fresh random log identity, as 32 lowercase hex digits. */
export function newLogId(): string {
  // The global Web Crypto, loaded on first use: node:crypto would cost every open its loading time.
  return Buffer.from(crypto.getRandomValues(new Uint8Array(LOG_ID_SIZE))).toString('hex');
}

/** A segment's header: the log's, and the LSN of the segment's first record. */
export interface SegmentHeader extends WalHeader {
  /** LSN of the first record the segment holds (or will hold, while it is empty). */
  readonly firstLsn: number;
}

/**
 * Header layout of every segment file (64 bytes, little-endian):
 * magic "MMFS-WAL" (8) | format version u16 | codec name length u8 | codec name (≤ 24, ASCII) |
 * zero padding | first LSN u64 at 36 | log id (16 bytes at 44) | CRC32C of bytes 0..59 (u32 at 60).
 * Version 3 (a single log file) had no first LSN: its first record is LSN 1.
 */
export function encodeWalHeader(header: WalHeader & { firstLsn?: number }): Buffer {
  const firstLsn = header.firstLsn ?? 1;
  if (!Number.isSafeInteger(firstLsn) || firstLsn < 1) throw new WalError('INVALID_ARGUMENT', `A segment's first LSN must be a positive integer; got ${firstLsn}.`);
  const name = Buffer.from(header.codec, 'ascii');
  if (name.length === 0 || name.length > CODEC_NAME_MAX || name.toString('ascii') !== header.codec) {
    throw new WalError('INVALID_ARGUMENT', `Codec name must be 1 to ${CODEC_NAME_MAX} ASCII characters; got ${JSON.stringify(header.codec)}.`);
  }
  const logId = Buffer.from(header.logId, 'hex');
  if (logId.length !== LOG_ID_SIZE || logId.toString('hex') !== header.logId.toLowerCase()) {
    throw new WalError('INVALID_ARGUMENT', `A log id must be ${LOG_ID_SIZE * 2} hex digits; got ${JSON.stringify(header.logId)}.`);
  }
  const buf = Buffer.alloc(WAL_HEADER_SIZE);
  WAL_MAGIC.copy(buf, 0);
  buf.writeUInt16LE(header.formatVersion, 8);
  buf.writeUInt8(name.length, 10);
  name.copy(buf, 11);
  if (header.formatVersion >= 4) {
    buf.writeUInt32LE(firstLsn % 0x1_0000_0000, FIRST_LSN_OFFSET);
    buf.writeUInt32LE(Math.floor(firstLsn / 0x1_0000_0000), FIRST_LSN_OFFSET + 4);
  } else if (firstLsn !== 1) {
    throw new WalError('INVALID_ARGUMENT', `A version ${header.formatVersion} log begins at LSN 1; got ${firstLsn}.`);
  }
  logId.copy(buf, LOG_ID_OFFSET);
  buf.writeUInt32LE(crc32c(buf.subarray(0, CRC_OFFSET)), CRC_OFFSET);
  return buf;
}

/** Whether `bytes` start with a header whose magic and checksum are intact (of any version). */
export function isIntactWalHeader(bytes: Uint8Array): boolean {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buf.length >= WAL_HEADER_SIZE && buf.subarray(0, 8).equals(WAL_MAGIC) && buf.readUInt32LE(CRC_OFFSET) === crc32c(buf.subarray(0, CRC_OFFSET));
}

/** Reads and checks the header at the start of `bytes`. */
export function decodeWalHeader(bytes: Uint8Array, path: string): SegmentHeader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < WAL_HEADER_SIZE || !buf.subarray(0, 8).equals(WAL_MAGIC)) {
    throw new WalError('WAL_HEADER_INVALID', `${path} has no valid MemMapFS header (no "MMFS-WAL" magic). If this is a store whose header was damaged, \`memmapfs repair\` rebuilds it from the copy in state.head; otherwise point the store at its own folder.`);
  }
  if (buf.readUInt32LE(CRC_OFFSET) !== crc32c(buf.subarray(0, CRC_OFFSET))) {
    throw new WalError('WAL_HEADER_INVALID', `The header of ${path} fails its checksum: the file is damaged. \`memmapfs repair\` rebuilds it from the copy in state.head.`);
  }
  const formatVersion = buf.readUInt16LE(8);
  if (formatVersion < OLDEST_READABLE_VERSION || formatVersion > WAL_FORMAT_VERSION) {
    throw new WalError('WAL_FORMAT_UNSUPPORTED', `${path} has format version ${formatVersion}; this release reads versions ${OLDEST_READABLE_VERSION} to ${WAL_FORMAT_VERSION}. Use a MemMapFS release that supports it.`);
  }
  const length = buf.readUInt8(10);
  if (length === 0 || length > (formatVersion >= 4 ? CODEC_NAME_MAX : 32)) {
    throw new WalError('WAL_HEADER_INVALID', `The header of ${path} names no valid codec.`);
  }
  const firstLsn = formatVersion >= 4 ? buf.readUInt32LE(FIRST_LSN_OFFSET) + buf.readUInt32LE(FIRST_LSN_OFFSET + 4) * 0x1_0000_0000 : 1;
  if (firstLsn < 1) throw new WalError('WAL_HEADER_INVALID', `The header of ${path} names no first LSN.`);
  return { formatVersion, codec: buf.toString('ascii', 11, 11 + length), logId: buf.toString('hex', LOG_ID_OFFSET, LOG_ID_OFFSET + LOG_ID_SIZE), firstLsn };
}
