import { readFileSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ChunkNumberRange } from '@memmapfs/blocks';
import { createFileDurably, syncFolder, type WalRecord } from '@memmapfs/wal';
import type { CacheOpen } from '../checkpoint/checkpoint-file.js';
import { checkpointFileLsn } from '../checkpoint/checkpoint-manifest.js';
import { MemMapError } from '../errors.js';
import type { StoreFileSystem } from '../types.js';
import type { BlockReferences } from './block-references.js';
import { withFileLock } from './file-lock.js';
import { RecordType, type LogRecord } from './log-records.js';
import { randomHex } from '../random-hex.js';

/** Chunk numbers one host cache claims: 4,096 chunk files (of up to 1 GiB each). */
const HOST_CHUNKS = 4096;
/** Chunk numbers are 32-bit (a checkpoint row holds them so). */
const CHUNK_NUMBERS = 2 ** 32;
/** Claims refused in a row (other hosts claimed first each time) before the open gives up. */
const MAX_CLAIM_TRIES = 100;
const FORMAT = 3;
/** `host.json` of a cache that claimed chunk numbers more than once (`earlier`): a release that cannot keep them reads it as no cache of its own. */
const FORMAT_WITH_EARLIER = 4;
/** Nonces of opens cut short that `host.json` remembers (processes of one host that crashed in a row while opening). */
const MAX_PENDING = 16;

/** What claiming chunk numbers needs of the engine. */
export interface HostChunksSite {
  readonly references: BlockReferences;
  readonly logId: string;
  /** The last record applied in this process (or covered by its checkpoint) that claimed or opened cache `cache`, if any. */
  lastOpenOf(cache: string): CacheOpen | undefined;
  /**
   * Says which cache this process opens, and the nonce of its open (none for a claim), before its record
   * is committed: a later open of the same cache under another nonce is then another process's.
   */
  opening(cache: string, nonce: string | undefined): void;
  /**
   * Commits `records` only if `holds()` is true under the log's writer lock, with every change
   * committed before it applied; resolves with their LSNs, or `undefined` when refused.
   */
  commitWhen(records: LogRecord[], holds: () => boolean): Promise<number[] | undefined>;
  /**
   * The record at `lsn`, decoded; `'dropped'` when the log no longer holds it but holds later ones
   * (retention behind a snapshot); `undefined` when the log never held it (nothing there or after).
   */
  recordAt(lsn: number): Promise<LogRecord | 'dropped' | undefined>;
}

/** This host cache as `<root>/host.json` describes it (see `hostChunks`). */
export interface HostCache {
  readonly logId: string;
  /** A random name of this cache, in its records: a claim of another cache is never taken for its own. */
  readonly cache: string;
  readonly first: number;
  readonly end: number;
  /** The LSN of the last record that claimed or opened this cache: the log's word that it is this one. */
  readonly openedLsn: number;
  /** The nonce of that open (none: it was the claim). */
  readonly nonce?: string;
  /**
   * The nonces of opens under way or cut short (each written before its record is committed, kept until
   * an open completes): a record carrying one of them is this cache's too. The last `MAX_PENDING`.
   */
  readonly pending?: readonly string[];
  /** Chunk numbers the cache claimed before `first`–`end` (which it used up): still its own. */
  readonly earlier?: readonly ChunkNumberRange[];
}

/** The chunk numbers of this host cache: the range it places new chunks in, and those it used up before. */
export interface OwnChunks extends ChunkNumberRange {
  readonly earlier: readonly ChunkNumberRange[];
}

/** Whether chunk `chunk` is among `own`'s chunk numbers, the current range or an earlier one. */
export function ownsChunk(own: OwnChunks, chunk: number): boolean {
  return (chunk >= own.first && chunk < own.end) || own.earlier.some((range) => chunk >= range.first && chunk < range.end);
}

/** Where a host cache keeps what `hostChunks` reads and writes. */
export interface HostCachePaths {
  readonly root: string;
  /** `host.json`. */
  readonly host: string;
  readonly blocks: string;
  /** The checkpoint manifest, dropped with `host.json` when the log does not vouch for the cache. */
  readonly manifest: string;
  /** The checkpoint files, dropped with it. */
  readonly checkpoints: string;
}

/**
 * The log does not vouch for the cache `host.json` describes: another copy of it opened since, or the
 * log does not hold its records. The open is made again with the cache's checkpoint and claim dropped.
 */
export class CacheNotVouched extends Error {
  constructor() {
    super('The shared log does not vouch for this host cache: it is opened again as a new one.');
  }
}

/** Another process of this host dropped or replaced the cache's `host.json` while this one opened: the open is made again. */
export class CacheChanged extends Error {
  constructor() {
    super('Another process of this host opened this cache anew while this one opened it: it is opened again.');
  }
}

/**
 * Reads `<root>/host.json` and says whether it may describe this very cache: written for this host
 * name and this folder (the device and inode of its `blocks/` folder). A cache copied to another
 * machine or another folder is not (its checkpoint is not trusted either: its chunk files may be older
 * than it); the log has the last word (`hostChunks`).
 */
export async function readHostCache(path: string, blocksFolder: string, files: StoreFileSystem): Promise<HostCache | undefined> {
  let text: string;
  try {
    text = (await files.readFile(path)).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // (Not taken for a missing file: that would drop the cache's checkpoint over a passing read error.)
    throw new MemMapError('IO_ERROR', `Cannot read ${path}: ${(error as Error).message}`, { cause: error, subsystem: 'blocks' });
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  return hostCacheOf(parsed, await folderIdentity(blocksFolder));
}

/**
 * The cache a parsed `host.json` describes, if it is well formed and was written for this host name
 * and for the folder whose identity is `here` (the `blocks/` folder's device and inode).
 */
function hostCacheOf(parsed: Record<string, unknown>, here: { device: string; inode: string } | undefined): HostCache | undefined {
  const { logId, cache, host, first, end, openedLsn, device, inode, nonce, pending, earlier } = parsed;
  if ((parsed.format !== FORMAT && parsed.format !== FORMAT_WITH_EARLIER) || typeof logId !== 'string' || typeof cache !== 'string' || typeof host !== 'string' || typeof device !== 'string' || typeof inode !== 'string') return undefined;
  if (!isChunkRange(first, end) || !Number.isSafeInteger(openedLsn) || (openedLsn as number) < 1) return undefined;
  if ((nonce !== undefined && typeof nonce !== 'string') || (pending !== undefined && !isNonceList(pending))) return undefined;
  if (earlier !== undefined && !(Array.isArray(earlier) && earlier.every((range) => Array.isArray(range) && range.length === 2 && isChunkRange(range[0], range[1])))) return undefined;
  if (host !== hostname() || here === undefined || here.device !== device || here.inode !== inode) return undefined;
  return {
    logId, cache, first: first as number, end: end as number, openedLsn: openedLsn as number,
    ...(nonce === undefined ? {} : { nonce }),
    ...(pending === undefined ? {} : { pending: pending as string[] }),
    ...(earlier === undefined ? {} : { earlier: (earlier as Array<[number, number]>).map(([from, to]) => ({ first: from, end: to })) }),
  };
}

/**
 * The chunk numbers this host cache places its blocks in, in a store whose log hosts share and whose
 * chunk files each host keeps for itself (every host writes the blocks of other hosts' records where
 * their references say: see `BlockStore.materialize`). Claimed once per cache through the log (a
 * `ChunksClaimed` record naming the cache, committed only while no other claim reaches those numbers,
 * whose first chunk's first byte stays referenced, so checkpoints remember it) and kept in
 * `<root>/host.json`. Each later open commits a `CacheOpened` record with a nonce of its own, only if
 * the last record that claimed or opened the cache is the one `host.json` names (or the open whose
 * nonce it names as under way: one that committed before a crash). A copy of the folder that opened
 * since (a disk cloned with the same host name) makes this open fail with `CacheNotVouched`, after the
 * cache's checkpoint manifest and `host.json` are dropped. The nonce is in `host.json` before the
 * record is committed, so that a running process of this host that applies the record knows it for a
 * sibling's (see `isOwnOpen`). Either way the log's writer lock is taken first, so that every commit
 * under way when this host last stopped (a process killed, a power loss) is applied, its block written
 * from its copy, before any block is placed here again. Call it with the processes of this host kept
 * out (a lock on the cache).
 */
export async function hostChunks(site: HostChunksSite, paths: HostCachePaths, files: StoreFileSystem, trusted: string | undefined): Promise<OwnChunks> {
  const saved = await readHostCache(paths.host, paths.blocks, files);
  // The open took its checkpoint on the word of host.json as it read it before this lock: another
  // process of the host changed it since (dropped the cache, claimed another): the open starts again.
  if (trusted !== undefined && (saved?.cache !== trusted || saved.logId !== site.logId)) throw new CacheChanged();
  if (saved && saved.logId === site.logId) {
    // (A record retention dropped was applied before it went, here or in the checkpoint this open
    // started from: the cache's last open, checked below, stands for it.)
    const record = await site.recordAt(saved.openedLsn);
    const named = record === 'dropped' || (record !== undefined && (record.type === RecordType.ChunksClaimed || record.type === RecordType.CacheOpened) && record.cache === saved.cache);
    const claimed = record === 'dropped' || record?.type !== RecordType.ChunksClaimed || (record.first === saved.first && record.end === saved.end);
    let lsns: number[] | undefined;
    if (named && claimed) {
      const nonce = randomHex(8);
      // (A crash after the commit leaves this behind: the next open knows the record for this cache's.)
      const pending = [...(saved.pending ?? []), nonce].slice(-MAX_PENDING);
      await writeHostFile(paths, files, { ...saved, pending });
      site.opening(saved.cache, nonce);
      lsns = await site.commitWhen([{ type: RecordType.CacheOpened, cache: saved.cache, nonce }], () => {
        const last = site.lastOpenOf(saved.cache);
        return last !== undefined && (last.lsn === saved.openedLsn || (last.nonce !== undefined && saved.pending?.includes(last.nonce) === true));
      });
      if (lsns !== undefined) {
        await writeHostFile(paths, files, { logId: saved.logId, cache: saved.cache, first: saved.first, end: saved.end, openedLsn: lsns[0]!, nonce, ...(saved.earlier ? { earlier: saved.earlier } : {}) });
        return { first: saved.first, end: saved.end, earlier: saved.earlier ?? [] };
      }
    }
    // Another copy of this cache opened since, or the log lost its records: the open starts again as a
    // new cache, its checkpoint dropped (its chunk files are rewritten from the log).
    await dropHostCache(paths, files);
    throw new CacheNotVouched();
  }
  const cache = randomHex(8);
  site.opening(cache, undefined);
  const { first, lsn } = await claimChunks(site, cache, undefined);
  // (Lost in a crash before the write: the next open claims again; the numbers claimed here stay unused.)
  await writeHostFile(paths, files, { logId: site.logId, cache, first, end: first + HOST_CHUNKS, openedLsn: lsn });
  return { first, end: first + HOST_CHUNKS, earlier: [] };
}

/**
 * This host cache (`cache`) used up the chunk numbers `used` gives: claims the next free ones through
 * the log, as `hostChunks` claimed the first, with a nonce written to `host.json` before the record is
 * committed (so that the host's running processes know it for a sibling's), and keeps the range used
 * up in `host.json` (`earlier`): still the cache's own. When another process of the host claimed more
 * already, takes those. Call it with the processes of this host kept out (a lock on the cache).
 */
export async function claimMoreChunks(site: HostChunksSite, paths: HostCachePaths, files: StoreFileSystem, cache: string, used: OwnChunks): Promise<OwnChunks> {
  const saved = await readHostCache(paths.host, paths.blocks, files);
  if (saved?.cache !== cache || saved.logId !== site.logId) {
    throw new MemMapError('STORE_REPLACED', `This host cache (${paths.root}) was opened anew by another process while this one ran (host.json names another cache): close the store and open it again.`, { subsystem: 'blocks' });
  }
  if (saved.first !== used.first) return { first: saved.first, end: saved.end, earlier: saved.earlier ?? [] };
  const nonce = randomHex(8);
  await writeHostFile(paths, files, { ...saved, pending: [...(saved.pending ?? []), nonce].slice(-MAX_PENDING) });
  const { first, lsn } = await claimChunks(site, cache, nonce);
  const earlier = [...(saved.earlier ?? []), { first: saved.first, end: saved.end }];
  await writeHostFile(paths, files, { logId: saved.logId, cache, first, end: first + HOST_CHUNKS, openedLsn: lsn, nonce, earlier });
  return { first, end: first + HOST_CHUNKS, earlier };
}

/** Commits a claim of the next `HOST_CHUNKS` free chunk numbers for cache `cache`; resolves with the first and the record's LSN. */
async function claimChunks(site: HostChunksSite, cache: string, nonce: string | undefined): Promise<{ first: number; lsn: number }> {
  for (let tries = 0; tries < MAX_CLAIM_TRIES; tries++) {
    // (A refused claim applied every claim committed before it: the next try counts from there.)
    const first = nextFreeChunks(site.references.lastChunk());
    if (first + HOST_CHUNKS > CHUNK_NUMBERS) {
      throw new MemMapError('IO_ERROR', `Every chunk number of the store's log is claimed by a host cache (${CHUNK_NUMBERS / HOST_CHUNKS} claims were made): start a new log.`, { subsystem: 'blocks' });
    }
    const lsns = await site.commitWhen([{ type: RecordType.ChunksClaimed, first, end: first + HOST_CHUNKS, cache, ...(nonce === undefined ? {} : { nonce }) }], () => nextFreeChunks(site.references.lastChunk()) === first);
    if (lsns !== undefined) return { first, lsn: lsns[0]! };
  }
  throw new MemMapError('LOCK_TIMEOUT', `Other hosts claimed chunk numbers ${MAX_CLAIM_TRIES} times in a row while this one tried to: try again.`, { subsystem: 'blocks' });
}

/**
 * Whether the open of this process's cache `cache` at `open.lsn`, which this process did not commit,
 * was made by a process of this host on this folder (a sibling), by what `host.json` says now: a
 * sibling wrote its nonce there before committing, and each later open of the folder keeps or raises
 * `openedLsn`. A copy of the folder elsewhere (a disk cloned while this one ran) writes its own
 * `host.json`: this one then names an older open, or another cache, or is gone. Synchronous (it runs as
 * the record is applied, before anything else of this process is committed): one small read, on an
 * event as rare as another process opening the cache. A file that cannot be read says no.
 */
export function isOwnOpen(paths: HostCachePaths, cache: string, open: CacheOpen): boolean {
  let saved: HostCache | undefined;
  try {
    const here = statSync(paths.blocks, { bigint: true });
    saved = hostCacheOf(JSON.parse(readFileSync(paths.host, 'utf8')) as Record<string, unknown>, { device: String(here.dev), inode: String(here.ino) });
  } catch {
    return false;
  }
  if (saved?.cache !== cache) return false;
  return saved.openedLsn >= open.lsn || (open.nonce !== undefined && (saved.nonce === open.nonce || saved.pending?.includes(open.nonce) === true));
}

/**
 * Drops this host cache's checkpoint manifest and `host.json`, so that the next open makes it again as
 * a new cache from the shared log (its chunk files rewritten from the log); unless `stillStale` says
 * they changed since the drop was decided: then `CacheChanged`, and the open is made again. Call it
 * with the processes of this host kept out (a lock on the cache).
 */
export async function dropHostCache(paths: HostCachePaths, files: StoreFileSystem, stillStale?: () => Promise<boolean>): Promise<void> {
  await dropCheckpoints(paths, files, stillStale);
  await removeIfPresent(paths.host, files);
  await syncFolder(paths.root, files);
}

/**
 * Drops this host cache's checkpoint manifest and checkpoint files, which the cache does not vouch for
 * (a copy's, or another log's): the open replays the log instead. `stillStale` is asked under the
 * manifest's lock whether the manifest is still the one the drop was decided on: false (another process
 * of the host published one, or dropped it, meanwhile) throws `CacheChanged`, and the open is made
 * again; `undefined` (it cannot tell) drops nothing. Returns whether it dropped them.
 */
export async function dropCheckpoints(paths: HostCachePaths, files: StoreFileSystem, stillStale?: () => Promise<boolean | undefined>): Promise<boolean> {
  // (Under the manifest's lock: a checkpoint a process of this host publishes meanwhile is dropped too.
  // With `stillStale`, a drop decided from what was read before the lock is made only if that still holds.)
  const dropped = await withFileLock(`${paths.manifest}.lock`, files, async () => {
    const stale = stillStale ? await stillStale() : true;
    if (stale === undefined) return false;
    if (!stale) throw new CacheChanged();
    // The checkpoint files first, durably: none may be taken again in place of a later manifest's (as an
    // older checkpoint of the same log is when the one named is unusable), and once the manifest is gone
    // no open finds a checkpoint to drop them for. A manifest left naming a removed file is read as none.
    const names = await files.readdir(paths.checkpoints).catch(() => [] as string[]);
    const removed = names.filter((name) => checkpointFileLsn(name) !== undefined);
    for (const name of removed) await removeIfPresent(join(paths.checkpoints, name), files);
    if (removed.length > 0) await syncFolder(paths.checkpoints, files);
    await removeIfPresent(paths.manifest, files);
    return true;
  });
  if (dropped) await syncFolder(paths.root, files);
  return dropped;
}

async function removeIfPresent(path: string, files: StoreFileSystem): Promise<void> {
  try {
    await files.unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new MemMapError('IO_ERROR', `Cannot remove ${path}: ${(error as Error).message}`, { cause: error, subsystem: 'blocks' });
  }
}

async function writeHostFile(paths: HostCachePaths, files: StoreFileSystem, cache: HostCache): Promise<void> {
  const identity = await folderIdentity(paths.blocks);
  if (!identity) throw new MemMapError('IO_ERROR', `Cannot read the identity of ${paths.blocks} for ${paths.host}.`, { subsystem: 'blocks' });
  const { logId, first, end, openedLsn, nonce, pending, earlier } = cache;
  const file = {
    format: earlier === undefined || earlier.length === 0 ? FORMAT : FORMAT_WITH_EARLIER, logId, cache: cache.cache, host: hostname(), ...identity, first, end, openedLsn,
    ...(nonce === undefined ? {} : { nonce }),
    ...(pending === undefined ? {} : { pending }),
    ...(earlier === undefined || earlier.length === 0 ? {} : { earlier: earlier.map((range) => [range.first, range.end]) }),
  };
  await createFileDurably(paths.host, Buffer.from(JSON.stringify(file)), files);
}

/** The first chunk number after every claimed (and referenced) one, at a claim's boundary. */
function nextFreeChunks(lastChunk: number): number {
  return lastChunk < 0 ? 0 : (Math.floor(lastChunk / HOST_CHUNKS) + 1) * HOST_CHUNKS;
}

function isNonceList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isChunkRange(first: unknown, end: unknown): boolean {
  return Number.isSafeInteger(first) && Number.isSafeInteger(end) && (first as number) >= 0 && (end as number) > (first as number) && (end as number) <= CHUNK_NUMBERS;
}

/** The device and inode of a folder, as strings (a copy of the folder has others). */
async function folderIdentity(folder: string): Promise<{ device: string; inode: string } | undefined> {
  const stats = await stat(folder, { bigint: true }).catch(() => undefined);
  return stats ? { device: String(stats.dev), inode: String(stats.ino) } : undefined;
}

/**
 * The first record `readFrom` yields, if it is the one at `lsn`; `'dropped'` when the log yields a
 * later one first (it no longer holds `lsn`); `undefined` when it yields none.
 */
export async function firstRecordAt(records: AsyncIterableIterator<WalRecord>, lsn: number): Promise<WalRecord | 'dropped' | undefined> {
  try {
    const next = await records.next();
    if (next.done) return undefined;
    return next.value.lsn === lsn ? next.value : next.value.lsn > lsn ? 'dropped' : undefined;
  } finally {
    await records.return?.();
  }
}
