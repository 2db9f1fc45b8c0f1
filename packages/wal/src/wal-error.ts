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
    default: return '';
  }
}
