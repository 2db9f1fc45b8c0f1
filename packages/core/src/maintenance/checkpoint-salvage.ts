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
  /** KV pairs in groups that fail their check (format 5): dropped, as none of them can be trusted. */
  readonly droppedKvPairs: number;
}

/**
 * Writes `file` again in its place (a temporary file, fsynced, renamed), without what of it cannot be
 * trusted: the rows of groups that pass their check are copied as they are; of a group that fails it,
 * the rows that read back whole where they can be checked (`CheckpointMemories.salvageRow`: ids and
 * versions that are LSNs of the log it covers, labels where its neighbours say and decoding, its
 * block's checksum), the most of them whose ids increase, are kept, and the others dropped, with the
 * memories they held. KV pairs of groups that fail their check are dropped. Its other tables, its
 * position in the log and its codec stay as they were. For a checkpoint the log
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
  // (A row's namespace is one the checkpoint counted, when it counts them.)
  const known = tables.namespaces ? new Set(tables.namespaces.keys()) : undefined;
  const keep = (memory: MemoryRecord) => {
    entries.push(memory);
    count(memory.namespace);
    lastId = memory.id;
    memoryCount++;
  };
  for (let group = 0; group < groups; ) {
    const first = group * ROWS_PER_CHECK;
    if (whole[group]) {
      const end = Math.min(first + ROWS_PER_CHECK, rows.count);
      // (Runs of whole groups are copied as one slice.)
      const last = entries.at(-1);
      if (last && 'base' in last && last.to === first) entries[entries.length - 1] = { base: rows, from: last.from, to: end };
      else entries.push({ base: rows, from: first, to: end });
      for (let index = first; index < end; index++) count(rows.record(index).namespace);
      memoryCount += end - first;
      lastId = rows.idAt(end - 1);
      group++;
      continue;
    }
    // A run of damaged groups: the ids of the rows kept lie between those of the whole groups around it.
    let next = group;
    while (next < groups && !whole[next]) next++;
    const end = Math.min(next * ROWS_PER_CHECK, rows.count);
    const before = next < groups ? rows.idAt(next * ROWS_PER_CHECK) : Number.POSITIVE_INFINITY;
    damagedRows += end - first;
    const candidates: MemoryRecord[] = [];
    for (let index = first; index < end; index++) {
      const [previousOffset, previousLength] = index > 0 ? rows.labelsSpan(index - 1) : [0, 0];
      const memory = rows.salvageRow(index, {
        lastLsn: file.position.lsn,
        labelsFrom: previousOffset + previousLength,
        labelsTo: index + 1 < rows.count ? rows.labelsSpan(index + 1)[0] : rows.labelsLength,
        namespaces: known,
        blockWhole,
      });
      if (memory && memory.id > lastId && memory.id < before) candidates.push(memory);
    }
    for (const memory of longestIncreasing(candidates)) {
      keep(memory);
      keptRows++;
    }
    group = next;
  }
  let droppedKvPairs = 0;
  const pairs = [...tables.kv.checkedEntries((dropped) => (droppedKvPairs += dropped))];
  await writeCheckpointFile(file.path, {
    logId: file.logId,
    codec: file.codec,
    position: file.position,
    memoryCount,
    memories: () => entries,
    namespaces,
    kv: { size: pairs.length, entries: () => pairs },
    streams: tables.streams,
    state: tables.state,
    chunkEnds: tables.chunkEnds,
    cacheOpens: tables.cacheOpens,
  }, codec, files, 'read');
  return { damagedRows, keptRows, droppedKvPairs };
}

/**
 * The most rows of `rows` (in row order) whose ids increase: a damaged id out of order costs its own
 * row, not the rows after it. (Patience sorting: n log n, for a run of any length.)
 */
function longestIncreasing(rows: readonly MemoryRecord[]): MemoryRecord[] {
  // tails[k]: the index of the row ending the best run of length k + 1 found so far (smallest last id).
  const tails: number[] = [];
  const previous = new Int32Array(rows.length).fill(-1);
  for (let i = 0; i < rows.length; i++) {
    const id = rows[i]!.id;
    let low = 0;
    let high = tails.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (rows[tails[middle]!]!.id < id) low = middle + 1;
      else high = middle;
    }
    if (low > 0) previous[i] = tails[low - 1]!;
    tails[low] = i;
  }
  const chosen: MemoryRecord[] = [];
  for (let i = tails.length > 0 ? tails[tails.length - 1]! : -1; i >= 0; i = previous[i]!) chosen.push(rows[i]!);
  return chosen.reverse();
}
