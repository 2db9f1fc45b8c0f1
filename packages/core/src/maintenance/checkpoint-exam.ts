// The checkpoint as verify and repair judge it against the log: whether the one the manifest names
// opens whole and agrees with the records it covers, which newer whole checkpoint stands in for it,
// and what repair can do about either.
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { BlockRef } from '@memmapfs/blocks';
import type { DamagedRegion, WalRecord } from '@memmapfs/wal';
import { MemMapError } from '../errors.js';
import { RecordType, decodeRecord } from '../engine/log-records.js';
import { isDeepStrictEqual } from 'node:util';
import { CHECKPOINT_HEADER_SIZE, checkpointDamage, openCheckpointFile, readCheckpointHeader, type CheckpointFile } from '../checkpoint/checkpoint-file.js';
import type { Codec } from '../contracts/codec.js';
import type { MemoryRecord } from '../engine/log-records.js';
import { checkpointFileLsn, readManifest, type StoreManifest } from '../checkpoint/checkpoint-manifest.js';
import { CheckpointStore } from '../checkpoint/checkpoint-store.js';
import type { StoreLayout } from '../engine/store-layout.js';
import { sameBlock } from '../engine/block-references.js';
import type { StoreFileSystem } from '../types.js';
import type { StoreProblem, StoreProblemKind } from './store-check.js';
import { endOfRecordAt, logResumesAfter, readOnAfter, type LogHeld } from './held-log.js';

/** What a kept damaged checkpoint's problem advises, when `repair --salvage` can write it again. */
export const SALVAGE_ADVICE = ", or run `memmapfs repair --salvage`: it backs the checkpoint up and writes it again with every row that reads back whole (its text's checksum checked, its labels decoding where its neighbours say; its times, tags and meta cannot be checked), dropping the memories of the others";

/** What `examineCheckpoint` found: the problem to report, and the checkpoint an open would use. */
export interface CheckpointExam {
  readonly problem: StoreProblem | undefined;
  /** The checkpoint is to go (`repairStore` removes every one): damaged, or one an open ignores. */
  readonly unusable: boolean;
  /** LSN of the checkpoint an open would start from. */
  readonly lsn: number | undefined;
  /** The frame checksum of that checkpoint's record, when it is usable. */
  readonly checksum?: number;
  /** Where the record it ends at was written (with `resumes`). */
  readonly offset?: number;
  /** The manifest to write in place of one naming a missing file, naming the checkpoint an open falls back to. */
  readonly manifest?: StoreManifest;
  /** A damaged checkpoint that is kept (the log cannot stand in for it) and opens: its path, for a salvage. */
  readonly salvageable?: string;
  /** Whole, and its record whole in `state.wal` after the damage in it (`damaged`): where that record ends. */
  readonly recordEnd?: number;
  /** The log depends on it (it dropped the records before it), and its own record is damaged: the store does not open, and repair cannot help. */
  readonly recordLost?: boolean;
  /** It opened whole, of this log, and an open resumes after its record (or replays the log whole). */
  readonly resumes?: boolean;
}

/**
 * Checks the checkpoint an open would use: the one the manifest names or, when that file is missing (two
 * writers published at once, and one removed the file the other named), the newest other checkpoint of
 * the same log, as an open falls back to it: whole (every section's checksum), of this log, and ending
 * at a record the log still holds. A damaged one is an error (an open would read its rows); one an open
 * ignores (another log's, or past a record the log no longer has) is a warning, as is a manifest naming
 * a missing file when an open has another to use.
 */
export async function examineCheckpoint(layout: StoreLayout, logId: string, log: LogHeld, firstLsn: number, codec: Codec, files: StoreFileSystem, damaged?: { image: Buffer; seed: number; lsn: number; regions: readonly DamagedRegion[] }): Promise<CheckpointExam | undefined> {
  const onDisk = await readManifest(layout.manifest, files);
  // (One of another log is as good as none: an open takes this log's newest checkpoint in its place.)
  const read = onDisk?.logId === logId ? onDisk : undefined;
  const manifestLost = onDisk ? "state.manifest is another log's" : 'state.manifest is missing or damaged';
  /** Why the log cannot stand in for a checkpoint, as a sentence's start. */
  const logLacks = firstLsn > 1 ? `The log no longer holds the records before ${firstLsn}` : "The log's sealed segments cannot be read whole";
  // With no manifest that reads (gone, or damaged), an open takes the newest checkpoint of this log in the folder.
  const lost = read === undefined ? await new CheckpointStore(layout.checkpoints, layout.manifest, files, 'read').current(logId).catch(() => undefined) : undefined;
  if (read === undefined && lost?.logId !== logId) {
    if (!onDisk) return undefined;
    return { unusable: false, lsn: undefined, problem: { severity: 'warning', kind: 'checkpoint-unusable', file: 'state.manifest', repairable: false,
      message: `${manifestLost} (it names checkpoints/${onDisk.checkpoint} of log ${onDisk.logId}), and no checkpoint of this log is there: an open ignores it and replays the whole log. The next checkpoint written replaces it.` } };
  }
  let manifest: StoreManifest = read ?? { logId, checkpoint: basename(lost!.path), lsn: lost!.position.lsn };
  const named = `checkpoints/${manifest.checkpoint}`;
  let file = named;
  /** Set when the manifest's file is missing and an open falls back to another: said with any problem found. */
  let fallback = read === undefined ? ` (which an open uses as ${manifestLost})` : '';
  // A whole named checkpoint before damage in state.wal, and a newer whole one past it whose record is
  // whole after the damage (a publisher stopped before naming it): the open takes the named one and
  // fails on the damage; the newer one holds what the damaged records made, and repair names it and
  // keeps the log as it is up to its record, where cutting the log at the damage would lose that.
  // (The damage that counts is the first the open meets resuming after the named one's record, or the
  // damage to that record itself: damage before it, which the named one covers, may come first.)
  const namedFile = read !== undefined && damaged !== undefined ? wholeCheckpoint(join(layout.checkpoints, manifest.checkpoint), codec) : undefined;
  const namedRecordWhole = namedFile !== undefined && endOfRecordAt(damaged!.image, namedFile.position, damaged!.seed, layout.wal) !== undefined;
  const damagedPast = namedFile === undefined ? undefined : damaged!.regions.find((region) => region.lost.last > manifest.lsn || (!namedRecordWhole && region.lost.first <= manifest.lsn && region.lost.last >= manifest.lsn));
  const pastNamed = damagedPast !== undefined
    ? await newestWholeCheckpoint(layout, logId, Math.max(damagedPast.damage.lsn, manifest.lsn + 1), codec, files, (file) => endOfRecordAt(damaged!.image, file.position, damaged!.seed, layout.wal) !== undefined).then((file) => file && basename(file.path))
    : undefined;
  if (pastNamed !== undefined) {
    manifest = { logId, checkpoint: pastNamed, lsn: checkpointFileLsn(pastNamed)! };
    file = `checkpoints/${pastNamed}`;
    fallback = ` (newer than ${named}, which state.manifest names)`;
  }
  const problem = (severity: 'error' | 'warning', kind: StoreProblemKind, why: string): CheckpointExam => ({
    unusable: true, lsn: checkpoint?.position.lsn ?? manifest.lsn,
    problem: { severity, kind, file, repairable: true, message: `The checkpoint ${file}${fallback} ${why}. \`memmapfs repair\` removes it; the next open then replays the whole log.` },
  });
  /** Whole and of this log: nothing to say, or that the manifest names a missing file. */
  const usable = (): CheckpointExam => {
    const { lsn } = checkpoint!.position;
    const { checksum } = checkpoint!.position;
    const { offset } = checkpoint!.position;
    if (!fallback) return { problem: undefined, unusable: false, lsn, checksum, offset, resumes: true };
    const message = pastNamed !== undefined
      ? `The checkpoint ${named} named by state.manifest ends before the damage in state.wal, which an open resuming after it meets, and fails. ${file} (up to record ${lsn}) is whole past the damage, its record whole where it was written, and holds what the damaged records made: \`memmapfs repair\` names it in state.manifest and keeps the log as it is up to that record, losing nothing the damage did not.`
      : read === undefined
      ? `${manifestLost}; an open uses ${file} (up to record ${lsn}), the newest checkpoint of this log in the folder. \`memmapfs repair\` names it in a new manifest; so does the next checkpoint written.`
      : namedDamage !== undefined
        ? `The checkpoint ${named} named by state.manifest is damaged (${namedDamage}); an open uses ${file} (up to record ${lsn}) instead, the newest other checkpoint of this log, and replays the log after it: nothing is lost. \`memmapfs repair\` names it in the manifest; so does the next checkpoint written, which replaces the damaged one.`
        : `The checkpoint ${named} named by state.manifest is missing (processes of a release that published checkpoints without a lock could leave it so); an open uses ${file} (up to record ${lsn}) instead, the newest other checkpoint of this log. \`memmapfs repair\` names it in the manifest; so does the next checkpoint written.`;
    return {
      unusable: false, lsn, checksum, offset, resumes: true, manifest: { logId, checkpoint: basename(checkpoint!.path), lsn },
      problem: { severity: pastNamed !== undefined ? 'error' : 'warning', kind: namedDamage !== undefined ? 'checkpoint-damaged' : 'checkpoint-unusable', file: read === undefined ? 'state.manifest' : named, repairable: true, message },
    };
  };
  /**
   * Damage in a checkpoint the log cannot stand in for (it dropped the records before it): the only copy
   * of what they made, which repair keeps.
   */
  const kept = (why: string): CheckpointExam => ({
    unusable: false, lsn: checkpoint?.position.lsn ?? manifest.lsn, ...(checkpoint ? { checksum: checkpoint.position.checksum } : {}),
    // (Not one an open falls back to: repair names only the manifest's own in place of a missing one.)
    ...(checkpoint && !fallback ? { salvageable: checkpoint.path } : {}),
    problem: {
      severity: 'error', kind: 'checkpoint-damaged', file, repairable: false, ...(checkpoint && !fallback ? { salvageable: true } : {}),
      message: `The checkpoint ${file}${fallback} ${why}. ${logLacks}, so it is the only copy of what they made: \`memmapfs repair\` keeps it. ${checkpoint
        ? `An open reads it, but the memories in its damaged rows fail with CHECKPOINT_CORRUPT, whatever reads every row (listings, a search index rebuilt, compaction) fails, and no checkpoint can be written over it. Restore the store from a backup${fallback ? '' : SALVAGE_ADVICE}`
        : 'An open cannot read it, and the store does not open without it: restore the store from a backup'}.`,
    },
  });
  /** Why the checkpoint the manifest names is of no use, when an open passes over it as damaged. */
  let namedDamage: string | undefined;
  let checkpoint: CheckpointFile | undefined;
  try {
    checkpoint = openCheckpointFile(join(layout.checkpoints, manifest.checkpoint), 'read');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    const why = `is damaged: ${(error as Error).message}`;
    if (!missing && log.holdsAll && damaged === undefined) return problem('error', 'checkpoint-damaged', why);
    // As an open does: the newest other checkpoint of the manifest's log.
    checkpoint = await new CheckpointStore(layout.checkpoints, layout.manifest, files, 'read').current(logId, () => undefined).catch(() => undefined);
    if (!missing) {
      // (One that ends past damage to the log, its record whole where it was written: it holds what the
      // damaged records made, and an open resumes after it, as it does after one the manifest names.)
      const pastDamage = checkpoint !== undefined && damaged !== undefined && checkpoint.position.lsn >= damaged.lsn && endOfRecordAt(damaged.image, checkpoint.position, damaged.seed, layout.wal) !== undefined;
      // (Else, a log that holds every record stands in for the damaged one: it is removed.)
      if (log.holdsAll && !pastDamage) {
        checkpoint = undefined;
        return problem('error', 'checkpoint-damaged', why);
      }
      // A log that dropped its first records resumes after that one only if it holds the record it ends
      // at (or begins right after it), and every record after it up to the damaged one's (which holds what
      // damaged records made): else the damaged one is all there is.
      const resumes = checkpoint !== undefined && ((logResumesAfter(log, firstLsn, checkpoint.position) && (damaged === undefined || damaged.lsn > manifest.lsn)) || pastDamage);
      if (!resumes) {
        checkpoint = undefined;
        return kept(why);
      }
      namedDamage = (error as Error).message;
    }
    if (!checkpoint) {
      return { unusable: true, lsn: undefined, problem: { severity: 'warning', kind: 'checkpoint-unusable', file, repairable: true, message: `The checkpoint ${file} named by state.manifest is missing, and no other checkpoint of this log is there: an open replays the whole log. \`memmapfs repair\` removes the manifest.` } };
    }
    file = `checkpoints/${basename(checkpoint.path)}`;
    fallback = ` (which an open uses because the one state.manifest names, ${named}, is ${missing ? 'missing' : 'damaged'})`;
  }
  const damage = checkpointDamage(checkpoint, codec);
  if (damage && !log.holdsAll && checkpoint.logId === logId) return kept(`is damaged: ${damage}`);
  if (damage) return problem('error', 'checkpoint-damaged', `is damaged: ${damage}`);
  if (checkpoint.logId !== logId) return problem('warning', 'checkpoint-unusable', 'belongs to another log (an open ignores it)');
  const { lsn, checksum } = checkpoint.position;
  const lastLsn = log.records.at(-1)?.lsn ?? firstLsn - 1;
  // (Its own record may be gone with a segment retention dropped: the log then begins right after it.)
  // (Or past damage to the log, whole after it where an open looks for it: an open resumes after it.)
  const recordEnd = damaged !== undefined && lsn > lastLsn ? endOfRecordAt(damaged.image, checkpoint.position, damaged.seed, layout.wal) : undefined;
  const held = recordEnd !== undefined || logResumesAfter(log, firstLsn, checkpoint.position);
  if (!held && !log.holdsAll && damaged !== undefined && lsn > lastLsn) {
    // (Its record is not whole where it was written: the damage hit it. Repair cannot write it again, and
    // cutting the log there would leave the checkpoint past it.)
    return { unusable: false, lsn, checksum, recordLost: true, problem: { severity: 'error', kind: 'checkpoint-unusable', file, repairable: false,
      message: `The checkpoint ${file}${fallback} ends at record ${lsn}, whose record in state.wal is damaged (it is not whole where the checkpoint says it was written). ${logLacks}, so the store opens only from this checkpoint, and an open cannot resume after it without its record: it fails. The checkpoint is the only copy of what the dropped records made; \`memmapfs repair\` leaves the store as it is. Restore the store from a backup.` } };
  }
  // (A newer whole checkpoint of this log that the log resumes after holds all this one does: repair names it.)
  // (Only one the open reads on from to state.wal: past every break in the sealed segments.)
  const newer = !held && !log.holdsAll
    ? await newerReadOnFrom(log, lsn, firstLsn, layout, codec, files)
    : undefined;
  // (Not held though a segment begins right after it: the open refuses the segment holding it, on its header.)
  if (!held && newer === undefined && log.sealedBroken && lsn >= firstLsn && lsn < log.segmentFirsts.at(-1)!) {
    // (Its record lies in the sealed segments where they cannot be read in order (damaged, a segment's
    // header damaged, records missing before state.wal): the open fails on it, and the checkpoint may be
    // the only copy of what the lost records made. As for state.wal's damage.)
    return { unusable: false, lsn, checksum, recordLost: true, problem: { severity: 'error', kind: 'checkpoint-unusable', file, repairable: false,
      message: `The checkpoint ${file}${fallback} ends at record ${lsn}, which an open cannot read where the sealed segments are damaged or break off: it cannot resume after it, and fails. ${logLacks}, so the checkpoint may be the only copy of what the lost records made; \`memmapfs repair\` leaves it. Put the damaged or missing sealed segments back from any backup taken after they were sealed (a sealed segment never changes): the store then opens with every write. Restore the store from a backup only if none has them, which loses every write made since that backup.` } };
  }
  if (!held && !log.holdsAll) {
    // (The log needs a checkpoint it begins after: an open that takes this one fails.)
    return { unusable: true, lsn, problem: { severity: 'error', kind: 'checkpoint-unusable', file, repairable: true,
      message: newer !== undefined
        ? `The checkpoint ${file}${fallback} ends at record ${lsn}, which the log does not hold where it can be read (${firstLsn > 1 && !log.sealedBroken ? `it begins after record ${firstLsn - 1}: restored from an older copy, say` : 'its sealed segments cannot be read in order'}): an open fails. checkpoints/${newer.name} (up to record ${newer.lsn}) holds all it does, and the log resumes after it: \`memmapfs repair\` sets ${file} aside and names checkpoints/${newer.name} in state.manifest.`
        : `The checkpoint ${file}${fallback} ends at record ${lsn}, which the log does not hold (${firstLsn > 1 ? `it begins after record ${firstLsn - 1}: restored from an older copy, say` : 'its sealed segments cannot be read whole'}): an open fails. \`memmapfs repair\` removes it and names in its place the newest checkpoint of this log that the log can resume after, if one is there (else restore the store from a backup).` } };
  }
  if (!held) return problem('warning', 'checkpoint-unusable', `ends at record ${lsn}, which the log no longer holds (an open ignores it)`);
  if (checkpoint.codec !== codec.name) return problem('error', 'checkpoint-damaged', `names the codec '${checkpoint.codec}', not the log's '${codec.name}'`);
  const countsWrong = checkpoint.tables(codec).namespaceCountsWrong;
  // Wrong counts alone are not damage the open cannot work around: it counts the rows instead.
  // (One named in place of another: named all the same, its counts said wrong or not.)
  const usableWithCounts = (): CheckpointExam => countsWrong === undefined || pastNamed !== undefined
    ? usable()
    : { unusable: false, lsn, checksum: checkpoint!.position.checksum, offset: checkpoint!.position.offset, resumes: true, problem: { severity: 'warning', kind: 'checkpoint-damaged', file, repairable: false, message: `The namespace counts in the checkpoint ${file}${fallback} are wrong (${countsWrong}): an open counts them again from its rows, and the next checkpoint writes them right.` } };
  // Only a log that still holds every record can say what the checkpoint must hold.
  if (recordEnd !== undefined) return { ...usableWithCounts(), recordEnd };
  // (Nor one whose sealed segments are damaged: the records past the damage alone cannot say it.)
  if (!log.holdsAll) return usableWithCounts();
  let mismatch: string | undefined;
  try {
    mismatch = compareWithLog(checkpoint, log.records, codec);
  } catch (error) {
    mismatch = (error as Error).message;
  }
  if (mismatch) return problem('error', 'checkpoint-damaged', `does not hold what the log says up to record ${lsn}: ${mismatch}`);
  return usableWithCounts();
}

/** The checkpoint file at `path`, when it opens whole (every section and row); else `undefined`. */
function wholeCheckpoint(path: string, codec: Codec): CheckpointFile | undefined {
  try {
    const file = openCheckpointFile(path, 'read');
    return checkpointDamage(file, codec) === undefined ? file : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The newest checkpoint file of log `logId` ending at record `from` or after that opens whole (every
 * section and row), of the log's codec, named for the record it ends at, and that `accept` takes: the
 * one repair names in place of another.
 */
async function newestWholeCheckpoint(layout: StoreLayout, logId: string, from: number, codec: Codec, files: StoreFileSystem, accept: (file: CheckpointFile) => boolean | Promise<boolean>): Promise<CheckpointFile | undefined> {
  const names = (await files.readdir(layout.checkpoints).catch(() => [] as string[]))
    .filter((name) => (checkpointFileLsn(name) ?? -1) >= from)
    .sort((a, b) => checkpointFileLsn(b)! - checkpointFileLsn(a)!);
  for (const name of names) {
    try {
      const file = openCheckpointFile(join(layout.checkpoints, name), 'read');
      if (file.logId !== logId || file.position.lsn !== checkpointFileLsn(name) || file.codec !== codec.name || !(await accept(file))) continue;
      if (checkpointDamage(file, codec) === undefined) return file;
    } catch {
      // (One that does not open is none an open could take.)
    }
  }
  return undefined;
}

/**
 * The newest whole checkpoint of the log past record `after` that an open resumes after and reads the
 * log on from to `state.wal`, as `{ name, lsn }`: what repair names in place of one the open fails on.
 */
export async function newerReadOnFrom(log: LogHeld, after: number, firstLsn: number, layout: StoreLayout, codec: Codec, files: StoreFileSystem): Promise<{ name: string; lsn: number } | undefined> {
  const file = await newestWholeCheckpoint(layout, log.logId, after + 1, codec, files, async ({ position }) => logResumesAfter(log, firstLsn, position) && (await readOnAfter(log, position, log.segmentFirsts.at(-1)!, layout, files)).reads === 'through');
  return file && { name: basename(file.path), lsn: file.position.lsn };
}

/**
 * Why a repair of a shortened log (it begins at `firstLsn` > 1) damaged at record `damageLsn` must leave
 * the store as it is, or `undefined`: the checkpoint an open takes ends at or past the damage (its record
 * damaged, or its file); or a checkpoint file of this log (or one whose header cannot be read) lies at or
 * past it while none whole ends before it, or while one does and that file fails to open whole. Cutting
 * the log at the damage would remove such a file, the only copy of what the dropped or damaged records
 * made. (Damage the checkpoint covers is refused apart.)
 */
export async function refusalOfRepair(layout: StoreLayout, logId: string, damageLsn: number, firstLsn: number, exam: CheckpointExam | undefined, codec: Codec, files: StoreFileSystem, salvageFirst: boolean): Promise<string | undefined> {
  const dropped = firstLsn > 1 ? `the log no longer holds the records before ${firstLsn}` : "the log's sealed segments cannot be read whole";
  if (exam?.lsn !== undefined && exam.lsn >= damageLsn) {
    if (exam.recordLost === true) {
      return `With it, the record of the checkpoint at record ${exam.lsn} is damaged: ${dropped}, so the store opens only from that checkpoint, and an open cannot resume after it without its record. \`memmapfs repair\` cannot write that record again, and leaves the store as it is (the checkpoint is the only copy of what the dropped records made). Restore the store from a backup.`;
    }
    const salvage = salvageFirst
      ? ', or run `memmapfs repair --salvage`: it writes the checkpoint again first with every row that reads back whole (dropping the memories of the others), after which it covers the damage'
      : '';
    return `The checkpoint at record ${exam.lsn} is damaged too (see its problem), and it is the only copy of what the damaged records made and of what the log dropped (${dropped}): \`memmapfs repair\` cannot make the store whole, and leaves it as it is. Restore the store from a backup${salvage}.`;
  }
  const resumable = exam?.resumes === true && exam.lsn !== undefined;
  // (A folder that cannot be listed is not taken for one without checkpoints: repair would fail on it.)
  const names = await files.readdir(layout.checkpoints).catch((error: NodeJS.ErrnoException) => {
    if (error?.code === 'ENOENT') return [] as string[];
    throw error;
  });
  for (const name of names) {
    const lsn = checkpointFileLsn(name);
    if (lsn === undefined || lsn < damageLsn) continue;
    const path = join(layout.checkpoints, name);
    const found = await readCheckpointHeader(path, files, true);
    if (found !== undefined && (found.logId !== logId || found.position.lsn < damageLsn)) continue;
    // (Too short to be a checkpoint: it holds nothing.)
    if (found === undefined && (await fileSize(path, files)) < CHECKPOINT_HEADER_SIZE) continue;
    // (With a checkpoint before the damage that the log resumes after, a whole one past the damage that an
    // open passed over holds nothing repair needs: a damaged one may hold what the damaged records made,
    // whether or not state.manifest names it.)
    if (resumable && found !== undefined && checkpointOpensWhole(path, codec)) continue;
    const before = resumable ? `the checkpoint at record ${exam.lsn} ends before the damage, but` : `${dropped}, no checkpoint it resumes after ends before the damage, and`;
    const what = found !== undefined
      ? `checkpoints/${name} (up to record ${found.position.lsn}), which may hold what the damaged records made, cannot be used as it is`
      : `the header of checkpoints/${name} cannot be read (by its name it would hold the records up to ${lsn}, and what the damaged records made)`;
    return `${before[0]!.toUpperCase()}${before.slice(1)} ${what}: \`memmapfs repair\` would remove it when it cut the log at the damage, and leaves the store as it is. Restore the store from a backup.`;
  }
  return undefined;
}

/** Where the checkpoint file at `path` says its record is, when it opens. */
export function checkpointPosition(path: string): CheckpointFile['position'] | undefined {
  try {
    return openCheckpointFile(path, 'read').position;
  } catch {
    return undefined;
  }
}

/** The size of the file at `path`; 0 when it is gone. */
async function fileSize(path: string, files: StoreFileSystem): Promise<number> {
  let handle;
  try {
    handle = await files.open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  try {
    return (await handle.stat()).size;
  } finally {
    await handle.close();
  }
}

/**
 * Whether the checkpoint file at `path` opens and passes every check (its sections and rows); one that
 * is gone counts as whole (nothing to keep). An error reading it other than its damage is thrown.
 */
function checkpointOpensWhole(path: string, codec: Codec): boolean {
  try {
    return checkpointDamage(openCheckpointFile(path, 'read'), codec) === undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    if (MemMapError.is(error, 'CHECKPOINT_CORRUPT')) return false;
    throw error;
  }
}

/**
 * Replays the log up to the checkpoint's record, independently of the engine, and compares every
 * memory (each field and version), KV value, stream and the state with the checkpoint's. Returns the
 * first difference, or `undefined`.
 */
function compareWithLog(checkpoint: CheckpointFile, records: readonly WalRecord[], codec: Codec): string | undefined {
  const upTo = checkpoint.position.lsn;
  const memories = new Map<number, MemoryRecord>();
  const kv = new Map<string, Uint8Array>();
  const streams = new Map<string, BlockRef[]>();
  let state: Record<string, unknown> | null = null;
  for (const walRecord of records) {
    if (walRecord.lsn > upTo) break;
    const record = decodeRecord(codec, walRecord.type, walRecord.payload, walRecord.lsn, true);
    switch (record.type) {
      case RecordType.MemoryPut:
        if (!record.update || memories.has(record.memory.id)) memories.set(record.memory.id, { ...record.memory, version: walRecord.lsn });
        break;
      case RecordType.MemoryDelete: memories.delete(record.id); break;
      case RecordType.StateSet: state = record.state; break;
      case RecordType.KvSet: kv.set(record.key, record.value); break;
      case RecordType.KvDelete: kv.delete(record.key); break;
      case RecordType.StreamDelete: streams.delete(record.key); break;
      case RecordType.StreamAppend: {
        const refs = streams.get(record.key);
        if (refs) refs.push(record.ref);
        else streams.set(record.key, [record.ref]);
        break;
      }
      case RecordType.BlocksMoved: {
        for (const move of record.memories) {
          const memory = memories.get(move.id);
          if (memory && sameBlock(memory.ref, move.from)) memories.set(move.id, { ...memory, ref: move.to });
        }
        for (const move of record.streams) {
          const refs = streams.get(move.key);
          if (refs?.[move.index] && sameBlock(refs[move.index]!, move.from)) refs[move.index] = move.to;
        }
        break;
      }
    }
  }
  const rows = checkpoint.memories(codec);
  if (rows.count !== memories.size) return `it has ${rows.count} memories where the log has ${memories.size}`;
  const ids = [...memories.keys()].sort((a, b) => a - b);
  for (let i = 0; i < rows.count; i++) {
    const row = rows.record(i);
    const expected = memories.get(ids[i]!)!;
    if (!isDeepStrictEqual({ ...row }, { ...expected })) return `memory ${expected.id} differs`;
  }
  const tables = checkpoint.tables(codec);
  if (tables.namespaces !== undefined) {
    const counts = new Map<string, number>();
    for (const memory of memories.values()) counts.set(memory.namespace, (counts.get(memory.namespace) ?? 0) + 1);
    const differing = [...new Set([...counts.keys(), ...tables.namespaces.keys()])].find((ns) => counts.get(ns) !== tables.namespaces!.get(ns));
    if (differing !== undefined) return `its namespace counts say ${tables.namespaces.get(differing) ?? 0} memories in ${JSON.stringify(differing)} where the log has ${counts.get(differing) ?? 0}`;
  }
  if (!isDeepStrictEqual(new Map([...tables.kv.entries()].map(([k, v]) => [k, Buffer.from(v)])), new Map([...kv].map(([k, v]) => [k, Buffer.from(v)])))) return 'its KV values differ';
  if (!isDeepStrictEqual(tables.streams, streams)) return 'its streams differ';
  if (!isDeepStrictEqual(tables.state, state)) return 'its agent state differs';
  return undefined;
}

/**
 * The memories and stream blocks of the checkpoint that covers the records retention dropped (it must
 * end at or after the record before `firstLsn`), and the LSN it ends at; `undefined` when there is none.
 */
export async function checkpointBase(layout: StoreLayout, logId: string, firstLsn: number, files: StoreFileSystem, codec: Codec, resumable: (position: { lsn: number; checksum: number }) => boolean): Promise<{ lsn: number; memories: Map<number, BlockRef>; streams: ReadonlyMap<string, readonly BlockRef[]> } | undefined> {
  const manifest = await readManifest(layout.manifest, files);
  try {
    let checkpoint: CheckpointFile | undefined;
    if (manifest?.logId === logId) {
      try {
        checkpoint = openCheckpointFile(join(layout.checkpoints, manifest.checkpoint), 'read');
      } catch {
        // Gone or damaged: an open takes another in its place (below).
      }
    }
    // (With no manifest of this log that reads, or one naming a file that is gone or damaged, the checkpoint an open takes in its place.)
    checkpoint ??= await new CheckpointStore(layout.checkpoints, layout.manifest, files, 'read').current(logId, () => undefined);
    // (One older than the log, which repair sets aside: the newest that covers what the log dropped, which it names.)
    if (checkpoint !== undefined && checkpoint.logId === logId && checkpoint.position.lsn < firstLsn - 1) checkpoint = (await newestWholeCheckpoint(layout, logId, firstLsn - 1, codec, files, (file) => resumable(file.position))) ?? checkpoint;
    if (!checkpoint) return undefined;
    if (checkpoint.logId !== logId || checkpoint.position.lsn < firstLsn - 1) return undefined;
    const rows = checkpoint.memories(codec);
    const memories = new Map<number, BlockRef>();
    for (let i = 0; i < rows.count; i++) {
      // (A row of a damaged group is not read: `examineCheckpoint` says so. The others are what an open reads.)
      let row;
      try {
        row = rows.record(i);
      } catch (error) {
        if (MemMapError.is(error, 'CHECKPOINT_CORRUPT')) continue;
        throw error;
      }
      memories.set(row.id, row.ref);
    }
    return { lsn: checkpoint.position.lsn, memories, streams: checkpoint.tables(codec).streams };
  } catch {
    return undefined;
  }
}
