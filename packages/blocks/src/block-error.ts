/** Error codes raised by the block store. `@memmapfs/core` re-raises them as `MemMapError` with the same code. */
/** `CHUNKS_EXHAUSTED`: no chunk number is left in the range `chunkNumbers` gives (the caller may give another and try again). */
export type BlockErrorCode = 'BLOCK_CORRUPT' | 'BLOCK_MISSING' | 'BLOCK_STORE_CLOSED' | 'IO_ERROR' | 'INVALID_ARGUMENT' | 'ADDON_MISSING' | 'READ_ONLY' | 'CHUNKS_EXHAUSTED';

/** Marks the prototype of `BlockError` in every copy of this package (see `BlockError[Symbol.hasInstance]`). */
const BLOCK_ERROR = Symbol.for('@memmapfs/blocks:BlockError');

/** An error of the block store, with a stable `code`. */
export class BlockError extends Error {
  override readonly name = 'BlockError';
  readonly code: BlockErrorCode;

  constructor(code: BlockErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  /**
   * `instanceof BlockError` holds for the errors of every copy of this package in the process, not only
   * this one's. Two versions may be installed side by side, one for `@memmapfs/core` and one for a block
   * store that throws its errors, and core must still know those errors for what they are.
   */
  static override [Symbol.hasInstance](value: unknown): value is BlockError {
    return typeof value === 'object' && value !== null && (value as { [BLOCK_ERROR]?: unknown })[BLOCK_ERROR] === true;
  }
}
Object.defineProperty(BlockError.prototype, BLOCK_ERROR, { value: true });
