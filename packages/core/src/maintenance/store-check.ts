import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { crc32c } from '@memmapfs/wal';
import { chunkFileName, type BlockRef } from '@memmapfs/blocks';
import { decodeWalHeader, frameSeed, listSealedSegments, PUT_SEGMENT_BACK, readHeadFile, recordsBelongTo, resyncLog, scanLog, sealedSegmentPath, segmentFileName, WAL_FORMAT_VERSION, WAL_HEADER_SIZE, type DamagedRegion, type LogResync, type LogScan, type SegmentHeader, type WalRecord } from '@memmapfs/wal';
import { MemMapError } from '../errors.js';
import { RecordType, decodeRecord } from '../engine/log-records.js';
import { toMemMapError } from '../engine/error-mapping.js';
import { readSearchSnapshot, type SearchSnapshot } from '../engine/search-snapshot.js';
import { isDeepStrictEqual } from 'node:util';
import { CHECKPOINT_HEADER_SIZE, checkpointDamage, openCheckpointFile, readCheckpointHeader, type CheckpointFile } from '../checkpoint/checkpoint-file.js';
import type { Codec } from '../contracts/codec.js';
import type { MemoryRecord } from '../engine/log-records.js';
import { checkpointFileLsn, readManifest, type StoreManifest } from '../checkpoint/checkpoint-manifest.js';
import { CheckpointStore } from '../checkpoint/checkpoint-store.js';
import { filesWithoutLog, lostLogError } from '../engine/lost-log.js';
import { storeLayout, type StoreLayout } from '../engine/store-layout.js';
import { sameBlock } from '../engine/block-references.js';
import { deferSearchProvider, isKnownSearchProvider, resolveCodec, type CodecOption } from '../registry/provider-registry.js';
import type { SearchProvider } from '../contracts/search-provider.js';
import type { StoreFileSystem } from '../types.js';
import * as nodeFileSystem from 'node:fs/promises';
import { badBlocksOfCheckpoint, type CheckpointBlock, type LiveBlock } from './checkpoint-blocks.js';

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

/** What a kept damaged checkpoint's problem advises, when `repair --salvage` can write it again. */
const SALVAGE_ADVICE = ", or run `memmapfs repair --salvage`: it backs the checkpoint up and writes it again with every row that reads back whole (its text's checksum checked, its labels decoding where its neighbours say; its times, tags and meta cannot be checked), dropping the memories of the others";

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

/** What `examineCheckpoint` found: the problem to report, and the checkpoint an open would use. */
interface CheckpointExam {
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
async function examineCheckpoint(layout: StoreLayout, logId: string, log: LogHeld, firstLsn: number, codec: Codec, files: StoreFileSystem, damaged?: { image: Buffer; seed: number; lsn: number; regions: readonly DamagedRegion[] }): Promise<CheckpointExam | undefined> {
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
async function newerReadOnFrom(log: LogHeld, after: number, firstLsn: number, layout: StoreLayout, codec: Codec, files: StoreFileSystem): Promise<{ name: string; lsn: number } | undefined> {
  const file = await newestWholeCheckpoint(layout, log.logId, after + 1, codec, files, async ({ position }) => logResumesAfter(log, firstLsn, position) && (await readOnAfter(log, position, log.segmentFirsts.at(-1)!, layout, files)).reads === 'through');
  return file && { name: basename(file.path), lsn: file.position.lsn };
}

/**
 * Whether an open could resume after a checkpoint ending at `position` on the log `log` (from
 * `firstLsn` on): the log holds that very record (its LSN and frame checksum), or a segment begins right
 * after it (retention dropped it, say).
 */
function logResumesAfter(log: LogHeld, firstLsn: number, position: { lsn: number; checksum: number; offset?: number }): boolean {
  if (position.lsn === firstLsn - 1) return true;
  if (position.lsn < firstLsn) return false;
  // (As an open does, a segment that begins right after it will do, its record damaged or not, unless
  // the segment holding that record is one the open refuses on its header.)
  if (log.segmentFirsts.includes(position.lsn + 1)) return log.headers.get(log.segmentFirsts.filter((first) => first <= position.lsn).at(-1)!)?.kind !== 'refused';
  if (heldRecord(log, position.lsn)?.checksum === position.checksum >>> 0) return true;
  // (Past a break in the sealed segments, as an open looks for it: the frame where the checkpoint says it
  // was written, whole, ending its commit, whatever is damaged before it in that commit.)
  const holder = log.segmentFirsts.filter((first) => first <= position.lsn).at(-1);
  const image = holder === undefined ? undefined : log.brokenImages.get(holder);
  return image !== undefined && position.offset !== undefined && endOfRecordAt(image, { ...position, offset: position.offset }, log.seed, `wal/${segmentFileName(holder!)}`) !== undefined;
}

/** What the log holds, as verify read it. */
interface LogHeld {
  /** The records read in order from the first, up to damage in a sealed segment, then `state.wal`'s up to its own. */
  readonly records: readonly WalRecord[];
  /** Past damage in a sealed segment: the whole records after it, in it and in the later sealed segments. */
  readonly beyondDamage: readonly WalRecord[] | undefined;
  /** The first LSN of every segment, sealed ones and `state.wal`. */
  readonly segmentFirsts: readonly number[];
  /** It holds every record from the first on, read in order: it can stand in for a checkpoint. */
  readonly holdsAll: boolean;
  /** The sealed segments cannot be read in order up to `state.wal` (damage, another log's segment, a gap). */
  readonly sealedBroken: boolean;
  /** What an open makes of each sealed segment's header, by first LSN (as far as they were read). */
  readonly headers: ReadonlyMap<number, SegmentHeaderState>;
  /** The images of the sealed segments from a break on, by first LSN. */
  readonly brokenImages: ReadonlyMap<number, Buffer>;
  /** The seed of this log's frame checksums. */
  readonly seed: number;
  /** The log's id. */
  readonly logId: string;
}

/** The record with LSN `lsn` the log holds whole: among the records read in order, or past a break in the sealed segments. */
function heldRecord(log: LogHeld, lsn: number): WalRecord | undefined {
  return recordAt(log.records, lsn) ?? recordAt(log.beyondDamage ?? [], lsn);
}

/** The record with LSN `lsn` among `records` (LSNs increasing, with gaps where damage was skipped). */
function recordAt(records: readonly WalRecord[], lsn: number): WalRecord | undefined {
  let low = 0;
  let high = records.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const at = records[middle]!.lsn;
    if (at === lsn) return records[middle];
    if (at < lsn) low = middle + 1;
    else high = middle - 1;
  }
  return undefined;
}

/**
 * Why a repair of a shortened log (it begins at `firstLsn` > 1) damaged at record `damageLsn` must leave
 * the store as it is, or `undefined`: the checkpoint an open takes ends at or past the damage (its record
 * damaged, or its file); or a checkpoint file of this log (or one whose header cannot be read) lies at or
 * past it while none whole ends before it, or while one does and that file fails to open whole. Cutting
 * the log at the damage would remove such a file, the only copy of what the dropped or damaged records
 * made. (Damage the checkpoint covers is refused apart.)
 */
async function refusalOfRepair(layout: StoreLayout, logId: string, damageLsn: number, firstLsn: number, exam: CheckpointExam | undefined, codec: Codec, files: StoreFileSystem, salvageFirst: boolean): Promise<string | undefined> {
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
function checkpointPosition(path: string): CheckpointFile['position'] | undefined {
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
 * Where the record at `position` ends in `image`, when it is there whole (its LSN, its frame checksum)
 * and ends its commit: the record an open resuming after a checkpoint looks for, reading nothing before it.
 */
function endOfRecordAt(image: Buffer, position: { lsn: number; offset: number; checksum: number }, seed: number, path: string): number | undefined {
  const { lsn, offset, checksum } = position;
  if (!Number.isSafeInteger(offset) || offset < WAL_HEADER_SIZE || offset >= image.length) return undefined;
  const scan = scanLog(image, offset, lsn, path, { seed, onDamage: 'report' });
  const record = scan.records[0];
  if (record?.lsn !== lsn || record.checksum !== checksum >>> 0 || scan.continuing.has(lsn)) return undefined;
  return scan.records[1]?.offset ?? scan.end;
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
  if (!isDeepStrictEqual(new Map([...tables.kv].map(([k, v]) => [k, Buffer.from(v)])), new Map([...kv].map(([k, v]) => [k, Buffer.from(v)])))) return 'its KV values differ';
  if (!isDeepStrictEqual(tables.streams, streams)) return 'its streams differ';
  if (!isDeepStrictEqual(tables.state, state)) return 'its agent state differs';
  return undefined;
}

/**
 * A damaged log header, rebuilt from what else knows the log: the copy in state.head, the commit
 * marker's log id and the search snapshot's. Only a log id whose seed the records verify with is taken
 * (a copy left behind by an interrupted repair names another log); none: `WAL_HEADER_INVALID`.
 */
async function rebuildHeader(image: Buffer, layout: StoreLayout, headerCopy: Buffer | undefined, markerLogId: string | undefined, codecOption: CodecOption | undefined, files: StoreFileSystem): Promise<SegmentHeader> {
  const copy = headerCopy ? decodeWalHeader(headerCopy, layout.head) : undefined;
  const snapshot = await readSearchSnapshot(layout.searchSnapshot, files);
  const candidates = [copy?.logId, markerLogId, snapshot?.logId].filter((id): id is string => id !== undefined);
  // The first record says where state.wal begins (its checksum, checked with each candidate id, vouches
  // for it); with no record, the copy (rewritten at every new segment) does.
  const frameLsn = image.length >= WAL_HEADER_SIZE + 16 ? image.readUInt32LE(WAL_HEADER_SIZE + 8) + image.readUInt32LE(WAL_HEADER_SIZE + 12) * 0x1_0000_0000 : undefined;
  const firstLsn = frameLsn !== undefined && frameLsn >= 1 && candidates.some((id) => recordsBelongTo(image, id, frameLsn)) ? frameLsn : (copy?.firstLsn ?? 1);
  const logId = candidates.find((id) => recordsBelongTo(image, id, firstLsn));
  const codec = copy?.codec ?? (codecOption === undefined ? undefined : (await resolveCodec(codecOption, 'msgpack')).name);
  if (logId === undefined || codec === undefined) {
    throw new MemMapError('WAL_HEADER_INVALID', `The header of ${layout.wal} is damaged, and ${logId === undefined ? 'no copy of it (in state.head, the commit marker or the search snapshot) matches the records' : 'no copy names its codec (pass the codec option)'}. Restore the file from a backup.`, { subsystem: 'wal' });
  }
  return { formatVersion: WAL_FORMAT_VERSION, codec, logId, firstLsn };
}

/**
 * Reads the sealed segments before state.wal, in order, each checked whole (a sealed segment was
 * durable before the next began: any bad byte in it is damage). Their problems go to `problems`.
 */
async function readSealedSegments(layout: StoreLayout, current: SegmentHeader, files: StoreFileSystem, problems: StoreProblem[]): Promise<{ records: WalRecord[]; beyondDamage: WalRecord[] | undefined; brokenImages: Map<number, Buffer>; headers: Map<number, SegmentHeaderState>; firsts: number[]; walBytes: number; count: number; nextLsn: number }> {
  const records: WalRecord[] = [];
  /**
   * Set when the sealed segments cannot be read in order to the end (a segment's records or header
   * damaged, another log's segment, a gap): the whole records of this log found after the break.
   */
  let beyondDamage: WalRecord[] | undefined;
  /**
   * The images of the segments from the break on whose headers are whole, by first LSN: where an open
   * looks for a checkpoint's record.
   */
  const brokenImages = new Map<number, Buffer>();
  /** What the open makes of each segment's header, as far as they were read. */
  const headers = new Map<number, SegmentHeaderState>();
  let walBytes = 0;
  let nextLsn: number | undefined;
  const seed = frameSeed(current.logId);
  const firsts = (await listSealedSegments(layout.segments)).filter((first) => first < current.firstLsn);
  /**
   * The records whose frames prove they are this log's (its id seeds their checksums), found whole in
   * `image`, a segment named for `first` (whatever its header says), skipping damage.
   */
  const wholeRecordsOf = (image: Buffer, first: number, file: string): WalRecord[] => {
    try {
      return resyncLog(image, WAL_HEADER_SIZE, first, file, { seed }).records;
    } catch {
      return [];
    }
  };
  for (const [index, first] of firsts.entries()) {
    const file = `wal/${segmentFileName(first)}`;
    const image = await files.readFile(sealedSegmentPath(layout.segments, first));
    walBytes += image.length;
    const state = segmentHeaderState(image, first, current.logId, file);
    headers.set(first, state);
    /**
     * Says what is wrong with this segment, and gathers the whole records of this log from here on, past
     * what was read in order (an open that resumes after a checkpoint whose record is one of them, or
     * right before a segment, never reads the damage), in segments whose headers the open reads.
     */
    const broken = async (message: string, { lsn, offset }: { lsn?: number; offset?: number } = {}) => {
      problems.push({ severity: 'error', kind: 'wal-segment-damaged', file, repairable: false, ...(lsn !== undefined ? { lsn } : {}), ...(offset !== undefined ? { offset } : {}), message: `${message} Reading the log past it fails (an open that resumes after a checkpoint past it does not read it). ${PUT_SEGMENT_BACK}.` });
      const readUpTo = records.at(-1)?.lsn ?? 0;
      // (A segment whose header the open refuses or passes over holds nothing it can read.)
      beyondDamage = state.kind === 'whole' ? wholeRecordsOf(image, first, file).filter((record) => record.lsn > readUpTo) : [];
      if (state.kind === 'whole') brokenImages.set(first, image);
      for (const later of firsts.slice(index + 1)) {
        const laterFile = `wal/${segmentFileName(later)}`;
        const laterImage = await files.readFile(sealedSegmentPath(layout.segments, later)).catch(() => undefined);
        if (!laterImage) continue;
        const laterState = segmentHeaderState(laterImage, later, current.logId, laterFile);
        headers.set(later, laterState);
        if (laterState.kind !== 'whole') continue;
        beyondDamage.push(...wholeRecordsOf(laterImage, later, laterFile));
        brokenImages.set(later, laterImage);
      }
    };
    if (state.kind !== 'whole') {
      await broken(state.problem);
      break;
    }
    if (nextLsn !== undefined && first !== nextLsn) {
      await broken(`The sealed segment ${file} begins at record ${first}, but the one before it ends at record ${nextLsn - 1}.`, { lsn: nextLsn });
      break;
    }
    // (Zeros after the last record, room written ahead that a power loss brought back, are no damage:
    // records lost to them show as a gap before the next segment.)
    const scan = scanLog(image, WAL_HEADER_SIZE, first, file, { seed, onDamage: 'report' });
    records.push(...scan.records);
    nextLsn = scan.lastLsn + 1;
    if (scan.damage || scan.tornBytes > 0) {
      await broken(`Record ${scan.lastLsn + 1} at byte ${scan.end} of the sealed segment ${file} is damaged.`, { lsn: scan.lastLsn + 1, offset: scan.end });
      break;
    }
  }
  return { records, beyondDamage, brokenImages, headers, firsts, walBytes, count: firsts.length, nextLsn: nextLsn ?? current.firstLsn };
}

/**
 * What an open makes of a sealed segment's header: `whole` (of this log, naming the segment's first
 * record); `passed` (damaged, or naming another first record: an open passes over the segment when it
 * resumes after its last record, and fails reading it otherwise); `refused` (another log's, or of a
 * format this release does not read: an open that meets the segment at all fails).
 */
type SegmentHeaderState = { readonly kind: 'whole' } | { readonly kind: 'passed' | 'refused'; readonly problem: string };

function segmentHeaderState(image: Buffer, first: number, logId: string, file: string): SegmentHeaderState {
  let header: SegmentHeader;
  try {
    header = decodeWalHeader(image, file);
  } catch (error) {
    return { kind: (error as { code?: string })?.code === 'WAL_HEADER_INVALID' ? 'passed' : 'refused', problem: sealedHeaderProblem(file, error) };
  }
  if (header.logId !== logId) return { kind: 'refused', problem: `The sealed segment ${file} is not of this log (log ${header.logId}, first record ${header.firstLsn}).` };
  if (header.firstLsn !== first) return { kind: 'passed', problem: `The header of the sealed segment ${file} names record ${header.firstLsn} as its first, not ${first} as its name does: it is damaged.` };
  return { kind: 'whole' };
}

/**
 * Whether an open resuming after the checkpoint record at `from` reads the log on, in order, through
 * the sealed segments to `state.wal` (beginning at `walFirst`): `through`; or what it meets first there
 * (a damaged record, a segment refused on its header, records missing) as `problem`. As the open does,
 * it starts at that record where it is whole in its segment, else at a segment beginning right after it.
 */
type ReadOn = { readonly reads: 'through' } | { readonly reads: 'problem'; readonly problem: StoreProblem };

async function readOnAfter(log: LogHeld, from: { lsn: number; offset: number; checksum: number }, walFirst: number, layout: StoreLayout, files: StoreFileSystem): Promise<ReadOn> {
  const meets = (file: string, what: string, lsn?: number, offset?: number): ReadOn => ({
    reads: 'problem',
    problem: {
      severity: 'error', kind: 'wal-segment-damaged', file, repairable: false, ...(lsn !== undefined ? { lsn } : {}), ...(offset !== undefined ? { offset } : {}),
      message: `${what} An open resuming after the checkpoint at record ${from.lsn} reads it, and fails. ${PUT_SEGMENT_BACK}.`,
    },
  });
  const imageOf = async (first: number) => log.brokenImages.get(first) ?? (await files.readFile(sealedSegmentPath(layout.segments, first)).catch(() => undefined));
  // (Its record in state.wal: nothing sealed is read. Before the log's first record, the log must begin
  // right after it, and is read from its first segment.)
  const holder = log.segmentFirsts.filter((first) => first <= from.lsn).at(-1);
  if (holder !== undefined && holder >= walFirst) return { reads: 'through' };
  const holderFile = holder === undefined ? undefined : `wal/${segmentFileName(holder)}`;
  const holderImage = holder === undefined ? undefined : await imageOf(holder);
  const holderState = holderImage === undefined ? undefined : (log.headers.get(holder!) ?? segmentHeaderState(holderImage, holder!, log.logId, holderFile!));
  // (The open opens the segment holding the record whichever way it resumes, and fails on a header it refuses.)
  if (holderState?.kind === 'refused') return meets(holderFile!, holderState.problem);
  const inHolder = holderState?.kind === 'whole' && endOfRecordAt(holderImage!, from, log.seed, holderFile!) !== undefined;
  let first: number;
  let start: { offset: number; lsn: number };
  if (inHolder) {
    first = holder!;
    start = { offset: from.offset, lsn: from.lsn };
  } else if (log.segmentFirsts.includes(from.lsn + 1)) {
    first = from.lsn + 1;
    if (first === walFirst) return { reads: 'through' };
    start = { offset: WAL_HEADER_SIZE, lsn: first };
  } else if (holderFile !== undefined) {
    return meets(holderFile, `Record ${from.lsn}, the checkpoint's, is not whole in the sealed segment ${holderFile}.`, from.lsn, from.offset);
  } else {
    return meets(`wal/${segmentFileName(log.segmentFirsts[0]!)}`, `The log begins at record ${log.segmentFirsts[0]}, not right after record ${from.lsn}, the checkpoint's.`);
  }
  let next = start.lsn;
  for (const at of log.segmentFirsts.slice(0, -1).filter((segment) => segment >= first)) {
    const file = `wal/${segmentFileName(at)}`;
    if (at !== first && at !== next) return meets(file, `The sealed segment ${file} begins at record ${at}, but the one before it ends at record ${next - 1}.`, next);
    const image = await imageOf(at);
    if (image === undefined) return meets(file, `The sealed segment ${file} cannot be read.`);
    const state = log.headers.get(at) ?? segmentHeaderState(image, at, log.logId, file);
    if (state.kind !== 'whole') return meets(file, state.problem);
    const scan = scanLog(image, at === first ? start.offset : WAL_HEADER_SIZE, at === first ? start.lsn : at, file, { seed: log.seed, onDamage: 'report' });
    if (scan.damage || scan.tornBytes > 0) return meets(file, `Record ${scan.lastLsn + 1} at byte ${scan.end} of the sealed segment ${file} is damaged.`, scan.lastLsn + 1, scan.end);
    next = scan.lastLsn + 1;
  }
  if (next !== walFirst) return meets('state.wal', `state.wal begins at record ${walFirst}, but the sealed segments before it end at record ${next - 1}: records are missing or doubled.`, next);
  return { reads: 'through' };
}

/** What is wrong with the header of the sealed segment `file`, from the error reading it threw (not its message: it speaks of state.wal, whose header repair rebuilds from a copy). */
function sealedHeaderProblem(file: string, error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  if ((error as { code?: string })?.code === 'WAL_FORMAT_UNSUPPORTED') {
    const version = /format version (\d+)/.exec(message)?.[1];
    return `The sealed segment ${file} is of a log format${version ? ` (version ${version})` : ''} this release does not read: use a MemMapFS release that reads it.`;
  }
  const why = /checksum/.test(message) ? 'it fails its checksum' : /codec/.test(message) ? 'it names no valid codec' : /first LSN/.test(message) ? 'it names no first record' : 'it is not a log segment\'s header';
  return `The header of the sealed segment ${file} is damaged (${why}).`;
}

/**
 * The memories and stream blocks of the checkpoint that covers the records retention dropped (it must
 * end at or after the record before `firstLsn`), and the LSN it ends at; `undefined` when there is none.
 */
async function checkpointBase(layout: StoreLayout, logId: string, firstLsn: number, files: StoreFileSystem, codec: Codec, resumable: (position: { lsn: number; checksum: number }) => boolean): Promise<{ lsn: number; memories: Map<number, BlockRef>; streams: ReadonlyMap<string, readonly BlockRef[]> } | undefined> {
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
