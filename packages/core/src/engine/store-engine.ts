import type { BlockRef, BlockStore, PlacedBlock, PlacedBlocks } from '@memmapfs/blocks';
import { describeThrown, type CommittedRecord, type WalPosition, type WriteAheadLog } from '@memmapfs/wal';
import type { Codec } from '../contracts/codec.js';
import { MemMapError } from '../errors.js';
import { embeddingOf } from '../memory-embedding.js';
import type { DeferredSearchProvider } from '../registry/provider-registry.js';
import type { AgentState, Durability, Memory, StoreFileSystem, StoreStats } from '../types.js';
import { toMemMapError } from './error-mapping.js';
import { RecordType, blockRefsOf, decodeRecord, encodeRecord, PayloadArena, walRecordType, type LogRecord, type MemoryRecord } from './log-records.js';
import { LogFollower } from './log-follower.js';
import { KvTable } from './kv-table.js';
import { OrderedKeys } from './ordered-keys.js';
import { ChunkClaims } from './chunk-claims.js';
import { liveBytes, type CompactionReport, type CompactOptions } from './compaction.js';
import { DeadBytesBound } from './dead-bytes-bound.js';
import { StoreCompactor } from './store-compactor.js';
import { LogHistory } from './log-history.js';
import { MemoryTable, type FrozenMemories } from './memory-table.js';
import { changesTables, moveMemories, putMemory } from './memory-changes.js';
import { CheckpointAdoption } from './checkpoint-adoption.js';
import { SearchIndex } from './search-index.js';
import { StateChannel } from './state-channel.js';
import { BlockReferences, sameBlock } from './block-references.js';
import { CopiedBlockLog } from './block-recovery.js';
import type { StoreLayout } from './store-layout.js';
import { HostBlocks } from './host-blocks.js';
import { firstRecordAt, isOwnOpen } from './host-chunks.js';
import { tryFileLock, withFileLock } from './file-lock.js';
import { RetiredChunks } from './retired-chunks.js';
import { SnapshotPublisher } from './snapshot-publisher.js';
import { UnwrittenBlocks } from './unwritten-blocks.js';
import { CheckpointStore, type PublishedCheckpoint } from '../checkpoint/checkpoint-store.js';
import { checkpointDamage, openCheckpointFile, type CacheOpen, type CheckpointFile, type CheckpointRowsProgress, type CheckpointTables, type UnnamedCheckpoint } from '../checkpoint/checkpoint-file.js';
import { monotonicMs } from '../monotonic-clock.js';

const textDecoder = new TextDecoder('utf-8', { fatal: false });

/**
 * Blocks up to this size travel in their WAL record too, so one fsync (the log's) makes an append
 * durable; the chunk file is fsynced later, at a checkpoint. Larger blocks are fsynced before the log.
 */
export const BLOCK_COPY_LIMIT = 64 * 1024;
/** A checkpoint is taken once this many bytes of block copies were logged since the last one. */
const CHECKPOINT_AFTER_BYTES = 8 * 1024 * 1024;
/**
 * A checkpoint of the tables is written in the background once this many changes (or a quarter of
 * the memories the last one holds, if more) were applied after the last one: writing one costs in
 * proportion to the tables, replaying records in proportion to their number. Records that change
 * nothing (a restore's padding, repair's placeholders) do not count: else a restore far above the
 * log would start one checkpoint after another, in every process that follows it.
 */
const CHECKPOINT_AFTER_RECORDS = 16_384;
/**
 * A checkpoint of the tables in the background starts no sooner than this after the last one started
 * (or the engine was made), unless `CHECKPOINT_BURST_RECORDS` changes (or a quarter of the memories, if
 * more) are waiting: in a burst of changes (a bulk load), rewriting the tables every 16,384 changes took
 * a sixth of a load of 100,000 memories. A burst that stops in between gets its checkpoint at the next
 * idle catch-up past this time (`IDLE_FOLLOW_MS`).
 */
const CHECKPOINT_BURST_INTERVAL_MS = 2_000;
/** …which bounds what a burst leaves for the next open to replay (about a second of it on a small machine), with what arrives while the checkpoint is written. */
const CHECKPOINT_BURST_RECORDS = 65_536;
/** …and on `close()` once this many were, or any after `CHECKPOINT_AFTER_RECORDS` LSNs of padding: so that the next open replays little. */
const CHECKPOINT_ON_CLOSE_AFTER_RECORDS = 1_024;
/** How often a process that reads nothing catches up with the log (see `followWhileIdle`). */
const IDLE_FOLLOW_MS = 1000;
/** How long compaction waits, after its move is committed, before it removes the chunk files it emptied. */
const RETIRE_GRACE_MS = IDLE_FOLLOW_MS + 500;
/** How long a process waits for `host.lock` (another process of the host opening the cache, or claiming chunk numbers). */
export const HOST_LOCK_WAIT_MS = 120_000;

/** A block just written, with the copy its WAL record carries when it is small enough. */
export interface WrittenBlock {
  readonly ref: BlockRef;
  readonly copy: Uint8Array | undefined;
  /** The write to the chunk file; a small block's may still be under way (its record carries the copy). */
  readonly written: Promise<void>;
  /**
   * Lets the chunk go once the record naming the block is in the log or never will be: until then no
   * compaction, of this process or another, takes the chunk (see `BlockStore.place`).
   */
  release(): void;
}

/** Whether the chunk files must be fsynced before the next fsync of the log. */
export interface BlockSyncDemand {
  needed: boolean;
}

/** The default agent state of a new store. */
export const initialAgentState: AgentState = { status: 'idle', activeMemoryCount: 0, lastUpdatedId: 0, extra: {} };

/**
 * The store's moving parts: the WAL (truth), the block store (texts and stream bytes), the in-memory
 * tables rebuilt from the WAL, and the search index derived from them. Every change is written to
 * the WAL first and applied to the tables only once its append resolved, so readers never see a
 * change that is not durable.
 */
export class StoreEngine<S extends AgentState> {
  readonly memories: MemoryTable;
  kv = new KvTable();
  streams = new Map<string, BlockRef[]>();
  /** The keys of `streams` in order: built at the first listing (an open, and a store never listed, pay nothing for it), then kept by every change. */
  private streamOrder: OrderedKeys | undefined;
  readonly stateChannel = new StateChannel<S>();
  state: S;
  /** Whether `state` was written to the store (else it is this opener's initial state, not for a checkpoint). */
  private stateRecorded = false;
  private copiedBytesSinceCheckpoint = 0;
  /** Records applied since the tables' checkpoint that change something (not padding, not placeholders). */
  private changesSinceCheckpoint = 0;
  private readonly follower: LogFollower;
  private checkpointing: Promise<void> | undefined;
  /** Where the records applied so far point in the chunk files: new blocks are never placed there. */
  readonly references = new BlockReferences();
  /** The last record applied (the one at `wal.lastLsn`): its checksum keys the search snapshot, and a checkpoint names it. */
  private lastApplied: WalPosition = { lsn: 0, offset: 0, checksum: 0 };
  get lastChecksum(): number {
    return this.lastApplied.checksum;
  }
  /** The LSN of the last record applied; within an append's check, the last record of the log. */
  get lastLsn(): number {
    return this.lastApplied.lsn;
  }
  /** The checkpoint the memory table reads its base rows from. */
  private checkpointFile: CheckpointFile | undefined;
  /**
   * Whether `checkpointFile` has its name: the one an open read, or one this process published. Not
   * when another writer had published one as recent (its file, of the same name, is another's) or the
   * publishing failed: this process then reads its own through the mapping, and removes nothing by name.
   */
  private checkpointNamed = true;
  /** Whether `checkpointFile` is published, or another as recent is: else it is written again when asked. */
  private checkpointSettled = true;
  /** The checkpoint files and the manifest. */
  private readonly checkpoints: CheckpointStore;
  /** The history the log keeps past this process's checkpoints (`historyRetentionMs`), and its cuts. */
  private readonly history: LogHistory;
  /** The record the tables' checkpoint ends with (see `SearchIndexHost`). */
  get checkpointPosition(): WalPosition | undefined {
    return this.checkpointFile?.position;
  }
  /** See `SearchIndexHost.publishedCheckpoint`. */
  publishedCheckpoint(): Promise<PublishedCheckpoint | undefined> {
    return this.checkpoints.published(this.wal.header.logId);
  }
  /** LSN of the last record the tables' checkpoint covers (0: none). */
  get checkpointLsn(): number {
    return this.checkpointFile?.position.lsn ?? 0;
  }
  /** The checkpoint writes, one after the other (a write's failure does not stop the next). */
  private checkpointQueue: Promise<void> = Promise.resolve();
  /** A checkpoint in the background is queued or being written. */
  private backgroundCheckpoint = false;
  /** The index's save and the compaction by policy after a checkpoint in the background, while they run. */
  private afterCheckpoint: Promise<void> | undefined;
  /** A checkpoint in the background was written while they ran: they run once more. */
  private afterCheckpointAgain = false;
  /** Blocks of the records applied since the last checkpoint whose records carry a copy: read back before the next one. */
  private readonly copiedSinceCheckpoint = new CopiedBlockLog();
  /** After a failed checkpoint in the background, the next is not tried before this time. */
  private retryCheckpointAt = 0;
  /** When the last checkpoint in the background started, or the engine was made (see `CHECKPOINT_BURST_INTERVAL_MS`). */
  private lastBackgroundCheckpointAt = monotonicMs();
  /** A checkpoint was due but put off by `CHECKPOINT_BURST_INTERVAL_MS`: the idle catch-up starts it should no change come. */
  private checkpointPutOff = false;
  private closeStarted = false;
  /** Set by `close()`: from then on the index is only drained by `close()` itself, never on a timer. */
  get closing(): boolean {
    return this.closeStarted;
  }
  /**
   * Set as `close()` is called, before it waits for the calls under way: a compaction's erase then stops
   * waiting for other processes' checkpoint writers (see `checkpointsBeforeRemoved`).
   */
  closeAsked = false;
  private requestClose!: () => void;
  /** Resolves when `close()` is called (it cuts compaction's grace short). */
  readonly closeRequested = new Promise<void>((resolve) => (this.requestClose = resolve));

  /** The search index derived from the memory table. */
  readonly index: SearchIndex;

  /** The log; set as soon as it is open (the tables are built while it opens). */
  wal!: WriteAheadLog;
  /**
   * The log is shared by hosts that each keep their own chunk files (the `wal` option): every block
   * travels in its record, and the blocks of other hosts' records are written here as they are applied.
   */
  remote = false;
  /** With a shared log: this host cache's chunk numbers and the blocks of other hosts' records (see `HostBlocks`). */
  readonly hostBlocks: HostBlocks;
  /** The last record applied (or covered by the checkpoint) that claimed or opened each host cache (a shared log). */
  private cacheOpens = new Map<string, CacheOpen>();
  lastOpenOf(cache: string): CacheOpen | undefined {
    return this.cacheOpens.get(cache);
  }
  /** With a shared log: the host cache this process opened, the nonce of its open, and its LSN once applied. */
  private ownCache: { readonly cache: string; readonly nonce: string | undefined; lsn?: number } | undefined;
  opening(cache: string, nonce: string | undefined): void {
    this.ownCache = { cache, nonce };
  }
  /** See `HostBlocksSite.ownCacheName`. */
  ownCacheName(): string | undefined {
    return this.ownCache?.cache;
  }
  /**
   * Set when another copy of this host cache opened (a disk cloned while this process ran): from then
   * on this process writes nothing and reads nothing (see `noteCacheOpen`).
   */
  private takenOver: MemMapError | undefined;
  /** With a shared log: writes the blocks of other hosts' records here, and keeps those that cannot be written yet. */
  readonly unwritten: UnwrittenBlocks;
  /** With a shared log: `false` in a read-only process, which writes nothing into this host's cache (blocks are kept in memory). */
  writesCache = true;
  /** With a shared log: the chunks compactions retired, which this host's cache still holds. */
  readonly retiredChunks: RetiredChunks;
  /** See `CompactionSite.claims`. */
  readonly claims: ChunkClaims;

  /** Built by `openStoreEngine` (store-open.ts), which then replays the log into it. */
  constructor(
    readonly layout: StoreLayout,
    readonly blocks: BlockStore,
    readonly codec: Codec,
    searchSource: DeferredSearchProvider,
    readonly durability: Durability,
    initialState: S,
    readonly files: StoreFileSystem,
    private readonly blockSync: BlockSyncDemand,
    readonly reader: 'auto' | 'mmap' | 'read',
    historyRetentionMs: number,
    /** Dead bytes that start a compaction after a background checkpoint; `undefined`: never by itself. */
    readonly autoCompactionMinDeadBytes: number | undefined,
  ) {
    this.state = initialState;
    this.memories = new MemoryTable(codec);
    this.unwritten = new UnwrittenBlocks(blocks);
    this.hostBlocks = new HostBlocks(this, HOST_LOCK_WAIT_MS);
    const engine = this;
    this.snapshots = new SnapshotPublisher({
      get remote() {
        return engine.remote;
      },
      get wal() {
        return engine.wal;
      },
      codec,
      blocks,
      stopped: () => this.closing || this.takenOver !== undefined,
      lastLsn: () => this.lastApplied.lsn,
      catchUp: () => this.catchUp(),
      checkpointTables: () => this.checkpointTables(),
      checkpointFile: () => this.checkpointFile,
      keepingChunks: (body) => withFileLock(layout.blocksLock, files, body, HOST_LOCK_WAIT_MS, 'shared'),
    });
    this.claims = new ChunkClaims(blocks);
    this.retiredChunks = new RetiredChunks(this.claims, RETIRE_GRACE_MS, {
      // (A snapshot or a checkpoint being written reads blocks by the references of its tables: the files wait for it.)
      busy: () => this.snapshots.busy || this.checkpointsUnderWay > 0,
      catchUp: () => this.catchUp(),
      removable: (chunks) => {
        const referenced = liveBytes(this);
        return chunks.filter((chunk) => this.references.isRetired(chunk) && !referenced.has(chunk));
      },
      lockRemovals: (waitMs) => tryFileLock(layout.blocksLock, files, waitMs),
      hold: (chunk) => this.unwritten.hold(chunk),
      release: (chunk) => this.unwritten.release(chunk),
    });
    this.index = new SearchIndex(searchSource, this);
    this.checkpoints = new CheckpointStore(layout.checkpoints, layout.manifest, files, reader);
    this.history = new LogHistory({ get wal() { return engine.wal; }, index: this.index, checkpoints: this.checkpoints }, historyRetentionMs);
    this.follower = new LogFollower(layout.root, () => this.refresh());
    this.stateChannel.onWaitingChanged = (count) => this.follower.keepAlive(count > 0);
  }


  /**
   * Writes `bytes` to a block. A small block is made durable by the copy its WAL record carries; a
   * large one is fsynced before the log's next fsync.
   */
  async writeBlock(bytes: Uint8Array): Promise<WrittenBlock> {
    let placed;
    try {
      placed = await this.placeBlock(bytes);
    } catch (error) {
      throw this.takenOver ?? toMemMapError(error);
    }
    return this.placedBlock(bytes, placed);
  }

  /** Writes blocks (see `writeBlock`); when one fails, the others are released and it rejects. */
  async writeBlocks(list: readonly Uint8Array[]): Promise<WrittenBlock[]> {
    if (list.length === 0) return [];
    if (list.length === 1) return [await this.writeBlock(list[0]!)];
    // (A store that places a batch at once gives one write and one release for all of them.)
    if (!this.remote && this.blocks.placeMany) return this.placedBatch(list, this.blocks.placeMany.bind(this.blocks));
    // (Placed all at once, one promise each: a bulk load's thousands of blocks per call.)
    // (An implementation that throws rather than rejects fails the call the same way. A write that fails
    // while other blocks are still being placed is looked at once they are, never left unhandled.)
    const outcomes = await Promise.allSettled(
      list.map(async (bytes) => {
        const placed = await this.placeBlock(bytes);
        placed.written.catch(() => undefined);
        return placed;
      }),
    );
    const failed = outcomes.find((outcome) => outcome.status === 'rejected');
    if (!failed) return outcomes.map((outcome, i) => this.placedBlock(list[i]!, (outcome as PromiseFulfilledResult<PlacedBlock>).value));
    for (const outcome of outcomes) if (outcome.status === 'fulfilled') void outcome.value.release().catch(() => undefined);
    throw this.takenOver ?? toMemMapError(failed.reason);
  }

  /** Blocks placed by `placeMany`, each with what its record needs (see `placedBlock`). */
  private async placedBatch(list: readonly Uint8Array[], placeMany: NonNullable<BlockStore['placeMany']>): Promise<WrittenBlock[]> {
    let placed: PlacedBlocks;
    try {
      placed = await placeMany(list);
    } catch (error) {
      throw this.takenOver ?? toMemMapError(error);
    }
    // (Marked handled here too, for a store of one's own that does not: the commit looks at it.)
    placed.written.catch(() => undefined);
    // (The batch is let go of once every one of its blocks is released, each once.)
    let held = list.length;
    const releaser = () => {
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (--held === 0) void placed.release().catch(() => undefined);
      };
    };
    return list.map((bytes, i) => this.writtenBlock(bytes, placed.refs[i]!, placed.written, releaser()));
  }

  /** A block placed, with what its record needs (see `writtenBlock`). */
  private placedBlock(bytes: Uint8Array, placed: PlacedBlock): WrittenBlock {
    // (A chunk whose letting go fails stays this store's: the next seal tries again.)
    return this.writtenBlock(bytes, placed.ref, placed.written, () => void placed.release().catch(() => undefined));
  }

  /** A block placed at `ref`, with what its record needs: its copy when small enough, and when it is written. */
  private writtenBlock(bytes: Uint8Array, ref: BlockRef, written: Promise<void>, release: () => void): WrittenBlock {
    // (Other hosts have only the log: with a shared one, every block travels in its record.)
    if (bytes.byteLength <= BLOCK_COPY_LIMIT || this.remote) return { ref, copy: bytes, written, release };
    // No copy travels with a large block: the log's next pre-sync hook must fsync it first. The demand
    // is raised when the write has finished, so that the sync it triggers covers these bytes.
    const synced = written.then(() => {
      this.blockSync.needed = true;
    });
    synced.catch(() => undefined);
    return { ref, copy: undefined, written: synced, release };
  }

  /**
   * Appends records to the WAL and resolves with their LSNs once they are durable (under `'sync'`).
   * They are applied to the tables as they commit, in LSN order with every other process's records
   * (`applyCommitted`). `blocks`: the blocks the records point to, whose writes must finish first. A new
   * memory has id 0 in its record: its id is the LSN of that record. `check`: a precondition run under
   * the writer lock with every earlier change applied (see `AppendOptions.check`); when it throws,
   * nothing is written and the commit rejects with what it threw.
   */
  async commit(records: LogRecord[], blocks?: WrittenBlock | readonly WrittenBlock[], check?: () => void): Promise<number[]> {
    const list = blocks === undefined ? [] : Array.isArray(blocks) ? blocks : [blocks as WrittenBlock];
    // Every block is in its chunk file (the page cache) before the record that points at it is written:
    // a process that reads the record can read the block, and a writer killed between the two leaves
    // no durable record without its bytes. A failed block write fails the append with nothing written.
    const after = settledLater(list.map((b) => b.written));
    // (A record repeated back to back, a restore's padding, is encoded once.)
    let previous: { record: LogRecord; payload: Uint8Array } | undefined;
    // (A bulk load's thousands of payloads cut from a few buffers: see `PayloadArena`.)
    const arena = records.length >= 16 ? new PayloadArena() : undefined;
    const encode = (record: LogRecord) => (previous?.record === record ? previous : (previous = { record, payload: encodeRecord(this.codec, record, arena) })).payload;
    const entries = records.map((record, i) => ({
      type: walRecordType(record),
      payload: encode(record),
      context: record,
      ...(i === 0 && after ? { after } : {}),
    }));
    if (this.takenOver) throw this.takenOver;
    let lsns: number[];
    try {
      lsns = await this.wal.append(entries, check ? { check } : {});
    } catch (error) {
      throw this.takenOver ?? toMemMapError(error);
    }
    // (Far ahead of the search index, a bulk load waits for it: see `SearchIndex.keepUp`.)
    const indexing = records.some((record) => record.type === RecordType.MemoryPut || record.type === RecordType.MemoryDelete) ? this.index.keepUp() : undefined;
    if (indexing) await indexing;
    return lsns;
  }

  /**
   * Commits `records` only if `holds()` returns true when checked under the writer lock, with every
   * earlier change (of this process and the others) applied: `'written'`, or `'refused'` with nothing
   * written. What `holds` throws rejects the commit, also with nothing written.
   */
  async commitIf(records: LogRecord[], blocks: WrittenBlock | readonly WrittenBlock[] | undefined, holds: () => boolean): Promise<'written' | 'refused'> {
    return (await this.commitWhen(records, holds, blocks)) === undefined ? 'refused' : 'written';
  }

  /** `commitIf`, resolving with the records' LSNs when written, `undefined` when refused. */
  async commitWhen(records: LogRecord[], holds: () => boolean, blocks?: WrittenBlock | readonly WrittenBlock[]): Promise<number[] | undefined> {
    const refused = new Error('precondition does not hold');
    try {
      return await this.commit(records, blocks, () => {
        if (!holds()) throw refused;
      });
    } catch (error) {
      if ((error as MemMapError).cause === refused) return undefined;
      throw error;
    }
  }

  /** The record at `lsn`, decoded; `'dropped'` when retention dropped it; `undefined` when the log never held it. */
  async recordAt(lsn: number): Promise<LogRecord | 'dropped' | undefined> {
    try {
      const found = await firstRecordAt(this.wal.readFrom(lsn), lsn);
      // (Nothing there or after, though records up to it were applied: retention dropped them all.)
      if (found === undefined) return lsn <= this.lastApplied.lsn ? 'dropped' : undefined;
      return found === 'dropped' ? found : decodeRecord(this.codec, found.type, found.payload, lsn, true);
    } catch (error) {
      // (A WalError or a MemMapError: either way the code says it.)
      if ((error as { code?: string }).code === 'WAL_TRUNCATED') return 'dropped';
      throw toMemMapError(error);
    }
  }

  private idleFollow: NodeJS.Timeout | undefined;

  /**
   * A process that reads nothing still moves along the log now and then: the segment it is in stays
   * until it does (retention never removes a segment a process still reads), so an idle process must
   * not hold on to the history others let go of. Failures wait for the next read, which says them.
   */
  followWhileIdle(): void {
    this.idleFollow = setInterval(() => {
      if (this.closing) return;
      try {
        this.refresh();
      } catch {
        // The next read fails with it.
        return;
      }
      this.adoptPublishedCheckpoint();
      // (A burst that stopped with a checkpoint put off: see `CHECKPOINT_BURST_INTERVAL_MS`.)
      if (this.checkpointPutOff) this.checkpointIfDue();
      // (Another process's compact({ erase: true }) waits for this one to let go of the index files it replaced.)
      void this.index.letGoAfterPurgeElsewhere();
    }, IDLE_FOLLOW_MS).unref();
  }

  /** The adoption under way, if any (see `adoptPublishedCheckpoint`): one at a time, and `close()` waits for it. */
  private adopting: Promise<void> | undefined;

  /**
   * The LSN of a published checkpoint that cannot be taken (unreadable, damaged, of another codec or
   * history, or whose first records the log dropped): not tried again.
   */
  private adoptionPassed: number | undefined;

  /**
   * When another process published a checkpoint newer than the one the memory table reads its base
   * from, and this process has applied the record it ends with: reads the memories from it instead,
   * with the records after it read again from the log. That publication removed the older file, whose
   * disk space (with the tags, namespaces and meta of memories deleted since, even erased) stays taken
   * while a process maps it; a process that reads and writes little would otherwise keep it until it
   * writes a checkpoint of its own or closes. On the idle catch-up; never fails: whatever stops it (the
   * file removed meanwhile or damaged, the log cut past it, a checkpoint or compaction of this process
   * under way, more than `CHECKPOINT_AFTER_RECORDS` records after it to read again, which this
   * process's own next checkpoint covers sooner) leaves the table as it is.
   */
  private adoptPublishedCheckpoint(): void {
    this.adopting ??= this.adoptNow().finally(() => (this.adopting = undefined));
  }

  private async adoptNow(): Promise<void> {
    // (With a shared log, each host's checkpoints are its own cache's.)
    const busy = () => this.closing || this.remote || this.takenOver !== undefined || this.checkpointsUnderWay > 0 || this.compactor.busy;
    if (busy()) return;
    try {
      const tooFar = (lsn: number) => this.lastApplied.lsn - lsn > CHECKPOINT_AFTER_RECORDS;
      const published = await this.checkpoints.publishedBetween(this.wal.header.logId, this.checkpointLsn, this.lastApplied.lsn, this.adoptionPassed);
      if (!published || busy() || tooFar(published.lsn)) return;
      const file = published.file;
      let adoption: CheckpointAdoption | undefined;
      try {
        if (file?.codec === this.codec.name) adoption = new CheckpointAdoption(file, file.tables(this.codec), this);
      } catch {
        // (Its tables cannot be decoded.)
      }
      // Checked in full once: what fails is not tried again (one that cannot be opened, nor one whose
      // first records the log dropped meanwhile, which a newer checkpoint replaces).
      const taken = adoption !== undefined && (await adoption.sameHistory()) && (await adoption.rowsWhole()) && (await adoption.catchUp());
      if (!taken || !adoption) {
        if (!this.closing) this.adoptionPassed = published.lsn;
        return;
      }
      // (Records applied while it reads are read too: the swap itself waits for nothing.)
      for (let round = 0; round < 3; round++) {
        if (busy() || this.checkpointLsn >= published.lsn || tooFar(published.lsn)) return;
        if (adoption.upTo !== this.lastApplied.lsn) {
          if (!(await adoption.catchUp())) return;
          continue;
        }
        this.memories.adopt(adoption.table);
        this.kv = adoption.kv;
        this.checkpointFile = adoption.file;
        this.checkpointNamed = true;
        this.checkpointSettled = true;
        this.changesSinceCheckpoint = adoption.changes;
        return;
      }
    } catch {
      // (The manifest or the log could not be read, the log was cut while it was read, a record could
      // not be decoded: tried again at the next catch-up.)
    }
  }

  /** Keeps up with other processes' commits on its own, so state subscribers hear of them. */
  followOtherProcesses(): void {
    this.follower.start();
  }

  /**
   * Applies every change committed before the call, by any process: with a log other hosts share, after
   * asking the log how far it goes (a round trip); with the local log, what `refresh` reads.
   */
  async catchUp(): Promise<void> {
    if (this.remote) {
      if (this.takenOver) throw this.takenOver;
      try {
        await this.wal.fence();
      } catch (error) {
        throw this.takenOver ?? toMemMapError(error);
      }
    }
    this.refresh();
  }

  /** The log has records of other processes at hand: they are applied now (a failure is said by the next read). */
  followed(): void {
    try {
      this.refresh();
    } catch {
      // The next read fails with it.
    }
  }

  /** With a shared log, the log's identity (the host's claim of chunk numbers is kept for it). */
  get logId(): string {
    return this.wal.header.logId;
  }

  /** Catches up (see `refresh`) and returns this engine. */
  caughtUp(): this {
    this.refresh();
    return this;
  }

  /** The KV keys in ascending order (of UTF-16 code units), kept up to date with the table. */
  kvKeysInOrder(): KvTable {
    return this.kv;
  }

  /** The stream keys in ascending order, as `kvKeysInOrder`. */
  streamKeysInOrder(): OrderedKeys {
    return (this.streamOrder ??= OrderedKeys.from(this.streams.keys()));
  }

  /** Catches up with what other processes committed; cheap (one small read) when nothing changed. */
  refresh(): void {
    if (this.takenOver) throw this.takenOver;
    this.unwritten.writeKept();
    try {
      this.wal.refresh();
    } catch (error) {
      throw this.takenOver ?? toMemMapError(error);
    }
  }

  /** Applies committed records, this process's (with their `LogRecord` as context) and others'. */
  applyCommitted(records: CommittedRecord[]): void {
    for (const committed of records) {
      // Another process's record is a view into one read of all that was new: what the tables keep of it is detached.
      // (A new memory's record of this process has id 0: `apply` gives it its id, the LSN.)
      const record = (committed.context as LogRecord | undefined) ?? this.decode(committed, true);
      if ((record.type === RecordType.MemoryPut || record.type === RecordType.StreamAppend) && record.copy && committed.context) this.copiedBytesSinceCheckpoint += record.copy.byteLength;
      this.apply(record, committed.lsn, true, committed.context !== undefined);
      // (Only once applied: a record that could not be is never covered by a checkpoint.)
      this.lastApplied = { lsn: committed.lsn, offset: committed.offset, checksum: committed.checksum };
    }
    // (With a shared log, no host's chunk files make any copy in it needless: none is retired.)
    if (!this.remote && this.copiedBytesSinceCheckpoint >= CHECKPOINT_AFTER_BYTES) this.checkpointing ??= this.checkpoint().catch(() => undefined).finally(() => (this.checkpointing = undefined));
    this.checkpointIfDue();
    this.index.schedule();
  }

  /** Starts a checkpoint of the tables in the background when enough changes wait for one (see `CHECKPOINT_AFTER_RECORDS`). */
  private checkpointIfDue(): void {
    this.checkpointPutOff = false;
    if (this.closing || this.wal.readOnly || this.backgroundCheckpoint) return;
    const quarter = this.memories.baseCount / 4;
    const waiting = this.changesSinceCheckpoint;
    if (waiting < Math.max(CHECKPOINT_AFTER_RECORDS, quarter)) return;
    const now = monotonicMs();
    if (now < this.retryCheckpointAt) return;
    this.checkpointPutOff = now < this.lastBackgroundCheckpointAt + CHECKPOINT_BURST_INTERVAL_MS && waiting < Math.max(CHECKPOINT_BURST_RECORDS, quarter);
    if (this.checkpointPutOff) return;
    this.lastBackgroundCheckpointAt = now;
    this.backgroundCheckpoint = true;
    this.queueCheckpoint().then(() => {
      this.backgroundCheckpoint = false;
      // (Not behind the save below, which behind a bulk load waits until the load ends: the cut's own
      // save waits a bounded time. Not once closing: close cuts after its own save.)
      if (!this.closing) void this.history.cut();
      // What follows a checkpoint runs on its own: the index's save drains every change waiting for the
      // index, which behind a bulk load takes until the load ends, and must not hold the next checkpoint
      // back (the tables' changes since would pile up in memory). One run at a time, and once more after
      // it for the checkpoints written meanwhile.
      if (this.afterCheckpoint) {
        this.afterCheckpointAgain = true;
        return;
      }
      this.afterCheckpoint = (async () => {
        do {
          this.afterCheckpointAgain = false;
          await this.index.savePersistent();
          await this.compactor.consider();
        } while (this.afterCheckpointAgain && !this.closing);
      })().finally(() => (this.afterCheckpoint = undefined));
    }, (error: unknown) => {
      this.backgroundCheckpoint = false;
      this.retryCheckpointAt = monotonicMs() + 60_000;
      process.emitWarning(`A checkpoint of the tables was not written (the log still holds everything; it is tried again later): ${describeThrown(error)}`, { code: 'MEMMAPFS_CHECKPOINT_FAILED' });
    });
  }

  /**
   * Makes the chunk files durable, then logs that every block of the records so far is on disk: their
   * copies in the log are no longer needed for recovery.
   */
  async checkpoint(): Promise<void> {
    // (A shared log's copies are every other host's only source of the blocks: none is retired.)
    if (this.remote) return;
    const upTo = this.wal.lastLsn;
    const copied = this.copiedBytesSinceCheckpoint;
    try {
      // (Listed before the sync: a chunk taken over from a dead process meanwhile is not synced by it.)
      const chunks = this.blocks.ownedChunks();
      // (Written again first: see `checkpointTables`. A chunk taken over from a process whose fsync of it
      // failed holds its lost blocks, which this record would retire the copies of.)
      const owned = new Set(chunks);
      let copied = this.copiedSinceCheckpoint.upTo(upTo).refs.filter((ref) => owned.has(ref.chunk));
      await this.blocks.sync({ rewrite: copied });
      // A chunk holding a block that does not read back whole is not named: its copy stays, and the next
      // open puts it back (a page a failed fsync lost, dropped from memory since, reads back stale).
      for (let failed = await this.blocks.verify(copied); failed; failed = await this.blocks.verify(copied)) {
        const damaged = copied[failed.index]!.chunk;
        owned.delete(damaged);
        copied = copied.filter((ref) => ref.chunk !== damaged);
      }
      // A checkpoint naming no chunk would retire no copy (as on an open after a crash, owning nothing yet).
      if (owned.size > 0) await this.wal.append([{ type: RecordType.Checkpoint, payload: encodeRecord(this.codec, { type: RecordType.Checkpoint, upTo, chunks: [...owned] }) }]);
    } catch (error) {
      throw toMemMapError(error);
    }
    this.copiedBytesSinceCheckpoint -= copied;
  }

  /**
   * Lets go of (seals) the chunks this store appends to when `chunks` names one of them, for another
   * process's compaction with erase (see `StoreCompactor.askChunksBack`); new blocks go to another
   * chunk. Never fails: a failure is a warning, and that compaction leaves the chunk as it is.
   */
  private letGoOfChunks(chunks: readonly number[]): void {
    const asked = new Set(chunks);
    let letting: Promise<void>;
    if (this.blocks.letGo) letting = this.blocks.letGo(chunks);
    else if (this.blocks.ownedChunks().some((chunk) => asked.has(chunk))) letting = this.blocks.seal();
    else return;
    letting.catch((error: unknown) => {
      if (this.closing) return;
      process.emitWarning(`The chunk files this process appends to were not let go of for another process's compact({ erase: true }), which leaves them as they are: ${describeThrown(error)}`, { code: 'MEMMAPFS_COMPACTION_FAILED' });
    });
  }

  private readonly refWatchers = new Set<(ref: BlockRef) => void>();

  /** Calls `watcher` with every block reference a record applied from now on holds (what it throws is ignored); returns how to stop. */
  watchRefs(watcher: (ref: BlockRef) => void): () => void {
    this.refWatchers.add(watcher);
    return () => this.refWatchers.delete(watcher);
  }

  /** What `StoreCompactor.consider` knows of the dead bytes without counting the live ones again. */
  readonly deadBytes = new DeadBytesBound();

  /** The store's compactions: one at a time, asked for or by policy. */
  private readonly compactor = new StoreCompactor(this, RETIRE_GRACE_MS);

  /** Runs a compaction (see `StoreCompactor.compact`), after the one under way. */
  compact(options: CompactOptions & { background?: boolean } = {}): Promise<CompactionReport> {
    return this.compactor.compact(options);
  }

  /** See `CompactorSite.checkpointsBeforeRemoved`. */
  checkpointsBeforeRemoved(): Promise<boolean> {
    return this.checkpoints.removedBefore(this.checkpointLsn, this.wal.header.logId, () => this.wal.checkCurrent?.(), () => this.closeAsked || this.closing);
  }

  /** The LSN of the oldest record the log holds (one read; the next LSN when it holds none). */
  async oldestLsnHeld(): Promise<number> {
    const records = this.wal.readFrom(1);
    try {
      const first = await records.next();
      return first.done ? this.wal.lastLsn + 1 : first.value.lsn;
    } catch (error) {
      throw toMemMapError(error);
    } finally {
      await records.return?.();
    }
  }

  /**
   * Takes the tables from a checkpoint (on open, before any record is applied): its memories stay in its
   * mapping. `named`: whether the manifest names it (else the next checkpoint asked for is written, at its
   * LSN too, and published).
   */
  loadCheckpoint(file: CheckpointFile, tables: CheckpointTables, named = true): void {
    const memories = file.memories(this.codec);
    if (tables.namespaceCountsWrong !== undefined) {
      process.emitWarning(`The namespace counts in the checkpoint ${file.path} are wrong (${tables.namespaceCountsWrong}): the open counts them again from its rows when first needed, and the next checkpoint writes them right.`, { code: 'MEMMAPFS_CHECKPOINT_COUNTS' });
    }
    this.memories.setBase(memories, tables.expiring, tables.namespaces);
    this.deadBytes.forget();
    this.kv = new KvTable(tables.kv);
    this.streams = tables.streams;
    this.streamOrder = undefined;
    if (tables.state !== null) {
      this.state = tables.state as S;
      this.stateRecorded = true;
    }
    this.references.load(tables.chunkEnds);
    this.cacheOpens = tables.cacheOpens;
    for (const [expiresAt, id] of tables.expiring) this.index.noteExpiry(id, expiresAt);
    this.checkpointFile = file;
    this.checkpointNamed = true;
    this.checkpointSettled = named;
  }

  /**
   * The block references of the checkpoint the tables start from, and of every stream. Rows of the
   * checkpoint that fail their check are skipped, and counted to `onDamaged`.
   */
  *checkpointRefs(onDamaged: (rows: number) => void): IterableIterator<BlockRef> {
    yield* this.memories.baseRefs(onDamaged);
    for (const refs of this.streams.values()) yield* refs;
  }

  /**
   * Writes a checkpoint of the tables now, after the one being written (if any), covering every change
   * applied; `onRows` hears how many of its rows are written (nothing when there was nothing new to write).
   */
  async checkpointTables(onRows?: CheckpointRowsProgress): Promise<void> {
    this.refresh();
    await this.queueCheckpoint(onRows);
  }

  /** With a shared log: snapshots for new hosts, by policy (`autoSnapshot`) or when asked. */
  readonly snapshots: SnapshotPublisher;

  /** See `SnapshotPublisher.publish`. */
  publishSnapshot(): Promise<{ lsn: number; bytes: number } | undefined> {
    return this.snapshots.publish();
  }

  /** Writes a checkpoint once those queued before it are done: never two at once. */
  private queueCheckpoint(onRows?: CheckpointRowsProgress): Promise<void> {
    this.checkpointsUnderWay++;
    const write = this.checkpointQueue.then(() => this.writeCheckpoint(onRows)).finally(() => this.checkpointsUnderWay--);
    this.checkpointQueue = write.catch(() => undefined);
    return write;
  }

  /** Checkpoints queued or being written. */
  private checkpointsUnderWay = 0;

  /**
   * Writes the tables as they stand after the last record applied into a new checkpoint file, names
   * it in the manifest, and from then on reads the memories it holds from it. The records it covers
   * are made durable first, and every chunk file is fsynced, so that nothing before it is ever
   * replayed or restored again.
   */
  private async writeCheckpoint(onRows?: CheckpointRowsProgress): Promise<void> {
    if (this.wal.readOnly || (this.lastApplied.lsn === this.checkpointLsn && this.checkpointSettled)) return;
    if (this.takenOver) throw this.takenOver;
    // (Blocks arriving for a retired chunk while its file is removed wait in memory a moment: the
    // unlinks. Not the removals queued after it, which wait for checkpoints under way.)
    while (this.unwritten.holding) await new Promise((resolve) => setTimeout(resolve, 10));
    // From the tables taken until the file is published or removed, under a lock an erase takes
    // exclusively to remove what checkpoints from before it left: one whose tables predate a deletion
    // never creates its file after the erase looked. The log caught up with under it: tables taken from
    // then on hold every deletion committed before (a process that had not read it yet would write its
    // tables, which still hold the memory, after the erase).
    await this.checkpoints.whileWriting(async () => {
      this.refresh();
      if (this.lastApplied.lsn === this.checkpointLsn && this.checkpointSettled) return;
      await this.writeCheckpointOfTables(onRows);
    });
  }

  /** `writeCheckpoint`'s work, under the checkpoint writers' lock. */
  private async writeCheckpointOfTables(onRows?: CheckpointRowsProgress): Promise<void> {
    // Taken with the tables, no turn of the event loop between them: records applied while the checkpoint
    // waited are in its tables, and must not be replayed after it (a stream would get their blocks twice).
    const position = this.lastApplied;
    if (this.unwritten.size > 0) {
      // (Checked with the position: blocks of later records may fail meanwhile, never ones it covers.)
      throw new MemMapError('BLOCK_MISSING', `No checkpoint was written: ${this.unwritten.size} block(s) of other hosts could not be written to this host's chunk files yet (see the MEMMAPFS_BLOCK_WRITE_FAILED warning); they are tried again as changes arrive.`, { subsystem: 'checkpoint' });
    }
    // Rows are copied from the last checkpoint as they are: damage there must not pass on under a new
    // checksum. Each group of rows copied is checked again as it is read (`rawRows`), and a row not copied
    // (its memory changed or deleted since) is dropped: not the whole file's checksums first, which at a
    // million memories held the event loop for a fifth of a second.
    let frozen: FrozenMemories;
    try {
      frozen = this.memories.freeze();
    } catch (error) {
      // (A row check of the old rows found damage: nothing was frozen.)
      if (MemMapError.is(error, 'CHECKPOINT_CORRUPT')) await this.discardDamaged(error.message);
      throw toMemMapError(error);
    }
    const copied = this.copiedBytesSinceCheckpoint;
    const changes = this.changesSinceCheckpoint;
    // (The KV pairs as they are now: changes applied while the checkpoint is written are kept apart.)
    const frozenKv = this.kv.frozen();
    let file: CheckpointFile;
    let written: UnnamedCheckpoint | undefined;
    try {
      const contents = {
        logId: this.wal.header.logId,
        codec: this.codec.name,
        position,
        memoryCount: frozen.count,
        memories: frozen.entries,
        namespaces: frozen.namespaces,
        kv: frozenKv,
        streams: new Map([...this.streams].map(([key, refs]) => [key, refs.slice()] as const)),
        state: this.stateRecorded ? (this.state as unknown as Record<string, unknown>) : null,
        chunkEnds: this.references.snapshot(),
        cacheOpens: new Map(this.cacheOpens),
      };
      await this.wal.flush();
      // (A list of its own: records applied meanwhile change the log's.)
      const copied = this.copiedSinceCheckpoint.upTo(position.lsn);
      // Written again before the fsync: a failed fsync of their chunk (in another process, or before this
      // open, in the same boot) leaves lost pages reading back, and a later fsync succeeds without them.
      await this.blocks.syncAll({ rewrite: copied.refs });
      // A block whose copy no open will replay again must be in its chunk file now (a writer that died
      // before its chunk was fsynced may have lost it): else no checkpoint, and the next open puts it back.
      const failed = await this.blocks.verify(copied.refs);
      if (failed) {
        const ref = copied.refs[failed.index]!;
        const lsn = copied.lsns[failed.index]!;
        throw new MemMapError('BLOCK_MISSING', `No checkpoint was written: the block of record ${lsn} (chunk ${ref.chunk}, bytes ${ref.offset}–${ref.offset + ref.length}) is not in its chunk file; the next open of the store puts it back from the copy in its record.`, { cause: failed.error, subsystem: 'checkpoint' });
      }
      // (Read back before it takes its name: see `writeUnnamedCheckpoint`.)
      written = await this.checkpoints.write(contents, this.codec, onRows);
      file = written.file;
      const tables = written.tables;
      this.memories.rebase(file.memories(this.codec), tables.expiring, tables.namespaces ?? frozen.namespaces);
      this.kv = KvTable.after(tables.kv, this.kv, frozenKv);
      this.copiedSinceCheckpoint.dropUpTo(position.lsn);
      this.checkpointFile = file;
      this.checkpointNamed = false;
      this.checkpointSettled = false;
    } catch (error) {
      this.memories.thaw();
      if (written) await this.checkpoints.abandon(written);
      // (Rows copied from the old checkpoint failed their check.)
      if (MemMapError.is(error, 'CHECKPOINT_CORRUPT')) await this.discardDamaged(error.message);
      throw toMemMapError(error);
    }
    this.copiedBytesSinceCheckpoint -= copied;
    this.changesSinceCheckpoint -= changes;
    // (A copy of this cache opened meanwhile: its checkpoint is not to be named by this one's manifest.)
    if (this.takenOver) {
      await this.checkpoints.abandon(written);
      throw this.takenOver;
    }
    try {
      // (Asked again under the publishing lock: a copy may open while it waits for it; and the log
      // checked again, failing for one replaced while the checkpoint was written: a new log's process
      // publishes under the same lock, and cuts its log only after.)
      this.checkpointNamed = await this.checkpoints.publish(written, () => {
        try {
          this.wal.checkCurrent?.();
        } catch (error) {
          throw toMemMapError(error);
        }
        return !this.takenOver;
        // (Not on a log hosts share: its first record is a query away, other hosts cut it without this
        // lock, and its caches keep the whole history.)
      }, this.remote ? undefined : () => this.oldestLsnHeld());
    } catch (error) {
      // Not published: the changes count as not checkpointed, so that one is written again (by the
      // next checkpoint asked for or due, close's included), and this process reads its own meanwhile.
      this.copiedBytesSinceCheckpoint += copied;
      this.changesSinceCheckpoint += changes;
      throw error;
    }
    this.checkpointSettled = true;
    if (this.takenOver) throw this.takenOver;
    this.history.note(position.lsn);
    this.snapshots.consider();
  }

  /**
   * The checkpoint the tables start from read back damaged (`damage` says how); throws
   * `CHECKPOINT_CORRUPT` saying what became of it. It is removed, so that the next open replays the whole
   * log rather than read it, only when its file is damaged on disk too (not only this process's copy of
   * it) and the log still holds every record: once a compaction or retention let the log drop the records
   * it covers, it is the only copy of what they made. (With a log hosts share, always: a host's
   * checkpoint is rebuilt from the log or a snapshot.)
   */
  private async discardDamaged(damage: string): Promise<never> {
    const file = this.checkpointFile;
    // Rows checked before may read back damaged now too: each is checked again when next read.
    this.memories.forgetChecks();
    if (file && !this.checkpointNamed) {
      // (The file of its name, if any, is another writer's: it is not this copy, and is not removed.)
      throw new MemMapError('CHECKPOINT_CORRUPT', `The checkpoint at record ${file.position.lsn} that this process wrote read back damaged in this process (${damage}); another writer had published one as recent, or its publishing failed, so its own file was never named and nothing is removed. Close the store and open it again.`, { subsystem: 'checkpoint' });
    }
    if (file && !this.remote) {
      const onDisk = damageOnDisk(file, this.codec);
      if (onDisk === undefined) {
        throw new MemMapError('CHECKPOINT_CORRUPT', `The checkpoint ${file.path} read back damaged in this process (${damage}), but its file does not show the damage when read again (or could not be read again): it is kept. Close the store and open it again.`, { subsystem: 'checkpoint' });
      }
      // (Asked under the publishing lock, which a cut of the log takes too: none can come in between.)
      const logWhole = () => this.oldestLsnHeld().then((oldest) => oldest === 1, () => false);
      if (!(await this.checkpoints.discard(file, logWhole))) {
        throw new MemMapError('CHECKPOINT_CORRUPT', `The checkpoint ${file.path} is damaged (${onDisk}). It is kept: the log no longer holds the records before it, so it is the only copy of the memories it holds. The memories in its damaged rows cannot be read, whatever reads every row (listings, a search index rebuilt, compaction) fails, and no checkpoint can be written over it. Close the store, back it up, run \`memmapfs verify\`, and restore those memories from a backup, or run \`memmapfs repair --salvage\`, which writes the checkpoint again with every row that reads back whole.`, { subsystem: 'checkpoint' });
      }
    } else if (file) {
      await this.checkpoints.discard(file);
    }
    throw new MemMapError('CHECKPOINT_CORRUPT', `The checkpoint ${file?.path ?? ''} is damaged (${damage}); it was removed, and the next open replays the whole log. Run \`memmapfs verify\`.`, { subsystem: 'checkpoint' });
  }

  /**
   * `LogHistory.cutBefore`: lets the log drop the records before `lsn` (never past the checkpoint the
   * manifest names), then a saved search index the cut left stale.
   */
  cutLogBefore(lsn: number): Promise<{ first: number; capped: boolean }> {
    return this.history.cutBefore(lsn);
  }

  /** `LogHistory.cut`: lets the log drop the records this process's checkpoints older than `historyRetentionMs` cover. */
  cutCoveredHistory(): Promise<void> {
    return this.history.cut();
  }

  /** The text of a memory, checked against its block checksum. */
  readText(memory: MemoryRecord): string {
    try {
      return textDecoder.decode(this.readBlock(memory.ref));
    } catch (error) {
      // A compaction elsewhere moved the block and removed its chunk before this process read of it:
      // catching up takes the new place.
      if (!MemMapError.is(error, 'BLOCK_MISSING')) throw error;
      this.refresh();
      const now = this.memories.get(memory.id);
      // Only the same version, moved: an older version's text is not the current one's.
      if (!now || now.version !== memory.version || sameBlock(now.ref, memory.ref)) throw error;
      return textDecoder.decode(this.readBlock(now.ref));
    }
  }

  /** The text of a memory, or `undefined` when its bytes are missing or damaged (an old version's, say). */
  readTextIfPresent(memory: MemoryRecord): string | undefined {
    try {
      return this.readText(memory);
    } catch (error) {
      if (MemMapError.is(error, 'BLOCK_CORRUPT') || MemMapError.is(error, 'BLOCK_MISSING')) return undefined;
      throw error;
    }
  }

  /**
   * A block's bytes, checked against their checksum (a view into the mapping under mmap). With a shared
   * log, a block of another host that could not be written here yet is read from its copy in memory.
   */
  readBlock(ref: BlockRef): Uint8Array {
    const kept = this.unwritten.read(ref);
    if (kept) return kept;
    try {
      return this.blocks.read(ref);
    } catch (error) {
      throw toMemMapError(error);
    }
  }

  /** The live memory with `id`, or undefined (deleted, expired or never written); `recheck`: see `CheckpointMemories.get`. */
  liveMemory(id: number, recheck = false): MemoryRecord | undefined {
    const memory = this.memories.get(id, recheck);
    if (!memory) return undefined;
    if (memory.expiresAt !== undefined && memory.expiresAt <= Date.now()) return undefined;
    return memory;
  }

  /** A memory as the public API returns it; `text` when the caller has it already (no read of the block). */
  toMemory(record: MemoryRecord, text?: string): Memory {
    const memory: Memory = { id: record.id, text: text ?? this.readText(record), tags: [...record.tags], namespace: record.namespace, meta: structuredClone(record.meta), createdAt: record.createdAt, updatedAt: record.updatedAt };
    if (record.expiresAt !== undefined) memory.expiresAt = record.expiresAt;
    if (record.embedding !== undefined) memory.embedding = embeddingOf(record.embedding);
    return memory;
  }

  decodeKvValue(bytes: Uint8Array): unknown {
    try {
      // (From a copy of the stored bytes: a codec that decodes binaries as views into its input, as
      // msgpack with copyBinary: false does, would hand out the table's bytes, or a read-only mapping's.)
      return this.codec.decode(new Uint8Array(bytes));
    } catch (cause) {
      throw new MemMapError('PROVIDER_FAILED', `The ${this.codec.name} codec cannot decode a stored KV value: ${describeThrown(cause)}`, { cause, subsystem: 'codec' });
    }
  }

  encodeValue(value: unknown, what: string): Uint8Array {
    try {
      return this.codec.encode(value);
    } catch (cause) {
      throw new MemMapError('INVALID_ARGUMENT', `${what} cannot be encoded by the ${this.codec.name} codec: ${describeThrown(cause)}`, { cause, subsystem: 'codec' });
    }
  }

  stats(): StoreStats {
    const now = Date.now();
    const memories = this.memories.countLive(now);
    const blockStats = this.blocks.stats();
    return {
      root: this.layout.root,
      memories,
      kvKeys: this.kv.size,
      streams: this.streams.size,
      lastLsn: this.wal.lastLsn,
      walBytes: this.wal.size,
      chunkFiles: blockStats.chunkFiles,
      blockBytes: blockStats.bytes,
      reader: this.blocks.reader,
      codec: this.codec.name,
      search: this.index.name,
      durability: this.durability,
      formatVersion: this.wal.header.formatVersion,
    };
  }

  /** Makes everything written so far durable. */
  async flush(): Promise<void> {
    try {
      await this.wal.flush();
    } catch (error) {
      throw toMemMapError(error);
    }
  }

  /** Saves the search index if it moved, then closes the WAL, the blocks and the provider. */
  async close(): Promise<void> {
    this.closeStarted = true;
    this.requestClose();
    clearInterval(this.idleFollow);
    this.follower.stop();
    this.index.cancelScheduled();
    this.stateChannel.end();
    let failure: unknown;
    try {
      await this.compactor.settled();
      await this.checkpointing;
      await this.adopting;
      await this.snapshots.settled();
      await this.checkpointQueue;
      // (Taken over by a copy of its cache, this process has nothing to save: everything it wrote before is in the log.)
      if (this.takenOver) throw this.takenOver;
      // (Space may be back: a block still unwritten would keep the checkpoint below from being written.)
      this.unwritten.writeKept(true);
      let written = false;
      const changes = this.changesSinceCheckpoint;
      if (!this.wal.readOnly && (changes >= CHECKPOINT_ON_CLOSE_AFTER_RECORDS || (changes > 0 && (this.lastApplied.lsn - this.checkpointLsn >= CHECKPOINT_AFTER_RECORDS || !this.checkpointSettled)))) {
        // Derived from the log: should it fail, the next open replays more, and nothing is lost.
        written = await this.queueCheckpoint().then(() => true, (error: unknown) => {
          process.emitWarning(`A checkpoint of the tables was not written on close (the next open replays the log instead): ${describeThrown(error)}`, { code: 'MEMMAPFS_CHECKPOINT_FAILED' });
          return false;
        });
      }
      // (A checkpoint of the tables fsynced every chunk file: it retires the block copies too.) Also
      // derived: should it wait for the writer lock in vain, the next open puts back more blocks. (Not
      // another failure: a chunk's fsync that failed says the writes are not durable.)
      if (!written && this.copiedBytesSinceCheckpoint > 0) {
        await this.checkpoint().catch((error: unknown) => {
          if (!MemMapError.is(error, 'LOCK_TIMEOUT')) throw error;
          process.emitWarning(`The block copies of the log were not retired on close (the next open reads them again): ${describeThrown(error)}`, { code: 'MEMMAPFS_CHECKPOINT_FAILED' });
        });
      }
      await this.wal.flush();
      await this.index.drainForClose(() => this.refresh());
      if (this.remote && this.writesCache) await this.retiredChunks.removeNow(0);
    } catch (error) {
      failure = error;
    }
    // (A removal that found the files in use re-armed itself: those go at the next open.)
    this.retiredChunks.stop();
    await this.index.saveOnClose(!failure);
    // (A cut under way is waited for either way: the log is not closed under it.)
    await (failure ? this.history.settled() : this.history.cut());
    this.history.stop();
    await this.wal.close().catch((error: unknown) => { failure ??= error; });
    await this.blocks.close().catch((error: unknown) => { failure ??= error; });
    await this.index.closeProvider();
    // What the tables read in place goes with them: a closed handle the caller keeps keeps no file mapped.
    this.memories.close();
    this.kv = new KvTable();
    this.checkpointFile = undefined;
    if (failure && failure !== this.takenOver) throw toMemMapError(failure);
  }

  decode(record: { type: number; payload: Uint8Array; lsn: number }, detach = false): LogRecord {
    return decodeRecord(this.codec, record.type, record.payload, record.lsn, detach);
  }

  /**
   * Compaction copied blocks elsewhere: each memory or stream block whose reference is still the old
   * one takes the new one (a memory keeps its version: nothing about it changed). The retired chunks are
   * let go of: their copies are never restored, and this process's descriptors of them are closed.
   */
  private applyMoves(record: Extract<LogRecord, { type: typeof RecordType.BlocksMoved }>): void {
    moveMemories(this.memories, record.memories);
    for (const move of record.streams) {
      const refs = this.streams.get(move.key);
      if (refs && refs[move.index] && sameBlock(refs[move.index]!, move.from)) refs[move.index] = move.to;
    }
    if (record.retired.length > 0) {
      const retired = new Set(record.retired);
      // Chunk numbers are never used again (the highest one referenced counts retired ones too), nor is a
      // retired chunk's file appended to, should it outlive its retirement (a kill in the grace).
      for (const chunk of retired) this.references.retire(chunk);
      this.copiedSinceCheckpoint.dropChunks(retired);
      for (const chunk of retired) this.blocks.forget(chunk);
      if (this.remote) {
        // (Every host keeps a copy of every chunk: each removes its own; a read-only process leaves it to the others.)
        this.unwritten.dropChunks(retired);
        if (this.writesCache) this.retiredChunks.add(retired);
      }
    }
  }

  /** Places a block: with a shared log, claiming more chunk numbers once this host cache used up its own. */
  private placeBlock(bytes: Uint8Array): Promise<PlacedBlock> {
    return this.remote ? this.hostBlocks.place(bytes) : this.blocks.place(bytes);
  }

  /** See `CompactionSite.placeWrittenBlock`. */
  async placeWrittenBlock(bytes: Uint8Array): Promise<{ readonly ref: BlockRef; release(): void }> {
    const placed = await this.placeBlock(bytes);
    try {
      await placed.written;
    } catch (error) {
      placed.release().catch(() => undefined);
      throw error;
    }
    return { ref: placed.ref, release: () => void placed.release().catch(() => undefined) };
  }

  /** See `CompactionSite.mayCompact`: with a shared log, only this host's own chunks (no other host appends there). */
  mayCompact(chunk: number): boolean {
    return !this.remote || this.hostBlocks.owns(chunk);
  }

  /** See `CompactionSite.movesCarryCopies`. */
  get movesCarryCopies(): boolean {
    return this.remote;
  }

  /**
   * Keeps the last open of host cache `cache`. An open of this process's own cache that it did not
   * commit, after its own, must be a sibling's (a process of this host on this folder): else another
   * copy of the cache opened, a disk cloned while this process ran, which places its blocks where this
   * one does. Nothing more of this process may then be committed: this throws, so the commit under way
   * (whose catch-up applies the record) is refused, and the log stops (see `onCommit`).
   */
  private noteCacheOpen(cache: string, open: CacheOpen): void {
    this.cacheOpens.set(cache, open);
    const own = this.ownCache;
    if (own?.cache !== cache) return;
    if (own.lsn === undefined) {
      // (Opens replayed before this process's own are history; a claim has no nonce, and is this process's.)
      if (open.nonce === own.nonce) own.lsn = open.lsn;
      return;
    }
    if (this.takenOver || isOwnOpen(this.layout, cache, open)) return;
    this.takenOver = new MemMapError('STORE_REPLACED', `Another copy of this host cache (${this.layout.root}) opened on the shared log at record ${open.lsn}: a copy of its disk started with this host's name while this process ran. This process writes and reads nothing more, so that the two never place blocks in the same place; close the store and open it again (the folder then opens as a new cache).`, { subsystem: 'blocks' });
    throw this.takenOver;
  }

  /** The open's replay: applies a record read from the log, which this process did not just write. */
  replay(record: LogRecord, lsn: number): void {
    this.apply(record, lsn, false);
  }

  /** The open is done: the log is `wal`, and the tables hold every record up to `position`. */
  opened(wal: WriteAheadLog, position: WalPosition): void {
    this.wal = wal;
    this.lastApplied = position;
  }

  /** Applies a durable record to the tables. `live`: it was just written by this process (not replayed). */
  private apply(record: LogRecord, lsn: number, live: boolean, own = false): void {
    if (this.remote) this.hostBlocks.writeRecordBlocks(record);
    for (const ref of blockRefsOf(record)) {
      if (this.references.isRetired(ref.chunk)) this.references.unretire(ref);
      else this.references.note(ref);
      for (const watch of this.refWatchers) {
        try {
          watch(ref);
        } catch {
          // (Applying a durable record must never fail: a watcher's mistake is its own.)
        }
      }
    }
    if ((record.type === RecordType.MemoryPut || record.type === RecordType.StreamAppend) && record.copy) {
      this.copiedSinceCheckpoint.note(record.type === RecordType.MemoryPut ? record.memory.ref : record.ref, lsn);
    } else if (this.remote && record.type === RecordType.BlocksMoved) {
      // (Another host's compaction: the blocks its record carries were written here too, and a checkpoint
      // covering it must write them again and check them as it does those of new memories.)
      for (const move of record.memories) this.copiedSinceCheckpoint.note(move.to, lsn);
      for (const move of record.streams) this.copiedSinceCheckpoint.note(move.to, lsn);
    }
    if (changesTables(record)) this.changesSinceCheckpoint++;
    switch (record.type) {
      case RecordType.MemoryPut: {
        const put = putMemory(this.memories, record, lsn);
        if (!put) return;
        const { memory: m, existed, previousExpiry } = put;
        if (existed) this.deadBytes.letGo();
        else this.deadBytes.referenced(m.ref);
        record = record.update === undefined ? { type: record.type, memory: m, copy: record.copy } : { type: record.type, memory: m, copy: record.copy, update: record.update };
        if (m.expiresAt !== undefined && m.expiresAt !== previousExpiry) this.index.noteExpiry(m.id, m.expiresAt);
        break;
      }
      case RecordType.MemoryDelete:
        this.deadBytes.letGo();
        this.memories.delete(record.id);
        this.index.noteDeleted(record.id);
        break;
      case RecordType.StateSet:
        this.state = record.state as S;
        this.stateRecorded = true;
        if (live) this.stateChannel.publish(structuredClone(this.state));
        break;
      case RecordType.KvSet:
        // Bytes of its own: decoded, the value may be a view into memory it shares with other records.
        this.kv.set(record.key, new Uint8Array(record.value));
        break;
      case RecordType.KvDelete:
        this.kv.delete(record.key);
        break;
      case RecordType.StreamAppend: {
        this.deadBytes.referenced(record.ref);
        const refs = this.streams.get(record.key);
        if (refs) {
          refs.push(record.ref);
        } else {
          this.streams.set(record.key, [record.ref]);
          this.streamOrder?.add(record.key);
        }
        break;
      }
      case RecordType.StreamDelete:
        this.deadBytes.letGo();
        if (this.streams.delete(record.key)) this.streamOrder?.delete(record.key);
        break;
      case RecordType.Checkpoint:
        this.copiedSinceCheckpoint.dropSynced(new Set(record.chunks), record.upTo);
        // Asked by another process's compaction with erase: the chunks this store appends to are let go
        // of (sealed), so that it can take them. (Not waited for: applying a record never waits.)
        if (live && !own && record.letGo && !this.wal.readOnly && !this.closing) this.letGoOfChunks(record.letGo);
        break;
      case RecordType.BlocksMoved:
        this.deadBytes.letGo();
        this.applyMoves(record);
        break;
      case RecordType.Lost:
        this.deadBytes.letGo();
        // A record repair could not keep: it holds its LSN, nothing more.
        break;
      case RecordType.Reserved:
        // An LSN a restore skipped to write a memory at its own id: it holds the LSN, nothing more.
        break;
      case RecordType.ChunksClaimed:
        // A host's chunk numbers: the first byte of the first stays referenced, so that no other host
        // claims them again (checkpoints keep the highest chunk referenced).
        this.references.note({ chunk: record.first, offset: 0, length: 1, crc: 0 });
        this.noteCacheOpen(record.cache, record.nonce === undefined ? { lsn } : { lsn, nonce: record.nonce });
        break;
      case RecordType.CacheOpened:
        this.noteCacheOpen(record.cache, record.nonce === undefined ? { lsn } : { lsn, nonce: record.nonce });
        break;
    }
    if (live && (record.type === RecordType.MemoryPut || record.type === RecordType.MemoryDelete)) this.index.note(record, own);
  }


}

/**
 * All of `writes`, as one promise the log awaits, or `undefined` for none. Marked as handled: if the
 * log refuses the append before it gets to await it, its failure is already reported by the append.
 */
function settledLater(writes: Promise<void>[]): Promise<unknown> | undefined {
  if (writes.length === 0) return undefined;
  // (Blocks placed together share one write: waited for once.)
  const distinct = writes.length > 1 ? [...new Set(writes)] : writes;
  const all = distinct.length === 1 ? distinct[0]! : Promise.all(distinct);
  all.catch(() => undefined);
  return all;
}

/**
 * The damage `file` shows as it lies on disk now (read afresh, see `checkpointDamage`), or `undefined`
 * when it shows none, is gone (a newer checkpoint replaced it), or cannot be read again (an error other
 * than damage, which is no reason to remove it).
 */
function damageOnDisk(file: CheckpointFile, codec: Codec): string | undefined {
  let fresh: CheckpointFile;
  try {
    fresh = openCheckpointFile(file.path, 'read');
  } catch (error) {
    return MemMapError.is(error, 'CHECKPOINT_CORRUPT') ? error.message : undefined;
  }
  return checkpointDamage(fresh, codec);
}
