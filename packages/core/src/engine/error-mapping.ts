import { BlockError } from '@memmapfs/blocks';
import { describeThrown, ioAdvice, WalError } from '@memmapfs/wal';
import { MemMapError, type MemMapErrorCode } from '../errors.js';

const walCodes: Record<WalError['code'], MemMapErrorCode> = {
  WAL_HEADER_INVALID: 'WAL_HEADER_INVALID',
  WAL_FORMAT_UNSUPPORTED: 'WAL_FORMAT_UNSUPPORTED',
  WAL_CORRUPT: 'WAL_CORRUPT',
  WAL_FAILED: 'WAL_FAILED',
  WAL_CLOSED: 'STORE_CLOSED',
  WAL_RECORD_TOO_LARGE: 'TEXT_TOO_LARGE',
  WAL_IN_USE: 'STORE_IN_USE',
  WAL_REPLACED: 'STORE_REPLACED',
  WAL_TRUNCATED: 'WAL_TRUNCATED',
  WAL_NOT_FOUND: 'STORE_NOT_FOUND',
  LOCK_TIMEOUT: 'LOCK_TIMEOUT',
  IO_ERROR: 'IO_ERROR',
  ADDON_MISSING: 'NATIVE_ADDON_MISSING',
  READ_ONLY: 'READ_ONLY',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
};

const blockCodes: Record<BlockError['code'], MemMapErrorCode> = {
  BLOCK_CORRUPT: 'BLOCK_CORRUPT',
  BLOCK_MISSING: 'BLOCK_MISSING',
  BLOCK_STORE_CLOSED: 'STORE_CLOSED',
  IO_ERROR: 'IO_ERROR',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  ADDON_MISSING: 'NATIVE_ADDON_MISSING',
  READ_ONLY: 'READ_ONLY',
  CHUNKS_EXHAUSTED: 'IO_ERROR',
};

/** Re-raises an error from the WAL, the block store or the file system as a `MemMapError`. */
export function toMemMapError(error: unknown): MemMapError {
  if (error instanceof MemMapError) return error;
  if (error instanceof WalError) {
    // (Memory texts and stream chunks are checked against maxTextBytes first: what meets this is a KV
    // value, a state, or a batch of many memories, each one record of the log.)
    const advice = error.code === 'WAL_RECORD_TOO_LARGE' ? ' One record holds a KV value, the state, or one call\'s batch of memories: store data that large in a stream (appendStream, in chunks of at most maxTextBytes) with its key in KV, or split the batch.' : '';
    return new MemMapError(walCodes[error.code], `${error.message}${advice}`, { cause: error, subsystem: 'wal' });
  }
  if (error instanceof BlockError) return new MemMapError(blockCodes[error.code], error.message, { cause: error, subsystem: 'blocks' });
  const message = describeThrown(error);
  return new MemMapError('IO_ERROR', `${message}${ioAdvice(error)}`, { cause: error });
}
