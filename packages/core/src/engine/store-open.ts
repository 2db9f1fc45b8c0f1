import * as nodeFileSystem from 'node:fs/promises';
import { dirname } from 'node:path';
import { chunkStore, type BlockStore } from '@memmapfs/blocks';
import { describeThrown, fileWal, syncFolder, type LogSnapshot, type WalHeader, type WalPosition, type WriteAheadLog } from '@memmapfs/wal';
import type { Codec } from '../contracts/codec.js';
import { MemMapError } from '../errors.js';
import { deferSearchProvider, deferStoreSearchProvider, prefetchCodec, resolveCodec } from '../registry/provider-registry.js';
import type { AgentState, MemMapFSOptions, StoreFileSystem } from '../types.js';
import { CheckpointStore } from '../checkpoint/checkpoint-store.js';
import { readManifest } from '../checkpoint/checkpoint-manifest.js';
import { installSnapshot } from '../checkpoint/store-snapshot.js';
import type { CheckpointTables } from '../checkpoint/checkpoint-file.js';
import { toMemMapError } from './error-mapping.js';
import { blockRefsOf, decodeRecord } from './log-records.js';
import { readSearchSnapshotProvider } from './search-snapshot.js';
import { filesWithoutLog, lostLogError } from './lost-log.js';
import { storeLayout, type StoreLayout } from './store-layout.js';
import { restoreLostBlocks, ReferencedRangeLog, UncheckpointedCopies } from './block-recovery.js';
import { CacheChanged, CacheNotVouched, dropCheckpoints, dropHostCache, hostChunks, isOwnOpen, readHostCache } from './host-chunks.js';
import { withFileLock } from './file-lock.js';
import { HOST_LOCK_WAIT_MS, StoreEngine, type BlockSyncDemand } from './store-engine.js';

/** Default of `autoSnapshot.everyRecords`. */
const AUTO_SNAPSHOT_EVERY_RECORDS = 100_000;
/** Default of `autoCompaction.minDeadBytes`. */
const AUTO_COMPACTION_MIN_DEAD_BYTES = 16 * 1024 * 1024;

/**
 * Opens or creates the store at `root`: maps the last checkpoint and replays the log after it. Should
 * another process publish a newer checkpoint and drop the log the older one needed while this one
 * opens, it opens again from the newer one.
 */
export async function openStoreEngine<S extends AgentState>(root: string, options: MemMapFSOptions, initialState: S): Promise<StoreEngine<S>> {
  /** A read-only open whose cache the log does not vouch for reads the log alone (it cannot drop the cache). */
  let ignoreCache = false;
  /** The log's identity, once a try found the checkpoint it took (with no manifest to say) to be another log's. */
  let wanted: { logId: string } | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await openOnce(root, options, initialState, ignoreCache, wanted);
    } catch (error) {
      if (error instanceof CacheNotVouched && options.readOnly === true) ignoreCache = true;
      if (error instanceof CheckpointOfAnotherLog) wanted = error.wanted;
      const retry = isRetriedOpen(error);
      if (!retry || attempt >= 5) {
        // (A search provider instance of the caller's is left open by a try that is retried: the open gives up here.)
        if (retry && options.search !== undefined && typeof options.search === 'object') await Promise.resolve((options.search as { close?: () => unknown }).close?.()).catch(() => undefined);
        if (error instanceof CacheNotVouched || error instanceof CacheChanged) throw new MemMapError('IO_ERROR', `${error.message} (It was not, after ${attempt} tries: other processes keep opening copies of this cache.)`);
        throw error instanceof CheckpointOvertaken || error instanceof CheckpointOfAnotherLog ? error.reason : error;
      }
    }
  }
}

/**
 * One try of `openStoreEngine`: opens the blocks and the log, takes the tables from the checkpoint, and
 * replays the records after it under the log's writer lock (the log hands them over as it recovers).
 */
async function openOnce<S extends AgentState>(root: string, options: MemMapFSOptions, initialState: S, ignoreCache: boolean, wanted: { logId: string } | undefined): Promise<StoreEngine<S>> {
  const layout = storeLayout(root);
  const files = options.fileSystem ?? nodeFileSystem;
  const remote = options.wal !== undefined;
  // (Most stores use the default codec: its import overlaps with the reads below.)
  if (options.codec === undefined) prefetchCodec('msgpack');
  /** How messages name the log. */
  const theLog = remote ? `The shared log of ${root}` : `The log at ${layout.wal}`;
  const readOnly = options.readOnly === true;
  // With a log elsewhere, the root is this host's cache: made when missing, whatever the log holds.
  const present = (path: string) => nodeFileSystem.stat(path).then(() => true, () => false);
  const exists = await present(remote ? layout.checkpoints : layout.wal);
  // A folder holds one kind of store: a local one's blocks are not a cache others may write into.
  if (remote && ((await present(layout.wal)) || (await present(layout.head)))) {
    throw new MemMapError('INVALID_ARGUMENT', `${root} holds a local store (state.wal): a store on a shared log needs a folder of its own for this host's cache. Copy the local store's memories into it with exportMemories/restoreMemories (\`memmapfs export\`, \`memmapfs import\`).`);
  }
  if (!remote && !exists && (await present(layout.host))) {
    throw new MemMapError('INVALID_ARGUMENT', `${root} is a host's cache of a store on a shared log (host.json): open it with the same wal option (e.g. postgresWal({ connectionString, store })).`);
  }
  if (!remote && !exists) {
    // (A log missing beside the rest of a store is a lost log, never an empty folder to start over in.)
    const found = await filesWithoutLog(layout);
    if (found.length > 0) throw lostLogError(layout, found);
  }
  if (!remote && !exists && (options.create === false || readOnly)) {
    const isFile = await nodeFileSystem.stat(root).then((stat) => stat.isFile(), () => false);
    if (isFile) throw new MemMapError('STORE_NOT_FOUND', `No store at ${root}: it is a file, not a store's folder. Give the folder that holds state.wal.`);
    throw new MemMapError('STORE_NOT_FOUND', `No store at ${root} (no state.wal). Create it with MemMapFS.init(root) or \`memmapfs init\`.`);
  }
  // (Read-only, this host's cache is read, never made: the open that makes it writes a record of its own.)
  if (remote && readOnly && !exists) {
    throw new MemMapError('STORE_NOT_FOUND', `No host cache at ${root} (no checkpoints folder): open the store there once without readOnly, which builds this host's cache from the shared log; read-only opens then read it.`);
  }
  // With no codec option, an existing store's codec is read from its log's header, under the writer
  // lock (recover, below): a header being rewritten by repair is never read half-way.
  // The tables as a checkpoint left them, read in place; the log is read from the record after it. (Its
  // reads start now, to overlap with those below: each is a trip through the I/O thread pool.)
  // (With a shared log, which write of the manifest is there before it is read: a cache found ahead of
  // the log is dropped only if no process of the host wrote or removed the manifest since.)
  const manifestSeen = remote && exists && !readOnly ? await manifestVersion(layout.manifest, files) : undefined;
  const checkpointRead = exists ? new CheckpointStore(layout.checkpoints, layout.manifest, files, options.reader ?? 'auto').find(wanted?.logId) : Promise.resolve(undefined);
  checkpointRead.catch(() => undefined);
  // (A new local store's default codec too, before anything is made: an open that fails for want of it
  // leaves no store behind, of a codec the next open with another one would then refuse.)
  let codec: Codec | undefined = options.codec === undefined ? undefined : await resolveCodec(options.codec);
  // (Only to make the log with: another process may make it first, with its own codec, which is then this store's.)
  const newStoreCodec = codec === undefined && !exists && !remote && !readOnly ? await resolveCodec(undefined) : undefined;
  // The adapter is imported when the index is first needed, not here: only checked to be installed.
  // Without a search option, an existing store uses the provider its saved index names (its header alone is read).
  const search = options.search !== undefined || !exists
    ? await deferSearchProvider(options.search)
    : await deferStoreSearchProvider(await readSearchSnapshotProvider(layout.searchSnapshot, files));
  const durability = options.durability ?? 'sync';
  let blocks: BlockStore | undefined;
  let wal: WriteAheadLog | undefined;
  const blockSync: BlockSyncDemand = { needed: false };
  const target: { engine?: StoreEngine<S> } = {};
  try {
    // (An existing store has its folders: an open then spends no fsync on them. Derived data's
    // folders are made again by whoever writes there.)
    if (!readOnly && !exists) await createFolders(layout, files);
    // Core talks to the log and the blocks through their contracts only; these are the local files.
    const openBlocks = chunkStore(layout.blocks, { fileSystem: files, ...(options.chunkSizeBytes ? { chunkSize: options.chunkSizeBytes } : {}) });
    const openLog = options.wal ?? fileWal(layout.wal, { fileSystem: files });
    blocks = await openBlocks({
      readOnly,
      reader: options.reader ?? 'auto',
      // Asked when a chunk is chosen for new blocks: first catch up, so that every durable record counts.
      referenced: {
        end: (chunk) => target.engine!.caughtUp().references.end(chunk),
        lastChunk: (below) => target.engine!.caughtUp().references.lastChunk(below),
        // (With a shared log, records arrive late: a retirement committed before the chunk's lock was taken must count.)
        ...(remote ? { beforeAdopt: () => target.engine!.catchUp() } : {}),
      },
      ...(remote ? { chunkNumbers: () => target.engine?.hostBlocks.own ?? noChunkNumbersYet() } : {}),
    });
    let engine: StoreEngine<S> | undefined;
    let lastApplied: WalPosition = { lsn: 0, offset: 0, checksum: 0 };
    // (Taken apart: the callbacks below outlive the open, and must not keep the file mapped once replaced.)
    const { file: found, named: foundNamed, manifestLog } = (await checkpointRead) ?? { file: undefined, named: true, manifestLog: undefined };
    let checkpoint = found;
    /** The checkpoint taken is one no manifest names (the next checkpoint written names one); not once a snapshot takes its place. */
    let takenUnnamed = found !== undefined && !foundNamed;
    // With a shared log, a checkpoint is this very cache's only if host.json says the cache is this
    // one (not a copy, whose chunk files may be older than its checkpoint): else the log is replayed
    // from its first record, every block written from its copy.
    const savedCache = remote && !ignoreCache ? await readHostCache(layout.host, layout.blocks, files) : undefined;
    if (remote && checkpoint && savedCache?.logId !== checkpoint.logId) {
      // (Dropped for good, not just now: a later open, once host.json is written again, must not take it
      // either. Only if the manifest is still the one this open read: another process of the host may
      // have made the cache again and published a checkpoint of its own meanwhile.)
      // (A manifest whose version cannot be read is left as it is: the open replays the log all the same.)
      if (!readOnly && manifestSeen !== undefined) {
        await dropCheckpoints(layout, files, async () => {
          const now = await manifestVersion(layout.manifest, files);
          return now === undefined ? undefined : now === manifestSeen;
        });
      }
      checkpoint = undefined;
    }
    // Its tables are decoded before the log is read after it: one that cannot be is not used, and the
    // log is replayed whole instead.
    let tables: CheckpointTables | undefined;
    let checkpointCodec: Codec | undefined;
    // A checkpoint of another codec than the one asked for is not decoded with it: the log says below
    // whether the open is refused (CODEC_MISMATCH) or the checkpoint is of no use to it.
    let ofAnotherCodec: string | undefined;
    let notDecoded = checkpoint && codec !== undefined && checkpoint.codec !== codec.name ? checkpoint : undefined;
    if (notDecoded) {
      ofAnotherCodec = `The checkpoint ${notDecoded.path} is not used (the open replays the whole log): it was written with the '${notDecoded.codec}' codec, not this log's '${codec!.name}'.`;
      checkpoint = undefined;
    }
    try {
      if (checkpoint) {
        checkpointCodec = codec ?? (await resolveCodec(undefined, checkpoint.codec).catch((error: unknown) => {
          // (A codec this process cannot make: the checkpoint is not decoded, and the log says whether it
          // is another log's, and which codec the store needs.)
          if (MemMapError.is(error, 'PROVIDER_UNKNOWN') || MemMapError.is(error, 'ADAPTER_NOT_INSTALLED')) return undefined;
          throw error;
        }));
        if (checkpointCodec) tables = checkpoint.tables(checkpointCodec);
        else {
          notDecoded = checkpoint;
          checkpoint = undefined;
        }
      }
    } catch (error) {
      if (!MemMapError.is(error, 'CHECKPOINT_CORRUPT')) throw error;
      process.emitWarning(`The checkpoint ${checkpoint!.path} is not used (the open replays the whole log): ${error.message}`, { code: 'MEMMAPFS_CHECKPOINT_UNUSABLE' });
      checkpoint = undefined;
    }
    // (This host's own checkpoint, before a snapshot may take its place: host.json vouched for it.)
    let ownCheckpoint = checkpoint;
    wal = await openLog({
      readOnly,
      ...(remote ? { create: !readOnly && options.create !== false } : {}),
      codec: codec?.name ?? newStoreCodec?.name ?? 'msgpack',
      durability,
      ...(options.batchIntervalMs ? { batchIntervalMs: options.batchIntervalMs } : {}),
      ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}),
      beforeSync: () => {
        if (!blockSync.needed) return;
        blockSync.needed = false;
        return blocks!.sync();
      },
      onCommit: (records) => target.engine?.applyCommitted(records),
      // (A shared log's follower tells of other hosts' records as they arrive: applied at once, so
      // that state subscribers hear of them.)
      onAvailable: () => {
        if (!target.engine?.closing) target.engine?.followed();
      },
      // Under the writer lock: the tables are built from the records as they are read (never all in
      // memory), and blocks a power loss took are put back before anyone places new ones.
      ...(checkpoint ? { resumeAfter: checkpoint.position } : {}),
      // A new host (no checkpoint of its own) starts from the newest snapshot another host published,
      // if the log keeps one: the records before it are never read.
      // Also a host whose checkpoint is older than what the log still holds (retention went past it
      // while it was away): the snapshot takes its checkpoint's place.
      ...(remote && !readOnly ? {
        fromSnapshot: async (snapshot: LogSnapshot, header: WalHeader) => {
          const snapshotCodec = codec ?? (await resolveCodec(undefined, header.codec));
          // (A snapshot dropped while it was read, say, is the log's WalError: a MemMapError, so that the open is retried.)
          const installed = await installSnapshot(snapshot, header, layout.checkpoints, blocks!, snapshotCodec, files, options.reader ?? 'auto').catch((error: unknown) => {
            throw toMemMapError(error);
          });
          if (!installed) return undefined;
          checkpointCodec = snapshotCodec;
          tables = installed.tables(checkpointCodec);
          checkpoint = installed;
          takenUnnamed = false;
          return installed.position;
        },
      } : {}),
      // (With a shared log, what recovery repairs is this host's own chunk files: other hosts need not
      // wait for a long replay, as a new host's first open.)
      ...(remote ? { recoverWithoutLock: true } : {}),
      recover: async (records, header, start) => {
        // (The codec the checkpoint was read with, when it is the log's: not resolved twice.)
        codec ??= checkpointCodec?.name === header.codec ? checkpointCodec : newStoreCodec?.name === header.codec ? newStoreCodec : await resolveCodec(undefined, header.codec);
        if (header.codec !== codec.name) throw codecMismatch(root, header.codec, codec.name);
        // (With no manifest of this log to name one, the newest checkpoint in the folder was taken: another
        // log's may hide this log's own. Once, before any record is read: the next try looks for this log's alone.)
        const taken = checkpoint ?? notDecoded;
        if (!remote && wanted === undefined && (taken ? taken.logId !== header.logId : manifestLog !== undefined && manifestLog !== header.logId)) {
          throw new CheckpointOfAnotherLog({ logId: header.logId }, new MemMapError('WAL_CORRUPT', `The checkpoint ${taken?.path ?? 'state.manifest names'} belongs to log ${taken?.logId ?? manifestLog}, not to the store's log ${header.logId}.`, { subsystem: 'wal' }));
        }
        if (ofAnotherCodec !== undefined) process.emitWarning(ofAnotherCodec, { code: 'MEMMAPFS_CHECKPOINT_UNUSABLE' });
        const auto = options.autoCompaction ?? true;
        const autoCompaction = auto === false ? undefined : auto === true ? AUTO_COMPACTION_MIN_DEAD_BYTES : auto.minDeadBytes ?? AUTO_COMPACTION_MIN_DEAD_BYTES;
        // (With a shared log, history is kept as long as the log keeps its records: see `MemMapFSOptions.wal`.)
        engine = new StoreEngine<S>(layout, blocks!, codec, search, durability, initialState, files, blockSync, options.reader ?? 'auto', remote ? Number.POSITIVE_INFINITY : options.historyRetentionMs ?? Number.POSITIVE_INFINITY, autoCompaction);
        // (With a shared log, every block of the records replayed is written from its copy, this host's
        // own too: what a power loss took is back, and nothing is kept for `restoreLostBlocks`.)
        engine.remote = remote;
        // (Read-only with a shared log, the blocks of the records read are kept in memory, never written;
        // those of the cache's checkpoint are read from its chunk files, as the log vouches for it.)
        if (remote && readOnly) {
          engine.writesCache = false;
          engine.unwritten.keepOnly(!ignoreCache);
        }
        const snapshots = options.autoSnapshot ?? true;
        if (remote && snapshots !== false) engine.snapshots.every = snapshots === true ? AUTO_SNAPSHOT_EVERY_RECORDS : snapshots.everyRecords ?? AUTO_SNAPSHOT_EVERY_RECORDS;
        if (start.after > 0) {
          if (remote && checkpoint && start.after <= checkpoint.position.lsn && (start.after !== checkpoint.position.lsn || header.logId !== checkpoint.logId || header.codec !== checkpoint.codec)) {
            // The shared log does not hold what this cache's checkpoint applied (a server restored from
            // an older backup, say): the cache is derived from the log, and is made again from it (from
            // its newest snapshot, when it dropped its first records). Read-only, it is only not used.
            if (!readOnly) {
              // (Only if host.json and the manifest are still what this open read: another process of the
              // host may have made the cache again, or published a checkpoint of its own, meanwhile. The
              // manifest by the nonce of its write: one written again may name a file of the same name.)
              const stillStale = async () => manifestSeen !== undefined && (await readHostCache(layout.host, layout.blocks, files))?.cache === savedCache?.cache
                && (await manifestVersion(layout.manifest, files)) === manifestSeen;
              await withFileLock(layout.hostLock, files, () => dropHostCache(layout, files, stillStale), Math.max(HOST_LOCK_WAIT_MS, 2 * (options.lockTimeoutMs ?? 0)));
            }
            throw new CacheNotVouched();
          }
          if (!checkpoint || start.after !== checkpoint.position.lsn || header.logId !== checkpoint.logId || header.codec !== checkpoint.codec) {
            const reason = checkpoint && start.after > checkpoint.position.lsn
              ? new MemMapError('WAL_TRUNCATED', `${theLog} no longer holds records ${checkpoint.position.lsn + 1} to ${start.after}, which come after the checkpoint ${checkpoint.path}.`, { subsystem: 'wal' })
              : checkpoint
                ? new MemMapError('WAL_CORRUPT', `${theLog} resumed after record ${start.after}, not after the checkpoint's record ${checkpoint.position.lsn} of log ${checkpoint.logId} (codec ${checkpoint.codec}).`, { subsystem: 'wal' })
                : remote && readOnly
                  ? new MemMapError('WAL_TRUNCATED', `${theLog} holds records from ${start.after + 1} on only (a snapshot let it drop the ones before), and this host's cache has no checkpoint it can resume from: open ${root} once without readOnly, which installs the newest snapshot; read-only opens then resume from it.`, { subsystem: 'wal' })
                : remote
                  ? new MemMapError('WAL_TRUNCATED', `${theLog} holds records from ${start.after + 1} on only (a snapshot let it drop the ones before), and no usable checkpoint or snapshot covers them: publish a new snapshot (publishSnapshot(), \`memmapfs snapshot\`) from a host that has the store open, then open this one again.`, { subsystem: 'wal' })
                  : new MemMapError('WAL_TRUNCATED', `${theLog} holds records from ${start.after + 1} on only (a checkpoint let it drop the ones before), and no usable checkpoint covers them. Run \`memmapfs verify\`; restore the store from a backup if the checkpoint is lost.`, { subsystem: 'wal' });
            // A newer checkpoint was published meanwhile (and the log dropped what the older one needed): open from it.
            const now = await new CheckpointStore(layout.checkpoints, layout.manifest, files, 'read').current(header.logId).catch(() => undefined);
            // (Not by the checkpoint this open left undecoded, of another codec: no newer one.)
            const overtaken = now !== undefined && now.position.lsn > ((checkpoint ?? notDecoded)?.position.lsn ?? 0);
            throw overtaken ? new CheckpointOvertaken(reason) : reason;
          }
          // (One no manifest names is named by the next checkpoint written, at its LSN too: a compaction's cut needs it.)
          engine.loadCheckpoint(checkpoint, tables!, !takenUnnamed);
          lastApplied = checkpoint.position;
        }
        const copies = new UncheckpointedCopies();
        const ranges = new ReferencedRangeLog();
        for await (const walRecord of records) {
          const { lsn } = walRecord;
          // Detached from the window it was read in: what the tables keep must not keep the log alive.
          const record = decodeRecord(codec, walRecord.type, walRecord.payload, lsn, true);
          if (!readOnly && !remote) copies.note(record, lsn);
          // (Only a writer restores blocks, and only then needs every range.)
          if (!readOnly && !remote) for (const ref of blockRefsOf(record)) ranges.note(ref);
          lastApplied = { lsn, offset: walRecord.offset, checksum: walRecord.checksum };
          engine.replay(record, lsn);
        }
        // (Read-only, nothing is written: blocks a power loss took stay missing until a writer opens the store.)
        if (!readOnly && !remote) {
          // (A checkpoint kept though damaged, as the only copy of what it holds: its damaged rows' ranges
          // cannot be trusted, and the memories they hold cannot be read anyway.)
          let damagedRows = 0;
          await restoreLostBlocks(blocks!, copies.blocks, () => [...ranges.all(), ...engine!.checkpointRefs((rows) => (damagedRows += rows))]);
          if (damagedRows > 0) {
            process.emitWarning(`${damagedRows} rows of the checkpoint ${checkpoint?.path ?? ''} are damaged (the memories they hold cannot be read): blocks a crash took were put back without checking them against those rows. Run \`memmapfs verify\`; \`memmapfs repair --salvage\` keeps those of them that read back whole.`, { code: 'MEMMAPFS_CHECKPOINT_DAMAGED' });
          }
        }
      },
    });
    if (!engine) throw new MemMapError('WAL_FAILED', `${theLog} opened without handing over its records.`, { subsystem: 'wal' });
    engine.opened(wal, lastApplied);
    target.engine = engine;
    if (remote && readOnly && ownCheckpoint && savedCache) {
      // The cache's checkpoint and chunk files hold only if its last open is this folder's (not a copy's since).
      const last = engine.lastOpenOf(savedCache.cache);
      if (!last || !isOwnOpen(layout, savedCache.cache, last)) throw new CacheNotVouched();
    } else if (remote && !readOnly) {
      // (Waits for a sibling's open, which may wait for the log's writer lock as long as lockTimeoutMs.)
      const waitMs = Math.max(HOST_LOCK_WAIT_MS, 2 * (options.lockTimeoutMs ?? 0));
      engine.hostBlocks.own = await withFileLock(layout.hostLock, files, () => hostChunks(engine!, layout, files, ownCheckpoint ? savedCache?.cache : undefined), waitMs);
      // Chunks retired by records replayed here (which replaying them may have written again), or
      // before the checkpoint it started from (a process killed in the grace before removing them).
      const retiredHere = (await blocks.listChunks()).map((info) => info.chunk).filter((chunk) => engine!.references.isRetired(chunk));
      engine.retiredChunks.add(retiredHere);
      engine.retiredChunks.start();
      // (Not waiting for a snapshot another process of the host publishes: the files go later.)
      await engine.retiredChunks.removeNow(0).catch((error: unknown) => {
        process.emitWarning(`Chunk files a compaction retired could not be removed from this host's cache (tried again on close and the next open): ${describeThrown(error)}`, { code: 'MEMMAPFS_RETIRE_FAILED' });
      });
    }
    // The search index is loaded (or rebuilt) when a query first needs it, never for reads by id, the
    // state, KV or stats: opening costs what the tables cost.
    engine.index.loadWhenNeeded();
    // (A new, empty store has nothing to load: its index is ready at once.)
    if (lastApplied.lsn === 0) await engine.index.ensureLoaded();
    engine.followWhileIdle();
    // The log keeps the callbacks given here, and with them this function's variables: the checkpoint
    // read (its file mapped) must not stay reachable through them once the engine moves past it.
    checkpoint = ownCheckpoint = tables = undefined;
    return engine;
  } catch (error) {
    await wal?.close().catch(() => undefined);
    await blocks?.close().catch(() => undefined);
    const retried = isRetriedOpen(error);
    // (An instance the caller gave is used again by the open's next try: closed only when it gives up.)
    if (!retried || search.created() !== options.search) await Promise.resolve(search.created()?.close?.()).catch(() => undefined);
    throw retried && !MemMapError.is(error) ? error : toMemMapError(error);
  }
}

/**
 * Which write of the manifest is at `path` now: its nonce; for a manifest of an earlier release, which
 * has none, the file's identity (device, inode, change time, size); `'absent'` when there is none;
 * `undefined` when that cannot be told (an error reading it: then nothing is dropped).
 */
async function manifestVersion(path: string, files: StoreFileSystem): Promise<string | undefined> {
  let handle: Awaited<ReturnType<StoreFileSystem['open']>>;
  try {
    handle = await files.open(path, 'r');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : undefined;
  }
  try {
    const info = await handle.stat({ bigint: true });
    // (Read through the handle stat-ed: the identity and the contents are of one file.)
    const manifest = await readManifest(path, { readFile: (() => handle.readFile()) as unknown as StoreFileSystem['readFile'] });
    return manifest?.nonce !== undefined ? `nonce ${manifest.nonce}` : `file ${info.dev}:${info.ino}:${info.ctimeNs}:${info.size}`;
  } catch {
    return undefined;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Whether an open that failed with `error` is made again: a newer checkpoint took the place of the one
 * it read, the log does not vouch for this host cache or its host.json changed meanwhile, or records it
 * listed were dropped (a read-only open, which takes no lock, may find a segment removed meanwhile).
 */
function isRetriedOpen(error: unknown): boolean {
  return error instanceof CheckpointOvertaken || error instanceof CheckpointOfAnotherLog || error instanceof CacheNotVouched || error instanceof CacheChanged || MemMapError.is(error, 'WAL_TRUNCATED');
}

function codecMismatch(root: string, stored: string, requested: string): MemMapError {
  return new MemMapError('CODEC_MISMATCH', `The store at ${root} was created with the '${stored}' codec, not '${requested}'. Open it with codec: '${stored}' (or leave the codec option out).`, { subsystem: 'codec' });
}

async function createFolders(layout: StoreLayout, files: StoreFileSystem): Promise<void> {
  try {
    await makeFolder(layout.root, files);
  } catch (error) {
    throw new MemMapError('IO_ERROR', `Cannot make the store's folder ${layout.root}: ${describeThrown(error)}. Give a folder in a place where this process may create files.`, { cause: error });
  }
  // The store's folder, and every folder above it, named durably in its parent: a power loss after the
  // first durable write must not take the store's folder with it, whether this open made those folders
  // or another (an open that died before this point, or one making the store at the same time). (A
  // parent this process may not read, or whose file system has no fsync of folders, as /proc and some
  // mounts answer, is passed over.)
  for (let folder = layout.root; dirname(folder) !== folder; folder = dirname(folder)) {
    await syncFolder(dirname(folder), files).catch((error: NodeJS.ErrnoException) => {
      if (!unsyncableFolder.has(error.code ?? '')) throw error;
    });
  }
  await files.mkdir(layout.index, { recursive: true });
  await files.mkdir(layout.blocks, { recursive: true });
  await files.mkdir(layout.checkpoints, { recursive: true });
  await syncFolder(layout.root, files);
}

/** What an fsync of a folder above a new store answers where it cannot be made, not where it failed. */
const unsyncableFolder: ReadonlySet<string> = new Set(['EACCES', 'EPERM', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EROFS']);

/**
 * Makes folder `path` and any missing folder above it, one at a time. (Not `mkdir` with `recursive`,
 * which in Node 20 retries forever where a folder cannot be made though its parent exists, as in /proc.)
 */
async function makeFolder(path: string, files: StoreFileSystem): Promise<void> {
  const made = async (): Promise<boolean> => files.mkdir(path).then(() => true, (error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') return true;
    if (error.code === 'ENOENT') return false;
    throw error;
  });
  if (await made()) return;
  const parent = dirname(path);
  if (parent === path) throw Object.assign(new Error(`ENOENT: no such file or directory, mkdir '${path}'`), { code: 'ENOENT' });
  await makeFolder(parent, files);
  if (!(await made())) throw Object.assign(new Error(`ENOENT: no such file or directory, mkdir '${path}'`), { code: 'ENOENT' });
}

/** An open met a log that dropped what its checkpoint needed, because a newer checkpoint took its place: it opens again. */
class CheckpointOvertaken extends Error {
  constructor(readonly reason: MemMapError) {
    super(reason.message);
  }
}

/** An open took a checkpoint of another log than the store's (none named by a manifest): it opens again, looking for one of log `wanted.logId`. */
class CheckpointOfAnotherLog extends Error {
  constructor(readonly wanted: { logId: string }, readonly reason: MemMapError) {
    super(reason.message);
  }
}

/** The chunk store asked for this host's chunk numbers before the open claimed them (it places no block before). */
function noChunkNumbersYet(): never {
  throw new MemMapError('WAL_FAILED', 'This host has not claimed chunk numbers in the shared log yet: no block can be placed before the store is open.', { subsystem: 'blocks' });
}
