import { copyFile, mkdir, open, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { openChunkStore } from '@memmapfs/blocks';
import { createFileDurably, lockLogForMaintenance } from '@memmapfs/wal';
import { MemMapError } from '../errors.js';
import { storeLayout } from '../engine/store-layout.js';
import { toMemMapError } from '../engine/error-mapping.js';
import { examineStore, type StoreCheckOptions, type VerifyReport } from './store-check.js';

/** What `repairStore` did. */
export interface RepairReport {
  /** One sentence per change made. Empty when there was nothing to repair. */
  readonly actions: string[];
  /** Where the files it replaced were copied, when it replaced any. */
  readonly backup: string | undefined;
  /** A verification of the store after the repair. */
  readonly after: VerifyReport;
}

/**
 * Makes a store open again, losing as little as possible: keeps the longest valid prefix of the WAL
 * (the rest is backed up first, never just deleted), puts back damaged blocks from the copies their
 * records carry, and drops the derived search snapshot. Run it on a store no process has open.
 */
export async function repairStore(root: string, options: StoreCheckOptions = {}): Promise<RepairReport> {
  let release: () => Promise<void>;
  try {
    release = await lockLogForMaintenance(storeLayout(resolve(root)).wal);
  } catch (error) {
    const mapped = toMemMapError(error);
    if ((error as { code?: string }).code === 'ENOENT') throw new MemMapError('STORE_NOT_FOUND', `No store at ${root}: there is no state.wal in it.`);
    throw mapped;
  }
  try {
    return await repairLocked(root, options);
  } finally {
    await release();
  }
}

async function repairLocked(root: string, options: StoreCheckOptions): Promise<RepairReport> {
  const { layout, image, scan, badBlocks, snapshotUnusable } = await examineStore(resolve(root), options);
  const actions: string[] = [];
  let backup: string | undefined;
  try {
    if (scan.damage || scan.tornBytes > 0) {
      backup = join(layout.root, `repair-backup-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      await mkdir(backup, { recursive: true });
      await copyFile(layout.wal, join(backup, 'state.wal'));
      const copied = await open(join(backup, 'state.wal'), 'r');
      await copied.sync();
      await copied.close();
      await createFileDurably(layout.wal, image.subarray(0, scan.end));
      // The new log is another file: the old marker (and its generation) no longer describes it.
      await rm(layout.head, { force: true });
      actions.push(`Kept the ${scan.records.length} valid records of state.wal (up to byte ${scan.end}) and dropped ${image.length - scan.end} bytes after them; the original is in ${backup}.`);
    }
    const restorable = badBlocks.filter((block) => block.copy !== undefined);
    if (restorable.length > 0) {
      const blocks = await openChunkStore({ dir: layout.blocks, reader: 'read' });
      try {
        for (const block of restorable) {
          await blocks.restore(block.ref, block.copy!);
          actions.push(`Put back the block of record ${block.lsn} (chunk ${block.ref.chunk}, bytes ${block.ref.offset}–${block.ref.offset + block.ref.length}) from its copy in the log.`);
        }
        await blocks.sync();
      } finally {
        await blocks.close();
      }
    }
    if (actions.length > 0 || snapshotUnusable) {
      await rm(layout.searchSnapshot, { force: true });
      actions.push('Removed the saved search index; it is rebuilt from the log on the next open.');
    }
  } catch (error) {
    throw toMemMapError(error);
  }
  const after = (await examineStore(layout.root, { ...(options.codec ? { codec: options.codec } : {}) })).report;
  return { actions, backup, after };
}
