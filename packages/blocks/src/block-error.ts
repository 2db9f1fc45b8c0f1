/** Error codes raised by the block store. `@memmapfs/core` re-raises them as `MemMapError` with the same code. */
/** `CHUNKS_EXHAUSTED`: no chunk number is left in the range `chunkNumbers` gives (the caller may give another and try again). */
export type BlockErrorCode = 'BLOCK_CORRUPT' | 'BLOCK_MISSING' | 'BLOCK_STORE_CLOSED' | 'IO_ERROR' | 'INVALID_ARGUMENT' | 'ADDON_MISSING' | 'READ_ONLY' | 'CHUNKS_EXHAUSTED';

/** An error of the block store, with a stable `code`. */
export class BlockError extends Error {
  override readonly name = 'BlockError';
  readonly code: BlockErrorCode;

  constructor(code: BlockErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}
