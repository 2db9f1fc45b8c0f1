import { createRequire } from 'node:module';
import { BlockError } from './block-error.js';

/** The package that holds the native file locks; named in every error about them. */
export const LOCK_PACKAGE = 'fs-native-extensions';

/**
 * The file locks this package takes (from fs-native-extensions, which ships prebuilt binaries): advisory
 * whole-file locks, shared or exclusive, that belong to an open file description (what one `open()`
 * makes), not to the process:
 * - a second `open()` of the same file, in this process too, is refused a lock that conflicts;
 * - closing another descriptor of the file lets go of nothing;
 * - the lock goes with `unlock`, when the last descriptor of its description is closed, or when its
 *   process dies (kill -9 included).
 *
 * On Linux they are open file description locks (`fcntl` `F_OFD_SETLK` / `F_OFD_SETLKW`, Linux ≥ 3.15)
 * over the whole file, which do not conflict with `flock(2)` locks; an exclusive one needs a descriptor
 * open for writing and a shared one a descriptor open for reading (else `EBADF`). On macOS they are
 * `flock(2)`; on Windows, `LockFileEx`.
 */
export interface LockBinding {
  /**
   * Takes a lock through `fd` without waiting, or converts the one it holds. False when another open
   * file description holds a lock that conflicts (any lock, for `'exclusive'`; an exclusive one, for
   * `'shared'`); throws other errors (with their errno `code`) as they are. A refused conversion keeps
   * the lock held on Linux, but may lose it where the lock is `flock(2)` (macOS): nothing relies on it.
   */
  tryLock(fd: number, mode: 'shared' | 'exclusive'): boolean;
  /**
   * Waits for an exclusive lock through `fd`. The wait runs on a thread of its own (not libuv's pool)
   * and cannot be called off: it ends when the kernel grants the lock or refuses it, and until then it
   * keeps the process's event loop alive. Granted after `fd` was closed, the lock goes with the
   * description as the wait ends.
   */
  waitForExclusive(fd: number): Promise<void>;
  /** Lets go of the lock held through `fd`; nothing when it holds none. */
  unlock(fd: number): void;
}

/** The part of fs-native-extensions used here (whole file: offset 0, length 0). */
interface NativeLocks {
  tryLock(fd: number, options: { shared: boolean }): boolean;
  waitForLock(fd: number, options: { shared: boolean }): Promise<void>;
  unlock(fd: number): void;
}

let binding: LockBinding | undefined;

/** What to say when the addon did not load: the package to reinstall, and where it has binaries. */
function lockAddonAdvice(cause: unknown): string {
  return `the package ${LOCK_PACKAGE} is missing or its native addon did not load on ${process.platform}-${process.arch} (${(cause as Error)?.message ?? String(cause)}). Reinstall it (npm install ${LOCK_PACKAGE}): it ships prebuilt binaries for Linux (glibc), macOS and Windows on x64 and arm64 and needs no build tools; other platforms (musl, 32-bit) have none.`;
}

/** Loads fs-native-extensions once. Throws `ADDON_MISSING` when its native addon cannot be loaded. */
export function loadLockBinding(): LockBinding {
  if (binding) return binding;
  let native: NativeLocks;
  try {
    native = createRequire(import.meta.url)('fs-native-extensions') as NativeLocks;
  } catch (error) {
    throw new BlockError('ADDON_MISSING', `Cannot lock chunk or index files: ${lockAddonAdvice(error)}`, { cause: error });
  }
  binding = {
    tryLock: (fd, mode) => native.tryLock(fd, { shared: mode === 'shared' }),
    waitForExclusive: (fd) => native.waitForLock(fd, { shared: false }),
    unlock: (fd) => native.unlock(fd),
  };
  return binding;
}
