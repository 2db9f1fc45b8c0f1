import { CHECKPOINT_HEADER_SIZE, openCheckpointFile, type CheckpointContents } from '../src/checkpoint/checkpoint-file.js';
import type { MemoryRecord } from '../src/engine/log-records.js';

/** What a checkpoint of `count` memories holds, with empty tables, for tests that write checkpoint files. */
export function checkpointContents(codecName: string, count: number, memories: CheckpointContents['memories'], namespaces: ReadonlyMap<string, number>): CheckpointContents {
  return { logId: '00'.repeat(16), codec: codecName, position: { lsn: 1, offset: 0, checksum: 0 }, memoryCount: count, memories, namespaces, kv: new Map(), streams: new Map(), state: null, chunkEnds: new Map(), cacheOpens: new Map() };
}

/** How many of `memories` each namespace holds. */
export function namespacesOf(memories: ReadonlyMap<number, MemoryRecord>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of memories.values()) counts.set(m.namespace, (counts.get(m.namespace) ?? 0) + 1);
  return counts;
}

/** The rows, labels and row checks of the checkpoint file at `path` (the header and the tables section left out). */
export function rowsLabelsAndChecks(path: string): Buffer {
  const bytes = openCheckpointFile(path, 'read').bytes() as Buffer;
  // (The header's tables offset and row checks offset: see docs/FORMAT.md.)
  const tablesOffset = bytes.readDoubleLE(88);
  const checksOffset = bytes.readDoubleLE(152);
  return Buffer.concat([bytes.subarray(CHECKPOINT_HEADER_SIZE, tablesOffset), bytes.subarray(checksOffset)]);
}
