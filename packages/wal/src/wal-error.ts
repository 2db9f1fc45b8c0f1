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
  | 'LOCK_TIMEOUT'
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
