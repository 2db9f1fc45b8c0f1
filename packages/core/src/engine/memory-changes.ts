import { sameBlock } from './block-references.js';
import { RecordType, type LogRecord, type MemoryMove, type MemoryRecord } from './log-records.js';
import type { MemoryTable } from './memory-table.js';

/** What a memory put did to the table (see `putMemory`). */
export interface AppliedPut {
  /** The memory as the table holds it now: its id and version given by the record's LSN. */
  readonly memory: MemoryRecord;
  /** It replaced a live memory. */
  readonly existed: boolean;
  /** The expiry of the memory it replaced. */
  readonly previousExpiry: number | undefined;
}

/**
 * Applies a memory put committed at `lsn` to `table`. `undefined` when it is an update of a memory
 * deleted meanwhile (by this process or another), which it does not bring back. (Bookkeeping that
 * reads no row of the checkpoint: applying a durable record must never fail.)
 */
export function putMemory(table: MemoryTable, record: Extract<LogRecord, { type: typeof RecordType.MemoryPut }>, lsn: number): AppliedPut | undefined {
  const memory = appliedVersion(record.memory, lsn);
  const existed = table.has(memory.id);
  if (record.update && !existed) return undefined;
  const previousExpiry = existed ? table.expiryOf(memory.id) : undefined;
  table.set(memory.id, memory);
  return { memory, existed, previousExpiry };
}

/**
 * Compaction copied blocks elsewhere: each memory whose reference is still the old one takes the new
 * one (it keeps its version: nothing about it changed). (Rows are not checked again here, as an
 * update's are: a move skipped for a check that fails now and passes later would leave the memory
 * pointing into a chunk the record retires. The next checkpoint's freeze checks again the rows its
 * moves replaced.)
 */
export function moveMemories(table: MemoryTable, moves: readonly MemoryMove[]): void {
  for (const move of moves) {
    let memory: MemoryRecord | undefined;
    try {
      memory = table.get(move.id);
    } catch {
      // A damaged checkpoint row: the memory is unreadable either way (applying must never fail).
      continue;
    }
    if (memory && sameBlock(memory.ref, move.from)) table.set(move.id, { ...memory, ref: move.to });
  }
}

/**
 * Applies what a record committed at `lsn` changes of the memories (nothing of KV, streams or the
 * state), as the engine applies it: for a table built from a checkpoint and the records after it.
 */
export function applyToMemories(table: MemoryTable, record: LogRecord, lsn: number): void {
  if (record.type === RecordType.MemoryPut) putMemory(table, record, lsn);
  else if (record.type === RecordType.MemoryDelete) table.delete(record.id);
  else if (record.type === RecordType.BlocksMoved) moveMemories(table, record.memories);
}

/** Whether a record changes the tables, for the count of changes since a checkpoint (not padding, not placeholders). */
export function changesTables(record: LogRecord): boolean {
  return record.type !== RecordType.Reserved && record.type !== RecordType.Lost && record.type !== RecordType.CacheOpened;
}

/**
 * The version of a memory a put at `lsn` applies: its id (the LSN, for a new memory of this process,
 * whose record has id 0) and `version`. Built field by field, with one shape: a spread of the record's
 * memory cost more than the rest of applying it.
 */
function appliedVersion(m: MemoryRecord, lsn: number): MemoryRecord {
  const id = m.id === 0 ? lsn : m.id;
  return m.embedding === undefined
    ? { id, ref: m.ref, tags: m.tags, namespace: m.namespace, meta: m.meta, createdAt: m.createdAt, updatedAt: m.updatedAt, expiresAt: m.expiresAt, version: lsn }
    : { id, ref: m.ref, tags: m.tags, namespace: m.namespace, meta: m.meta, createdAt: m.createdAt, updatedAt: m.updatedAt, expiresAt: m.expiresAt, embedding: m.embedding, version: lsn };
}
