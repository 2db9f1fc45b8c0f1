import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { ChunkNumberRange } from '@memmapfs/blocks';
import { createFileDurably, type WalRecord } from '@memmapfs/wal';
import { MemMapError } from '../errors.js';
import type { StoreFileSystem } from '../types.js';
import type { BlockReferences } from './block-references.js';
import { RecordType, type LogRecord } from './log-records.js';

/** Chunk numbers one host cache claims: 4,096 chunk files (of up to 1 GiB each). */
export const HOST_CHUNKS = 4096;
/** Chunk numbers are 32-bit (a checkpoint row holds them so). */
const CHUNK_NUMBERS = 2 ** 32;
/** Claims refused in a row (other hosts claimed first each time) before the open gives up. */
const MAX_CLAIM_TRIES = 100;
const FORMAT = 2;

/** What claiming chunk numbers needs of the engine. */
export interface HostChunksSite {
  readonly references: BlockReferences;
  readonly logId: string;
  /**
   * Commits `records` only if `holds()` is true under the log's writer lock, with every change
   * committed before it applied; resolves with their LSNs, or `undefined` when refused.
   */
  commitWhen(records: LogRecord[], holds: () => boolean): Promise<number[] | undefined>;
  /** The record at `lsn`, decoded, or `undefined` when the log does not hold it. */
  recordAt(lsn: number): Promise<LogRecord | undefined>;
}

/** This host cache as `<root>/host.json` describes it (see `hostChunks`). */
export interface HostCache {
  readonly logId: string;
  /** A random name of this cache, in its claim's record: a claim of another cache is never taken for its own. */
  readonly cache: string;
  readonly first: number;
  readonly end: number;
  /** The LSN of the claim's record. */
  readonly claimLsn: number;
}

/**
 * Reads `<root>/host.json` and says whether it describes this very cache: written here, for log
 * `logId`, on this host (by name), in this folder (the device and inode of its `blocks/` folder). A
 * cache copied to another machine or another folder is not: it claims numbers of its own, and its
 * checkpoint is not trusted either (its chunk files may be older than its checkpoint).
 */
export async function readHostCache(path: string, blocksFolder: string, files: StoreFileSystem, logId?: string): Promise<HostCache | undefined> {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse((await files.readFile(path)).toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const { cache, host, first, end, claimLsn, device, inode } = parsed;
  if (parsed.format !== FORMAT || typeof parsed.logId !== 'string' || typeof cache !== 'string' || typeof host !== 'string' || typeof device !== 'string' || typeof inode !== 'string') return undefined;
  if (!isChunkRange(first, end) || !Number.isSafeInteger(claimLsn) || (claimLsn as number) < 1) return undefined;
  if (logId !== undefined && parsed.logId !== logId) return undefined;
  const here = await folderIdentity(blocksFolder);
  if (host !== hostname() || here === undefined || here.device !== device || here.inode !== inode) return undefined;
  return { logId: parsed.logId, cache, first: first as number, end: end as number, claimLsn: claimLsn as number };
}

/**
 * The chunk numbers this host cache places its blocks in, in a store whose log hosts share and whose
 * chunk files each host keeps for itself (every host writes the blocks of other hosts' records where
 * their references say: see `BlockStore.materialize`). Claimed once per cache through the log (a
 * `ChunksClaimed` record naming the cache, committed only while no other claim reaches those numbers,
 * whose first chunk's first byte stays referenced, so checkpoints remember it) and kept in
 * `<root>/host.json`. The saved claim is taken only if the log holds its very record. Either way the
 * log's writer lock is taken once first, so that every commit under way when this host last stopped
 * (a process killed, a power loss) is applied, its block written from its copy, before any block is
 * placed here again.
 */
export async function hostChunks(site: HostChunksSite, path: string, blocksFolder: string, files: StoreFileSystem, saved: HostCache | undefined): Promise<ChunkNumberRange> {
  if (saved && saved.logId === site.logId) {
    await site.commitWhen([{ type: RecordType.ChunksClaimed, first: saved.first, end: saved.end, cache: saved.cache }], () => false);
    const record = await site.recordAt(saved.claimLsn);
    if (record?.type === RecordType.ChunksClaimed && record.first === saved.first && record.end === saved.end && record.cache === saved.cache) return { first: saved.first, end: saved.end };
  }
  const cache = randomBytes(8).toString('hex');
  for (let tries = 0; tries < MAX_CLAIM_TRIES; tries++) {
    // (A refused claim applied every claim committed before it: the next try counts from there.)
    const first = nextFreeChunks(site.references.lastChunk());
    if (first + HOST_CHUNKS > CHUNK_NUMBERS) throw exhausted();
    const lsns = await site.commitWhen([{ type: RecordType.ChunksClaimed, first, end: first + HOST_CHUNKS, cache }], () => nextFreeChunks(site.references.lastChunk()) === first);
    if (lsns === undefined) continue;
    const identity = await folderIdentity(blocksFolder);
    if (identity) {
      // (Lost in a crash before the write: the next open claims again; the numbers claimed here stay unused.)
      const file = { format: FORMAT, logId: site.logId, cache, host: hostname(), ...identity, first, end: first + HOST_CHUNKS, claimLsn: lsns[0] };
      await createFileDurably(path, Buffer.from(JSON.stringify(file)), files);
    }
    return { first, end: first + HOST_CHUNKS };
  }
  throw new MemMapError('LOCK_TIMEOUT', `Other hosts claimed chunk numbers ${MAX_CLAIM_TRIES} times in a row while this one tried to: open the store again.`, { subsystem: 'blocks' });
}

function exhausted(): MemMapError {
  return new MemMapError('IO_ERROR', `Every chunk number of the store's log is claimed by a host cache (${CHUNK_NUMBERS / HOST_CHUNKS} were opened for writing): start a new log.`, { subsystem: 'blocks' });
}

/** The first chunk number after every claimed (and referenced) one, at a claim's boundary. */
function nextFreeChunks(lastChunk: number): number {
  return lastChunk < 0 ? 0 : (Math.floor(lastChunk / HOST_CHUNKS) + 1) * HOST_CHUNKS;
}

function isChunkRange(first: unknown, end: unknown): boolean {
  return Number.isSafeInteger(first) && Number.isSafeInteger(end) && (first as number) >= 0 && (end as number) > (first as number) && (end as number) <= CHUNK_NUMBERS;
}

/** The device and inode of a folder, as strings (a copy of the folder has others). */
async function folderIdentity(folder: string): Promise<{ device: string; inode: string } | undefined> {
  const stats = await stat(folder, { bigint: true }).catch(() => undefined);
  return stats ? { device: String(stats.dev), inode: String(stats.ino) } : undefined;
}

/** The first record `readFrom` yields, if it is the one at `lsn`. */
export async function firstRecordAt(records: AsyncIterableIterator<WalRecord>, lsn: number): Promise<WalRecord | undefined> {
  try {
    const next = await records.next();
    return !next.done && next.value.lsn === lsn ? next.value : undefined;
  } finally {
    await records.return?.();
  }
}
