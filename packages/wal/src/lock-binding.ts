import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installedPackageFolder, loadNativeAddon } from './installed-addon.js';

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
   * keeps the process's event loop alive. The wait holds `fd`'s number, not the file: keep `fd` open
   * until it ends, or the lock lands on whatever file is opened next under that number.
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

/** The addon's own functions, as fs-native-extensions 1.5.1 (the version pinned) calls them: the whole file is offset 0, length 0. */
interface AddonLocks {
  tryLock(fd: number, offset: number, length: number, exclusive: boolean): void;
  waitForLock(fd: number, offset: number, length: number, exclusive: boolean, request: object, done: (this: { resolve(): void; reject(error: unknown): void }, error: unknown) => void): unknown;
  unlock(fd: number, offset: number, length: number): void;
}

function lockDone(this: { resolve(): void; reject(error: unknown): void }, error: unknown): void {
  if (error) this.reject(error);
  else this.resolve();
}

/**
 * fs-native-extensions' prebuilt addon for this platform, loaded from where the package keeps it, with
 * the package's own wrappers for what is used here; the package's entry point where there is none. (The
 * entry point finds the addon through require-addon, which costs a dozen milliseconds at every start.)
 */
function nativeLocks(): NativeLocks {
  const require = createRequire(import.meta.url);
  // (On Alpine the package looks for a musl build, which it does not ship: its refusal, not the glibc build, stands.)
  if (process.platform === 'linux' && existsSync('/etc/alpine-release')) return require(LOCK_PACKAGE) as NativeLocks;
  let locks: AddonLocks;
  try {
    const folder = installedPackageFolder(dirname(fileURLToPath(import.meta.url)), LOCK_PACKAGE) ?? dirname(require.resolve(`${LOCK_PACKAGE}/package.json`));
    locks = loadNativeAddon(join(folder, 'prebuilds', `${process.platform}-${process.arch}`, `${LOCK_PACKAGE}.node`)) as AddonLocks;
  } catch {
    return require(LOCK_PACKAGE) as NativeLocks;
  }
  return {
    // (A lock held elsewhere throws: `loadLockBinding` tells it from other errors, for both ways of loading.)
    tryLock(fd, { shared }) {
      locks.tryLock(fd, 0, 0, !shared);
      return true;
    },
    waitForLock: (fd, { shared }) => new Promise<void>((resolve, reject) => {
      const request: { handle: unknown; resolve(): void; reject(error: unknown): void } = { handle: null, resolve, reject };
      request.handle = locks.waitForLock(fd, 0, 0, !shared, request, lockDone);
    }),
    unlock: (fd) => locks.unlock(fd, 0, 0),
  };
}

let binding: LockBinding | undefined;

/** What to say when the addon did not load: the package to reinstall, and where it has binaries. */
export function lockAddonAdvice(cause: unknown): string {
  return `the package ${LOCK_PACKAGE} is missing or its native addon did not load on ${process.platform}-${process.arch} (${firstLine((cause as Error)?.message ?? String(cause))}). Reinstall it (npm install ${LOCK_PACKAGE}): it ships prebuilt binaries for Linux (glibc), macOS and Windows on x64 and arm64 and needs no build tools; other platforms (musl, 32-bit) have none.`;
}

/**
 * Whether an error of a lock taken without waiting means that another open file description holds a
 * lock that conflicts: `EAGAIN` from `fcntl` and `flock`, and on Windows `EBUSY`, libuv's name for
 * LockFileEx's `ERROR_LOCK_VIOLATION` (which fs-native-extensions' own wrapper passes on as an error).
 */
export function lockRefused(error: unknown, platform: NodeJS.Platform = process.platform): boolean {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === 'EAGAIN' || (platform === 'win32' && code === 'EBUSY');
}

/** Loads fs-native-extensions once. Throws when its native addon cannot be loaded. */
export function loadLockBinding(): LockBinding {
  if (binding) return binding;
  const native = nativeLocks();
  binding = {
    tryLock(fd, mode) {
      try {
        return native.tryLock(fd, { shared: mode === 'shared' });
      } catch (error) {
        // (The package's entry point turns EAGAIN alone into false; the addon loaded directly, nothing.)
        if (lockRefused(error)) return false;
        throw error;
      }
    },
    waitForExclusive: (fd) => native.waitForLock(fd, { shared: false }),
    unlock: (fd) => native.unlock(fd),
  };
  return binding;
}

/** The first line of a message: a loader's list of every path it tried says nothing the user acts on. */
function firstLine(message: string): string {
  const end = message.indexOf('\n');
  return end === -1 ? message : `${message.slice(0, end).trimEnd()} …`;
}
