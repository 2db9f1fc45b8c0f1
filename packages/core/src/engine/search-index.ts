import { describeThrown, isWalError, syncFolder, type WalPosition, type WalRecord } from '@memmapfs/wal';
import type { SearchDocument, SearchIndexOpenOptions, SearchProvider } from '../contracts/search-provider.js';
import { MemMapError } from '../errors.js';
import { embeddingOf } from '../memory-embedding.js';
import type { DeferredSearchProvider } from '../registry/provider-registry.js';
import { ExpiryQueue } from './expiry-queue.js';
import { withFileLock } from './file-lock.js';
import { isMemoryPutType, RecordType, type LogRecord, type MemoryRecord } from './log-records.js';
import { ChangeQueue } from './change-queue.js';
import { dropSavedIndexBefore, loadableByAny, vouchedByManifest } from './saved-index-coverage.js';
import { DESCRIPTION_LOCK_WAIT_MS, indexFolderFiles, removeAbandonedSaveFiles, removeSegmentFilesNoOneNames } from './saved-index-files.js';
import type { SearchIndexHost } from './search-index-host.js';
import { MAX_DESCRIBED_PURGES, purgesCounted, readSearchPurges, writeSearchPurges } from './search-purges.js';
import { readSearchSnapshot, readSearchSnapshotMark, writeSearchSnapshot, type SearchSnapshot } from './search-snapshot.js';
import { monotonicMs } from '../monotonic-clock.js';

export type { SearchIndexHost } from './search-index-host.js';

const textDecoder = new TextDecoder('utf-8', { fatal: false });

/**
 * Memory changes are handed to the search provider in batches, at most this long after they commit:
 * indexing one change per commit costs several times the CPU of indexing the same changes together.
 * A search first indexes whatever is still waiting, so it always sees every acknowledged change.
 */
const INDEX_DELAY_MS = 5;
/** …or at the next turn of the event loop once this many changes wait. */
const INDEX_BATCH = 256;
/** How often a rebuild tells its progress, at most. */
const REBUILD_PROGRESS_INTERVAL_MS = 100;
/**
 * Longest stretch of indexing before the event loop gets a turn: short enough that a commit finishing
 * meanwhile is taken up at once (the indexing fills the time commits wait for the disk) and that a long
 * backlog never stalls timers.
 */
const INDEX_TURN_MS = 0.25;
/**
 * The index is loaded on the first query; a process that writes and never queries has its changes
 * waiting in memory until this many wait, and then loads it to take them.
 */
const LOAD_INDEX_AFTER_CHANGES = 4096;
/**
 * A bulk load that gets this many of its own changes ahead of the loaded index waits for it after its
 * commits (see `keepUp`):
 * the changes waiting are held in memory (each with its memory and its block's copy), and collecting a
 * heap of them costs more than indexing them (at a million memories, a backlog of hundreds of thousands
 * held 750 MB and made garbage collection a third of the load). A few thousand: changes indexed soon
 * after their commit are collected young; 32,768 of them made a bulk load of 100,000 about 5% slower and
 * its process 40 MB larger.
 */
const MAX_BACKLOG = 4_096;
/**
 * How long a save `upToDate` waits for the changes waiting to be indexed before it gives up: other
 * processes may write faster than this one indexes, and the save only spares a rebuild.
 */
const UP_TO_DATE_WAIT_MS = 5_000;
/**
 * How long `compact({ erase: true })` waits for other processes to let go of the index files its purge
 * replaced (each does at its idle catch-up, once a second), and how often it tries to remove them meanwhile.
 */
const PURGE_LET_GO_WAIT_MS = 5_000;
const PURGE_LET_GO_RETRY_MS = 250;

/** The warning when a compaction's save of the index gave up waiting for the changes waiting for it. */
function warnNotCompacted(): void {
  process.emitWarning(`The search index was not compacted: it had not taken the changes waiting for it within ${UP_TO_DATE_WAIT_MS / 1000} s (other processes write faster than this one indexes). A later compaction compacts it.`, { code: 'MEMMAPFS_SNAPSHOT_FAILED' });
}

/**
 * A save's options: `purge` (after `compact({ erase: true })`), `compact` (its space given back too),
 * `upToDate` (the save waits at most `UP_TO_DATE_WAIT_MS` for the changes waiting, else saves nothing), `closing`.
 */
interface SaveOptions {
  purge?: boolean;
  compact?: boolean;
  upToDate?: boolean;
  closing?: boolean;
}

/**
 * The search index of a store, derived from its memory table: the provider, loaded (or rebuilt from the
 * tables) when a query first needs it; the changes waiting to be indexed; the expired memories taken out;
 * and the saved index (a snapshot, or a persistent provider's description) with the log position it covers.
 */
export class SearchIndex {
  /** LSN the saved search snapshot covers; -1 when there is none worth keeping. */
  private snapshotLsn = 0;
  /** Memories with an expiry, soonest first: each is taken out of the index once it expires. */
  private readonly expiring = new ExpiryQueue();
  private indexing: Promise<void> | undefined;
  private indexTimer: NodeJS.Timeout | undefined;
  private indexImmediate: NodeJS.Immediate | undefined;
  /** Until the index is loaded or rebuilt, changes wait in `pendingIndex` (a load would wipe them). */
  private indexLoaded = false;
  /** Loads the saved index (or rebuilds it) the first time a query needs it; see `loadWhenNeeded`. */
  private indexLoader: (() => Promise<void>) | undefined;
  private loadingIndex: Promise<void> | undefined;
  /** A persistent provider letting go of its files after a purge elsewhere (`letGoOfFiles`): a load waits for it. */
  private releasing: Promise<void> | undefined;
  /** After a failed load on its own (not for a query), the next is not tried before this time. */
  private retryIndexLoadAt = 0;
  private lastExpiryCheck = 0;
  /** Expired memories taken out of the index, with their expiry: put back if the clock steps back. */
  private readonly expiredOutOfIndex = new Map<number, number>();
  /** The provider, once loaded (by `ensureLoaded`). */
  private loaded: SearchProvider | undefined;
  /** Purges the saved index had been through when this process loaded its index (see `SearchSnapshot.purges`). */
  private indexPurges = 0;
  /** Saves asked for and not done yet. */
  private savesWaiting = 0;
  /** Queries between their wait for the index and the end of their searches (see `searching`). */
  private searchesUnderWay = 0;
  /** Opens of the provider's index (`openOptions`): a write of an index opened before is refused. */
  private opens = 0;
  /** Writes of the index open now that `writeUnlessPurged` refused: a purge under way fails by them, and is tried again. */
  private refusals = 0;
  /**
   * Set by a purge (`writeSaved`, or `countPurge` of an erase by a provider that keeps no files), under
   * the lock no index file is made without: the files of the index's folder then that its new description
   * does not name (made before the purge was counted, by any process, they may hold what it erases);
   * `'unknown'` when they could not be listed; `undefined` when the provider cannot say which files a
   * description names.
   */
  private leftAtPurge: Map<string, string> | 'unknown' | undefined;
  /**
   * The files this process's index open now made since its purge's save began (`writeSaved`): `during`
   * the provider's `saveIndex` (the purge's own, and write-outs it finished, which may hold what it
   * erases until merged away), and `after` it (of the purged index: none holds what the purge erases).
   */
  private purgeWrites: { during: Set<string>; after: Set<string>; saved: boolean } | undefined;
  /** The count of purges last read by `letGoAfterPurgeElsewhere`, as the file held it. */
  private purgesSeen: number | 'damaged' | undefined;
  /** Whether the index was loaded from a saved one (not rebuilt from the tables): see `writeSaved`. */
  private indexFromFiles = false;
  /** The index saves of this process, one after another. */
  private savingIndex: Promise<void> = Promise.resolve();
  /** Memory changes applied to the tables and not yet handed to the provider, in log order. */
  private readonly pendingIndex = new ChangeQueue();

  /** Told of a rebuild's progress: memories indexed so far, of how many (see `InitOptions.onIndexRebuild`). */
  onRebuild: ((done: number, total: number) => void) | undefined;

  constructor(
    private readonly searchSource: DeferredSearchProvider,
    private readonly host: SearchIndexHost,
  ) {}

  /** The provider's name: the loaded one's, or the one that will be loaded. */
  get name(): string {
    return this.loaded?.name ?? this.searchSource.name;
  }

  /**
   * The embedding length the provider searches, or `undefined` when it has no vector search (a
   * built-in chosen by its bare name and not loaded yet has none: vectors need options).
   */
  get vectorDimensions(): number | undefined {
    return (this.loaded ?? this.searchSource.created())?.supports.vectors?.dimensions;
  }

  /** Whether the loaded provider's scores compare across searches (`supports.comparableScores`). */
  get comparableScores(): boolean {
    return (this.loaded ?? this.searchSource.created())?.supports.comparableScores === true;
  }

  /** Whether the loaded provider can match whole words only (`supports.wholeWords`), or matches none by their beginning. */
  get matchesWholeWords(): boolean {
    const supports = (this.loaded ?? this.searchSource.created())?.supports;
    return supports !== undefined && (supports.wholeWords === true || !supports.prefix);
  }

  /** Whether the provider is loaded and keeps its index in files of its own, named by the saved description. */
  get persistentLoaded(): boolean {
    return this.loaded !== undefined && this.persistent;
  }

  /** Loads the saved index (or rebuilds it) the first time a query needs it. */
  loadWhenNeeded(): void {
    this.indexLoader = () => this.load();
  }

  /** A memory change applied to the tables: it waits to be indexed (see `schedule`). */
  note(record: LogRecord, own = false): void {
    // While the index is not loaded, changes may wait long: without the block copy, which the text is
    // read back from when they are indexed.
    this.pendingIndex.push(!this.indexLoaded && record.type === RecordType.MemoryPut && record.copy ? { ...record, copy: undefined } : record, own);
  }

  /** Changes applied that the index has yet to take (once it is loaded; none before). */
  get backlog(): number {
    return this.indexLoaded ? this.pendingIndex.length : 0;
  }

  /**
   * After a commit of memory changes of this process: while more than `MAX_BACKLOG` of its own changes
   * wait for the index, resolves once the index took all but `MAX_BACKLOG` of those waiting now (never
   * those that arrive meanwhile, nor other processes' beyond those among them: another writer going on
   * does not hold it); `undefined` otherwise. A failure of the provider releases it, with a warning, and
   * is left to the next query to say.
   */
  keepUp(): Promise<void> | undefined {
    // (Only this process's own changes count: its commits waiting would not slow another writer down.)
    if (!this.indexLoaded || this.pendingIndex.ownWaiting <= MAX_BACKLOG) return undefined;
    const target = this.pendingIndex.ownPushed - MAX_BACKLOG;
    return new Promise<void>((resolve) => {
      this.keepingUp.push({ target, resolve });
      this.drain().then(
        () => this.releaseKeepingUp(),
        (error: unknown) => this.keepingUpFailed(error),
      );
    });
  }

  /** Commits waiting for the index to take this process's changes before `target` (counted as `ChangeQueue.ownPushed`). */
  private keepingUp: Array<{ target: number; resolve: () => void }> = [];

  /** Resolves the commits waiting for changes the index has taken by now. */
  private wakeKeepingUp(): void {
    if (this.keepingUp.length === 0) return;
    const taken = this.pendingIndex.ownDropped;
    this.keepingUp = this.keepingUp.filter((waiting) => {
      if (waiting.target > taken) return true;
      waiting.resolve();
      return false;
    });
  }

  private releaseKeepingUp(): void {
    for (const waiting of this.keepingUp.splice(0)) waiting.resolve();
  }

  /** Indexing failed while commits waited for it: they go on; the changes waiting let go of their block copies (their texts are read back when indexed). */
  private keepingUpFailed(error: unknown): void {
    this.releaseKeepingUp();
    this.pendingIndex.dropCopies();
    if (this.keepUpWarned) return;
    this.keepUpWarned = true;
    process.emitWarning(`The search index could not take the changes waiting for it (${this.pendingIndex.length}); writes go on, and queries try again: ${describeThrown(error)}`, { code: 'MEMMAPFS_INDEX_FAILED' });
  }

  private keepUpWarned = false;

  /** A memory that expires at `expiresAt`: taken out of the index then. */
  noteExpiry(id: number, expiresAt: number): void {
    this.expiring.add(id, expiresAt);
  }

  /** A memory deleted: no longer one to put back should the clock step back over its expiry. */
  noteDeleted(id: number): void {
    this.expiredOutOfIndex.delete(id);
  }

  /**
   * Loads the search index if it is not loaded yet: the saved snapshot with the changes after it, or a
   * rebuild from the tables. Queries call it; nothing else needs the index.
   */
  ensureLoaded(): Promise<void> {
    if (this.indexLoaded) return Promise.resolve();
    this.loadingIndex ??= (async () => {
      this.loaded ??= await this.searchSource.load();
      await this.releasing;
      await this.indexLoader?.();
      this.indexLoaded = true;
      this.loads++;
      this.indexLoader = undefined;
      this.schedule();
    })().finally(() => {
      this.loadingIndex = undefined;
    });
    return this.loadingIndex;
  }

  /**
   * Makes the search index ready for a query: loaded, with every change applied so far and without
   * expired memories. (Again, should another process's purge have it let go meanwhile, or the provider
   * find the files of the index it loaded damaged: see `replaceDamaged`.)
   */
  async ready(): Promise<void> {
    let replaced = false;
    do {
      await this.ensureLoaded();
      const loaded = this.loads;
      try {
        await this.drain();
        await this.dropExpired();
      } catch (error) {
        if (replaced || !isIndexDamaged(error)) throw error;
        replaced = true;
        await this.replaceDamaged(error, loaded);
      }
    } while (!this.indexLoaded);
  }

  /**
   * Runs a query's searches (`search`, which calls the provider): should the provider find the files of
   * the index it loaded damaged, the index is replaced (`replaceDamaged`), made ready again, and
   * `search` run once more on the rebuilt one.
   */
  async searchReplacingDamaged<T>(search: () => Promise<T>): Promise<T> {
    const loaded = this.loads;
    try {
      return await search();
    } catch (error) {
      if (!isIndexDamaged(error)) throw error;
      await this.replaceDamaged(error, loaded);
      await this.ready();
      return search();
    }
  }

  /** Loads and unloads of the index so far: which index a failure came from (see `replaceDamaged`). */
  private loads = 0;
  /** The last count of purges this process wrote (`countPurge`): an index rebuilt after it went through it, whatever a load read before. */
  private purgesCountedHere = 0;
  /** The next load rebuilds the index whatever description is saved (one naming damaged files that could not be removed). */
  private rebuildNext = false;

  /**
   * After the provider found the files of the index it loaded damaged (`SEARCH_INDEX_DAMAGED`), that
   * index being the one loaded when `loaded` was `loads`: warns, lets go of that index and of its files,
   * so that the next load rebuilds it from the memories, and drops the saved description
   * (`dropDamagedSaved`). After any save of this process under way, which may name the damaged files;
   * nothing when the index was let go of or loaded again meanwhile (by another query's replacement,
   * say: the one loaded now may be a sound one another process saved).
   */
  private replaceDamaged(error: unknown, loaded: number): Promise<void> {
    const run = this.savingIndex.then(async () => {
      if (this.loads !== loaded || !this.indexLoaded) return;
      this.unload();
      await this.dropDamagedSaved(error);
    });
    this.savingIndex = run.catch(() => undefined);
    return run.then(() => this.letGoOfFiles());
  }

  /**
   * Warns that the saved index is damaged and, unless another process purged it since this one loaded
   * its index, counts a purge and removes the saved description (under the index's lock): every other
   * process that loaded it lets go of it too, as after an erase, none of their saves naming its files
   * is taken, and the next save of a rebuilt index replaces it. A read-only process, or one whose
   * removal failed, has its next load rebuild the index all the same.
   */
  private async dropDamagedSaved(error: unknown, unlessReplaced?: SearchSnapshot): Promise<void> {
    const cause = MemMapError.is(error, 'PROVIDER_FAILED') ? error.cause : error;
    const warn = () => process.emitWarning(`The search index is rebuilt from the memories (queries wait for it): ${describeThrown(cause)}`, { code: 'MEMMAPFS_INDEX_DAMAGED' });
    // (With `unlessReplaced`, said once it is known that it was that save, not one saved in its place.)
    if (!unlessReplaced) warn();
    this.rebuildNext = true;
    if (this.host.wal.readOnly) {
      if (unlessReplaced) warn();
      return;
    }
    try {
      // (A bounded wait: a load may be waiting for this.)
      const dropped = await this.countPurge({ removeSnapshot: true, unlessPurgedSince: true, ...(unlessReplaced ? { unlessReplaced } : {}), waitMs: DESCRIPTION_LOCK_WAIT_MS });
      if (unlessReplaced && dropped) warn();
      this.rebuildNext = false;
    } catch (failure) {
      if (unlessReplaced) warn();
      process.emitWarning(`The damaged search index's description was not removed (this process rebuilds its index all the same; others do when they find the damage): ${describeThrown(failure)}`, { code: 'MEMMAPFS_SNAPSHOT_FAILED' });
    }
  }

  /** Arranges for the waiting changes to be indexed: after `INDEX_DELAY_MS`, or soon when many wait. */
  schedule(): void {
    if (!this.indexLoaded && !this.host.closing && !this.loadingIndex && this.pendingIndex.length >= LOAD_INDEX_AFTER_CHANGES && monotonicMs() >= this.retryIndexLoadAt) {
      // Changes wait for the index in memory: past this many, it is loaded to take them, query or not.
      void this.ensureLoaded().catch((error: unknown) => {
        this.retryIndexLoadAt = monotonicMs() + 5_000;
        process.emitWarning(`The search index could not be loaded (queries will try again): ${describeThrown(error)}`, { code: 'MEMMAPFS_INDEX_FAILED' });
      });
      return;
    }
    if (this.host.closing || !this.indexLoaded || this.pendingIndex.length === 0 || this.indexing || this.indexImmediate) return;
    if (this.pendingIndex.length >= INDEX_BATCH) {
      this.cancelScheduled();
      this.indexImmediate = setImmediate(() => this.runScheduled());
    } else {
      // Unreferenced: waiting changes are in the log, and an open indexes them, so they never hold the process.
      this.indexTimer ??= setTimeout(() => this.runScheduled(), INDEX_DELAY_MS).unref();
    }
  }

  private runScheduled(): void {
    this.cancelScheduled();
    this.drain().catch(() => undefined);
  }

  /** Stops indexing on a timer (on close). */
  cancelScheduled(): void {
    clearTimeout(this.indexTimer);
    clearImmediate(this.indexImmediate);
    this.indexTimer = undefined;
    this.indexImmediate = undefined;
  }

  /** Brings the search index up to date with every applied change; a provider failure surfaces here. */
  drain(): Promise<void> {
    if (!this.indexLoaded) return Promise.resolve();
    this.indexing ??= this.indexWaiting().then(
      () => {
        this.indexing = undefined;
        // Changes applied while the last batch was finishing. (After a failure, the next commit or search retries.)
        this.schedule();
      },
      (error: unknown) => {
        this.indexing = undefined;
        throw error;
      },
    );
    return this.indexing;
  }

  /**
   * After a checkpoint, a persistent search index that is loaded writes out what it holds in memory: a
   * later open replays less. With `compact` (after a compaction without `erase`), it is saved with
   * `compact`, so that it gives back the space of the memories deleted and replaced too (see
   * `SearchProvider.saveIndex`). With `upToDate` (before a compaction cuts the log), it waits at most
   * `UP_TO_DATE_WAIT_MS` for the changes waiting, and saves nothing if they are not all indexed by then.
   * Never fails: a failed save is a warning, and the index stays as it was.
   */
  async savePersistent(options: { compact?: boolean; upToDate?: boolean } = {}): Promise<void> {
    if (this.host.closing || !this.indexLoaded || !this.persistent) return;
    const loaded = this.loads;
    try {
      // (With `upToDate`, the save waits for the changes itself, a bounded time.)
      if (!options.upToDate) await this.drain();
      await this.save({ ...(options.compact ? { compact: true } : {}), ...(options.upToDate ? { upToDate: true } : {}) });
    } catch (error) {
      // (Damaged files: let go of, and the next query rebuilds the index.)
      if (isIndexDamaged(error)) await this.replaceDamaged(error, loaded).catch(() => undefined);
      else process.emitWarning(`The search index was not ${options.compact ? 'compacted' : 'saved'} (it is saved again later, or rebuilt from the log): ${describeThrown(error)}`, { code: 'MEMMAPFS_SNAPSHOT_FAILED' });
    }
  }

  /**
   * Before a cut of the log: a saved index that the log shows usable now (it holds the record it was
   * saved at, with its checksum), with no memory change logged after it up to the last record applied,
   * covers that record too; it is written again as covering it (the same data), so that the cut does not
   * leave it older than the log and a process loading it rebuild it from every memory. (A process that
   * saves its own loaded persistent index first has nothing to carry.) Never fails: the saved index
   * stays as it was.
   */
  async carrySavedForward(): Promise<void> {
    const { layout, files, wal } = this.host;
    const to = { lsn: this.host.lastLsn, checksum: this.host.lastChecksum };
    try {
      // (Its first bytes, then the log: the whole file, which may be large, only when it can be carried.)
      const mark = await readSearchSnapshotMark(layout.searchSnapshot, files);
      if (wal.readOnly || !mark || mark.logId !== wal.header.logId || mark.lsn >= to.lsn) return;
      // Usable as a load finds it, with no memory change after it, read up to the very record it will name.
      let last: WalRecord | undefined;
      const outcome = await this.readAfterSaved(mark, to.lsn, (record) => {
        last = record;
        return !isMemoryPutType(record.type) && record.type !== RecordType.MemoryDelete;
      });
      if (outcome !== 'usable' || last?.lsn !== to.lsn || last.checksum !== to.checksum) return;
      // (The record it will name durable first, as for any save.)
      await wal.flush();
      await withFileLock(layout.searchLock, files, async () => {
        const whole = await readSearchSnapshot(layout.searchSnapshot, files);
        // The one the log was read for, unless another process saved one meanwhile; not one that went
        // through fewer purges than counted apart, which no load uses.
        if (whole?.logId !== mark.logId || whole.lsn !== mark.lsn || whole.checksum !== mark.checksum || whole.purges !== mark.purges) return;
        const kept = await readSearchPurges(layout.searchPurges, whole.logId, files);
        if (kept === 'damaged' || whole.purges < kept) return;
        await writeSearchSnapshot(layout.searchSnapshot, { ...whole, lsn: to.lsn, checksum: to.checksum }, files);
      });
    } catch {
      // (Found older than the log when next loaded, and rebuilt, as before.)
    }
  }

  /**
   * Reads the log after the record a saved index ends with (`saved`), up to `logEnd`, handing each record
   * to `each` (which stops the read by returning false: `'stopped'`), and says whether the saved index
   * belongs to the log as it stands: the log holds that very record (its frame checksum tells it from
   * one that took its LSN after a crash cut the log), or dropped it and begins right after it, a
   * checkpoint ending with that very record vouching for it (the tables' own, or the one the manifest
   * names, read only then); or holds nothing from it on and ends with it, vouched for. One saved at LSN 0
   * needs the log from record 1. Throws the log's `WAL_TRUNCATED` when another process's checkpoint drops
   * records while they are read.
   */
  private async readAfterSaved(saved: { lsn: number; checksum: number }, logEnd: number, each: (record: WalRecord) => boolean | void): Promise<'usable' | 'unusable' | 'stopped'> {
    if (saved.lsn > logEnd) return 'unusable';
    const fromStart = saved.lsn === 0 && saved.checksum === 0;
    const endsWithSaved = (checkpoint: WalPosition | undefined) => saved.lsn > 0 && checkpoint?.lsn === saved.lsn && checkpoint.checksum === saved.checksum;
    // (Asked once: a checkpoint this process takes meanwhile must not undo what the read was planned on.)
    const ownCheckpoint = endsWithSaved(this.host.checkpointPosition);
    const vouched = async () => fromStart || ownCheckpoint || vouchedByManifest(await this.host.publishedCheckpoint(), saved);
    let first = true;
    // (Saved at the record the tables' checkpoint ends with, which the open found where the log resumes:
    // read from the record after it, never the segment holding it, which the open may have passed over.)
    const from = ownCheckpoint ? saved.lsn + 1 : Math.max(1, saved.lsn);
    for await (const record of this.host.wal.readFrom(from)) {
      if (record.lsn > logEnd) break;
      if (first) {
        first = false;
        if (record.lsn === saved.lsn) {
          if (record.checksum !== saved.checksum) return 'unusable';
          continue;
        }
        // Its record is gone: the log no longer holds what came after it, unless it begins right after.
        if (record.lsn !== saved.lsn + 1 || !(await vouched())) return 'unusable';
      }
      if (each(record) === false) return 'stopped';
    }
    if (first) return saved.lsn === logEnd && (await vouched()) ? 'usable' : 'unusable';
    return 'usable';
  }

  /** Whether the index took every change waiting within `ms` (the drain goes on either way). */
  private async drainWithin(ms: number): Promise<boolean> {
    const drained = this.drain().then(() => true);
    // (A failure after the wait is left to the next query to say.)
    drained.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([drained, waited]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Takes expired memories out of the search index. Whether a memory is live is a function of its
   * expiry and the clock alone, asked afresh at every read, so every process and every reopen agree;
   * nothing is dropped from the tables on one process's say-so (expired memories stay in the tables
   * and the log until compaction). If the clock steps back across an expiry, the memory is live again
   * everywhere, and is put back in the index here.
   */
  async dropExpired(): Promise<void> {
    if (!this.indexLoaded && !this.loadingIndex) return;
    const now = Date.now();
    if (now < this.lastExpiryCheck) {
      for (const [id, expiresAt] of this.expiredOutOfIndex) {
        const memory = this.host.memories.get(id);
        if (memory?.expiresAt !== expiresAt) {
          this.expiredOutOfIndex.delete(id);
        } else if (expiresAt > now) {
          // Back in the index first: should that fail, it is still noted as out, for the next try.
          await this.indexMemory(memory);
          this.expiredOutOfIndex.delete(id);
          this.expiring.add(id, expiresAt);
        }
      }
    }
    this.lastExpiryCheck = now;
    const due = this.expiring.takeDue(now);
    for (const [i, id] of due.entries()) {
      const memory = this.host.memories.get(id);
      // Deleted meanwhile, or (a TTL is kept by updates, so only in theory) given a later expiry.
      if (memory?.expiresAt === undefined || memory.expiresAt > now) continue;
      try {
        await this.call(() => this.provider.remove(id));
      } catch (error) {
        // Not taken out: this one and those after it stay due, for the next try.
        for (const left of due.slice(i)) {
          const m = this.host.memories.get(left);
          if (m?.expiresAt !== undefined) this.expiring.add(left, m.expiresAt);
        }
        throw error;
      }
      this.expiredOutOfIndex.set(id, memory.expiresAt);
    }
  }

  /** The search provider, once loaded (by `ensureLoaded`); only called where the index is loaded. */
  get provider(): SearchProvider {
    if (!this.loaded) throw new MemMapError('PROVIDER_FAILED', `The '${this.searchSource.name}' search provider was used before it was loaded.`, { subsystem: 'search' });
    return this.loaded;
  }

  /** Closes the search provider if it was created (an instance given, or an adapter loaded). */
  async closeProvider(): Promise<void> {
    await Promise.resolve(this.searchSource.created()?.close?.()).catch(() => undefined);
  }

  /** Runs a search provider call, turning its failures into `PROVIDER_FAILED`. */
  async call<T>(call: () => T | Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (cause) {
      throw this.providerFailure(cause);
    }
  }

  /**
   * Like `call` for `add` and `remove` (`asked` says which, of which memory), but synchronous when the
   * provider is (no promise, no microtask).
   */
  private providerUpdate(asked: string, call: () => void | Promise<void>): void | Promise<void> {
    let result: void | Promise<void>;
    try {
      result = call();
    } catch (cause) {
      throw this.providerFailure(cause, asked);
    }
    if (result instanceof Promise) {
      return result.catch((cause: unknown) => {
        throw this.providerFailure(cause, asked);
      });
    }
  }

  private providerFailure(cause: unknown, asked?: string): MemMapError {
    return new MemMapError('PROVIDER_FAILED', `The '${this.searchSource.name}' search provider failed${asked === undefined ? '' : ` (${asked})`}: ${describeThrown(cause)}`, { cause, subsystem: 'search' });
  }

  /**
   * Feeds memory changes applied since the last call to the search provider, in log order, for at most
   * about `INDEX_TURN_MS` per turn of the event loop.
   */
  private async indexWaiting(): Promise<void> {
    // (An index let go of meanwhile takes what waits once it is loaded again.)
    while (this.pendingIndex.length > 0 && this.indexLoaded) {
      const turnEnds = monotonicMs() + INDEX_TURN_MS;
      let done = 0;
      try {
        do {
          const update = this.indexChange(this.pendingIndex.at(done));
          if (update) await update;
          done++;
        } while (done < this.pendingIndex.length && monotonicMs() < turnEnds && this.indexLoaded);
      } finally {
        // Taken off the queue only once the provider has them: a failure leaves the failed change for
        // the next try, and the snapshot is not saved as covering it.
        this.pendingIndex.drop(done);
        this.wakeKeepingUp();
      }
      if (this.pendingIndex.length > 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Hands one memory change to the search provider. */
  private indexChange(record: LogRecord): void | Promise<void> {
    if (record.type === RecordType.MemoryPut) {
      // Only if it is still the latest version: a later change is queued and indexes its own. (Compared
      // by version: a checkpoint written meanwhile holds the same version, decoded afresh from its row.)
      // (With the block copy, the record's memory is that version as it stands: only the version is read
      // from the tables, not a row of the checkpoint decoded, which the index, behind a bulk load, mostly asks for.)
      const m = record.copy ? (this.host.memories.versionOf(record.memory.id) === record.memory.version ? record.memory : undefined) : this.host.memories.get(record.memory.id);
      if (!m || m.version !== record.memory.version) return;
      // Expired while it waited (the index loads lazily): left out, as dropExpired would take it out,
      // and as if dropExpired had looked now: should the clock step back, it is put back.
      const now = Date.now();
      if (m.expiresAt !== undefined && m.expiresAt <= now) {
        this.expiredOutOfIndex.set(m.id, m.expiresAt);
        this.lastExpiryCheck = Math.max(this.lastExpiryCheck, now);
        return;
      }
      return this.indexMemory(m, record.copy);
    } else if (record.type === RecordType.MemoryDelete) {
      return this.providerUpdate(`remove of memory ${record.id}`, () => this.provider.remove(record.id));
    }
  }

  /** Adds a memory to the search index; one whose bytes fail their checksum is left out, with a warning. */
  private indexMemory(m: MemoryRecord, copy?: Uint8Array): void | Promise<void> {
    let text: string;
    try {
      text = copy ? textDecoder.decode(copy) : this.host.readText(m);
    } catch (error) {
      if (!MemMapError.is(error, 'BLOCK_CORRUPT') && !MemMapError.is(error, 'BLOCK_MISSING')) throw error;
      // A block gone because the memory moved on (updated or deleted, and compacted, by another process):
      // the later change is queued and indexes its own version. Nothing to say.
      if (MemMapError.is(error, 'BLOCK_MISSING') && this.host.memories.versionOf(m.id) !== m.version) return;
      process.emitWarning(`Memory ${m.id} is not searchable: ${error.message}`, { code: 'MEMMAPFS_BLOCK_CORRUPT' });
      return;
    }
    if (m.embedding) this.checkDimensions(m);
    const doc: SearchDocument = m.embedding ? { id: m.id, text, tags: m.tags, namespace: m.namespace, embedding: embeddingOf(m.embedding) } : { id: m.id, text, tags: m.tags, namespace: m.namespace };
    return this.providerUpdate(`add of memory ${doc.id}`, () => this.provider.add(doc));
  }

  /** Indexes every memory of the tables, telling `onRebuild` how far it got. */
  private async rebuild(): Promise<void> {
    const progress = this.onRebuild;
    // (Expired memories not deleted yet included: `values()` yields them too.)
    const total = progress ? this.host.memories.countLive(Number.NEGATIVE_INFINITY) : 0;
    let done = 0;
    let toldAt = monotonicMs();
    // A walk that a swap of the table's base or layers (a checkpoint of this process written, or another's
    // taken in its place) meets between two memories goes on from the last id indexed in the new
    // arrangement: the old walk would read the old base under the new layers, missing or misreading the
    // changes between the two checkpoints.
    const memories = this.host.memories;
    let arrangement = memories.arrangement;
    let walk = memories.values();
    for (let next = walk.next(); !next.done; next = walk.next()) {
      const m = next.value;
      await this.indexMemory(m);
      done++;
      if (memories.arrangement !== arrangement) {
        arrangement = memories.arrangement;
        walk = memories.after(m.id);
      }
      if (progress && monotonicMs() - toldAt >= REBUILD_PROGRESS_INTERVAL_MS) {
        toldAt = monotonicMs();
        progress(done, Math.max(total, done));
      }
    }
    progress?.(done, done);
  }

  /** Whether the warning about embeddings of other dimensions than the provider's was given. */
  private dimensionsWarned = false;

  /**
   * Warns once when a memory's embedding (given through a provider of other dimensions, say before the
   * embedding model changed) is not of the length the provider searches: the provider leaves it out of
   * vector search, which would otherwise go unnoticed.
   */
  private checkDimensions(m: MemoryRecord): void {
    const dimensions = this.provider.supports.vectors?.dimensions;
    const length = m.embedding!.byteLength / 4;
    if (this.dimensionsWarned || dimensions === undefined || length === dimensions) return;
    this.dimensionsWarned = true;
    process.emitWarning(`Memory ${m.id} has an embedding of ${length} numbers, but the '${this.provider.name}' search provider searches embeddings of ${dimensions}: memories like it are left out of vector search (their text is still searched). Open the store with vectors: { dimensions: ${length} }, or give them new embeddings with updateMemory.`, { code: 'MEMMAPFS_EMBEDDING_DIMENSIONS' });
  }

  /**
   * Loads the saved search index when it belongs to this log and provider, then replays the records
   * after it; otherwise rebuilds the index from the live memories.
   */
  private async load(): Promise<void> {
    // A persistent index whose files another process removed just after it saved a newer description,
    // or a log cut while it was read: read again, once, before a rebuild.
    try {
      await this.loadSaved(true);
    } catch (error) {
      if (!(error instanceof LoadAgain)) throw error;
      await this.loadSaved(false, error.missingFilesOf);
    }
  }

  /**
   * Runs a query's wait for the index and its searches: meanwhile, no purge elsewhere unloads the index
   * under it (`letGoAfterPurgeElsewhere`), which a provider whose search awaits would answer from empty.
   */
  async searching<T>(query: () => Promise<T>): Promise<T> {
    this.searchesUnderWay++;
    try {
      return await query();
    } finally {
      this.searchesUnderWay--;
    }
  }

  /** Whether the provider keeps its index in files of its own (`supports.persistent`). */
  private get persistent(): boolean {
    return this.provider.supports.persistent === true && !!this.provider.openIndex && !!this.provider.saveIndex;
  }

  /**
   * Loads the saved index, or rebuilds it; with `retry`, throws `LoadAgain` when a persistent index's
   * files are missing, or the log dropped records while they were read. `missingFilesOf`: the saved
   * index whose files a first read found missing (see `LoadAgain`).
   */
  private async loadSaved(retry: boolean, missingFilesOf?: SearchSnapshot): Promise<void> {
    const persistent = this.persistent;
    const rebuild = this.rebuildNext;
    this.rebuildNext = false;
    const snapshot = persistent || (this.provider.supports.snapshot && this.provider.importSnapshot) ? await readSearchSnapshot(this.host.layout.searchSnapshot, this.host.files) : undefined;
    const logId = this.host.wal.header.logId;
    const sameLog = snapshot !== undefined && snapshot.provider === this.provider.name && snapshot.logId === logId;
    // The purges counted so far, whichever provider saved the index: a saved index that went through
    // fewer may hold what the last one erased (saved by a release that kept no count apart), and is
    // rebuilt instead; so is any when the count kept apart is damaged. (The count of a saved index that is
    // damaged is read from its header, which saves compare with too.)
    const kept = await readSearchPurges(this.host.layout.searchPurges, logId, this.host.files);
    const header = snapshot ?? (await readSearchSnapshotMark(this.host.layout.searchSnapshot, this.host.files));
    // (A header's count is not checked by its checksum: bounded, so that one flipped cannot overflow a save.)
    const purges = Math.max(kept === 'damaged' ? 0 : kept, header?.logId === logId ? Math.min(header.purges, MAX_DESCRIBED_PURGES) : 0);
    const beforePurge = sameLog && (kept === 'damaged' || snapshot.purges < kept);
    // (Records committed after this are applied after it, and wait for the index in `pendingIndex`.)
    const logEnd = this.host.wal.lastLsn;
    // The log from the snapshot's record on: its checksum says it is the very record the snapshot ended
    // with (a crash may have cut that one and another taken its LSN); the memories changed after it are
    // what the index lacks. (Read when the index is loaded, whichever process saved the snapshot.)
    let usable = false;
    const touched = new Set<number>();
    if (sameLog && !beforePurge && !rebuild) {
      try {
        usable = (await this.readAfterSaved(snapshot, logEnd, (walRecord) => {
          if (!isMemoryPutType(walRecord.type) && walRecord.type !== RecordType.MemoryDelete) return;
          const record = this.host.decode(walRecord);
          if (record.type === RecordType.MemoryPut) touched.add(record.memory.id);
          else if (record.type === RecordType.MemoryDelete) touched.add(record.id);
        })) === 'usable';
      } catch (error) {
        // Damage in the log before a checkpoint that covers it (the open never read it, a segment's
        // header included): of no use, the index is rebuilt from the tables.
        if (isWalError(error, 'WAL_CORRUPT') || isWalError(error, 'WAL_HEADER_INVALID')) usable = false;
        // Another process's checkpoint let the log drop records while they were read: read again, once
        // (the saved index may be a newer one by now).
        else if (!isWalError(error, 'WAL_TRUNCATED')) throw error;
        else if (retry) throw new LoadAgain();
      }
    }
    // A snapshot of another log, or of a past a crash cut, is of no use later either: gone, it can never be
    // mistaken. One ahead of this process's log is left for others.
    // (Not a persistent index's description, which another process may be replacing now: the next save does.)
    const stale = snapshot !== undefined && snapshot.provider === this.provider.name && (!sameLog || (snapshot.lsn <= logEnd && !usable));
    if (stale && !this.host.wal.readOnly && !persistent) await this.host.files.unlink(this.host.layout.searchSnapshot).catch(() => undefined);
    // Purges so far: the index loaded now, whether from the snapshot or rebuilt, holds nothing purged before.
    this.indexPurges = purges;
    if (usable) {
      let opened = false;
      try {
        if (persistent) await this.call(() => this.provider.openIndex!(this.host.layout.searchSegments, snapshot!.data, this.openOptions()));
        else await this.provider.importSnapshot!(snapshot!.data);
        opened = true;
        for (const id of touched) {
          const m = this.host.memories.get(id);
          if (m) await this.indexMemory(m);
          else await this.call(() => this.provider.remove(id));
        }
        this.snapshotLsn = snapshot!.lsn;
        this.indexFromFiles = true;
        // The memories that had expired when the snapshot was saved are not in it: should the clock now
        // be earlier, dropExpired puts back those that are live again.
        this.lastExpiryCheck = snapshot!.savedAt;
        for (const [id, expiresAt] of this.host.memories.withExpiry()) if (expiresAt <= snapshot!.savedAt) this.expiredOutOfIndex.set(id, expiresAt);
        await this.dropExpired();
        return;
      } catch (error) {
        // Damaged files, found while they were opened or the changes after them applied: dropped, as a
        // query drops them (`replaceDamaged`), and rebuilt.
        if (isIndexDamaged(error)) await this.dropDamagedSaved(error);
        // The files a persistent index's description names went missing: read the description again.
        else if (persistent && !opened && retry) throw new LoadAgain(isFileGone(error) ? snapshot : undefined);
        // Read again, the very same description still names a file that is gone: damaged, and dropped as
        // such, unless replaced meanwhile. (Left, it would have every open rebuild: the rebuilt index's
        // save covers no more than it, and is refused.) Another one, read the second time, may be a good
        // one whose files a newer save has just removed: rebuilt, and left.
        else if (persistent && !opened && isFileGone(error) && missingFilesOf !== undefined && sameSavedIndex(missingFilesOf, snapshot!)) await this.dropDamagedSaved(error, snapshot);
        // An unreadable snapshot: fall through to a rebuild.
      }
    }
    if (persistent) await this.call(() => this.provider.openIndex!(this.host.layout.searchSegments, undefined, this.openOptions()));
    await this.call(() => this.provider.clear());
    this.indexFromFiles = false;
    // Rebuilt, it holds nothing any purge erased: the count read above may be older than one this process
    // counted meanwhile (replacing a damaged index), which its saves must not fall behind. Nor does a
    // rebuild asked for while it loaded (`dropDamagedSaved`) outlive it.
    this.indexPurges = Math.max(this.indexPurges, this.purgesCountedHere);
    this.rebuildNext = false;
    await this.rebuild();
    this.snapshotLsn = -1;
    await this.dropExpired();
  }

  /**
   * Saves the search index if it moved: a snapshot of it, or, for a persistent index, its files and
   * their description; then removes the files of the index no process uses any more (with `closing`,
   * after this process lets go of its own). One save at a time.
   */
  private save(options: SaveOptions = {}): Promise<void> {
    this.savesWaiting++;
    const run = this.savingIndex.then(() => this.saveNow(options)).finally(() => this.savesWaiting--);
    this.savingIndex = run.catch(() => undefined);
    return run;
  }

  private async saveNow(options: SaveOptions): Promise<void> {
    if (this.host.wal.readOnly || !this.loaded) return;
    const persistent = this.persistent;
    // A purge works on the index as it stands: loaded (again) first if a newer purge had unloaded it
    // (closing or not: that purge may predate deletions this one must erase).
    if (options.purge && !this.indexLoaded) await this.ensureLoaded();
    if (options.upToDate && !options.purge) {
      if (!(await this.drainWithin(UP_TO_DATE_WAIT_MS))) {
        if (options.compact) warnNotCompacted();
        return;
      }
    } else if (options.purge || options.compact) {
      // Every change applied so far is in the index, so that the purge leaves nothing out (and a
      // compaction's save is not skipped). (Only while it is loaded: a drain of an index let go of does
      // nothing, and the save below then writes nothing.)
      while (this.indexLoaded && this.pendingIndex.length > 0) await this.drain();
    }
    // An index never loaded has nothing to save: the snapshot on disk and the log still say it all.
    const saving = this.indexLoaded && (persistent || (this.provider.supports.snapshot && this.provider.exportSnapshot));
    // (A save that fails still has the files no one names removed below, then fails.)
    let failed: { error: unknown } | undefined;
    if (saving && (this.host.lastLsn !== this.snapshotLsn || options.purge || options.compact) && this.pendingIndex.length === 0) {
      await this.writeSaved(persistent, options).catch((error: unknown) => (failed = { error }));
    }
    // A purge elsewhere refused the save (the index was let go of): the files it read may hold what that
    // purge erased, and go now, not at the next query or close.
    const refusedByPurge = saving && !this.indexLoaded;
    if (refusedByPurge) await this.letGoOfFiles();
    // Closing, a persistent provider lets go of its files and removes those no one needs, whether its
    // index is loaded or not (a newer purge may have unloaded it).
    if (persistent && this.provider.removeUnusedFiles && (this.indexLoaded || refusedByPurge || options.closing)) {
      // Closing, the provider lets go of its files first, not under the lock (it may wait for a write).
      if (options.closing) await this.closeProvider();
      // The folder holding the description first: a power loss never brings back one naming files gone
      // (nothing is removed when that fails).
      const synced = await syncFolder(this.host.layout.index, this.host.files).then(() => true, () => false);
      // (Files left now, in use elsewhere, are removed by a later save.) Under the lock its writers hold,
      // taken before any file's: a description seen is durable (renamed, and its folder fsynced), so a
      // power loss never brings back one naming files removed because a newer one did not.
      if (synced) await this.removeUnusedFiles(options.closing === true);
    }
    if (saving) await removeAbandonedSaveFiles(this.host).catch(() => undefined);
    if (failed) throw failed.error;
  }

  /**
   * Has the provider remove the files of its folder that no one uses, under the lock the index's writers
   * hold, taken before any file's. Never fails: what is left is removed by a later save.
   */
  private async removeUnusedFiles(closing: boolean): Promise<void> {
    await withFileLock(this.host.layout.searchLock, this.host.files, () => this.call(() => this.provider.removeUnusedFiles!(() => this.savedDescription(), { closing })), DESCRIPTION_LOCK_WAIT_MS).catch(() => undefined);
  }

  private async writeSaved(persistent: boolean, options: { purge?: boolean; compact?: boolean }): Promise<void> {
    // (What is applied, not the log's end: a commit of this process may be in the log, waiting for the
    // disk, and neither applied nor indexed yet.)
    const lsn = this.host.lastLsn;
    const checksum = this.host.lastChecksum;
    const savedAt = this.lastExpiryCheck;
    const purge = options.purge === true;
    const compact = options.compact === true && persistent;
    const logId = this.host.wal.header.logId;
    // What the saved index on disk says, and the purges counted apart from it, decide whether this one
    // may take its place: looked at before the index is written out (not to write it for nothing), and
    // again, under the lock, before the rename.
    // (Read failures throw: the save fails rather than decide on what it could not read.)
    const onDiskNow = async () => ({
      onDisk: await readSearchSnapshotMark(this.host.layout.searchSnapshot, this.host.files, true),
      purgesKept: await readSearchPurges(this.host.layout.searchPurges, logId, this.host.files),
    });
    const refused = ({ onDisk, purgesKept }: Awaited<ReturnType<typeof onDiskNow>>): boolean => {
      const sameLog = onDisk !== undefined && onDisk.logId === logId;
      // A count kept apart that is damaged is not known: any purge may have happened since an index was
      // loaded from files (not one rebuilt from the tables, which writes the count again).
      const kept = purgesKept === 'damaged' ? (this.indexFromFiles ? Number.POSITIVE_INFINITY : 0) : purgesKept;
      // (Bounded as a load bounds it: the description's header checksum does not cover its count.)
      const described = sameLog ? Math.min(onDisk.purges, MAX_DESCRIBED_PURGES) : 0;
      // A purge this index did not go through (counted apart too: its description may have been deleted
      // since): this one may hold what it erased. It is loaded afresh when next needed, so that its
      // files may go.
      // (An index in memory too: one that took a deletion may still hold its words, as FlexSearch's
      // terms, and export them.)
      if (Math.max(described, kept) > this.indexPurges) {
        if (!purge || (sameLog && onDisk.lsn > lsn)) {
          if (!this.host.closing) this.unload();
          return true;
        }
        return false;
      }
      // (Another provider's is no index of this one's, nor is one that went through fewer purges than
      // counted apart, which no load uses: replaced.)
      if (!sameLog || onDisk.provider !== this.provider.name || described < kept) return false;
      // One that covers as much or more (another process's, saved meanwhile). (A purge replaces it all
      // the same: it must not keep what deleted memories said; a compaction's, one that covers as much:
      // its files were rewritten.)
      if (purge) return false;
      return compact ? onDisk.lsn > lsn : onDisk.lsn >= lsn;
    };
    if (refused(await onDiskNow())) return;
    const made = purge && persistent ? { during: new Set<string>(), after: new Set<string>(), saved: false } : undefined;
    this.purgeWrites = made;
    try {
      const data = await this.call(() => (persistent ? this.provider.saveIndex!(compact ? { purge, compact } : { purge }) : this.provider.exportSnapshot!()));
      if (made) made.saved = true;
      // What it covers durable first, whatever the durability (records of this process or of others not
      // yet synced under 'batch', and, for a persistent index, records applied while it was written), so
      // that no power loss leaves it ahead of the log.
      await this.host.wal.flush();
      await this.host.files.mkdir(this.host.layout.index, { recursive: true });
      await withFileLock(this.host.layout.searchLock, this.host.files, async () => {
        const now = await onDiskNow();
        if (refused(now)) return;
        // Another process may have cut the log past the record this index ends with since it was taken
        // (its cut's removal of stale saved indexes done before this lock was taken): one that a process
        // opening the store now could not bring up to date is not written (a process open already, whose
        // own checkpoint ends with that record, keeps whatever index it has). A purge's is, all the same:
        // it replaces one that may hold what the purge erased; a compaction's too, whose files were
        // rewritten. (Nor is it asked on a log hosts share, which only a snapshot cuts, keeping what this
        // host has yet to read: reading it here may mean a page of other hosts' records.)
        if (!purge && !compact && !this.host.remote && (await loadableByAny(this.host, { lsn, checksum })) === false) return;
        const kept = now.purgesKept === 'damaged' ? 0 : now.purgesKept;
        // (A damaged count is written again one higher: the count lost may have been.)
        const purges = Math.max(this.indexPurges, now.onDisk?.logId === logId ? Math.min(now.onDisk.purges, MAX_DESCRIBED_PURGES) : 0, kept) + (purge || now.purgesKept === 'damaged' ? 1 : 0);
        await writeSearchSnapshot(this.host.layout.searchSnapshot, { provider: this.provider.name, spec: this.searchSource.spec, logId, lsn, checksum, savedAt, purges, data }, this.host.files);
        this.snapshotLsn = lsn;
        this.indexPurges = purges;
        // (After the description: a crash between the two leaves the count in the description alone, as
        // before there was this file, rather than a count no saved index reaches, which would have every
        // process rebuild its index. A failure here is the next save's to mend: the description holds it.)
        if (purges > kept || now.purgesKept === 'damaged') {
          await writeSearchPurges(this.host.layout.searchPurges, logId, purges, this.host.files).catch((error: unknown) => {
            process.emitWarning(`The count of purges of the search index (${this.host.layout.searchPurges}) was not written (the saved index holds it; the next save writes it again): ${describeThrown(error)}`, { code: 'MEMMAPFS_SNAPSHOT_FAILED' });
          });
        }
        // Every file there now that the new description does not name, nor this process's purged index
        // made after it, may hold what the purge erases (one made since it began, by an index of any
        // process that predates it, or one the purge wrote out and merged away): the erase waits for
        // those too. (Listed under the lock: no file of an index is being made, and none made from now on
        // comes from an index loaded before the purge.) A provider that cannot name a description's files
        // has every file its purge made taken for one the description needs.
        if (made) {
          this.leftAtPurge = await indexFolderFiles(this.host, true)
            .then((listed) => {
              const ours = new Set([...(this.provider.indexFiles ? this.provider.indexFiles(data) : made.during), ...made.after]);
              return new Map([...listed].filter(([name]) => !ours.has(name)));
            })
            .catch(() => 'unknown' as const);
        }
      });
    } finally {
      this.purgeWrites = undefined;
    }
  }

  /**
   * How the persistent provider opens its index: reading files as the store does, writing none in a
   * read-only store, and none once the saved index was purged since (`writeUnlessPurged`). Each call is
   * for one open of the index: the writes of an index opened before are refused from then on.
   */
  private openOptions(): SearchIndexOpenOptions {
    const open = ++this.opens;
    return { reader: this.host.reader, readOnly: this.host.wal.readOnly, guardWrite: (file, create, write, holds) => this.writeUnlessPurged(open, file, create, write, holds?.sincePurge === true) };
  }

  /** The purges counted for the saved index (see `purgesCounted`). */
  private purgesNow(): Promise<{ kept: number | 'damaged'; described: number }> {
    return purgesCounted(this.host.layout.searchPurges, this.host.layout.searchSnapshot, this.host.wal.header.logId, this.host.files);
  }

  /**
   * Whether the index loaded now may hold what a purge erased: one was counted since it was loaded, apart
   * or in the saved description. (A count kept apart that is damaged is any number of purges for an index
   * loaded from files; for one rebuilt from the tables, the description's alone.)
   */
  private async purgedSinceLoad(): Promise<boolean> {
    const { kept, described } = await this.purgesNow();
    return Math.max(kept === 'damaged' ? (this.indexFromFiles ? Number.POSITIVE_INFINITY : 0) : kept, described) > this.indexPurges;
  }

  /**
   * A new file of the index opened as `open`: `create` (it makes the file) under `index/save.lock`
   * shared, `write` after it, without the lock, then false (the provider removes the file) when that open
   * is not the current one or a purge was counted since the index was loaded, looked at under the lock
   * again; false without `create` when so before it. A purge counts under that lock exclusively, and lists
   * the folder then: so a file of an index that may hold what it erases is either in that list, which
   * the erase waits to see removed, or never made. The index stays as it is (its queries are right: the
   * tables say what is deleted) until the idle catch-up lets go of it (`letGoAfterPurgeElsewhere`).
   */
  private async writeUnlessPurged(open: number, file: string, create: () => Promise<void>, write: () => Promise<void>, sincePurge: boolean): Promise<boolean> {
    const current = async () => open === this.opens && !(await this.purgedSinceLoad());
    // (The purge `sincePurge` speaks of is the one running as the provider asks: another may run by the
    // time the lock is had, one this file may hold what it erases for.)
    const toldOf = this.purgeWrites;
    let allowed =
      open === this.opens &&
      (await this.underSaveLock(async () => {
        if (!(await current())) return false;
        const made = this.purgeWrites;
        if (made) (made.saved || (sincePurge && made === toldOf) ? made.after : made.during).add(file);
        await create();
        return true;
      }));
    if (allowed) {
      await write();
      allowed = await this.underSaveLock(current);
    }
    if (!allowed && open === this.opens) this.refusals++;
    return allowed;
  }

  /**
   * Runs `body` under `index/save.lock` shared (writers of the index's files hold it for a moment; a
   * save's description and a purge's count take it exclusively, and are waited for as long as saves wait).
   */
  private underSaveLock<T>(body: () => Promise<T>): Promise<T> {
    return withFileLock(this.host.layout.searchLock, this.host.files, body, undefined, 'shared');
  }

  /**
   * After `unload`, a persistent provider lets go of the files its index read (it holds an empty index
   * until it is loaded again: a load waits for this), so that they may be removed. Never fails: they
   * are let go of at the next load or close otherwise.
   */
  private letGoOfFiles(): Promise<void> {
    if (this.indexLoaded || this.loadingIndex || !this.persistent) return Promise.resolve();
    this.releasing ??= this.call(() => this.provider.openIndex!(this.host.layout.searchSegments, undefined, this.openOptions()))
      .catch(() => undefined)
      .finally(() => (this.releasing = undefined));
    return this.releasing;
  }

  /**
   * Lets go of the loaded index, to load it afresh from the saved one when a query (or enough waiting
   * changes) next needs it: after another process purged the saved index, so that the files this one
   * read may go. Memories it took out as expired are queued to be taken out again. The changes waiting
   * let go of their block copies, as those noted while no index is loaded come without: they may wait long.
   */
  private unload(evenWhenClosing = false): void {
    if (!this.indexLoaded || (this.host.closing && !evenWhenClosing)) return;
    this.indexLoaded = false;
    this.loads++;
    this.pendingIndex.dropCopies();
    for (const [id, expiresAt] of this.expiredOutOfIndex) this.expiring.add(id, expiresAt);
    this.expiredOutOfIndex.clear();
    this.indexLoader = () => this.load();
  }

  /**
   * After a compaction with `erase`: the saved index may hold what deleted memories said. A persistent
   * one is merged into files without them and the files it replaced removed (those another process
   * still reads, when it lets go of them); a snapshot is rewritten from the index now, or removed.
   */
  async eraseSaved(): Promise<{ indexFilesLeft: number }> {
    // Every file of a persistent index there before the erase may hold what it erases (those written
    // after it come from an index without it): each must be gone at the end. (`undefined`: not known.)
    const before = await indexFolderFiles(this.host, this.persistent).catch(() => undefined);
    this.leftAtPurge = undefined;
    const purged = await this.eraseSavedIndex();
    // And those there when the purge was counted that it does not name: written meanwhile, perhaps from
    // an index loaded before it (by identity: a name may come back for another file).
    const atPurge = this.leftAtPurge as Map<string, string> | 'unknown' | undefined;
    const watched = before === undefined || atPurge === 'unknown' ? undefined : [...before, ...[...(atPurge ?? [])].filter(([name, identity]) => before.get(name) !== identity)];
    // (A save's file left by a process that died before renaming it may hold a deleted memory's words.)
    let tempsGone = this.host.wal.readOnly;
    if (!this.host.wal.readOnly) {
      tempsGone = await removeAbandonedSaveFiles(this.host, { erase: true }).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        return true;
      });
    }
    let indexFilesLeft = watched === undefined ? 1 : await this.waitForFilesGone(watched);
    // The removals made there durable, whoever made them (this process, another as it let go of them, or
    // an earlier erase whose fsync failed): a file a power loss brought back may hold what the erase
    // removed. Else every file there before counts as left. (The index folder itself is made durable by
    // the count of purges every erase writes.)
    const durable = await syncFolder(this.host.layout.searchSegments, this.host.files).then(() => true, (error: NodeJS.ErrnoException) => error?.code === 'ENOENT');
    if (!durable) indexFilesLeft = Math.max(indexFilesLeft, watched?.length ?? 1);
    return { indexFilesLeft: indexFilesLeft + (purged ? 0 : 1) + (tempsGone ? 0 : 1) };
  }

  /**
   * After a purge: the files `files` (name, identity) that other processes still read go as those
   * processes let go of them (at their idle catch-up, see `letGoAfterPurgeElsewhere`), waited for here
   * for about `PURGE_LET_GO_WAIT_MS`, and removed as they are let go of. How many of them are left then.
   */
  private async waitForFilesGone(files: ReadonlyArray<readonly [string, string]>): Promise<number> {
    const left = async () => {
      const now = await indexFolderFiles(this.host, this.persistent).catch(() => undefined);
      return now === undefined ? files.length : files.filter(([name, identity]) => now.get(name) === identity).length;
    };
    const until = monotonicMs() + PURGE_LET_GO_WAIT_MS;
    let count = await left();
    while (count > 0 && !this.host.closing && monotonicMs() < until) {
      await new Promise((resolve) => setTimeout(resolve, PURGE_LET_GO_RETRY_MS));
      if (!this.persistent) await removeSegmentFilesNoOneNames(this.host, this.provider.name);
      else if (this.provider.removeUnusedFiles) await this.removeUnusedFiles(false);
      count = await left();
    }
    return count;
  }

  /** Whether the index was purged (a persistent one saved without what was deleted; another, rebuilt or its snapshot removed). */
  private async eraseSavedIndex(): Promise<boolean> {
    this.loaded ??= await this.searchSource.load();
    if (this.persistent) {
      // (Again, a few times, when a saved index with a higher count of purges refused it: loaded afresh
      // from that one, this index is then not refused by its count.)
      for (let attempt = 0; attempt < 3; attempt++) {
        // An index loaded before a purge elsewhere, not let go of yet, writes no file: loaded afresh first.
        if (this.indexLoaded && !this.host.closing && (await this.purgedSinceLoad())) this.unload();
        await this.ensureLoaded();
        const loaded = this.loads;
        const refusals = this.refusals;
        try {
          await this.drain();
          this.snapshotLsn = -1;
          await this.save({ purge: true });
        } catch (error) {
          // A purge elsewhere counted meanwhile refused a file of this one: its index loaded afresh, and purged then.
          if (this.refusals !== refusals && !this.host.closing && !isIndexDamaged(error)) {
            this.unload();
            continue;
          }
          // Damaged files (found by the merge of the purge, say): rebuilt from the memories, and purged then.
          if (!isIndexDamaged(error)) throw error;
          // (Closing, or out of tries: the description naming them, which may hold what the erase removes, is dropped all the same.)
          if (attempt === 2 || this.host.closing) {
            await this.dropDamagedSaved(error);
            throw error;
          }
          await this.replaceDamaged(error, loaded);
          continue;
        }
        if (this.indexLoaded) return true;
      }
      process.emitWarning('The search index was not purged: other processes saved theirs again each time (it is purged by the next compact({ erase: true })).', { code: 'MEMMAPFS_SNAPSHOT_FAILED' });
      return false;
    } else {
      // (Not deciding on an index half loaded.)
      await this.loadingIndex?.catch(() => undefined);
      // Counted, whether a snapshot is saved now or not, and the snapshot removed, at once: a persistent
      // index another process loaded before the erase is never saved over it.
      await this.countPurge({ removeSnapshot: true });
      this.snapshotLsn = -1;
      // (A load a query began while the purge was counted may have read the snapshot it removed: waited
      // for, and rebuilt like any index loaded before.)
      await this.loadingIndex?.catch(() => undefined);
      // An index in memory that took a deletion may still hold its words (FlexSearch keeps a word no
      // memory holds any more): rebuilt from the live memories, then saved, so that other processes
      // load a snapshot without them.
      if (this.indexLoaded) {
        this.unload(true);
        // (Closing, it is saved by no one now: the next open rebuilds it.)
        if (this.host.closing) return true;
        await this.ensureLoaded();
        await this.drain();
        await this.save();
      }
      return true;
    }
  }

  /**
   * On the idle catch-up: when another process purged the saved index (`compact({ erase: true })`) since
   * this one loaded its persistent index, lets go of it and of the files it read, which may hold what the
   * purge erased (the next query loads the purged one). Only while nothing else uses the index; never
   * fails (the next tick tries again).
   */
  letGoAfterPurgeElsewhere(): Promise<void> {
    this.lettingGo ??= this.letGoNowAfterPurgeElsewhere().finally(() => (this.lettingGo = undefined));
    return this.lettingGo;
  }

  /** The let-go after a purge elsewhere under way, if any: `saveOnClose` waits for it. */
  private lettingGo: Promise<void> | undefined;

  private async letGoNowAfterPurgeElsewhere(): Promise<void> {
    const busy = () => this.host.closing || this.indexing !== undefined || this.loadingIndex !== undefined || this.releasing !== undefined || this.savesWaiting > 0 || this.searchesUnderWay > 0;
    if (!this.indexLoaded || !this.loaded || !this.persistent || busy()) return;
    try {
      const { kept, described } = await this.purgesNow();
      const purges = kept === 'damaged' ? kept : Math.max(kept, described);
      if (purges === this.purgesSeen) return;
      this.purgesSeen = purges;
      if (purges !== 'damaged' && purges <= this.indexPurges) return;
      // (Checked again: a query or an indexing may have started meanwhile.)
      if (!this.indexLoaded || busy()) {
        this.purgesSeen = undefined;
        return;
      }
      this.unload();
      await this.letGoOfFiles();
      // What it let go of and no description names goes now, not at some later save (a merge of its
      // own that ended after the purge may have written a file holding what the purge erased).
      if (this.provider.removeUnusedFiles && !this.host.wal.readOnly) await this.removeUnusedFiles(false);
    } catch {
      // (Tried again at the next tick.)
    }
  }

  /**
   * Counts one more purge in `index/purges`, no index being saved with it; with `removeSnapshot`, then
   * removes the saved snapshot (under the same hold of the lock: its count is read first). With
   * `unlessPurgedSince`, does neither when a purge was counted since this process loaded its index (the
   * saved one, if any, was saved after that purge). With `removeSnapshot` (an erase's), lists the segment
   * files there then (`leftAtPurge`).
   */
  private async countPurge(options: { removeSnapshot?: boolean; unlessPurgedSince?: boolean; unlessReplaced?: SearchSnapshot; waitMs?: number } = {}): Promise<boolean> {
    if (this.host.wal.readOnly) return false;
    const { layout, files } = this.host;
    const logId = this.host.wal.header.logId;
    await files.mkdir(layout.index, { recursive: true });
    return withFileLock(layout.searchLock, files, async () => {
      const kept = await readSearchPurges(layout.searchPurges, logId, files);
      const onDisk = await readSearchSnapshotMark(layout.searchSnapshot, files, true);
      const counted = Math.max(kept === 'damaged' ? 0 : kept, onDisk?.logId === logId ? onDisk.purges : 0);
      if (options.unlessPurgedSince && kept !== 'damaged' && counted > this.indexPurges) return false;
      // (Only the saved index found damaged: one saved since, in its place, is another process's.)
      if (options.unlessReplaced) {
        const now = await readSearchSnapshot(layout.searchSnapshot, files).catch(() => undefined);
        if (now === undefined || !sameSavedIndex(now, options.unlessReplaced)) return false;
      }
      const purges = Math.max(counted, this.indexPurges) + 1;
      await writeSearchPurges(layout.searchPurges, logId, purges, files);
      this.indexPurges = purges;
      this.purgesCountedHere = purges;
      // (Its removal made durable: a snapshot a power loss brought back may hold what an erase removed.
      // One that cannot be removed fails the purge: the erase must not say it is gone.)
      if (options.removeSnapshot) {
        const removed = await files.unlink(layout.searchSnapshot).then(() => true, (error: NodeJS.ErrnoException) => {
          if (error?.code === 'ENOENT') return false;
          throw error;
        });
        if (removed) await syncFolder(layout.index, files);
        // The segment files there now (a `segments` index of another process, loaded before, may have
        // written one since the erase listed the folder): the erase waits for them too. (None is being made
        // under this lock, and a process with such an index makes none from now on.)
        this.leftAtPurge = await indexFolderFiles(this.host, false).catch(() => 'unknown' as const);
      }
      return true;
    }, options.waitMs);
  }

  /**
   * Before a compaction asked for (not by policy): a persistent index no query has loaded yet is loaded
   * now, while the log still holds the changes after the saved one (after the compaction, those are
   * gone, and the index would be rebuilt from every memory). Never fails: the compaction goes on.
   */
  async loadForCompaction(): Promise<void> {
    try {
      this.loaded ??= await this.searchSource.load();
      if (this.persistent) await this.ensureLoaded();
    } catch {
      // (Loaded, or rebuilt, when a query next needs it, which says what failed.)
    }
  }

  /** After this process's cut of the log: see `dropSavedIndexBefore`. Never fails. */
  dropSavedBefore(covered: number, reached: boolean): Promise<void> {
    return dropSavedIndexBefore(this.host, covered, reached, () => this.persistentLoaded);
  }

  /**
   * On close, once the store caught up with every process (`catchUp`): indexes what still waits, so
   * that the index saved covers all the log holds. Never fails: the log still holds what is not indexed.
   */
  async drainForClose(catchUp: () => void): Promise<void> {
    this.cancelScheduled();
    await this.loadingIndex?.catch(() => undefined);
    if (this.indexLoaded) catchUp();
    await this.drain().catch(() => undefined);
  }

  /**
   * On close: with `save`, saves the index if it moved and lets go of its files (a failure is a warning:
   * the next open rebuilds from the log); then waits for any save under way.
   */
  async saveOnClose(save: boolean): Promise<void> {
    if (save) {
      await this.save({ closing: true }).catch(async (error: unknown) => {
        // Damaged files: the description naming them is dropped, so that the next open rebuilds rather than meet them.
        if (isIndexDamaged(error)) await this.dropDamagedSaved(error);
        else process.emitWarning(`The search index was not saved (it is rebuilt from the log on the next open): ${describeThrown(error)}`, { code: 'MEMMAPFS_SNAPSHOT_FAILED' });
      });
    }
    await this.savingIndex;
    await this.lettingGo;
  }

  /**
   * The saved index's description, for a persistent provider's removal of files no one names (read
   * under `searchLock`); `undefined` only when there is none, or it is another provider's or another
   * log's. A read that fails, or a description damaged or of another version, throws: then nothing is
   * removed.
   */
  private async savedDescription(): Promise<Uint8Array | undefined> {
    const snapshot = await readSearchSnapshot(this.host.layout.searchSnapshot, this.host.files, true);
    return snapshot && snapshot.provider === this.provider.name && snapshot.logId === this.host.wal.header.logId ? snapshot.data : undefined;
  }}

/** Whether `error` (a provider's, or `SearchIndex.call`'s wrapping of it) says the files of the provider's index are damaged (`SEARCH_INDEX_DAMAGED`). */
/** Whether a provider's `openIndex` failed as a file its description names is gone (`code` `'ENOENT'`, see `SearchProvider.openIndex`). */
function isFileGone(error: unknown): boolean {
  const code = (value: unknown) => (value as { code?: unknown } | null | undefined)?.code;
  return code(error) === 'ENOENT' || (MemMapError.is(error, 'PROVIDER_FAILED') && code(error.cause) === 'ENOENT');
}

function isIndexDamaged(error: unknown): boolean {
  const code = (value: unknown) => (value as { code?: unknown } | null | undefined)?.code;
  return code(error) === 'SEARCH_INDEX_DAMAGED' || (MemMapError.is(error, 'PROVIDER_FAILED') && code(error.cause) === 'SEARCH_INDEX_DAMAGED');
}

/**
 * Another process changed what a load read while it read it: a persistent index's description named
 * files that are gone (replaced meanwhile), or a checkpoint let the log drop the records being read.
 */
class LoadAgain extends Error {
  /** The saved index whose files were found missing, when that was why: dropped if a second read finds it again. */
  constructor(readonly missingFilesOf?: SearchSnapshot) {
    super('load the saved index again');
  }
}

/** Whether two reads of `search.snapshot` found one save (not two of the same position). */
function sameSavedIndex(a: SearchSnapshot, b: SearchSnapshot): boolean {
  return a.logId === b.logId && a.lsn === b.lsn && a.checksum === b.checksum && a.savedAt === b.savedAt && a.purges === b.purges && a.provider === b.provider && Buffer.compare(a.data, b.data) === 0;
}
