import { fstatSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { loadLockBinding } from './lock-binding.js';

/**
 * A lock held on a file through a descriptor of its own (see `LockBinding`: it belongs to that open file
 * description), which the kernel drops when the process dies. Shared leases say "in use": many
 * processes hold them at once. An exclusive lease is taken only to remove a file no one uses.
 */
export interface FileLease {
  /** Lets go of the lock (and the descriptor). Idempotent. */
  release(): Promise<void>;
}

/**
 * Takes a lease on the file at `path` without waiting. Refused with `'busy'` when another descriptor
 * holds a lock that excludes it (any lock, for `'exclusive'`; an exclusive one, for `'shared'`), and
 * with `'removed'` when the file is missing or was unlinked meanwhile (a lease on a removed file would
 * protect nothing). Throws other errors as they are.
 */
export async function tryLeaseFile(path: string, mode: 'shared' | 'exclusive'): Promise<FileLease | 'busy' | 'removed'> {
  let handle: FileHandle;
  try {
    // An exclusive lock needs a descriptor open for writing, a shared one a descriptor open for reading.
    handle = await open(path, mode === 'exclusive' ? 'r+' : 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'removed';
    throw error;
  }
  const outcome = await lockHandle(handle, mode);
  return outcome === 'locked' ? leaseOf(handle) : outcome;
}

/**
 * Takes a lock through `handle` without waiting (`'exclusive'` needs it open for writing, `'shared'` for
 * reading). When another descriptor holds a lock that excludes it, or the file was unlinked meanwhile,
 * closes `handle` and returns false.
 */
export async function tryLockHandle(handle: FileHandle, mode: 'shared' | 'exclusive'): Promise<boolean> {
  return (await lockHandle(handle, mode)) === 'locked';
}

async function lockHandle(handle: FileHandle, mode: 'shared' | 'exclusive'): Promise<'locked' | 'busy' | 'removed'> {
  let locked: boolean;
  try {
    locked = loadLockBinding().tryLock(handle.fd, mode);
  } catch (error) {
    await handle.close();
    throw error;
  }
  if (!locked) {
    await handle.close();
    return 'busy';
  }
  // Whoever removed the file held an exclusive lock until after the unlink: a descriptor opened before
  // it locks a file no one will find again.
  if (fstatSync(handle.fd).nlink === 0) {
    await handle.close();
    return 'removed';
  }
  return 'locked';
}

function leaseOf(handle: FileHandle): FileLease {
  let released: Promise<void> | undefined;
  return {
    release: () => (released ??= handle.close().catch(() => undefined)),
  };
}
