import { isWalError, type WriteAheadLog } from '@memmapfs/wal';
import type { Codec } from '../contracts/codec.js';
import type { MemoryVersion } from '../types.js';
import { embeddingOf } from '../memory-embedding.js';
import { RecordType, decodeRecord, isMemoryPutType, type MemoryRecord } from './log-records.js';

/**
 * The versions of memory `id` the log still holds, oldest first: its creation (the record at LSN `id`),
 * each update applied to it, and its deletion. Read from the log from LSN `id` on; once a compaction or
 * retention dropped the creation, from the log's first record, which holds the updates and the deletion
 * after it. Updates written after the deletion (ignored by every process) are not versions. `text`
 * reads a version's bytes, `undefined` when they are gone.
 */
export async function memoryHistory(wal: WriteAheadLog, codec: Codec, id: number, text: (memory: MemoryRecord) => string | undefined): Promise<MemoryVersion[]> {
  // Retention may cut the log while it is read (another process's checkpoint, snapshots of a log hosts
  // share): read again from where it now begins, the versions it still holds.
  for (let attempt = 1; ; attempt++) {
    try {
      return await readHistory(wal, codec, id, text);
    } catch (error) {
      if (!isWalError(error, 'WAL_TRUNCATED') || attempt >= MAX_READS) throw error;
    }
  }
}

/** Reads of the log `memoryHistory` makes at most, each cut short by retention but the last. */
const MAX_READS = 3;

async function readHistory(wal: WriteAheadLog, codec: Codec, id: number, text: (memory: MemoryRecord) => string | undefined): Promise<MemoryVersion[]> {
  const versions: MemoryVersion[] = [];
  // Whether the log no longer holds the record at `id` (it begins after it): its later records still count.
  let creationGone: boolean | undefined;
  for await (const walRecord of wal.readFrom(id)) {
    creationGone ??= walRecord.lsn > id;
    // The record at `id` made the memory, or there is none with this id.
    if (walRecord.lsn === id && !isMemoryPutType(walRecord.type)) break;
    // Only memory records can concern it: others are not decoded.
    if (!isMemoryPutType(walRecord.type) && walRecord.type !== RecordType.MemoryDelete) continue;
    // Detached: a version's binaries must not keep the log's window alive.
    const record = decodeRecord(codec, walRecord.type, walRecord.payload, walRecord.lsn, true);
    if (record.type === RecordType.MemoryDelete) {
      if (record.id !== id || (versions.length === 0 && !creationGone)) continue;
      versions.push({ event: 'deleted', lsn: walRecord.lsn, at: record.at });
      break;
    }
    if (record.type !== RecordType.MemoryPut) continue;
    const created = walRecord.lsn === id && !record.update;
    if (!created && !(record.update && record.memory.id === id && (versions.length > 0 || creationGone))) {
      if (walRecord.lsn === id) break; // the record at `id` made no memory: there is none with this id
      continue;
    }
    const m = { ...record.memory, id };
    // The chunk's bytes, else the copy the record carries (bytes a crash took, not yet put back).
    const versionText = text(m) ?? (record.copy ? new TextDecoder().decode(record.copy) : undefined);
    const memory: NonNullable<MemoryVersion['memory']> = { id, text: versionText, tags: [...m.tags], namespace: m.namespace, meta: structuredClone(m.meta), createdAt: m.createdAt, updatedAt: m.updatedAt };
    if (m.expiresAt !== undefined) memory.expiresAt = m.expiresAt;
    if (m.embedding !== undefined) memory.embedding = embeddingOf(m.embedding);
    versions.push({ event: created ? 'created' : 'updated', lsn: walRecord.lsn, at: created ? m.createdAt : m.updatedAt, memory });
  }
  return versions;
}
