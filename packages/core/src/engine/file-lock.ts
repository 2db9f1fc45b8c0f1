import { tryLeaseFile } from '@memmapfs/blocks';
import type { StoreFileSystem } from '../types.js';

/**
 * Runs `body` while this process holds an exclusive lock on `path` (created if missing; the kernel
 * drops it if the process dies): between the processes of one host, one at a time. (The saved search
 * index's look-and-write, a host cache's check of its claim.)
 */
export async function withFileLock<T>(path: string, files: Pick<StoreFileSystem, 'open'>, body: () => Promise<T>): Promise<T> {
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
