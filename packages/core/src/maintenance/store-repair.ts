import { stat } from 'node:fs/promises';
import * as nodeFileSystem from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { openChunkStore } from '@memmapfs/blocks';
import { createFileDurably, encodeLogImage, encodeWalHeader, HeadFile, lockLogForMaintenance, newLogId, WAL_HEADER_SIZE } from '@memmapfs/wal';
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
 * (the rest is backed up first, never just deleted), rebuilds a damaged log header from its copy in
 * state.head, puts back damaged blocks from the copies their records carry (never into a range another
 * record uses), and drops the derived search snapshot. It holds the writer lock throughout, so no
 * process can open the store meanwhile, and refuses (`STORE_IN_USE`) while any process has it open.
 */
export async function repairStore(root: string, options: StoreCheckOptions = {}): Promise<RepairReport> {
  const layout = storeLayout(resolve(root));
  if (!(await stat(layout.wal).then(() => true, () => false))) throw new MemMapError('STORE_NOT_FOUND', `No store at ${root}: there is no state.wal in it.`);
  let head: HeadFile;
  try {
    head = await HeadFile.open(layout.head, options.fileSystem ?? nodeFileSystem);
  } catch (error) {
    throw toMemMapError(error);
  }
  try {
    await head.lock();
    try {
      const release = await lockLogForMaintenance(layout.wal, options.fileSystem ?? nodeFileSystem);
      try {
        return await repairLocked(layout.root, options, head);
      } finally {
        await release();
      }
    } finally {
      head.unlock();
    }
  } catch (error) {
    throw toMemMapError(error);
  } finally {
    await head.close();
  }
}

async function repairLocked(root: string, options: StoreCheckOptions, head: HeadFile): Promise<RepairReport> {
  const exam = await examineStore(root, options);
  const { layout, image, scan, header } = exam;
  const files = options.fileSystem ?? nodeFileSystem;
  const actions: string[] = [];
  let backup: string | undefined;
  let logReplaced = false;
  if (scan.damage && exam.report.firstLsn > 1 && exam.checkpointLsn !== undefined && exam.checkpointLsn >= scan.damage.lsn) {
    // Cutting the log at the damage would take the checkpoint with it: the only copy of what the dropped records made.
    throw new MemMapError('WAL_CORRUPT', `Record ${scan.damage.lsn} of state.wal is damaged, but the checkpoint at record ${exam.checkpointLsn} covers it, and the log no longer holds the records before ${exam.report.firstLsn}: the store opens from that checkpoint and never reads the damage. Repair leaves the log as it is (cutting it there would remove the checkpoint). Back the store up; the damaged segment goes when a later checkpoint lets the log drop it.`, { subsystem: 'wal' });
  }
  if (scan.damage || scan.tornBytes > 0 || exam.headerDamaged) {
    backup = join(layout.root, `repair-backup-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    await files.mkdir(backup, { recursive: true });
    // The backup is durable before the log it keeps is replaced.
    await createFileDurably(join(backup, 'state.wal'), image, files);
    let rewritten: Buffer;
    let logId = header.logId;
    if (scan.damage && (header.firstLsn > 1 || exam.sealedSegments > 0)) {
      // The log's older records are in sealed segments (or were dropped behind a checkpoint): they and the
      // checkpoint stay valid, so the log keeps its identity and state.wal keeps its records before the damage.
      logReplaced = false;
      rewritten = Buffer.concat([encodeWalHeader(header), image.subarray(WAL_HEADER_SIZE, scan.end)]);
      actions.push(`Kept the ${scan.records.length} valid records of state.wal before the damage at byte ${scan.damage.offset} and dropped the ${image.length - scan.end} bytes from there on; the original is in ${backup}.`);
    } else if (scan.damage) {
      // Records were dropped: the log gets a new identity, so nothing derived from the old one is used with it.
      logId = newLogId();
      logReplaced = true;
      rewritten = encodeLogImage({ ...header, logId }, scan.records);
      actions.push(`Kept the ${scan.records.length} valid records of state.wal before the damage at byte ${scan.damage.offset} and dropped the ${image.length - scan.end} bytes from there on; the original is in ${backup}.`);
    } else {
      rewritten = Buffer.concat([encodeWalHeader(header), image.subarray(WAL_HEADER_SIZE, scan.end)]);
      if (exam.headerDamaged) actions.push(`Rebuilt the damaged header of state.wal from its copy in state.head; the original is in ${backup}.`);
      if (scan.tornBytes > 0) actions.push(`Cut the ${scan.tornBytes} bytes of torn write after the last whole record (byte ${scan.end}); the original is in ${backup}.`);
    }
    await createFileDurably(layout.wal, rewritten, files);
    await head.writeHeaderCopy(rewritten.subarray(0, WAL_HEADER_SIZE));
    head.writeMarker({ segment: header.firstLsn, offset: rewritten.length, lsn: scan.lastLsn, logId });
  }
  const restorable = exam.badBlocks.filter((block) => block.copy !== undefined && !exam.overlapsAnother(block.ref));
  if (restorable.length > 0) {
    const blocks = await openChunkStore({ dir: layout.blocks, reader: 'read', fileSystem: files });
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
  // A checkpoint past the records kept holds what the log no longer does: it goes too.
  const checkpointPastLog = scan.damage !== undefined && !logReplaced && exam.checkpointLsn !== undefined && exam.checkpointLsn > scan.lastLsn;
  if (exam.checkpointUnusable || logReplaced || checkpointPastLog) {
    // The manifest first: without it, no open looks at the files.
    await files.unlink(layout.manifest).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    for (const name of await files.readdir(layout.checkpoints).catch(() => [] as string[])) await files.unlink(join(layout.checkpoints, name)).catch(() => undefined);
    actions.push('Removed the checkpoint of the tables; the next open replays the whole log and writes a new one.');
  }
  if (actions.length > 0 || exam.snapshotUnusable) {
    await files.unlink(layout.searchSnapshot).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    actions.push('Removed the saved search index; it is rebuilt from the log on the next open.');
  }
  const after = (await examineStore(layout.root, { ...(options.codec ? { codec: options.codec } : {}), ...(options.fileSystem ? { fileSystem: options.fileSystem } : {}) })).report;
  return { actions, backup, after };
}
