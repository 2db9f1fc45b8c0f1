import { MemMapError } from '../errors.js';
import type { AgentState } from '../types.js';
import { RecordType, type LogRecord, type MemoryRecord } from './log-records.js';
import type { StoreEngine, WrittenBlock } from './store-engine.js';

/**
 * Padding records one commit holds at most: the padding before the first memory of a restore beyond
 * this is written ahead in commits of its own, so that a gap of any size costs bounded memory.
 */
export const PADDING_PER_COMMIT = 16_384;
/** Padding between the memories of one restore, which must share their commit (all or none): at most this. */
export const MAX_PADDING_BETWEEN = 65_536;
/**
 * Padding before the first memory of one restore: at most this (about 22 bytes of log each, so some
 * 22 MB of log and a few seconds), and as many LSNs for every later open to replay until a checkpoint.
 */
export const MAX_PADDING_BEFORE = 1_000_000;
/**
 * Conditional appends of one restore refused (other processes appended between its plan and its
 * append) before it gives up with `RESTORE_CONTENDED`: without a bound, constant appends elsewhere
 * could refuse it forever.
 */
export const MAX_REFUSED_APPENDS = 200;

/** A memory to write back, checked: its text as bytes, its labels, its times. */
export interface MemoryToRestore extends Pick<MemoryRecord, 'tags' | 'namespace' | 'meta' | 'createdAt' | 'updatedAt' | 'expiresAt'> {
  /** Where it goes; `undefined`: the next LSN. Every item of a restore has one, or none has. */
  readonly id: number | undefined;
  readonly bytes: Uint8Array;
  readonly embedding: Uint8Array | undefined;
}

const reserved: LogRecord = { type: RecordType.Reserved };

/**
 * Padding between the given ids of `items` (increasing, checked by the caller); throws
 * `RESTORE_GAP_TOO_LARGE` beyond what one commit may hold. Run before anything is written.
 */
export function checkRestoreGaps(items: readonly MemoryToRestore[], method: string): void {
  let between = 0;
  for (let i = 1; i < items.length; i++) between += items[i]!.id! - items[i - 1]!.id! - 1;
  if (between > MAX_PADDING_BETWEEN) {
    throw new MemMapError('RESTORE_GAP_TOO_LARGE', `${method}: the ids from ${items[0]!.id} to ${items.at(-1)!.id} leave ${between} LSNs between them to fill, more than the ${MAX_PADDING_BETWEEN} one call may (its memories are one commit): split the call where the ids are far apart.`);
  }
}

/**
 * Writes `items` back as new memories with their own times, each at its id (the LSN of its record):
 * the LSNs between the end of the log and the first id, and between the ids, are held by padding
 * records (`Reserved`), which apply as nothing. Every append is conditional on the end of the log the
 * padding was counted from (checked under the writer lock), so that a record another process appends
 * meanwhile never shifts a memory off its id: the plan is then made again from the new end, or fails
 * with `MEMORY_ID_TAKEN` once the first id is no longer above it, or with `RESTORE_CONTENDED` once
 * `MAX_REFUSED_APPENDS` appends were refused. The first id is checked against the log before any
 * block is written. The memories are one commit, all or none; padding ahead of them beyond
 * `PADDING_PER_COMMIT` is written first, in commits of its own (a failure after them leaves only
 * padding: no memory, nothing any read returns). Items without ids take the next LSNs, in one commit.
 */
export async function restoreMemories<S extends AgentState>(engine: StoreEngine<S>, items: readonly MemoryToRestore[], method: string): Promise<number[]> {
  const ids = items[0]!.id === undefined ? undefined : items.map((item) => item.id!);
  // Checked before any block is written: a call refused for its ids writes nothing at all.
  if (ids) {
    await engine.catchUp();
    checkAboveLog(ids[0]!, engine.lastLsn, method, false);
  }
  const blocks = await engine.writeBlocks(items.map((item) => item.bytes));
  try {
    const puts: LogRecord[] = items.map((item, i) => ({
      type: RecordType.MemoryPut,
      copy: blocks[i]!.copy,
      memory: {
        id: 0, ref: blocks[i]!.ref, tags: item.tags, namespace: item.namespace, meta: item.meta, createdAt: item.createdAt, updatedAt: item.updatedAt, expiresAt: item.expiresAt,
        ...(item.embedding ? { embedding: item.embedding } : {}),
      },
    }));
    if (!ids) return await engine.commit(puts, blocks);
    let padded = false;
    let refused = 0;
    for (;;) {
      if (refused >= MAX_REFUSED_APPENDS) {
        throw new MemMapError('RESTORE_CONTENDED', `${method}: other processes appended to the log between this call's plan and its append ${refused} times over, so it gave up: none of its memories was written${padded ? ' (only padding, which holds LSNs and nothing else)' : ''}. Try again when fewer processes write to the store, or restore without ids (new ids).`);
      }
      await engine.catchUp();
      const end = engine.lastLsn;
      checkAboveLog(ids[0]!, end, method, padded);
      const before = ids[0]! - 1 - end;
      if (before > PADDING_PER_COMMIT) {
        // Ahead of the memories, a commit of padding alone (refused if the log moved: then counted again).
        if (await commitAt(engine, end, padding(Math.min(PADDING_PER_COMMIT, before - PADDING_PER_COMMIT)), undefined)) padded = true;
        else refused++;
        continue;
      }
      const records = padding(before);
      const at: number[] = [];
      for (const [i, put] of puts.entries()) {
        if (i > 0) for (let lsn = ids[i - 1]! + 1; lsn < ids[i]!; lsn++) records.push(reserved);
        at.push(records.length);
        records.push(put);
      }
      const lsns = await commitAt(engine, end, records, blocks);
      if (lsns === undefined) {
        refused++;
        continue;
      }
      const written = at.map((index) => lsns[index]!);
      // (The check made the end of the log the one counted from: each memory is at its id.)
      if (written.some((lsn, i) => lsn !== ids[i])) throw new MemMapError('WAL_FAILED', `${method}: the log gave the memories LSNs ${written.join(', ')} where ${ids.join(', ')} were counted on.`, { subsystem: 'wal' });
      return written;
    }
  } finally {
    for (const block of blocks) block.release();
  }
}

/** Appends `records` if the log still ends at `end` under the writer lock: their LSNs, or `undefined` when it moved. */
async function commitAt<S extends AgentState>(engine: StoreEngine<S>, end: number, records: LogRecord[], blocks: readonly WrittenBlock[] | undefined): Promise<number[] | undefined> {
  const moved = new Error('the log moved');
  try {
    return await engine.commit(records, blocks, () => {
      if (engine.lastLsn !== end) throw moved;
    });
  } catch (error) {
    if ((error as MemMapError).cause === moved) return undefined;
    throw error;
  }
}

function padding(count: number): LogRecord[] {
  return new Array<LogRecord>(count).fill(reserved);
}

/**
 * Throws `MEMORY_ID_TAKEN` when `id` is not above `end`, the last record of the log, and
 * `RESTORE_GAP_TOO_LARGE` when it is more than `MAX_PADDING_BEFORE` above it. `padded`: this call
 * already committed padding (which holds LSNs, nothing else).
 */
function checkAboveLog(id: number, end: number, method: string, padded: boolean): void {
  const written = padded ? 'None of its memories was written (only padding, which holds LSNs and nothing else).' : 'Nothing was written.';
  if (id <= end) {
    throw new MemMapError('MEMORY_ID_TAKEN', `${method}: id ${id} is not above the last record of the log (${end}): a record holds it or held it, and ids are never reused. ${written} Restore into a store whose log ends below the first id (a new one), or without ids.`);
  }
  if (id - 1 - end > MAX_PADDING_BEFORE) {
    throw new MemMapError('RESTORE_GAP_TOO_LARGE', `${method}: id ${id} is ${id - end} above the last record of the log (${end}); at most ${MAX_PADDING_BEFORE + 1} can be filled with padding (every LSN skipped is a record of the log). ${written} Restore into a store whose log ends nearer to the ids, or without ids (new ids: \`memmapfs import --ids new\`).`);
  }
}
