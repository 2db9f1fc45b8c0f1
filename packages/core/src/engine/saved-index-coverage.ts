import type { PublishedCheckpoint } from '../checkpoint/checkpoint-store.js';
import { withFileLock } from './file-lock.js';
import type { SearchIndexHost } from './search-index-host.js';
import { readSearchSnapshotMark } from './search-snapshot.js';

/** Whether `position` is the very record `saved` names (its LSN and frame checksum). */
function sameRecord(position: { lsn: number; checksum: number } | undefined, saved: { lsn: number; checksum: number }): boolean {
  return saved.lsn > 0 && position?.lsn === saved.lsn && position.checksum === saved.checksum;
}

/**
 * Whether the manifest vouches for an index saved at `saved` that the log begins right after: the
 * checkpoint it names ends with that very record, or it names that record as the one the log began
 * after when it was written.
 */
export function vouchedByManifest(published: PublishedCheckpoint | undefined, saved: { lsn: number; checksum: number }): boolean {
  return sameRecord(published?.position, saved) || sameRecord(published?.logBase, saved);
}

/**
 * After this process's cut of the log: a saved index older than `covered` (the record before the
 * first one the log holds now, or before the cut's bound) can no longer be brought up to date from
 * the log by any process. Nor can one ending with `covered` itself once the log begins right after
 * it, unless the checkpoint the manifest names ends with it: that is asked only when the cut `reached`
 * its bound, for one held back keeps a segment another process still reads, which may have opened
 * from a checkpoint of its own ending there and may load it (the next cut removes it once it is let
 * go of). It is removed, so that the next load rebuilds the index from the tables rather than find
 * it stale; under the index lock, so that a newer one another process saves meanwhile is never the
 * one removed. (Not while this process has a persistent index loaded, `ownLoaded`: its next save
 * replaces it.)
 * Never fails, and removes nothing when reading the manifest fails: a stale index is also found
 * stale when loaded.
 */
export async function dropSavedIndexBefore(host: SearchIndexHost, covered: number, reached: boolean, ownLoaded: () => boolean): Promise<void> {
  try {
    await withFileLock(host.layout.searchLock, host.files, async () => {
      const saved = await readSearchSnapshotMark(host.layout.searchSnapshot, host.files);
      if (!saved || saved.logId !== host.wal.header.logId || ownLoaded()) return;
      const stale = saved.lsn < covered || (reached && saved.lsn > 0 && saved.lsn === covered && !vouchedByManifest(await host.publishedCheckpoint(), saved));
      if (stale) await host.files.unlink(host.layout.searchSnapshot);
    });
  } catch {
    // (The folder or the file is gone already, say.)
  }
}

/**
 * Whether a process opening the store now could load an index saved at `saved` (the last record this
 * process applied) and bring it up to date from the log: the log holds that very record, or begins
 * right after it and the checkpoint the manifest names ends with it. (Not this process's own
 * checkpoint, which may be older than the manifest's: a process opening now starts from the
 * manifest's.) One saved at LSN 0 needs the log from record 1, or an empty log and no checkpoint.
 * `undefined` when the log or the manifest could not be read: not known.
 */
export async function loadableByAny(host: SearchIndexHost, saved: { lsn: number; checksum: number }): Promise<boolean | undefined> {
  try {
    for await (const record of host.wal.readFrom(Math.max(1, saved.lsn))) {
      if (record.lsn === saved.lsn) return record.checksum === saved.checksum;
      if (record.lsn !== saved.lsn + 1) return false;
      return saved.lsn === 0 || vouchedByManifest(await host.publishedCheckpoint(), saved);
    }
    const published = await host.publishedCheckpoint();
    return saved.lsn === 0 ? published?.position === undefined : vouchedByManifest(published, saved);
  } catch {
    return undefined;
  }
}
