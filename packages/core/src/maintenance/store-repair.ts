import { stat } from 'node:fs/promises';
import * as nodeFileSystem from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { openChunkStore, type BlockRef } from '@memmapfs/blocks';
import { createFileDurably, encodeFrames, encodeLogImage, encodeWalHeader, frameSeed, HeadFile, lockLogForMaintenance, newLogId, scanLog, syncFolder, WAL_HEADER_SIZE, type LogResync, type RecordToFrame, type WalRecord } from '@memmapfs/wal';
import { MemMapError } from '../errors.js';
import { filesWithoutLog, lostLogError } from '../engine/lost-log.js';
import { storeLayout, type StoreLayout } from '../engine/store-layout.js';
import type { StoreFileSystem } from '../types.js';
import { checkpointDamage, openCheckpointFile, readCheckpointHeader } from '../checkpoint/checkpoint-file.js';
import { salvageCheckpoint, type SalvageOutcome } from './checkpoint-salvage.js';
import { toMemMapError } from '../engine/error-mapping.js';
import { encodeRecord, RecordType } from '../engine/log-records.js';
import { resolveCodec } from '../registry/provider-registry.js';
import type { Codec } from '../contracts/codec.js';
import { checkpointFileLsn, writeManifest } from '../checkpoint/checkpoint-manifest.js';
import { examineStore, type StoreCheckOptions, type StoreExamination, type VerifyReport } from './store-check.js';

/** What `repairStore` did. */
export interface RepairReport {
  /** One sentence per change made. Empty when there was nothing to repair. */
  readonly actions: string[];
  /** Where the files it replaced were copied, and the checkpoints it removed moved, when there were any. */
  readonly backup: string | undefined;
  /** A verification of the store after the repair. */
  readonly after: VerifyReport;
}

/** Options of `repairStore`. */
export interface RepairOptions extends StoreCheckOptions {
  /**
   * After damage in state.wal, keep the intact commits that follow it, skipping the damage (as
   * LevelDB's log reader resynchronises), rather than drop everything from the damage on. The records
   * kept keep their LSNs (memory ids never change); each lost one is replaced by a placeholder record
   * that applies as nothing. Default `true`; `false` keeps only the valid prefix of the log.
   */
  resync?: boolean;
  /**
   * A damaged checkpoint the log can no longer stand in for (it dropped the records before it) is kept
   * by default: it is the only copy of what it holds. With `salvage`, it is backed up, then written
   * again with every row that reads back whole where it can be checked (its id and version LSNs in
   * order, its times ones a `Date` can hold, its labels where its neighbours say, decoding, in a
   * namespace the checkpoint counts, its block's checksum matching; its times, tags and meta otherwise
   * as they read), and without the others: the memories they held are gone, and the store reads,
   * lists, checkpoints and compacts again.
   * Default `false`.
   */
  salvage?: boolean;
}

/**
 * Makes a store open again, losing as little as possible: keeps the valid records of the WAL before
 * damage and (unless `resync: false`) the intact commits after each damaged region, with their LSNs
 * (the original is backed up first, never just deleted), rebuilds a damaged log header from its copy in
 * state.head, puts back damaged blocks from the copies their records carry (never into a range another
 * record uses), and drops the derived search snapshot. It holds the writer lock throughout, so no
 * process can open the store meanwhile, and refuses (`STORE_IN_USE`) while any process has it open.
 */
export async function repairStore(root: string, options: RepairOptions = {}): Promise<RepairReport> {
  const layout = storeLayout(resolve(root));
  if (!(await stat(layout.wal).then(() => true, () => false))) {
    const found = await filesWithoutLog(layout);
    if (found.length > 0) throw lostLogError(layout, found);
    throw new MemMapError('STORE_NOT_FOUND', `No store at ${root}: there is no state.wal in it.`);
  }
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

async function repairLocked(root: string, options: RepairOptions, head: HeadFile): Promise<RepairReport> {
  const files = options.fileSystem ?? nodeFileSystem;
  await removeInterruptedCopies(storeLayout(resolve(root)).root, files);
  const found = await examineStore(root, options);
  const salvagedFirst = await salvageBeforeTheLog(found, options, files);
  try {
    const exam = salvagedFirst === undefined ? found : await examineStore(root, options);
    return await repairExamined(exam, options, head, files, salvagedFirst);
  } catch (error) {
    // (What was done before the failure is said with it: the store is not as it was.)
    if (salvagedFirst === undefined) throw error;
    const failure = toMemMapError(error);
    throw new MemMapError(failure.code, `${failure.message.replace(/^\[memmapfs\] \[[^\]]+\] /, '')} (With --salvage, before this: ${salvagedFirst.actions.join(' ')})`, { subsystem: failure.subsystem, cause: error });
  }
}

/**
 * With `salvage`, a kept damaged checkpoint that ends past damage to the log is written again first
 * (the blocks the log holds copies of put back before, so that their rows read back whole): whether
 * the log can be repaired, or is left to that checkpoint, depends on the checkpoint being whole, and
 * until then repair refuses. Returns what it did, or `undefined` when there is no such checkpoint.
 */
async function salvageBeforeTheLog(exam: StoreExamination, options: RepairOptions, files: StoreFileSystem): Promise<{ actions: string[]; backup: string } | undefined> {
  // (Only one whose own record is whole where it was written can cover the damage; else repair refuses
  // all the same, and the checkpoint, the only copy of what it holds, is left as it is.)
  if (options.salvage !== true || !exam.salvageFirst) return undefined;
  const salvaged = await salvageWithBlocks(exam, options, files, undefined);
  // (The saved index may hold memories of the rows dropped; what follows may end in a refusal before
  // the step that removes it.)
  await unlinkIfThere(exam.layout.searchSnapshot, files);
  return { actions: [...salvaged.actions, 'Removed the saved search index; it is rebuilt from the log on the next open.'], backup: salvaged.backup };
}

/**
 * Puts back the blocks of the kept damaged checkpoint (`exam.checkpointSalvageable`) that whole records
 * up to it carry copies of, then salvages it (`salvageKeptCheckpoint`): a row whose block is put back
 * reads back whole, and is kept.
 */
async function salvageWithBlocks(exam: StoreExamination, options: RepairOptions, files: StoreFileSystem, backup: string | undefined): Promise<{ actions: string[]; backup: string }> {
  const path = exam.checkpointSalvageable!;
  const lsn = checkpointFileLsn(basename(path));
  const putBack = lsn === undefined ? [] : await putBackBlocks({ ...exam, badBlocks: await exam.badBlocksOf(lsn) }, exam.layout, files);
  const salvaged = await salvageKeptCheckpoint(path, exam.layout, await resolveCodec(options.codec, exam.header.codec), files, backup);
  return { actions: [...putBack, salvaged.action], backup: salvaged.backup };
}

/** The repair of what `exam` found (after an early salvage, `salvagedFirst`). */
async function repairExamined(exam: StoreExamination, options: RepairOptions, head: HeadFile, files: StoreFileSystem, salvagedFirst: { actions: string[]; backup: string } | undefined): Promise<RepairReport> {
  const checkOptions: StoreCheckOptions = { ...(options.codec ? { codec: options.codec } : {}), ...(options.fileSystem ? { fileSystem: options.fileSystem } : {}) };
  const { layout, image, scan, header } = exam;
  const actions: string[] = [...(salvagedFirst?.actions ?? [])];
  let backup: string | undefined = salvagedFirst?.backup;
  let logReplaced = false;
  const resync = (options.resync ?? true) ? exam.resync : undefined;
  // Every LSN the log gave out, kept or not: the records dropped leave placeholders up to it, so that no
  // id an acknowledged append returned is given to another memory.
  const lastGivenLsn = Math.max(scan.lastLsn, scan.damage?.lsn ?? 0, exam.resync?.lastLsn ?? 0, exam.committedLsn ?? 0, exam.checkpointRecordEnd !== undefined ? exam.checkpointLsn ?? 0 : 0);
  // Damage before the checkpoint's record, which is whole, and more after it: the log is kept as it is up to
  // that record (the open resumes after it, never reading the damage before it), and only what follows is
  // repaired. Rewriting the records before it would move it, and the checkpoint would be of no use.
  const keptThrough = scan.damage && !exam.checkpointCoversDamage && exam.checkpointRecordEnd !== undefined && exam.checkpointLsn !== undefined
    ? { lsn: exam.checkpointLsn, end: exam.checkpointRecordEnd } : undefined;
  // Cutting the log at the damage would take the checkpoint with it: the only copy of what the dropped records made.
  if (exam.repairRefusal !== undefined) throw new MemMapError('WAL_CORRUPT', `Record ${scan.damage!.lsn} of state.wal is damaged. ${exam.repairRefusal}`, { subsystem: 'wal' });
  if (scan.damage && !keptThrough && !exam.logHoldsAll && exam.checkpointLsn !== undefined && exam.checkpointLsn >= scan.damage.lsn) {
    // (The checkpoint an open takes in place of one the manifest does not name is named, as below.)
    const named = exam.checkpointCoversDamage && exam.checkpointManifest !== undefined ? exam.checkpointManifest : undefined;
    if (named) await writeManifest(layout.manifest, named, files);
    // (An open resuming after the checkpoint never replays the records whose copies put damaged blocks back.)
    const putBack = await putBackBlocks({ ...exam, badBlocks: [...exam.badBlocks, ...exam.coveredBadBlocks] }, layout, files);
    throw new MemMapError('WAL_CORRUPT', `Record ${scan.damage.lsn} of state.wal is damaged, but the checkpoint at record ${exam.checkpointLsn} covers it, and ${exam.report.firstLsn > 1 ? `the log no longer holds the records before ${exam.report.firstLsn}` : "the log's sealed segments cannot be read whole"}: the store opens from that checkpoint and never reads the damage.${named ? ` Repair named it (${named.checkpoint}) in state.manifest.` : ''} Repair leaves the log as it is (cutting it there would remove the checkpoint). Back the store up; the damaged segment goes when a later checkpoint lets the log drop it.${putBack.length > 0 ? ` ${putBack.join(' ')}` : ''}`, { subsystem: 'wal' });
  }
  if (scan.damage && exam.checkpointCoversDamage) {
    // (The checkpoint an open takes in place of one the manifest does not name is named, all the same.)
    if (exam.checkpointManifest !== undefined) await writeManifest(layout.manifest, exam.checkpointManifest, files);
    // (An open resuming after the checkpoint never replays the records whose copies put damaged blocks back.)
    const putBack = await putBackBlocks({ ...exam, badBlocks: [...exam.badBlocks, ...exam.coveredBadBlocks] }, layout, files);
    // Replacing the damaged record would lose what it made, which only the checkpoint holds now; and the
    // log rewritten, its records after it move, and the open no longer resumes after the checkpoint.
    throw new MemMapError('WAL_CORRUPT', `Record ${scan.damage.lsn} of state.wal is damaged, but the checkpoint at record ${exam.checkpointLsn} covers it: the store opens from that checkpoint${exam.checkpointManifest !== undefined ? ` (repair named it, ${exam.checkpointManifest.checkpoint}, in state.manifest)` : ''}, and only what reads the log before it (memoryHistory) meets the damage. Repair leaves the log as it is (replacing the record with a placeholder would lose what it made, which only the checkpoint holds). Run \`memmapfs compact\` (or compact()): it drops the records the checkpoint covers, the damaged one with them.${putBack.length > 0 ? ` ${putBack.join(' ')}` : ''}`, { subsystem: 'wal' });
  }
  const rewritesLog = scan.damage !== undefined || scan.tornBytes > 0 || exam.headerDamaged;
  // The log's older records are in sealed segments (or were dropped behind a checkpoint): they and the
  // checkpoint stay valid, so the log keeps its identity and state.wal keeps its records before the damage.
  // Otherwise records were dropped: the log gets a new identity, so nothing derived from the old one is used with it.
  const keepsIdentity = header.firstLsn > 1 || exam.sealedSegments > 0;
  logReplaced = scan.damage !== undefined && !keepsIdentity && !keptThrough;
  // A checkpoint past the records kept holds what the log no longer does: it goes too. After skipping
  // damage, so does any checkpoint the log can do without (it holds every record): only one the log
  // depends on (it dropped the records before it) stays, and it ends before the damage (else repair
  // refused above), so what it covers is intact.
  // Before the log is rewritten: a repair that dies in between leaves the damaged log, which refuses
  // to open, never a rewritten log beside a checkpoint or search index that may cover what it lost.
  const checkpointPastLog = scan.damage !== undefined && !logReplaced && !keptThrough && exam.checkpointLsn !== undefined && exam.checkpointLsn > scan.lastLsn;
  const checkpointNotNeeded = resync !== undefined && exam.logHoldsAll && !keptThrough;
  /** The checkpoint files set aside into the backup folder, by name. */
  const setAside: string[] = [];
  /**
   * Moves a checkpoint file the repaired store no longer uses into the backup folder (made when first
   * needed), rather than delete it: it may hold what the log no longer does. Durable in the backup
   * before it is gone from checkpoints/ (fsynced below, before the log is rewritten).
   */
  const setCheckpointAside = async (name: string) => {
    backup ??= await makeBackupFolder(layout, files);
    const folder = join(backup, 'checkpoints');
    if (setAside.length === 0) await files.mkdir(folder, { recursive: true });
    try {
      await files.rename(join(layout.checkpoints, name), join(folder, name));
    } catch (error) {
      unlessGone(error as NodeJS.ErrnoException);
      return;
    }
    if (setAside.length === 0) await syncFolder(backup, files);
    setAside.push(name);
    await syncFolder(folder, files);
  };
  const asideNote = () => (setAside.length === 0 ? '' : ` (${setAside.map((name) => `checkpoints/${name}`).join(', ')} ${setAside.length === 1 ? 'is' : 'are'} in ${backup})`);
  // (Told after what was done to the log, though done before it.)
  let checkpointAction: string | undefined;
  /** A checkpoint of this log kept and named in place of one of no use (see below). */
  let spared: { name: string; lsn: number } | undefined;
  if (exam.checkpointUnusable || logReplaced || checkpointPastLog || checkpointNotNeeded) {
    // The manifest first: without it, an open takes a checkpoint only if its record is still in the log.
    await unlinkIfThere(layout.manifest, files);
    /** Checkpoints of this log that a log which dropped its first records could resume after: kept. */
    const kept: Array<{ name: string; lsn: number }> = [];
    for (const name of await checkpointNames(layout, files)) {
      const path = join(layout.checkpoints, name);
      if (!exam.logHoldsAll && !logReplaced) {
        const found = await readCheckpointHeader(path, files);
        if (found?.logId === header.logId && found.position.lsn === checkpointFileLsn(name) && exam.holdsRecordOf(found.position)) {
          kept.push({ name, lsn: found.position.lsn });
          continue;
        }
      }
      if (checkpointFileLsn(name) !== undefined) await setCheckpointAside(name);
      else await unlinkIfThere(path, files);
    }
    // The newest of them that is whole, of the log's codec, and that the log reads on from to state.wal
    // is named (a damaged one is kept unnamed, as is one past damage an open would meet after it).
    const codec = kept.length > 0 ? await resolveCodec(options.codec, header.codec) : undefined;
    spared = undefined;
    for (const candidate of kept.sort((a, b) => b.lsn - a.lsn)) {
      let file;
      try {
        file = openCheckpointFile(join(layout.checkpoints, candidate.name), 'read');
      } catch {
        continue;
      }
      if (file.codec !== header.codec || checkpointDamage(file, codec!) !== undefined) continue;
      if (exam.logHoldsAll || (await exam.readsOnFrom(file.position))) {
        spared = candidate;
        break;
      }
    }
    if (spared) await writeManifest(layout.manifest, { logId: header.logId, checkpoint: spared.name, lsn: spared.lsn }, files);
    checkpointAction = spared
      ? `Removed the checkpoint of the tables an open would have taken${asideNote()}, and named checkpoints/${spared.name} (up to record ${spared.lsn}), which the log resumes after, in state.manifest.`
      : exam.logHoldsAll || logReplaced
        ? `Removed the checkpoint of the tables${asideNote()}; the next open replays the whole log and writes a new one.`
        : `Removed the checkpoint of the tables${asideNote()}; no other checkpoint of this log is one the log reads on from to state.wal, so the store still does not open (\`memmapfs verify\` says what is damaged: put damaged sealed segments back from a backup taken after they were sealed, else restore the store from a backup).`;
  } else if (exam.checkpointManifest !== undefined && (resync === undefined || exam.checkpointManifest.lsn <= (keptThrough?.lsn ?? scan.lastLsn))) {
    await writeManifest(layout.manifest, exam.checkpointManifest, files);
    checkpointAction = `Named ${exam.checkpointManifest.checkpoint}, the checkpoint an open used in place of the missing or damaged one, in state.manifest.`;
  }
  if (!(exam.checkpointUnusable || logReplaced || checkpointPastLog || checkpointNotNeeded) && scan.damage !== undefined) {
    // The checkpoint kept ends before the damage (or at the record kept through); any other one that does
    // not is never to be fallen back on.
    for (const name of await checkpointNames(layout, files)) {
      const lsn = checkpointFileLsn(name);
      if (lsn !== undefined && lsn > (keptThrough?.lsn ?? scan.lastLsn)) await setCheckpointAside(name);
    }
    if (setAside.length > 0) checkpointAction = [checkpointAction, `Removed the checkpoints past the records kept${asideNote()}: no open is to take them.`].filter(Boolean).join(' ');
  }
  // (Removals made durable before the log is rewritten: a power loss must not bring them back beside it.
  // A removal that fails fails the repair here, the log as it was: never a rewritten log beside a
  // checkpoint that may cover what it lost.)
  await syncFolder(layout.checkpoints, files).catch(unlessGone);
  if (rewritesLog) {
    await unlinkIfThere(layout.searchSnapshot, files);
    await syncFolder(layout.index, files).catch(() => undefined);
    backup ??= await makeBackupFolder(layout, files);
    // The backup is durable before the log it keeps is replaced.
    await createFileDurably(join(backup, 'state.wal'), image, files);
    let rewritten: Buffer;
    let logId = header.logId;
    let lastLsn = scan.lastLsn;
    if (scan.damage) {
      if (logReplaced) logId = newLogId();
      const keptEnd = keptThrough?.end ?? scan.end;
      // (Without resync, what follows the record kept through up to the next damage is still the valid prefix.)
      const following = keptThrough && !resync ? scanLog(image, keptEnd, keptThrough.lsn + 1, layout.wal, { seed: frameSeed(header.logId), onDamage: 'report' }) : undefined;
      const after = withPlaceholders(resync?.records ?? following?.records ?? [], resync?.continuing ?? following?.continuing, keptThrough?.lsn ?? scan.lastLsn, lastGivenLsn, await resolveCodec(options.codec, header.codec));
      rewritten = !logReplaced
        ? Buffer.concat([encodeWalHeader(header), image.subarray(WAL_HEADER_SIZE, keptEnd), encodeFrames(logId, after)])
        : encodeLogImage({ ...header, logId }, [...scan.records.map((record) => ({ ...record, continues: scan.continuing.has(record.lsn) })), ...after]);
      lastLsn = lastGivenLsn;
      if (keptThrough) actions.push(...keptThroughActions(exam, resync, keptThrough, following?.lastLsn ?? keptThrough.lsn, lastGivenLsn, backup));
      else if (resync) actions.push(...resyncActions(exam, resync, lastGivenLsn, backup));
      else actions.push(`Kept the ${scan.records.length} valid records of state.wal before the damage at byte ${scan.damage.offset} and dropped the ${image.length - scan.end} bytes from there on (records ${scan.lastLsn + 1}–${lastGivenLsn} now hold placeholders, so no id is given out again); the original is in ${backup}.`);
    } else {
      rewritten = Buffer.concat([encodeWalHeader(header), image.subarray(WAL_HEADER_SIZE, scan.end)]);
      if (exam.headerDamaged) actions.push(`Rebuilt the damaged header of state.wal from its copy in state.head; the original is in ${backup}.`);
      if (scan.tornBytes > 0) actions.push(`Cut the ${scan.tornBytes} bytes of torn write after the last whole record (byte ${scan.end}); the original is in ${backup}.`);
    }
    const marker = { segment: header.firstLsn, offset: rewritten.length, lsn: lastLsn, logId };
    if (logId === header.logId) {
      // The marker of the log as rewritten goes first, durably: it covers the damage in the old file too
      // (which then still refuses to open, and repair runs again), and never names bytes past the end of
      // the new one, should the process die once it is in place.
      head.writeMarker(marker);
      await head.sync();
    }
    await createFileDurably(layout.wal, rewritten, files);
    await head.writeHeaderCopy(rewritten.subarray(0, WAL_HEADER_SIZE));
    // (A new log's marker only once the new log is in place: until then the old one's stands.)
    head.writeMarker(marker);
    await head.sync();
  }
  if (checkpointAction) actions.push(checkpointAction);
  // The blocks of the records kept after the damage were not read by the first examination.
  // (With the log kept through a checkpoint past damage, the first examination also took the records
  // after it that a repair without resync drops.)
  const blocksExam = resync !== undefined || keptThrough !== undefined ? await examineStore(layout.root, checkOptions) : exam;
  // (With a checkpoint that covers damage left before its record, the blocks its rows point at are its own: see coveredBadBlocks.)
  actions.push(...(await putBackBlocks({ ...blocksExam, badBlocks: [...blocksExam.badBlocks, ...blocksExam.coveredBadBlocks] }, layout, files)));
  if (options.salvage === true && exam.checkpointSalvageable !== undefined) {
    const salvaged = await salvageWithBlocks(exam, options, files, backup);
    backup = salvaged.backup;
    actions.push(...salvaged.actions);
  }
  if (actions.length > 0 || exam.snapshotUnusable) {
    await unlinkIfThere(layout.searchSnapshot, files);
    const removed = 'Removed the saved search index; it is rebuilt from the log on the next open.';
    if (!actions.includes(removed)) actions.push(removed);
  }
  const after = (await examineStore(layout.root, checkOptions)).report;
  return { actions, backup, after };
}

/** Rethrows an error but a missing file's or folder's. */
function unlessGone(error: NodeJS.ErrnoException): void {
  if (error.code !== 'ENOENT') throw error;
}

/** The names in the checkpoints folder; none when it is gone. */
async function checkpointNames(layout: StoreLayout, files: StoreFileSystem): Promise<string[]> {
  return files.readdir(layout.checkpoints).catch((error: NodeJS.ErrnoException) => {
    unlessGone(error);
    return [];
  });
}

/** Removes the file at `path`, gone already or not. */
async function unlinkIfThere(path: string, files: StoreFileSystem): Promise<void> {
  await files.unlink(path).catch(unlessGone);
}

/**
 * Makes a new `repair-backup-<time>` folder in the store, durable in it, for the files a repair replaces
 * (`-2`, `-3`… after the time when one of that name is there: a clock set back, or two repairs within a
 * millisecond, must not mix their backups).
 */
async function makeBackupFolder(layout: StoreLayout, files: StoreFileSystem): Promise<string> {
  const base = join(layout.root, `repair-backup-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  for (let n = 1; ; n++) {
    const folder = n === 1 ? base : `${base}-${n}`;
    try {
      await files.mkdir(folder);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw error;
    }
    await syncFolder(layout.root, files);
    return folder;
  }
}

/**
 * Puts back every damaged block whose copy the log holds (and that no other record's block overlaps),
 * made durable; says what it did, a sentence a block.
 */
async function putBackBlocks(exam: StoreExamination, layout: StoreLayout, files: StoreFileSystem): Promise<string[]> {
  const restorable = exam.badBlocks.filter((block) => block.copy !== undefined && !exam.overlapsAnother(block.ref));
  if (restorable.length === 0) return [];
  const done: string[] = [];
  const blocks = await openChunkStore({ dir: layout.blocks, reader: 'read', fileSystem: files });
  try {
    for (const block of restorable) {
      await blocks.restore(block.ref, block.copy!);
      done.push(`Put back the block of record ${block.lsn} (chunk ${block.ref.chunk}, bytes ${block.ref.offset}–${block.ref.offset + block.ref.length}) from its copy in the log.`);
    }
    await blocks.sync();
  } finally {
    await blocks.close();
  }
  return done;
}

/**
 * Backs the damaged checkpoint at `path` up (into `backup`, made when missing), then writes it again
 * without the rows that do not read back whole (`salvageCheckpoint`). Returns what it did, in a sentence.
 */
async function salvageKeptCheckpoint(path: string, layout: StoreLayout, codec: Codec, files: StoreFileSystem, backup: string | undefined): Promise<{ action: string; backup: string }> {
  const folder = backup ?? (await makeBackupFolder(layout, files));
  const name = basename(path);
  // The original is durable in the backup before its place is taken.
  await createFileDurably(join(folder, name), await files.readFile(path), files);
  const file = openCheckpointFile(path, 'read');
  const blocks = await openChunkStore({ dir: layout.blocks, reader: 'read', fileSystem: files });
  let outcome: SalvageOutcome;
  try {
    const blockWhole = (ref: BlockRef) => {
      try {
        blocks.read(ref);
        return true;
      } catch {
        return false;
      }
    };
    outcome = await salvageCheckpoint(file, codec, blockWhole, files);
  } finally {
    await blocks.close();
  }
  const lost = outcome.damagedRows - outcome.keptRows;
  return {
    backup: folder,
    action: `Wrote the damaged checkpoint checkpoints/${name} again: of the ${outcome.damagedRows} rows in its damaged groups, kept the ${outcome.keptRows} that read back whole (their times, tags and meta as they read)${lost > 0 ? ` and dropped ${lost}, with the memor${lost === 1 ? 'y' : 'ies'} they held` : ''}${outcome.droppedKvPairs > 0 ? `; dropped the ${outcome.droppedKvPairs} KV pair${outcome.droppedKvPairs === 1 ? '' : 's'} of its damaged groups of KV pairs` : ''}; the original is in ${folder}.`,
  };
}

/** Matches the temporary name a log image is written under before it is renamed into place (`createFileDurably`). */
const INTERRUPTED_LOG_COPY = /^\.state\.wal\.\d+-[0-9a-f]+\.tmp$/;

/**
 * Removes the full-size log images a repair killed before their rename left behind, in the store's
 * folder and its backup folders. Under the writer lock: no process is writing one.
 */
async function removeInterruptedCopies(root: string, files: Pick<typeof nodeFileSystem, 'readdir' | 'unlink'>): Promise<void> {
  const names = await files.readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    if (INTERRUPTED_LOG_COPY.test(name)) await files.unlink(join(root, name)).catch(() => undefined);
    if (!name.startsWith('repair-backup-')) continue;
    for (const inner of await files.readdir(join(root, name)).catch(() => [] as string[])) {
      if (INTERRUPTED_LOG_COPY.test(inner)) await files.unlink(join(root, name, inner)).catch(() => undefined);
    }
  }
}

/**
 * The records kept after the valid prefix (which ends at `prefixLastLsn`), with a placeholder
 * (`RecordType.Lost`) at every LSN up to `lastLsn` that no kept record holds: LSNs stay contiguous, kept
 * records keep theirs, and no LSN (memory id) a lost record had is ever given out again.
 */
function withPlaceholders(kept: readonly WalRecord[], continuing: ReadonlySet<number> | undefined, prefixLastLsn: number, lastLsn: number, codec: Codec): RecordToFrame[] {
  const placeholder = encodeRecord(codec, { type: RecordType.Lost });
  const byLsn = new Map(kept.filter((record) => record.lsn > prefixLastLsn).map((record) => [record.lsn, record]));
  const records: RecordToFrame[] = [];
  for (let lsn = prefixLastLsn + 1; lsn <= lastLsn; lsn++) {
    const record = byLsn.get(lsn);
    // A kept commit stays one commit, so that a later repair loses it whole or not at all.
    records.push(record ? { ...record, continues: continuing?.has(lsn) === true } : { lsn, type: RecordType.Lost, payload: placeholder });
  }
  return records;
}

/**
 * For a log kept as it is up to a checkpoint's record (`keptThrough`) that damage precedes: one sentence
 * for that, and one per damaged region after it, as `resyncActions` says them.
 */
function keptThroughActions(exam: StoreExamination, resync: LogResync | undefined, keptThrough: { lsn: number; end: number }, validUpTo: number, lastLsn: number, backup: string): string[] {
  const actions = [`Kept state.wal as it is up to the record of the checkpoint an open starts from (record ${keptThrough.lsn}, ending at byte ${keptThrough.end}), the damage before it too (record ${exam.scan.damage!.lsn} at byte ${exam.scan.damage!.offset}): an open resumes after that record and never reads it, and the checkpoint holds what the damaged records made. \`memmapfs compact\` drops them. The original is in ${backup}.`];
  if (!resync) {
    if (validUpTo > keptThrough.lsn) actions.push(`Kept the ${validUpTo - keptThrough.lsn} valid records after it, up to the damage that follows.`);
    if (lastLsn > validUpTo) actions.push(`Dropped the records from that damage on (records ${validUpTo + 1}–${lastLsn} now hold placeholders, so no id is given out again).`);
    return actions;
  }
  const after = resync.regions
    .filter((region) => region.lost.last > keptThrough.lsn || (region.resumedAt === undefined && lastLsn > keptThrough.lsn))
    .map((region) => ({ ...region, lost: { first: Math.max(region.lost.first, keptThrough.lsn + 1), last: region.lost.last } }));
  return [...actions, ...resyncActions(exam, { ...resync, regions: after }, lastLsn, backup).slice(1)];
}

/** One sentence for the records kept before the damage, and one per damaged region: what was lost, what was kept after it. */
function resyncActions(exam: StoreExamination, resync: LogResync, lastLsn: number, backup: string): string[] {
  const range = (first: number, last: number) => (first === last ? `record ${first}` : `records ${first}–${last}`);
  const actions = [`Kept the ${exam.scan.records.length} valid records of state.wal before the damage at byte ${exam.scan.damage!.offset}, skipping each damaged region and keeping the intact commits after it with their LSNs; the original is in ${backup}.`];
  for (const { damage, lost, resumedAt, kept } of resync.regions) {
    const resumed = resumedAt !== undefined && kept > 0;
    // (With no intact commit after it, every record up to the last one committed is lost with it.)
    const last = resumed ? lost.last : Math.max(lost.last, lastLsn);
    const held = Math.min(last, lastLsn);
    const placeholders = held >= lost.first ? ` (${range(lost.first, held)} now hold${held === lost.first ? 's a placeholder' : ' placeholders'}, so no LSN moves)` : '';
    actions.push(resumed
      ? `Damage at byte ${damage.offset} (record ${damage.lsn}: ${damage.reason}): lost ${range(lost.first, last)}${placeholders}, then kept the ${kept} valid records from record ${resumedAt.lsn} (byte ${resumedAt.offset}) on.`
      : `Damage at byte ${damage.offset} (record ${damage.lsn}: ${damage.reason}): lost ${range(lost.first, last)}${placeholders}; no intact commit follows it.`);
  }
  if (resync.tornBytes > 0) actions.push(`Cut the ${resync.tornBytes} bytes of torn write after the last whole record.`);
  return actions;
}
