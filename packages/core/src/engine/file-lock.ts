import { tryLeaseFile } from '@memmapfs/blocks';
import { MemMapError } from '../errors.js';
import type { StoreFileSystem } from '../types.js';
import { monotonicMs } from '../monotonic-clock.js';

/** How long `withFileLock` waits for another process of this host to let go of the lock. */
const LOCK_WAIT_MS = 120_000;

/**
 * Runs `body` while this process holds an exclusive lock on `path` (created if missing; the kernel
 * drops it if the process dies): between the processes of one host, one at a time. (The saved search
 * index's look-and-write, a host cache's check of its claim, publishing a checkpoint.) Rejects with
 * `LOCK_TIMEOUT` when another process holds it longer than `waitMs` (it is alive, but stuck).
 */
export async function withFileLock<T>(path: string, files: Pick<StoreFileSystem, 'open'>, body: () => Promise<T>, waitMs = LOCK_WAIT_MS, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<T> {
  const lease = await tryFileLock(path, files, waitMs, mode, 2);
  if (!lease) throw new MemMapError('LOCK_TIMEOUT', `Another process of this host held ${path} for over ${Math.round(waitMs / 1000)} s (it may be stuck): nothing was done. Find it with \`fuser ${path}\`, or try again.`);
  try {
    return await body();
  } finally {
    await lease.release();
  }
}

/**
 * Takes a lock on `path` (created if missing), trying again every `pollMs` for up to `waitMs` while
 * other processes of this host hold one that conflicts; resolves with how to let go, or `undefined`
 * when they did not let go in time.
 */
export async function tryFileLock(path: string, files: Pick<StoreFileSystem, 'open'>, waitMs: number, mode: 'exclusive' | 'shared' = 'exclusive', pollMs = 20): Promise<{ release(): Promise<void> } | undefined> {
  const giveUpAt = monotonicMs() + waitMs;
  for (;;) {
    await (await files.open(path, 'a')).close();
    const lease = await tryLeaseFile(path, mode);
    if (lease === 'removed') continue;
    if (lease !== 'busy') return lease;
    if (monotonicMs() >= giveUpAt) return undefined;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
