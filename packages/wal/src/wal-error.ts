import { describeThrown } from './thrown-value.js';

/** Error codes raised by the write-ahead log. `@memmapfs/core` re-raises them as `MemMapError` with the same code. */
export type WalErrorCode =
  | 'WAL_HEADER_INVALID'
  | 'WAL_FORMAT_UNSUPPORTED'
  | 'WAL_CORRUPT'
  | 'WAL_FAILED'
  | 'WAL_CLOSED'
  | 'WAL_RECORD_TOO_LARGE'
  | 'WAL_IN_USE'
  | 'WAL_REPLACED'
  | 'WAL_TRUNCATED'
  /** The log does not exist, and the open was told not to create it (`create: false`, `readOnly`). */
  | 'WAL_NOT_FOUND'
  | 'LOCK_TIMEOUT'
  | 'IO_ERROR'
  | 'ADDON_MISSING'
  | 'READ_ONLY'
  | 'INVALID_ARGUMENT';

/** Marks the prototype of `WalError` in every copy of this package (see `WalError[Symbol.hasInstance]`). */
const WAL_ERROR = Symbol.for('@memmapfs/wal:WalError');

/** An error of the write-ahead log, with a stable `code`. */
export class WalError extends Error {
  override readonly name = 'WalError';
  readonly code: WalErrorCode;
  /** For `WAL_CORRUPT`: the LSN the bad record should have had and its byte offset. */
  readonly lsn: number | undefined;
  readonly offset: number | undefined;

  constructor(code: WalErrorCode, message: string, options: { cause?: unknown; lsn?: number; offset?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.lsn = options.lsn;
    this.offset = options.offset;
  }

  /**
   * `instanceof WalError` holds for the errors of every copy of this package in the process, not only
   * this one's. Two versions may be installed side by side, one for `@memmapfs/core` and one for a log
   * that throws its errors (`@memmapfs/wal-postgres`), and core must still know those errors for what they are.
   */
  static override [Symbol.hasInstance](value: unknown): value is WalError {
    return typeof value === 'object' && value !== null && (value as { [WAL_ERROR]?: unknown })[WAL_ERROR] === true;
  }
}
Object.defineProperty(WalError.prototype, WAL_ERROR, { value: true });

/**
 * What a log fails with once its caller's `onCommit` threw `thrown` while records were reported (the
 * records are durable, not applied): `thrown` itself when it already is such a failure, else a
 * `WAL_FAILED` whose message is `message` given `thrown` in words. Never throws itself (`instanceof` on a
 * revoked Proxy does).
 */
export function applyFailure(thrown: unknown, message: (described: string) => string): WalError {
  return isWalError(thrown, 'WAL_FAILED') ? thrown : new WalError('WAL_FAILED', message(describeThrown(thrown)), { cause: thrown });
}

/**
 * Whether `value` is a `WalError` (of code `code`, when given). Never throws: what a caller's callback
 * threw reaches the log's catch blocks, and `instanceof` on a revoked Proxy throws, which there would
 * leave the log neither failed nor going.
 */
export function isWalError(value: unknown, code?: WalErrorCode): value is WalError {
  try {
    return value instanceof WalError && (code === undefined || value.code === code);
  } catch {
    return false;
  }
}

/**
 * A file operation outside a commit failed (opening, reading, creating): `IO_ERROR`, with what to do
 * for the usual causes. (A failed write or fsync of a commit is `WAL_FAILED`: the log is then unusable.)
 */
export function ioError(message: string, cause: unknown): WalError {
  return new WalError('IO_ERROR', `${message}: ${(cause as Error).message}${ioAdvice(cause)}`, { cause });
}

/** What to do about a failed file operation, by its errno code. */
export function ioAdvice(cause: unknown): string {
  switch ((cause as NodeJS.ErrnoException)?.code) {
    case 'EROFS': return '. The file system is read-only: open the store with { readOnly: true } to read it.';
    case 'EACCES': case 'EPERM': return '. This process may not write there: check the owner and permissions of the store folder, or open it with { readOnly: true }.';
    case 'EMFILE': case 'ENFILE': return '. Too many open files: raise the limit (ulimit -n), or close other stores.';
    case 'ENOSPC': return '. The disk is full: free some space.';
    case 'ENOTDIR': return '. A part of that path is a file, not a folder: give the store a folder of its own (made when missing).';
    default: return '';
  }
}
