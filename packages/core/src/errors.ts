/**
 * Every error code MemMapFS raises, with what it means. The codes are stable: match on
 * `error.code`, never on the message. Core's README lists them with what to do about each.
 */
export const errorCodes = {
  INVALID_ARGUMENT: 'An argument has the wrong type, is empty, or is out of range.',
  TEXT_TOO_LARGE: 'A memory text or stream chunk is larger than the configured maximum.',
  STORE_CLOSED: 'The store was closed; open it again with MemMapFS.init.',
  STORE_IN_USE: 'Another process has the store open, and the operation (repair) needs it to itself.',
  LOCK_TIMEOUT: 'Another process held the writer lock longer than lockTimeoutMs, or a lock of this host (publishing a checkpoint, saving the search index, opening a host cache) for minutes (it may be stopped or stuck); nothing was written.',
  STORE_REPLACED: 'Another log took the place of the one this process has open (a repair or a compaction elsewhere), or, with a log hosts share, another copy of this host cache opened (a disk cloned while this process ran); close the store and open it again.',
  STORE_NOT_FOUND: 'No store exists at the root (with a log hosts share: none by that name in the database) and `create: false` was given.',
  MEMORY_NOT_FOUND: 'No live memory has that id.',
  MEMORY_ID_TAKEN: 'restoreMemories was given an id that is not above the last record of the log: a record holds it or held it (ids are never reused); none of its memories was written (padding it wrote ahead of them, if any, holds LSNs and nothing else).',
  RESTORE_GAP_TOO_LARGE: 'The ids given to one restoreMemories call are too far apart, or too far above the end of the log, to fill the LSNs between them; nothing was written.',
  RESTORE_CONTENDED: 'Other processes appended to the log between restoreMemories\' plan and its append so many times over that it gave up; none of its memories was written (padding, if any, holds LSNs and nothing else).',
  ADAPTER_NOT_INSTALLED: 'A named codec or search provider needs a package that is not installed.',
  PROVIDER_UNKNOWN: 'A codec or search provider name is neither built in nor registered.',
  PROVIDER_FAILED: 'A codec or search provider threw or returned something invalid.',
  CODEC_MISMATCH: 'The store was created with a different codec than the one requested.',
  WAL_HEADER_INVALID: 'The WAL file does not start with a valid MemMapFS header.',
  WAL_FORMAT_UNSUPPORTED: 'The WAL was written in a format version this release cannot read.',
  WAL_CORRUPT: 'A record in the middle of the WAL fails its checksum or sequence check.',
  WAL_MISSING: 'The log (state.wal) is missing while the rest of the store (manifest, checkpoints, chunk files, log segments) is there: it was removed or left out of a copy; restore it from a backup.',
  WAL_RECORD_INVALID: 'A WAL record decodes, but not into a record this release understands.',
  WAL_TRUNCATED: 'Records the operation needs were dropped from the log after a checkpoint covered them (retention, compaction); open the store again.',
  WAL_FAILED: 'A write or fsync of the WAL failed; the store refuses further writes until reopened.',
  BLOCK_CORRUPT: 'Bytes read from a chunk file do not match the checksum recorded in the WAL.',
  BLOCK_MISSING: 'A chunk file, or a range in it, that the WAL points to does not exist.',
  STREAM_DELETED: 'The stream an openRead was reading was deleted (by any process), and a compaction removed the bytes it had not read yet; read the key again.',
  SEARCH_INDEX_DAMAGED: 'A search provider found the files of its saved index damaged while it read them (the store then rebuilds the index from the memories, with a warning, and answers from it: a caller meets this code only when that rebuild fails too, or from a provider it calls itself).',
  CHECKPOINT_CORRUPT: 'A row of a checkpoint file cannot be read back (the file was damaged after it was written); `memmapfs verify` checks every checkpoint.',
  IO_ERROR: 'The file system refused an operation (permissions, a read-only file system, too many open files, disk full, I/O error).',
  NATIVE_ADDON_MISSING: 'A native addon MemMapFS needs (fs-native-extensions for the file locks, @riaskov/mmap-io for reader: \'mmap\') did not load; the message names the package to reinstall.',
  READ_ONLY: 'A write was asked of a store opened with { readOnly: true }.',
  NOT_SUPPORTED: 'The operation is not available on this kind of store: `publishSnapshot()` on a local one, `compact({ erase: true })` on one whose log other hosts share (the `wal` option), `queryMemory` with `prefix: false` on a search provider that indexes word beginnings.',
} as const;

/** A stable MemMapFS error code. */
export type MemMapErrorCode = keyof typeof errorCodes;

/** Where an error comes from; shown in the message as `[memmapfs] [subsystem]`. */
export type Subsystem = 'core' | 'wal' | 'blocks' | 'checkpoint' | 'codec' | 'search' | 'registry' | 'state' | 'kv' | 'stream';

/** Options of the MemMapError constructor. */
export interface MemMapErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
  /** Where it comes from. Default `'core'`. */
  subsystem?: Subsystem;
}

/**
 * The one error class of MemMapFS. Every failure a caller can cause or meet is a MemMapError with a
 * stable `code`, a message that says what to do, and the underlying error as `cause`.
 *
 * @example
 * try { await fs.updateMemory(42, { text: 'x' }) }
 * catch (e) { if (e instanceof MemMapError && e.code === 'MEMORY_NOT_FOUND') … }
 */
export class MemMapError extends Error {
  override readonly name = 'MemMapError';
  /** Stable code; see `errorCodes`. */
  readonly code: MemMapErrorCode;
  /** The subsystem that raised it. */
  readonly subsystem: Subsystem;

  constructor(code: MemMapErrorCode, message: string, options: MemMapErrorOptions = {}) {
    const subsystem = options.subsystem ?? 'core';
    super(`[memmapfs] [${subsystem}] ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.subsystem = subsystem;
  }

  /** True when `value` is a MemMapError, optionally with the given code. */
  static is(value: unknown, code?: MemMapErrorCode): value is MemMapError {
    return value instanceof MemMapError && (code === undefined || value.code === code);
  }
}
