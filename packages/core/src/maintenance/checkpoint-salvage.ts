import type { BlockRef } from '@memmapfs/blocks';
import type { Codec } from '../contracts/codec.js';
import type { StoreFileSystem } from '../types.js';
import type { MemoryRecord } from '../engine/log-records.js';
import { ROWS_PER_CHECK } from '../checkpoint/checkpoint-rows.js';
import { writeCheckpointFile, type CheckpointEntry, type CheckpointFile } from '../checkpoint/checkpoint-file.js';

/** What `salvageCheckpoint` kept of a damaged checkpoint's rows. */
export interface SalvageOutcome {
  /** Rows in groups that fail their check: what was damaged. */
  readonly damagedRows: number;
  /** Of those, the rows that read back whole where they can be checked, kept. */
  readonly keptRows: number;
}

/**
 * Writes `file` again in its place (a temporary file, fsynced, renamed), without what of it cannot be
 * trusted: the rows of groups that pass their check are copied as they are; of a group that fails it,
 * the rows that read back whole where they can be checked (`CheckpointMemories.salvageRow`: ids and
 * versions that are LSNs of the log it covers, labels where its neighbours say and decoding, its
 * block's checksum), the most of them whose ids increase, are kept, and the others dropped, with the
 * memories they held. Its tables, its position in the log and its codec stay as they were. For a checkpoint the log
 * can no longer stand in for (it dropped the records before it); the caller backs the file up first.
 */
export async function salvageCheckpoint(file: CheckpointFile, codec: Codec, blockWhole: (ref: BlockRef) => boolean, files: StoreFileSystem): Promise<SalvageOutcome> {
  // (Its tables section passed its checksum when the file was opened.)
  const tables = file.tables(codec);
  const rows = file.memories(codec);
  const entries: CheckpointEntry[] = [];
  const namespaces = new Map<string, number>();
  const count = (namespace: string) => namespaces.set(namespace, (namespaces.get(namespace) ?? 0) + 1);
  let damagedRows = 0;
  let keptRows = 0;
  let memoryCount = 0;
  let lastId = 0;
  const groups = Math.ceil(rows.count / ROWS_PER_CHECK);
  const whole = Array.from({ length: groups }, (_, group) => rows.groupWhole(group * ROWS_PER_CHECK));
  for (let group = 0; group < groups; group++) {
    const first = group * ROWS_PER_CHECK;
    const end = Math.min(first + ROWS_PER_CHECK, rows.count);
    if (whole[group]) {
      // (Runs of whole groups are copied as one slice.)
      const last = entries.at(-1);
      if (last && 'base' in last && last.to === first) entries[entries.length - 1] = { base: rows, from: last.from, to: end };
      else entries.push({ base: rows, from: first, to: end });
      for (let index = first; index < end; index++) count(rows.record(index).namespace);
      memoryCount += end - first;
      lastId = rows.idAt(end - 1);
      continue;
    }
    damagedRows += end - first;
    // The ids of the rows kept lie between those of the whole groups around them.
    const nextWhole = whole.indexOf(true, group + 1);
    const before = nextWhole < 0 ? Number.POSITIVE_INFINITY : rows.idAt(nextWhole * ROWS_PER_CHECK);
    const candidates: MemoryRecord[] = [];
    for (let index = first; index < end; index++) {
      const [previousOffset, previousLength] = index > 0 ? rows.labelsSpan(index - 1) : [0, 0];
      const memory = rows.salvageRow(index, {
        lastLsn: file.position.lsn,
        labelsFrom: previousOffset + previousLength,
        labelsTo: index + 1 < rows.count ? rows.labelsSpan(index + 1)[0] : rows.labelsLength,
        blockWhole,
      });
      if (memory && memory.id > lastId && memory.id < before) candidates.push(memory);
    }
    for (const memory of longestIncreasing(candidates)) {
      entries.push(memory);
      count(memory.namespace);
      lastId = memory.id;
      keptRows++;
      memoryCount++;
    }
  }
  await writeCheckpointFile(file.path, {
    logId: file.logId,
    codec: file.codec,
    position: file.position,
    memoryCount,
    memories: () => entries,
    namespaces,
    kv: tables.kv,
    streams: tables.streams,
    state: tables.state,
    chunkEnds: tables.chunkEnds,
    cacheOpens: tables.cacheOpens,
  }, codec, files, 'read');
  return { damagedRows, keptRows };
}

/**
 * The most rows of `rows` (in row order) whose ids increase: a damaged id out of order costs its own
 * row, not the rows after it.
 */
function longestIncreasing(rows: readonly MemoryRecord[]): MemoryRecord[] {
  const length = rows.map(() => 1);
  const previous = rows.map(() => -1);
  for (let i = 0; i < rows.length; i++) {
    for (let j = 0; j < i; j++) {
      if (rows[j]!.id < rows[i]!.id && length[j]! + 1 > length[i]!) {
        length[i] = length[j]! + 1;
        previous[i] = j;
      }
    }
  }
  let end = -1;
  for (let i = 0; i < rows.length; i++) if (end < 0 || length[i]! > length[end]!) end = i;
  const chosen: MemoryRecord[] = [];
  for (let i = end; i >= 0; i = previous[i]!) chosen.push(rows[i]!);
  return chosen.reverse();
}
