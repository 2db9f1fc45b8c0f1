import type * as nodeFileSystem from 'node:fs/promises';
import type { WalOpener } from '@memmapfs/wal';
import type { Namespace } from './namespace-path.js';
import type { CodecOption, SearchOption } from './registry/provider-registry.js';
import type { MemoryConditions } from './memory-filter.js';

/** The file operations a store uses: a subset of `node:fs/promises`, and optionally `writeSync`. A seam for tests that inject faults. */
export type StoreFileSystem = Pick<typeof nodeFileSystem, 'open' | 'readFile' | 'rename' | 'mkdir' | 'readdir' | 'link' | 'unlink'> & {
  /**
   * `writeSync` of `node:fs`, used for small block writes. Without it, a seam whose `open` is Node's
   * own still writes them with Node's `writeSync` (its handles are Node's); any other seam has them go
   * through its handles.
   */
  writeSync?: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number;
};

/**
 * When an acknowledged write is durable.
 * - `'sync'` (default): a write's promise resolves after its WAL record and block bytes are fsynced.
 *   Concurrent writes share one fsync (group commit).
 * - `'batch'`: a write resolves after it is written to the OS; fsync follows within
 *   `batchIntervalMs` and on `flush()`/`close()`. A power loss can lose that window; kill -9 cannot.
 * - `'none'`: never fsync until `flush()`/`close()`. For tests and bulk imports.
 */
export type Durability = 'sync' | 'batch' | 'none';

/** The agent state every subscriber sees. Widen it with the `MemMapFS` type parameter. */
export interface AgentState {
  /** Free-form status, e.g. `'idle'`, `'running'`. */
  status: string;
  /** Number of memories the agent considers active (the agent's own count). */
  activeMemoryCount: number;
  /** Id of the memory the agent last touched. */
  lastUpdatedId: number;
  /** Anything else: plain data that reads back exactly (`StorableValue`), like every field of the state. */
  extra: Record<string, unknown>;
}

/** Options of `MemMapFS.init`. */
export interface MemMapFSOptions {
  /**
   * Search provider: `'segments'` (default for new stores), `'flexsearch'`, `'orama'`, a registered
   * name, or an instance. Absent: an existing store uses the provider that saved its index.
   */
  search?: SearchOption;
  /**
   * Record codec: `'msgpack'` (default for new stores), `'cbor'`, a registered name, or an instance.
   * Absent: an existing store opens with the codec it was created with.
   */
  codec?: CodecOption;
  /** When writes are durable. Default `'sync'`. */
  durability?: Durability;
  /** Upper bound on the time between a write and its fsync under `'batch'`. Default 50 ms. */
  batchIntervalMs?: number;
  /**
   * Longest wait for the writer lock, in milliseconds, before an open or a write fails with
   * `LOCK_TIMEOUT` (nothing written; reads keep working). Another process holds the lock only for the
   * length of a commit, unless it is stopped or stuck. Default 10,000.
   */
  lockTimeoutMs?: number;
  /** Largest memory text or stream chunk, in UTF-8 bytes. Default 16 MiB. */
  maxTextBytes?: number;
  /**
   * How long the log keeps records after a checkpoint covers them, in milliseconds: until then
   * `memoryHistory` can show the versions they hold. `0` lets every checkpoint drop the log before it
   * (disk follows the live data); the default, `Infinity`, keeps them until a compaction drops them.
   * Not with `wal` (a log hosts share keeps its records until snapshots let them go): `NOT_SUPPORTED`.
   */
  historyRetentionMs?: number;
  /**
   * Compaction by policy. After a checkpoint it writes in the background (every 16,384 changes or so),
   * a process compacts by itself (as `compact()` without `erase`) when the chunk files compaction would
   * rewrite (each at least half dead) hold at least `minDeadBytes` of deleted, replaced or expired text,
   * at most once a minute. Default `true`: `{ minDeadBytes: 16 MiB }`. `false` leaves compaction to
   * `compact()`.
   */
  autoCompaction?: boolean | { minDeadBytes?: number };
  /**
   * With a log other hosts share (`wal`): snapshots by policy. After a checkpoint (its own, or
   * `checkpoint()`), a process publishes a snapshot (`publishSnapshot()`) when the log has grown
   * `everyRecords` records past the newest one kept, so that new hosts start from it and the log drops
   * the history before the one kept last. Default `true`: `{ everyRecords: 100,000 }`. `false` leaves
   * snapshots to `publishSnapshot()`. Ignored on a local store.
   */
  autoSnapshot?: boolean | { everyRecords?: number };
  /**
   * Called as the search index is rebuilt from the memories (the first query after the saved index
   * went missing or was damaged, or after a change of provider), with the memories indexed so far and
   * their total; at most about 10 times a second, and once at the end (`done === total`). For a
   * progress bar: a rebuild of a large store takes a while.
   */
  onIndexRebuild?: (done: number, total: number) => void;
  /** Size at which a chunk file is sealed and a new one started. Default 64 MiB (max 1 GiB). */
  chunkSizeBytes?: number;
  /** How chunk bytes are read: `'auto'` (mmap when @riaskov/mmap-io loads, default; plain reads with one warning when it cannot), `'mmap'`, or `'read'`. */
  reader?: 'auto' | 'mmap' | 'read';
  /** Create the folder and files when absent. Default `true`; `false` makes a missing store an error. */
  create?: boolean;
  /**
   * Open an existing store to read it and follow other processes' writes, writing nothing at all (no
   * lock file is created, no recovery writes, no index snapshot saved), so that it works on a read-only
   * file system. Every write method fails with `READ_ONLY`. Default `false`.
   */
  readOnly?: boolean;
  /**
   * The log the store runs on, when it is not the local `state.wal`: e.g.
   * `postgresWal({ connectionString, store: 'agents' })` of `@memmapfs/wal-postgres`, which hosts share.
   * `root` is then this host's cache of the store (its chunk files, checkpoints and search index, built
   * from the log): every host that opens the same log sees the same memories, KV, streams and state.
   * The asynchronous reads wait for every change committed before they started, on any host
   * (`catchUp()` does it for the synchronous ones). `compact()` rewrites this host's own chunk files
   * (every host follows), `readOnly` reads an existing cache and keeps the blocks of newer records in
   * memory. Not with such a log: `compact({ erase: true })`, and dropping history
   * (`historyRetentionMs`: the log keeps its records until snapshots let them go).
   */
  wal?: WalOpener;
  /**
   * The file operations the store uses. Default `node:fs/promises` (and `writeSync` of `node:fs`). For
   * tests: pass one that fails chosen operations to see how an application copes with EIO or ENOSPC;
   * give it a `writeSync` too, or small block writes go through its handles instead (unless its `open`
   * is Node's own, whose handles Node's `writeSync` writes the same way).
   */
  fileSystem?: StoreFileSystem;
}

/** Options of `appendMemory`. */
export interface AppendMemoryOptions {
  /** Namespace the memory belongs to: a path, `'user-42/preferences'` or `['user-42', 'preferences']`. Default `'default'`. */
  namespace?: Namespace;
  /** Caller data kept with the memory and returned with it, exactly; not searched. Plain data only (`StorableValue`). */
  meta?: Record<string, unknown>;
  /** Milliseconds after which the memory expires: it is no longer returned by get or query. */
  ttlMs?: number;
  /**
   * Your embedding of the text (from the model of your choice), for `queryMemory(q, { embedding })`:
   * as many finite numbers as the search provider's `supports.vectors.dimensions`. Kept as float32.
   */
  embedding?: Float32Array | readonly number[];
}

/** One memory for `appendMemories`. */
export interface NewMemory extends AppendMemoryOptions {
  text: string;
  tags?: readonly string[];
}

/**
 * One memory for `restoreMemories`: a memory as it was (from `listMemories` or an export), written back
 * with its id and times. A `Memory` is one.
 */
export interface RestoredMemory {
  /**
   * The id to write it at: above the last record of the log and above the ids before it in the call.
   * Give every item an id, or none: without, each takes the next id, as `appendMemories` gives them.
   */
  id?: number;
  text: string;
  tags?: readonly string[];
  /** Default `'default'`. */
  namespace?: Namespace;
  /** Default `{}`. */
  meta?: Record<string, unknown>;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Milliseconds since the epoch. Default `createdAt`. */
  updatedAt?: number;
  /** Milliseconds since the epoch from which it is gone (at that time, not a millisecond after); absent: no TTL. */
  expiresAt?: number;
  /** Its embedding: any length (kept as it is, whatever the search provider's dimensions), as float32. */
  embedding?: Float32Array | readonly number[];
}

/** A stored memory. */
export interface Memory {
  id: number;
  text: string;
  tags: string[];
  /** The namespace's string form: its segments joined by `/`. */
  namespace: string;
  meta: Record<string, unknown>;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Milliseconds since the epoch; equals `createdAt` until the memory is updated. */
  updatedAt: number;
  /** Milliseconds since the epoch from which the memory is gone (at that time, not a millisecond after), if it has a TTL. */
  expiresAt?: number;
  /** The embedding given with it, if any (float32). */
  embedding?: Float32Array;
}

/** A memory returned by `queryMemory`, with its relevance. */
export interface MemoryHit extends Memory {
  /** Higher is better; comparable within one result list. */
  score: number;
}

/** One version of a memory in its history (`memoryHistory`): as created, as each update left it, or its deletion. */
export interface MemoryVersion {
  /** What made this version. */
  event: 'created' | 'updated' | 'deleted';
  /** Its place in the log: later versions have higher LSNs. */
  lsn: number;
  /** When (ms since the epoch): `createdAt`, `updatedAt`, or the time of the delete. */
  at: number | undefined;
  /** The memory as this version left it; absent for `'deleted'`. Its `text` is `undefined` if its bytes are gone (compacted away, or damaged). */
  memory?: Omit<Memory, 'text'> & { text: string | undefined };
}

/** Options of `queryMemory`. */
export interface QueryMemoryOptions extends MemoryConditions {
  /** Maximum number of hits. Default 10, at most 1000. */
  limit?: number;
  /** Hits to skip first, for the next page of the same query. Default 0; `offset + limit` at most 10,000. */
  offset?: number;
  /** Gives up waiting when it aborts: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Ranks by similarity to this embedding (cosine), most similar first, instead of by the text; needs
   * a search provider with `supports.vectors`. With `hybrid`, the text counts too.
   */
  embedding?: Float32Array | readonly number[];
  /**
   * With `embedding` and a non-empty query: rank by both. `true` weighs text and vector alike;
   * `{ textWeight }` (0 to 1) says how much the text counts.
   */
  hybrid?: boolean | { textWeight: number };
  /** Only memories that carry every one of these tags. */
  tags?: readonly string[];
  /** Only memories in this namespace or beneath it (`'user-42'` takes in `'user-42/preferences'`). */
  namespace?: Namespace;
  /**
   * Whether the last word of the query also matches the words it begins (`'mem'` finds `'memory'`), as
   * FTS5's `mem*`. Default `true`; `false` matches whole words only (`'cat'` then finds `cat`, not
   * `catalog`), with a provider whose `supports.wholeWords` says it can (`NOT_SUPPORTED` otherwise).
   */
  prefix?: boolean;
}

/** Options of `listMemories`. */
export interface ListMemoriesOptions extends MemoryConditions {
  /** Memories on a page. Default 10, at most 1000. */
  limit?: number;
  /** Only memories that carry every one of these tags. */
  tags?: readonly string[];
  /** Only memories in this namespace or beneath it (`'user-42'` takes in `'user-42/preferences'`). */
  namespace?: Namespace;
  /** Where to go on from: the `nextCursor` of the page before (with the same filters). */
  cursor?: string;
}

/** Options of `listNamespaces`. */
export interface ListNamespacesOptions {
  /** Only namespaces in this one or beneath it. */
  prefix?: Namespace;
  /** Only namespaces whose last segments are these. */
  suffix?: Namespace;
  /** Namespaces deeper than this many segments are cut to it (and listed once). */
  maxDepth?: number;
  /** Namespaces to return. Default 100, at most 10,000. */
  limit?: number;
  /** Namespaces to skip first, in the sorted list. Default 0. */
  offset?: number;
}

/** One page of `listMemories`. */
export interface MemoryPage {
  /** Live memories, oldest (lowest id) first. */
  memories: Memory[];
  /** Pass it as `cursor` for the next page; `undefined` when this page is the last. */
  nextCursor: string | undefined;
}

/** What `updateMemory` may change; absent fields are kept. */
export interface MemoryUpdate {
  text?: string;
  tags?: readonly string[];
  /** Replaces the whole meta. Plain data only (`StorableValue`). */
  meta?: Record<string, unknown>;
  /** Replaces the embedding (a new text keeps the old one unless a new one is given). */
  embedding?: Float32Array | readonly number[];
}

/** Options of `setKvs`. */
export interface SetKvsOptions {
  /**
   * `true`: an entry whose key is set (by any process) is skipped, left as it is, the others set; keys
   * of the entries: only those are skipped when set. The keys written are checked to be unset under the
   * writer lock with every earlier change applied, so of calls racing for an unset key, from any
   * processes, exactly one sets it, and none replaces a value (Redis's `SET NX`, SQL's `ON CONFLICT DO
   * NOTHING`); a key found set and removed before the commit stays skipped. Default `false`.
   */
  ifAbsent?: boolean | Iterable<string>;
}

/** Options of `setKv`. */
export interface SetKvOptions<T = unknown> {
  /**
   * Set the value only if the key is unset (by any process), checked under the writer lock as
   * `setKvs`'s `ifAbsent` is: of calls racing for an unset key, exactly one sets it. Default `false`.
   */
  ifAbsent?: boolean;
  /**
   * Set the value only if this returns `true` for the value there (`undefined` when the key is unset),
   * as it is under the writer lock with every change of every process applied (a compare-and-set: of
   * two calls that read one value and set the next, exactly one sets it). Synchronous; it must not call
   * the store. What it throws, `setKv` rejects with, nothing set. Not with `ifAbsent`.
   */
  when?: (value: T | undefined) => boolean;
}

/** Options of `deleteKv`. */
export interface DeleteKvOptions<T = unknown> {
  /**
   * Remove the key only if this returns `true` for its value, as it is under the writer lock with every
   * change of every process applied (a compare-and-delete: of a delete and a set racing, the delete
   * removes only the value it was meant for). Synchronous; it must not call the store. What it throws,
   * `deleteKv` rejects with, nothing removed.
   */
  when?: (value: T) => boolean;
}

/** Options of `deleteMemory`. */
export interface DeleteMemoryOptions<T = unknown> {
  /**
   * Delete the memory only if `when` returns `true` for the value of the KV key `key` (`undefined` when
   * it is unset), as it is under the writer lock with every change of every process applied: a memory
   * and a KV value tested and changed in one step (a memory removed only while no pointer kept in the KV
   * names it, say). Synchronous; it must not call the store. What it throws, `deleteMemory` rejects
   * with, nothing deleted.
   */
  ifKv?: { readonly key: string; readonly when: (value: T | undefined) => boolean };
}

/** What `setKvs` did. */
export interface SetKvsResult {
  /** The keys left as they were because `ifAbsent` applied to them and they were set; empty without it. */
  readonly skipped: string[];
}

/** A snapshot of the store's size and configuration, from `stats()`. */
export interface StoreStats {
  root: string;
  /** Live memories (not deleted, not expired). */
  memories: number;
  kvKeys: number;
  streams: number;
  /** Last log sequence number written. */
  lastLsn: number;
  walBytes: number;
  chunkFiles: number;
  blockBytes: number;
  /** How chunk bytes are read: `'mmap'` (zero-copy) or `'read'` (the fallback). */
  reader: 'mmap' | 'read';
  codec: string;
  search: string;
  durability: Durability;
  /** The WAL format version. */
  formatVersion: number;
}
