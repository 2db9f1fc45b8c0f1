import { loadLockBinding as loadLogLocks, lockAddonAdvice, type LockBinding } from '@memmapfs/wal';
import { BlockError } from './block-error.js';

export type { LockBinding } from '@memmapfs/wal';

/**
 * The file locks of `@memmapfs/wal` (fs-native-extensions' whole-file locks, see `LockBinding` there),
 * loaded once. Throws `ADDON_MISSING` when the native addon cannot be loaded.
 */
export function loadLockBinding(): LockBinding {
  try {
    return loadLogLocks();
  } catch (error) {
    throw new BlockError('ADDON_MISSING', `Cannot lock chunk or index files: ${lockAddonAdvice(error)}`, { cause: error });
  }
}
