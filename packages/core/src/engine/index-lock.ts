import { tryLeaseFile } from '@memmapfs/blocks';
import type { StoreFileSystem } from '../types.js';

/**
 * Runs `body` while this process holds the lock of the saved search index (an exclusive lock on
 * `path`, created if missing, which the kernel drops if the process dies): between processes, one
 * look at the saved index and the write that depends on it at a time.
 */
export async function withIndexLock<T>(path: string, files: Pick<StoreFileSystem, 'open'>, body: () => Promise<T>): Promise<T> {
  for (;;) {
    await (await files.open(path, 'a')).close();
    const lease = await tryLeaseFile(path, 'exclusive');
    if (lease === 'removed') continue;
    if (lease === 'busy') {
      await new Promise((resolve) => setTimeout(resolve, 2));
      continue;
    }
    try {
      return await body();
    } finally {
      await lease.release();
    }
  }
}
