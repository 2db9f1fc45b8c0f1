export type { Durability, WalEntry, WalHeader, WalRecord, WriteAheadLog } from './write-ahead-log.js';
export { FileWal, openFileWal, createFileDurably } from './file-wal.js';
export type { FileWalOptions, WalFileSystem, WalRecovery } from './file-wal.js';
export { WalError } from './wal-error.js';
export type { WalErrorCode } from './wal-error.js';
export { scanLog } from './log-scan.js';
export type { LogDamage, LogScan } from './log-scan.js';
export { WAL_FORMAT_VERSION, WAL_HEADER_SIZE, WAL_MAGIC, decodeWalHeader, encodeWalHeader } from './wal-header.js';
export { FRAME_HEADER_SIZE, MAX_PAYLOAD_SIZE } from './wal-frame.js';
