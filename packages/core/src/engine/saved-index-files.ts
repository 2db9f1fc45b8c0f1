import { tryLeaseFile } from '@memmapfs/blocks';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { syncFolder } from '@memmapfs/wal';
import { isAbandoned } from './abandoned-files.js';
import { tryFileLock, withFileLock } from './file-lock.js';
import type { SearchIndexHost } from './search-index-host.js';
import { readSearchSnapshot } from './search-snapshot.js';

/** How long a removal of the saved index's files waits for a save under way to end (then it removes none now). */
export const DESCRIPTION_LOCK_WAIT_MS = 5_000;
/** The name of a file of the `segments` provider (`@memmapfs/search-segments`), whose leases an erase by another provider honours. */
export const SEGMENT_FILE = /^seg-[0-9a-f]{16}\.seg$/;

/**
 * The files in the persistent index's folder (`index/segments/`), each by its name and identity
 * (device and inode: a file a provider replaced by another of the same name is not the one that was
 * there); none when there is no folder. Of a provider that is not `persistent`, only `segments`' files.
 */
export async function indexFolderFiles(host: SearchIndexHost, persistent: boolean): Promise<Map<string, string>> {
  // (Of a provider that keeps no files, only `segments`' files count: they are the ones it can remove.)
  const counted = (name: string) => !name.startsWith('.') && (persistent || SEGMENT_FILE.test(name));
  let names: string[];
  try {
    names = await host.files.readdir(host.layout.searchSegments);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw error;
  }
  const found = new Map<string, string>();
  for (const name of names.filter(counted)) {
    const stat = await lstat(join(host.layout.searchSegments, name), { bigint: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (stat) found.set(name, `${stat.dev}:${stat.ino}`);
  }
  return found;
}

/**
 * With a provider (`providerName`) that keeps no files (an erase removed the description of a
 * `segments` index saved before): removes the segment files no process leases (as `segments` leases
 * every file it writes or reads), under the lock the index's savers hold, while the saved description
 * is this provider's (one saved meanwhile by another provider, or not read whole, may name them: then
 * nothing is removed).
 * Only `segments`' own files: another persistent provider's are its own to remove.
 */
export async function removeSegmentFilesNoOneNames(host: SearchIndexHost, providerName: string): Promise<void> {
  const { layout, files } = host;
  if (host.wal.readOnly) return;
  const describedHere = async () => {
    const saved = await readSearchSnapshot(layout.searchSnapshot, files, true);
    return saved === undefined || saved.provider === providerName;
  };
  await withFileLock(layout.searchLock, files, async () => {
    if (!(await describedHere())) return;
    let removed = false;
    for (const name of (await indexFolderFiles(host, false)).keys()) {
      if (!SEGMENT_FILE.test(name)) continue;
      const path = join(layout.searchSegments, name);
      const lease = await tryLeaseFile(path, 'exclusive').catch(() => 'busy' as const);
      if (typeof lease === 'string') continue;
      try {
        // (Looked at again under the lease: where the save lock does not hold, a description may name it now.)
        if (await describedHere()) removed = (await files.unlink(path).then(() => true, () => false)) || removed;
      } finally {
        await lease.release();
      }
    }
    // (Made durable: a file a power loss brought back may hold what an erase removed.)
    if (removed) await syncFolder(layout.searchSegments, files);
  }, DESCRIPTION_LOCK_WAIT_MS).catch(() => undefined);
}

/**
 * Removes the temporary files of saves (a description or snapshot, the count of purges) whose writer
 * died before it renamed them into place: a snapshot's may hold what an erase removed since. With
 * `erase`, every one, however recent, waiting for a save under way: under the lock no save runs, so
 * none is a save's own yet (without it, only those of a process gone for an hour: should the lock
 * not hold, say on a network file system, a live save's file is never taken). Whether it could look,
 * and removed every one it took.
 */
export async function removeAbandonedSaveFiles(host: SearchIndexHost, options: { erase?: boolean } = {}): Promise<boolean> {
  // Only while no save runs (every writer of these files holds the lock), and not waiting for one.
  const erase = options.erase === true;
  const lock = await tryFileLock(host.layout.searchLock, host.files, erase ? DESCRIPTION_LOCK_WAIT_MS : 0);
  if (!lock) return false;
  try {
    let removed = false;
    let failed = false;
    for (const name of await host.files.readdir(host.layout.index)) {
      const temp = /^\.(?:search\.snapshot|purges)\.(\d+)-[0-9a-f]+\.tmp$/.exec(name);
      const path = join(host.layout.index, name);
      if (!temp || !(erase || (await isAbandoned(path, Number(temp[1]), host.files)))) continue;
      const gone = await host.files.unlink(path).then(() => true, (error: NodeJS.ErrnoException) => error?.code === 'ENOENT');
      removed ||= gone;
      failed ||= !gone;
    }
    if (removed) await syncFolder(host.layout.index, host.files);
    return !failed;
  } finally {
    await lock.release();
  }
}
