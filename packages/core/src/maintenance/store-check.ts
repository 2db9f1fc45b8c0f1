import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from '@memmapfs/wal';
import { chunkFileName, type BlockRef } from '@memmapfs/blocks';
import { decodeWalHeader, frameSeed, PUT_SEGMENT_BACK, readHeadFile, resyncLog, scanLog, segmentFileName, WAL_HEADER_SIZE, type LogResync, type LogScan, type SegmentHeader, type WalRecord } from '@memmapfs/wal';
import { MemMapError } from '../errors.js';
import { RecordType, decodeRecord } from '../engine/log-records.js';
import { toMemMapError } from '../engine/error-mapping.js';
import { readSearchSnapshot, type SearchSnapshot } from '../engine/search-snapshot.js';
import { readManifest, type StoreManifest } from '../checkpoint/checkpoint-manifest.js';
import { filesWithoutLog, lostLogError } from '../engine/lost-log.js';
import { storeLayout, type StoreLayout } from '../engine/store-layout.js';
import { sameBlock } from '../engine/block-references.js';
import { deferSearchProvider, isKnownSearchProvider, resolveCodec, type CodecOption } from '../registry/provider-registry.js';
import type { SearchProvider } from '../contracts/search-provider.js';
import type { StoreFileSystem } from '../types.js';
import * as nodeFileSystem from 'node:fs/promises';
import { badBlocksOfCheckpoint, type CheckpointBlock, type LiveBlock } from './checkpoint-blocks.js';
import { checkpointBase, checkpointPosition, examineCheckpoint, newerReadOnFrom, refusalOfRepair, SALVAGE_ADVICE } from './checkpoint-exam.js';
import { endOfRecordAt, heldRecord, logResumesAfter, readOnAfter, readSealedSegments, rebuildHeader, type LogHeld } from './held-log.js';

export type { CheckpointBlock, LiveBlock } from './checkpoint-blocks.js';

/** Kinds of problem `verifyStore` reports. */
export type StoreProblemKind =
  | 'wal-header-damaged'
  | 'wal-damaged'
  | 'wal-torn-tail'
  | 'wal-segment-damaged'
  | 'wal-truncated'
  | 'record-invalid'
  | 'block-corrupt'
  | 'block-missing'
  | 'block-overlap'
  | 'search-snapshot-unusable'
  | 'search-index-damaged'
  | 'checkpoint-damaged'
  | 'checkpoint-unusable';

/** One problem found in a store. */
export interface StoreProblem {
  /** `'error'`: data is unreadable or the store will not open. `'warning'`: the store opens and repairs it, or it is derived data. */
  readonly severity: 'error' | 'warning';
  readonly kind: StoreProblemKind;
  readonly message: string;
  /** The WAL record concerned, when there is one. */
  readonly lsn?: number;
  /** Byte offset in the file concerned. */
  readonly offset?: number;
  /** The file concerned, relative to the root. */
  readonly file?: string;
  /** `repairStore` can fix it (from the log's own copies, or by keeping the valid prefix of the log). */
  readonly repairable: boolean;
  /**
   * A damaged checkpoint `repairStore` keeps (the only copy of what it holds), which it writes again
   * without its damaged rows with `salvage: true` (`memmapfs repair --salvage`).
   */
  readonly salvageable?: boolean;
}

/** What `verifyStore` found. */
export interface VerifyReport {
  readonly root: string;
  /** No problem of severity `'error'`. */
  readonly ok: boolean;
  readonly codec: string;
  /** Whole, valid WAL records (in every segment the log still holds). */
  readonly records: number;
  /** LSN of the oldest record the log still holds (1 until retention drops records a checkpoint covers). */
  readonly firstLsn: number;
  readonly lastLsn: number;
  /** Bytes of the log: its sealed segments, and `state.wal` up to its last record (the room written ahead is not counted). */
  readonly walBytes: number;
  /** Live memory texts and stream chunks whose bytes were read and checked. */
  readonly blocksChecked: number;
  readonly problems: StoreProblem[];
}

/** Options of `verifyStore` and `repairStore`. */
export interface StoreCheckOptions {
  /** The codec to decode records with. Default: the one the WAL header names, resolved by name. */
  codec?: CodecOption;
  /** Called as blocks are checked: `done` of `total`. */
  onProgress?: (done: number, total: number) => void;
  /** The file operations to use, as `MemMapFSOptions.fileSystem` (a seam for fault-injection tests). */
  fileSystem?: StoreFileSystem;
}

/** The result of reading a store without changing it. */
export interface StoreExamination {
  readonly layout: StoreLayout;
  /** The bytes of `state.wal`, the segment appended to. */
  readonly image: Buffer;
  /** The reading of `state.wal`. */
  readonly scan: LogScan;
  /** When `state.wal` is damaged: what a reading that skips the damage keeps (what `repairStore` keeps by default). */
  readonly resync: LogResync | undefined;
  /** Sealed segments (before `state.wal`) that the log still holds. */
  readonly sealedSegments: number;
  readonly report: VerifyReport;
  /** The header of `state.wal`: read from it, or from its copy in state.head when its own is damaged. */
  readonly header: SegmentHeader;
  /** The log's own header is damaged and the copy in state.head stands in for it. */
  readonly headerDamaged: boolean;
  /** Live blocks whose bytes failed their check. */
  readonly badBlocks: LiveBlock[];
  /** Whether `ref`'s range overlaps a different range that another record references (it must then not be written). */
  readonly overlapsAnother: (ref: BlockRef) => boolean;
  /**
   * When the record of the checkpoint an open takes (or repair names) is whole past damage in state.wal
   * (covering it, or with more damage after it): the damaged blocks its rows and streams point at, with
   * their copies from the log's whole records up to it.
   */
  readonly coveredBadBlocks: CheckpointBlock[];
  /** The blocks the checkpoint of this log at record `lsn` points at that fail their checks, with the copies whole records up to it carry. */
  readonly badBlocksOf: (lsn: number) => Promise<CheckpointBlock[]>;
  /** The saved search index exists but cannot be used. */
  readonly snapshotUnusable: boolean;
  /** The checkpoint an open would use is damaged or of no use: repair removes it. */
  readonly checkpointUnusable: boolean;
  /**
   * The damage of `state.wal` lies wholly before the record of the checkpoint an open would use, which is
   * whole after it: the open resumes after that record and never reads the damage (repair leaves it).
   */
  readonly checkpointCoversDamage: boolean;
  /**
   * The record of the checkpoint an open would use is whole in `state.wal` after its first damage, as an
   * open resuming after it finds it (at its offset, with its checksum, ending its commit): where that
   * record ends, the bytes before it kept as they are keep the checkpoint usable. `undefined` otherwise.
   */
  readonly checkpointRecordEnd: number | undefined;
  /**
   * Whether the log holds the record a checkpoint ending at `position` ends with (or begins right after
   * it, retention having dropped it), before any damage: a checkpoint an open could resume after.
   */
  readonly holdsRecordOf: (position: { lsn: number; checksum: number }) => boolean;
  /**
   * The kept damaged checkpoint (`checkpointSalvageable`) ends past the first damage in `state.wal`, its
   * own record whole there: salvaged first, it covers the damage (repair with `salvage` does so before it
   * repairs the log; verify offers it).
   */
  readonly salvageFirst: boolean;
  /** Whether an open resuming after a checkpoint at `position` reads the log on from it to `state.wal`, as far as verify can tell. */
  readonly readsOnFrom: (position: { lsn: number; checksum: number; offset: number }) => Promise<boolean>;
  /**
   * The log holds every record from the first on, read in order (none dropped by retention, no sealed
   * segment broken): it can stand in for a checkpoint. (Damage in `state.wal` apart.)
   */
  readonly logHoldsAll: boolean;
  /** The LSN the checkpoint an open would use ends at, when there is one. */
  readonly checkpointLsn: number | undefined;
  /** When the manifest names a missing file: the manifest naming the checkpoint an open uses instead, for repair to write. */
  readonly checkpointManifest: StoreManifest | undefined;
  /** A damaged checkpoint that is kept, as the only copy of what it holds, and opens: its path (see `RepairOptions.salvage`). */
  readonly checkpointSalvageable: string | undefined;
  /**
   * Why a repair must leave the store as it is, when it must: the log was shortened (it no longer holds
   * its first records), is damaged, and a repair that cut it at the damage would lose the only whole copy
   * of what the dropped records made (a checkpoint at or past the damage). `undefined` otherwise.
   */
  readonly repairRefusal: string | undefined;
  /** The last LSN the commit marker says was committed, when it names this log and segment. */
  readonly committedLsn: number | undefined;
}

/** Reads the whole store and checks every record and every live block. Changes nothing. */
export async function examineStore(root: string, options: StoreCheckOptions = {}): Promise<StoreExamination> {
  const layout = storeLayout(root);
  const files = options.fileSystem ?? nodeFileSystem;
  let image: Buffer;
  try {
    image = await files.readFile(layout.wal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw toMemMapError(error);
    const found = await filesWithoutLog(layout);
    if (found.length > 0) throw lostLogError(layout, found);
    throw new MemMapError('STORE_NOT_FOUND', `No store at ${root}: there is no state.wal in it.`);
  }
  const { marker, headerCopy } = await readHeadFile(layout.head, files);
  let header: SegmentHeader;
  let headerDamaged = false;
  try {
    header = decodeWalHeader(image, layout.wal);
  } catch (error) {
    if ((error as { code?: string }).code !== 'WAL_HEADER_INVALID') throw toMemMapError(error);
    header = await rebuildHeader(image, layout, headerCopy, marker?.logId, options.codec, files);
    headerDamaged = true;
  }
  const codec = await resolveCodec(options.codec, header.codec);
  if (codec.name !== header.codec) {
    throw new MemMapError('CODEC_MISMATCH', `The store at ${root} was created with the '${header.codec}' codec, not '${codec.name}'. Check it with codec: '${header.codec}' (or leave the codec option out).`, { subsystem: 'codec' });
  }
  const committedEnd = marker && marker.logId === header.logId && marker.segment === header.firstLsn ? marker.offset : undefined;
  const scanOptions = { seed: frameSeed(header.logId), ...(committedEnd !== undefined ? { committedEnd, committedLsn: marker!.lsn } : {}) };
  const scan = scanLog(image, WAL_HEADER_SIZE, header.firstLsn, layout.wal, { ...scanOptions, onDamage: 'report' });
  const resync = scan.damage ? resyncLog(image, WAL_HEADER_SIZE, header.firstLsn, layout.wal, scanOptions) : undefined;
  const problems: StoreProblem[] = [];
  const sealed = await readSealedSegments(layout, header, files, problems);
  const records: WalRecord[] = [...sealed.records, ...scan.records];
  // (Where the log begins, as an open takes it: the first segment's name, whatever is damaged in it.)
  const firstLsn = sealed.firsts[0] ?? header.firstLsn;
  // Whether the log can stand in for a checkpoint: it holds every record from the first on, read in
  // order (no sealed segment broken, none missing before state.wal; state.wal's own damage apart).
  const sealedBroken = sealed.beyondDamage !== undefined || sealed.nextLsn !== header.firstLsn;
  const logHoldsAll = firstLsn === 1 && !sealedBroken;
  if (sealed.walBytes > 0 && sealed.nextLsn !== header.firstLsn && !problems.some((p) => p.kind === 'wal-segment-damaged')) {
    problems.push({ severity: 'error', kind: 'wal-segment-damaged', file: 'state.wal', lsn: sealed.nextLsn, repairable: false,
      message: `state.wal begins at record ${header.firstLsn}, but the sealed segments before it end at record ${sealed.nextLsn - 1}: records are missing or doubled. ${PUT_SEGMENT_BACK.replace('the segment', `wal/${segmentFileName(sealed.firsts.at(-1)!)} (or a segment missing after it)`)}.` });
  }
  if (headerDamaged) {
    problems.push({ severity: 'error', kind: 'wal-header-damaged', offset: 0, file: 'state.wal', repairable: true,
      message: `The header of state.wal is damaged; the store will not open. A copy that matches the records was found: \`memmapfs repair\` writes it back.` });
  }
  if (scan.damage) {
    const { lsn, offset, reason, next } = scan.damage;
    problems.push({ severity: 'error', kind: 'wal-damaged', lsn, offset, file: 'state.wal', repairable: true,
      message: `Record ${lsn} at byte ${offset} is damaged (${reason}); ${committedEnd !== undefined ? `the commit marker says records up to byte ${committedEnd} were committed` : `valid records follow (LSN ${next.lsn} at byte ${next.offset})`}. The store will not open. \`memmapfs repair\` keeps the ${scan.records.length} records before it${resyncNote(resync!)}, and backs up the original.` });
  } else if (scan.tornBytes > 0) {
    problems.push({ severity: 'warning', kind: 'wal-torn-tail', offset: scan.end, file: 'state.wal', repairable: true,
      message: `${scan.tornBytes} bytes after the last whole record (byte ${scan.end}) are a torn write (a record cut short, or the first records of an append that did not finish); opening the store cuts them off.` });
  }

  const memories = new Map<number, LiveBlock>();
  const streams = new Map<string, LiveBlock[]>();
  const checkpoints: Array<{ upTo: number; chunks: Set<number> }> = [];
  /**
   * What the records do to the live blocks, in order: a memory's (`id`) or a stream's (`key`) block, no
   * block for a delete; a move applies only while the block is still at `from`.
   */
  const pending: Array<{ id?: number; key?: string; block: Omit<LiveBlock, 'afterCheckpoint'> | undefined; from?: BlockRef }> = [];
  const allRefs: Array<{ ref: BlockRef; lsn: number }> = [];
  // When retention dropped the oldest records, what they made comes from the checkpoint that covers them.
  const segmentFirsts = [...sealed.firsts, header.firstLsn];
  const logHeld: LogHeld = { records, beyondDamage: sealed.beyondDamage, brokenImages: sealed.brokenImages, seed: scanOptions.seed, segmentFirsts, holdsAll: logHoldsAll, sealedBroken, headers: sealed.headers, logId: header.logId };
  const base = firstLsn > 1 ? await checkpointBase(layout, header.logId, firstLsn, files, await resolveCodec(options.codec, header.codec), (position) => logResumesAfter(logHeld, firstLsn, position)) : undefined;
  if (firstLsn > 1 && !base) {
    problems.push({ severity: 'error', kind: 'wal-truncated', lsn: firstLsn, file: 'state.manifest', repairable: false,
      message: `The log holds records from ${firstLsn} on only (a checkpoint let it drop the ones before), and no usable checkpoint covers those: the memories they made cannot be read. Restore the store from a backup.` });
  }
  if (base) {
    for (const [id, ref] of base.memories) memories.set(id, { ref, lsn: id, copy: undefined, afterCheckpoint: false });
    for (const [key, refs] of base.streams) streams.set(key, refs.map((ref) => ({ ref, lsn: 0, copy: undefined, afterCheckpoint: false })));
  }
  const checkpointExam = await examineCheckpoint(layout, header.logId, logHeld, firstLsn, codec, files, scan.damage && resync ? { image, seed: scanOptions.seed, lsn: scan.damage.lsn, regions: resync.regions } : undefined);
  // (An open resumes after the checkpoint it takes, or the one repair names: it replays none of the
  // records up to it, nor puts back their blocks from their copies.)
  const resumedAfter = checkpointExam !== undefined && !checkpointExam.unusable ? checkpointExam.lsn : undefined;
  const salvagePosition = checkpointExam?.salvageable !== undefined ? checkpointPosition(checkpointExam.salvageable) : undefined;
  const salvageFirst = scan.damage !== undefined && salvagePosition !== undefined && salvagePosition.lsn >= scan.damage.lsn && endOfRecordAt(image, salvagePosition, scanOptions.seed, layout.wal) !== undefined;
  // Damage before the checkpoint's record, which is whole after it, and none after it: the open never reads
  // it. (A region may end at that record: the damage hit an earlier record of its commit.)
  const checkpointRecordEnd = scan.damage !== undefined ? checkpointExam?.recordEnd : undefined;
  const checkpointCoversDamage = checkpointRecordEnd !== undefined && resync !== undefined && resync.regions.every((region) => region.lost.last <= checkpointExam!.lsn!);
  /** The blocks the checkpoint of this log at record `lsn` points at that fail their checks, each with the copy a whole record up to it carries (on either side of damage in state.wal). */
  const checkpointBlocks = (lsn: number) => badBlocksOfCheckpoint(layout, header.logId, lsn, [...records, ...(resync?.records ?? []).filter((r) => r.lsn > scan.lastLsn && r.lsn <= lsn)], codec, files);
  const badBlocksOf = async (lsn: number) => (await checkpointBlocks(lsn)).bad;
  // (With the checkpoint's record whole past damage, covering it or with more damage after it, the
  // blocks an open resuming after it reads are its own rows': their copies are in whole records before it,
  // on either side of the damage. The records before the damage alone are no view of them: the damaged
  // ones and those after them, which an open does not replay, may have written, moved or deleted them.
  // Their problems are said for these, in place of those of the blocks the records before the damage point at.)
  const pastDamageLsn = checkpointRecordEnd !== undefined ? checkpointExam!.lsn! : undefined;
  const covered = pastDamageLsn !== undefined ? await checkpointBlocks(pastDamageLsn) : { bad: [], checked: 0 };
  const coveredBadBlocks = covered.bad;
  // (Past such a checkpoint the open replays the whole records after it, on either side of later damage:
  // the blocks they write are checked too.)
  const replayed = pastDamageLsn !== undefined ? [...records, ...resync!.records.filter((r) => r.lsn > scan.lastLsn)] : records;
  for (const walRecord of replayed) {
    if (base && walRecord.lsn <= base.lsn) continue;
    let record;
    try {
      record = decodeRecord(codec, walRecord.type, walRecord.payload, walRecord.lsn);
    } catch (error) {
      problems.push({ severity: 'error', kind: 'record-invalid', lsn: walRecord.lsn, offset: walRecord.offset, file: 'state.wal', repairable: false, message: (error as Error).message });
      continue;
    }
    if (record.type === RecordType.MemoryPut) {
      pending.push({ id: record.memory.id, block: { ref: record.memory.ref, lsn: walRecord.lsn, copy: record.copy } });
      allRefs.push({ ref: record.memory.ref, lsn: walRecord.lsn });
    } else if (record.type === RecordType.StreamAppend) {
      pending.push({ key: record.key, block: { ref: record.ref, lsn: walRecord.lsn, copy: record.copy } });
      allRefs.push({ ref: record.ref, lsn: walRecord.lsn });
    }
    else if (record.type === RecordType.MemoryDelete) pending.push({ id: record.id, block: undefined });
    else if (record.type === RecordType.StreamDelete) pending.push({ key: record.key, block: undefined });
    else if (record.type === RecordType.Checkpoint) checkpoints.push({ upTo: record.upTo, chunks: new Set(record.chunks) });
    else if (record.type === RecordType.BlocksMoved) {
      for (const move of record.memories) {
        pending.push({ id: move.id, block: { ref: move.to, lsn: walRecord.lsn, copy: undefined }, from: move.from });
        allRefs.push({ ref: move.to, lsn: walRecord.lsn });
      }
      for (const move of record.streams) {
        pending.push({ key: move.key, block: { ref: move.to, lsn: walRecord.lsn, copy: undefined }, from: move.from });
        allRefs.push({ ref: move.to, lsn: walRecord.lsn });
      }
    }
  }
  for (const { id, key, block, from } of pending) {
    if (block === undefined) {
      if (id !== undefined) memories.delete(id);
      else streams.delete(key!);
      continue;
    }
    const live = { ...block, afterCheckpoint: !checkpoints.some((c) => c.upTo >= block.lsn && c.chunks.has(block.ref.chunk)) && !(resumedAfter !== undefined && block.lsn <= resumedAfter) };
    if (from) {
      // Compaction moved the block: only a reference still at the old place follows it.
      if (id !== undefined) {
        if (memories.get(id) && sameBlock(memories.get(id)!.ref, from)) memories.set(id, live);
      } else {
        const blocks = streams.get(key!);
        const index = blocks?.findIndex((b) => sameBlock(b.ref, from)) ?? -1;
        if (index >= 0) blocks![index] = live;
      }
    } else if (id === undefined) {
      const blocks = streams.get(key!);
      if (blocks) blocks.push(live);
      else streams.set(key!, [live]);
    } else memories.set(id, live);
  }

  // Two records whose different ranges share bytes: one of them was written over the other.
  allRefs.sort((a, b) => a.ref.chunk - b.ref.chunk || a.ref.offset - b.ref.offset);
  const overlapping = new Set<BlockRef>();
  for (let i = 1, reach = allRefs[0]; i < allRefs.length; i++) {
    const { ref, lsn } = allRefs[i]!;
    const previous = reach!;
    const same = previous.ref.chunk === ref.chunk && previous.ref.offset === ref.offset && previous.ref.length === ref.length;
    if (!same && previous.ref.chunk === ref.chunk && ref.offset < previous.ref.offset + previous.ref.length) {
      overlapping.add(ref).add(previous.ref);
      problems.push({ severity: 'error', kind: 'block-overlap', lsn, offset: ref.offset, file: `blocks/${chunkFileName(ref.chunk)}`, repairable: false,
        message: `Record ${lsn} and record ${previous.lsn} reference overlapping bytes of blocks/${chunkFileName(ref.chunk)} (${ref.offset}–${ref.offset + ref.length} and ${previous.ref.offset}–${previous.ref.offset + previous.ref.length}): at most one of them reads back. Repair leaves both ranges alone.` });
    }
    if (previous.ref.chunk !== ref.chunk || ref.offset + ref.length > previous.ref.offset + previous.ref.length) reach = allRefs[i];
  }
  const overlapsAnother = (ref: BlockRef) => [...overlapping].some((o) => o.chunk === ref.chunk && o.offset === ref.offset && o.length === ref.length);

  const live = [...memories.values(), ...[...streams.values()].flat()].sort((a, b) => a.ref.chunk - b.ref.chunk || a.ref.offset - b.ref.offset);
  const badBlocks: LiveBlock[] = [];
  /** Live blocks the checkpoint past the damage stands in for (its own are checked instead: `covered`). */
  let skipped = 0;
  let cached: { chunk: number; bytes: Buffer | undefined } | undefined;
  for (let i = 0; i < live.length; i++) {
    const block = live[i]!;
    const { ref } = block;
    if (pastDamageLsn !== undefined && block.lsn <= pastDamageLsn) {
      skipped++;
      continue;
    }
    if (cached?.chunk !== ref.chunk) {
      cached = { chunk: ref.chunk, bytes: await files.readFile(join(layout.blocks, chunkFileName(ref.chunk))).catch(() => undefined) };
    }
    const file = `blocks/${chunkFileName(ref.chunk)}`;
    const where = `${file} bytes ${ref.offset}–${ref.offset + ref.length}`;
    const fix = block.copy ? (block.afterCheckpoint ? 'Opening the store puts it back from the copy in its WAL record.' : '`memmapfs repair` puts it back from the copy in its WAL record.') : 'No copy exists: restore the chunk file from a backup.';
    if (!cached.bytes || ref.offset + ref.length > cached.bytes.length) {
      badBlocks.push(block);
      problems.push({ severity: block.copy && block.afterCheckpoint ? 'warning' : 'error', kind: 'block-missing', lsn: block.lsn, offset: ref.offset, file, repairable: block.copy !== undefined, message: `The block of record ${block.lsn} (${where}) is missing. ${fix}` });
    } else if (crc32c(cached.bytes.subarray(ref.offset, ref.offset + ref.length)) !== ref.crc >>> 0) {
      badBlocks.push(block);
      problems.push({ severity: block.copy && block.afterCheckpoint ? 'warning' : 'error', kind: 'block-corrupt', lsn: block.lsn, offset: ref.offset, file, repairable: block.copy !== undefined, message: `The block of record ${block.lsn} (${where}) fails its checksum. ${fix}` });
    }
    if ((i + 1) % 1000 === 0 || i + 1 === live.length) options.onProgress?.(i + 1, live.length);
  }
  for (const block of coveredBadBlocks) {
    const { ref } = block;
    const file = `blocks/${chunkFileName(ref.chunk)}`;
    const fix = block.copy ? '`memmapfs repair` puts it back from the copy in its WAL record (an open resuming after the checkpoint does not).' : 'No copy exists: restore the chunk file from a backup.';
    problems.push({ severity: 'error', kind: block.missing ? 'block-missing' : 'block-corrupt', lsn: block.lsn, offset: ref.offset, file, repairable: block.copy !== undefined,
      message: `The block ${block.lsn > 0 ? `of record ${block.lsn} ` : ''}(${file} bytes ${ref.offset}–${ref.offset + ref.length}) that the checkpoint at record ${checkpointExam!.lsn} points at ${block.missing ? 'is missing' : 'fails its checksum'}. ${fix}` });
  }

  if (checkpointRecordEnd !== undefined && !checkpointCoversDamage) {
    const at = problems.findIndex((problem) => problem.kind === 'wal-damaged');
    const { lsn, offset, reason } = scan.damage!;
    const after = resync!.records.filter((record) => record.lsn > checkpointExam!.lsn!).length;
    if (at >= 0) {
      problems[at] = { ...problems[at]!, message: `Record ${lsn} at byte ${offset} is damaged (${reason}), and the log is damaged after the record of the checkpoint at record ${checkpointExam!.lsn} too: the store will not open. \`memmapfs repair\` keeps the log as it is up to that record (the checkpoint holds what the damaged records before it made, and an open resumes after it), then the ${after} intact records after it, skipping the damage that follows it (\`--no-resync\`: none of them), and backs up the original.` };
    }
  }
  if (checkpointCoversDamage) {
    const at = problems.findIndex((problem) => problem.kind === 'wal-damaged');
    const { lsn, offset, reason } = scan.damage!;
    if (at >= 0) {
      problems[at] = { severity: 'error', kind: 'wal-damaged', lsn, offset, file: 'state.wal', repairable: false,
        message: `Record ${lsn} at byte ${offset} is damaged (${reason}), but the checkpoint at record ${checkpointExam!.lsn} covers it: the store opens from the checkpoint, and only what reads the log before it (memoryHistory, a saved search index older than the checkpoint, which is rebuilt) meets the damage. Run \`memmapfs compact\`: it drops the records the checkpoint covers, the damaged one with them. \`memmapfs repair\` leaves the log as it is (it would replace the record with a placeholder, and lose what it made, which only the checkpoint holds now; keep checkpoints/ until then).` };
    }
  }
  // Past a break in the sealed segments, what the open resuming after the checkpoint reads on to
  // state.wal must be whole too: damage there fails it as surely as the break it passed over.
  /** The checkpoint an open takes fails past it, and a newer one does not: repair names the newer one. */
  let replacedCheckpoint = false;
  /** The open fails reading on past the checkpoint it takes: that one is no checkpoint to resume after. */
  let failsPast = false;
  /** Where among `problems` the offer of the newer checkpoint is. */
  let replacedAt = -1;
  if (sealedBroken && checkpointExam?.resumes === true && checkpointExam.offset !== undefined) {
    const readOn = await readOnAfter(logHeld, { lsn: checkpointExam.lsn!, offset: checkpointExam.offset, checksum: checkpointExam.checksum! }, header.firstLsn, layout, files);
    const found = readOn.reads === 'problem' ? readOn.problem : undefined;
    failsPast = found !== undefined;
    if (found && !problems.some((problem) => problem.kind === found.kind && problem.file === found.file && problem.lsn === found.lsn)) problems.push(found);
    // (A newer checkpoint the log reads on from holds all this one does: repair names it in its place.)
    const newer = found ? await newerReadOnFrom(logHeld, checkpointExam.lsn!, firstLsn, layout, codec, files) : undefined;
    if (newer) {
      replacedCheckpoint = true;
      replacedAt = problems.length;
      problems.push({ severity: 'error', kind: 'checkpoint-unusable', file: checkpointExam.problem?.file ?? 'state.manifest', repairable: true,
        message: `An open resuming after the checkpoint at record ${checkpointExam.lsn} meets the damage in the sealed segments after it, and fails. checkpoints/${newer.name} (up to record ${newer.lsn}) holds all it does, and the log reads on from it to state.wal: \`memmapfs repair\` names it in state.manifest, and the store opens.` });
    }
  }
  const repairRefusal = scan.damage !== undefined && !logHoldsAll && checkpointRecordEnd === undefined && !checkpointCoversDamage
    // (One the open fails past does not spare what lies past the damage: repair would lose it.)
    ? await refusalOfRepair(layout, header.logId, scan.damage.lsn, firstLsn, failsPast && checkpointExam ? { ...checkpointExam, resumes: false } : checkpointExam, codec, files, salvageFirst)
    : undefined;
  if (repairRefusal !== undefined && replacedCheckpoint) {
    // (Repair refuses before it would name the newer checkpoint: not offered.)
    problems.splice(replacedAt, 1);
    replacedCheckpoint = false;
  }
  if (repairRefusal !== undefined) {
    const at = problems.findIndex((problem) => problem.kind === 'wal-damaged');
    const { lsn, offset, reason } = scan.damage!;
    if (at >= 0) problems[at] = { severity: 'error', kind: 'wal-damaged', lsn, offset, file: 'state.wal', repairable: false, message: `Record ${lsn} at byte ${offset} is damaged (${reason}). ${repairRefusal}` };
  }
  const snapshotExists = await stat(layout.searchSnapshot).then(() => true, () => false);
  const snapshot = snapshotExists ? await readSearchSnapshot(layout.searchSnapshot, files) : undefined;
  // (As an open takes it: a record the log begins after, vouched for by the checkpoint it resumes after or by the manifest.)
  const manifest = snapshot !== undefined && snapshot.lsn === firstLsn - 1 ? await readManifest(layout.manifest, files) : undefined;
  const vouched = (position: { lsn?: number | undefined; checksum?: number | undefined } | undefined) => position?.lsn === snapshot?.lsn && position?.checksum === snapshot?.checksum;
  const baseVouched = snapshot !== undefined && snapshot.lsn === firstLsn - 1 && ((checkpointExam?.unusable === false && vouched(checkpointExam)) || (manifest?.logId === header.logId && vouched(manifest.logBase)));
  const snapshotProblem = !snapshotExists ? undefined
    : !snapshot ? 'is damaged or of another version'
    : snapshot.logId !== header.logId ? 'was built from another log (copied from another store, or from before a repair)'
    : snapshot.lsn > scan.lastLsn && !scan.damage ? `covers records up to ${snapshot.lsn}, past the end of the log (${scan.lastLsn})`
    // (Its record dropped by retention, the checkpoint's record or the manifest vouching for it.)
    : snapshot.lsn > 0 && snapshot.lsn <= scan.lastLsn && heldRecord(logHeld, snapshot.lsn)?.checksum !== snapshot.checksum && !baseVouched ? `was built from a record ${snapshot.lsn} that is no longer in the log (a crash cut it, another took its place, or retention dropped it)`
    : undefined;
  if (snapshotProblem) {
    problems.push({ severity: 'warning', kind: 'search-snapshot-unusable', file: 'index/search.snapshot', repairable: true, message: `The saved search index ${snapshotProblem}; opening the store ignores it and rebuilds the index from the log.` });
  }
  const indexProblems = snapshot && !snapshotProblem ? await examineSavedIndex(layout, snapshot) : [];
  for (const message of indexProblems) {
    problems.push({ severity: 'warning', kind: 'search-index-damaged', file: 'index/segments', repairable: true, message: `${message} Queries may miss memories or fail; \`memmapfs repair\` removes the saved index, and the next open rebuilds it from the log.` });
  }
  const snapshotUnusable = snapshotProblem !== undefined || indexProblems.length > 0;
  let checkpointProblem = checkpointExam?.problem;
  if (checkpointProblem?.salvageable === true && repairRefusal !== undefined && !repairRefusal.includes('--salvage')) {
    // (Repair refuses before it would salvage the checkpoint, unless the refusal itself offers it.)
    const { salvageable: _, ...rest } = checkpointProblem;
    checkpointProblem = { ...rest, message: rest.message.replace(`${SALVAGE_ADVICE}.`, '. (`memmapfs repair --salvage` cannot help while the log is damaged as it is: see its problem.)') };
  }
  if (checkpointProblem) problems.push(checkpointProblem);
  const report: VerifyReport = {
    root: layout.root,
    ok: problems.every((p) => p.severity !== 'error'),
    codec: codec.name,
    records: records.length,
    firstLsn,
    lastLsn: scan.lastLsn,
    // (Zeros written ahead of the records are room, not log.)
    walBytes: sealed.walBytes + (scan.damage === undefined && scan.tornBytes === 0 ? scan.end : image.length),
    blocksChecked: live.length - skipped + covered.checked,
    problems,
  };
  return { layout, image, scan, resync, sealedSegments: sealed.count, report, header, headerDamaged, badBlocks, coveredBadBlocks, badBlocksOf, overlapsAnother, snapshotUnusable, checkpointUnusable: (checkpointExam?.unusable ?? false) || replacedCheckpoint, checkpointCoversDamage, checkpointRecordEnd, holdsRecordOf: (position) => logResumesAfter(logHeld, firstLsn, position), salvageFirst, readsOnFrom: async (position) => (await readOnAfter(logHeld, position, header.firstLsn, layout, files)).reads === 'through', logHoldsAll, checkpointLsn: checkpointExam?.lsn, checkpointManifest: checkpointExam?.manifest, checkpointSalvageable: checkpointExam?.salvageable, repairRefusal, committedLsn: committedEnd !== undefined ? marker!.lsn : undefined };
}

/** What a repair that skips the damage keeps after it, for the message of a `wal-damaged` problem. */
function resyncNote(resync: LogResync): string {
  const after = resync.records.filter((record) => record.lsn > resync.regions[0]!.lost.first).length;
  const regions = resync.regions.length;
  return after === 0 ? ' (no intact commit follows the damage)' : ` and the ${after} intact records after ${regions === 1 ? 'the damaged commit' : `the ${regions} damaged regions`} (\`--no-resync\`: none of them)`;
}

/**
 * The files of a persistent provider's saved index, checked by the provider (`verifyIndex`) when it can
 * be made by name (built in and installed, or registered); nothing to say otherwise (it is derived data, and an
 * open that cannot read it rebuilds it).
 */
async function examineSavedIndex(layout: StoreLayout, snapshot: SearchSnapshot): Promise<string[]> {
  if (!isKnownSearchProvider(snapshot.provider)) return [];
  let provider: SearchProvider | undefined;
  try {
    provider = await (await deferSearchProvider(snapshot.provider)).load();
  } catch {
    return [];
  }
  try {
    if (!provider.supports.persistent || !provider.verifyIndex) return [];
    return await provider.verifyIndex(layout.searchSegments, snapshot.data);
  } finally {
    await Promise.resolve(provider.close?.()).catch(() => undefined);
  }
}

/**
 * Checks a store without changing anything: every WAL record (frame, checksum, sequence, payload) and
 * the bytes of every live memory and stream chunk. Run it on a store no process is writing to.
 */
export async function verifyStore(root: string, options: StoreCheckOptions = {}): Promise<VerifyReport> {
  try {
    return (await examineStore(root, options)).report;
  } catch (error) {
    throw toMemMapError(error);
  }
}
