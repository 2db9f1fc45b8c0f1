import { join } from 'node:path';
import { chunkFileName, type BlockRef } from '@memmapfs/blocks';
import { crc32c, type WalRecord } from '@memmapfs/wal';
import { openCheckpointFile } from '../checkpoint/checkpoint-file.js';
import { checkpointFileLsn } from '../checkpoint/checkpoint-manifest.js';
import type { Codec } from '../contracts/codec.js';
import { decodeRecord, RecordType } from '../engine/log-records.js';
import type { StoreLayout } from '../engine/store-layout.js';
import type { StoreFileSystem } from '../types.js';

/** A live block: the latest version of a memory, or a stream chunk, with the copy its record carries. */
export interface LiveBlock {
  readonly ref: BlockRef;
  readonly lsn: number;
  readonly copy: Uint8Array | undefined;
  /** After the last checkpoint: opening the store puts it back from the copy by itself. */
  readonly afterCheckpoint: boolean;
}

/** A block's range, as `overlappingRanges` names it. */
const rangeKey = (ref: BlockRef) => `${ref.chunk}:${ref.offset}:${ref.length}`;

/** The ranges of `refs` (by `rangeKey`) that share bytes with a different range of them. */
export function overlappingRanges(refs: readonly BlockRef[]): Set<string> {
  const sorted = [...refs].sort((a, b) => a.chunk - b.chunk || a.offset - b.offset || a.length - b.length);
  const found = new Set<string>();
  for (let i = 1, reach = sorted[0]; i < sorted.length; i++) {
    const ref = sorted[i]!;
    const previous = reach!;
    const same = previous.chunk === ref.chunk && previous.offset === ref.offset && previous.length === ref.length;
    if (!same && previous.chunk === ref.chunk && ref.offset < previous.offset + previous.length) found.add(rangeKey(ref)).add(rangeKey(previous));
    if (previous.chunk !== ref.chunk || ref.offset + ref.length > previous.offset + previous.length) reach = ref;
  }
  return found;
}

/** A block a checkpoint's row or stream points at that fails its checks, with the copy a whole record carries, if any. */
export interface CheckpointBlock extends LiveBlock {
  /** Its chunk file is gone, or ends before it (else its bytes fail their checksum). */
  readonly missing: boolean;
}

/** What `badBlocksOfCheckpoint` found: the blocks that fail their checks, of how many it checked. */
export interface CheckpointBlocks {
  readonly bad: CheckpointBlock[];
  readonly checked: number;
}

/**
 * The blocks the checkpoint of log `logId` at record `lsn` points at that fail their checks, each with
 * the copy a whole record of `records` carries, and how many blocks it checked.
 */
export async function badBlocksOfCheckpoint(layout: StoreLayout, logId: string, lsn: number, records: readonly WalRecord[], codec: Codec, files: StoreFileSystem): Promise<CheckpointBlocks> {
  const none = { bad: [], checked: 0 };
  const name = (await files.readdir(layout.checkpoints).catch(() => [] as string[])).find((n) => checkpointFileLsn(n) === lsn);
  if (name === undefined) return none;
  let refs: BlockRef[];
  const unchecked: BlockRef[] = [];
  try {
    const file = openCheckpointFile(join(layout.checkpoints, name), 'read');
    if (file.logId !== logId) return none;
    const rows = file.memories(codec);
    refs = [];
    for (let i = 0; i < rows.count; i++) {
      try {
        refs.push(rows.refAt(i));
      } catch {
        // (A row of a group that fails its check, which verify reports: its reference is taken only
        // where a record's copy of that very block vouches for it, for repair to put it back before it
        // salvages the checkpoint's rows.)
        unchecked.push(rows.uncheckedRefAt(i));
      }
    }
    for (const stream of file.tables(codec).streams.values()) refs.push(...stream);
  } catch {
    return none;
  }
  const copies = new Map<string, { lsn: number; copy: Uint8Array }>();
  const key = (ref: BlockRef) => `${ref.chunk}:${ref.offset}:${ref.length}:${ref.crc >>> 0}`;
  /** Every range a record or the checkpoint points at: a copy is not written where another range lies (a writer's bug put two there). */
  const ranges: BlockRef[] = [...refs];
  for (const walRecord of records) {
    if (walRecord.lsn > lsn) continue;
    let record;
    try {
      record = decodeRecord(codec, walRecord.type, walRecord.payload, walRecord.lsn);
    } catch {
      continue;
    }
    if (record.type === RecordType.MemoryPut) {
      ranges.push(record.memory.ref);
      if (record.copy) copies.set(key(record.memory.ref), { lsn: walRecord.lsn, copy: record.copy });
    } else if (record.type === RecordType.StreamAppend) {
      ranges.push(record.ref);
      if (record.copy) copies.set(key(record.ref), { lsn: walRecord.lsn, copy: record.copy });
    } else if (record.type === RecordType.BlocksMoved) {
      for (const move of [...record.memories, ...record.streams]) {
        ranges.push(move.to);
        if (move.copy) copies.set(key(move.to), { lsn: walRecord.lsn, copy: move.copy });
      }
    }
  }
  refs.push(...unchecked.filter((ref) => copies.has(key(ref))));
  const overlapped = overlappingRanges(ranges);
  const bad: CheckpointBlock[] = [];
  const chunks = new Map<number, Buffer | undefined>();
  for (const ref of refs) {
    if (!chunks.has(ref.chunk)) chunks.set(ref.chunk, await files.readFile(join(layout.blocks, chunkFileName(ref.chunk))).catch(() => undefined));
    const bytes = chunks.get(ref.chunk);
    const missing = !bytes || ref.offset + ref.length > bytes.length;
    if (!missing && crc32c(bytes.subarray(ref.offset, ref.offset + ref.length)) === ref.crc >>> 0) continue;
    const found = copies.get(key(ref));
    bad.push({ ref, lsn: found?.lsn ?? 0, copy: overlapped.has(rangeKey(ref)) ? undefined : found?.copy, afterCheckpoint: false, missing });
  }
  return { bad, checked: refs.length };
}
