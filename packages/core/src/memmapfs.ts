import { resolve } from 'node:path';
import type { BlockRef } from '@memmapfs/blocks';
import { MemMapError } from './errors.js';
import { toStorableValue } from './storable-value.js';
import { BLOCK_COPY_LIMIT, StoreEngine, initialAgentState } from './engine/store-engine.js';
import { openStoreEngine } from './engine/store-open.js';
import { RecordType, type LogRecord, type MemoryRecord } from './engine/log-records.js';
import type { AgentState, AppendMemoryOptions, DeleteKvOptions, DeleteMemoryOptions, ListMemoriesOptions, ListNamespacesOptions, Memory, MemoryPage, NewMemory, MemoryHit, MemoryUpdate, MemoryVersion, MemMapFSOptions, QueryMemoryOptions, RestoredMemory, SetKvOptions, SetKvsOptions, SetKvsResult, StoreStats } from './types.js';
import { decodeMemoryCursor, encodeMemoryCursor } from './memory-cursor.js';
import { checkMemoryConditions } from './memory-filter.js';
import { memoryHistory } from './engine/memory-history.js';
import { restoreMemories } from './engine/memory-restore.js';
import { checkRestoredMemories } from './restored-memory.js';
import { sameBlock } from './engine/block-references.js';
import type { CompactionReport, CompactOptions } from './engine/compaction.js';
import { toMemMapError } from './engine/error-mapping.js';
import { checkSignal, untilAborted } from './abort-signal.js';
import { checkEmbedding, checkHybrid, embeddingOf } from './memory-embedding.js';
import { StreamCallOrder } from './stream-call-order.js';
import { KeyCallOrder } from './key-call-order.js';
import { checkListingOptions, keysUnder, listKeys, type ListKvOptions, type ListStreamsOptions } from './key-listing.js';
import { checkListNamespacesOptions, checkNamespace, checkNamespaceFilter, isWithinNamespace, listNamespaces, type Namespace } from './namespace-path.js';
import type { SearchHit, SearchRequest } from './contracts/search-provider.js';
import {
  checkAgentState, checkAutoCompaction, checkAutoSnapshot, checkDeleteKvOptions, checkDeleteMemoryOptions, checkDuration, checkId, checkIfAbsent, checkSetKvOptions, checkKey, checkKeysOrPrefixes, checkKvEntries, checkKvValue, checkLimit, checkMeta, checkOffset, checkOptionNames, checkOptions, checkPlainObject, checkStreamData, checkTags, checkText, checkTextLength, checkTtl, describeValue, encodeTexts, limits,
} from './validation.js';

/** Options of `MemMapFS.init`, with the initial agent state of a new store. */
export type InitOptions<S extends AgentState> = MemMapFSOptions & {
  /** State of a store that has none yet. Default `{ status: 'idle', activeMemoryCount: 0, lastUpdatedId: 0, extra: {} }`. */
  initialState?: S;
};

/**
 * The options argument of `MemMapFS.init`: needed, with `initialState`, for a state type with fields
 * of its own that the default state lacks (`getState()` would otherwise not hold them).
 */
export type InitArguments<S extends AgentState> = AgentState extends S ? [options?: InitOptions<S>] : [options: InitOptions<S> & { initialState: S }];

const DEFAULT_NAMESPACE = 'default';

type KvSetRecord = Extract<LogRecord, { type: typeof RecordType.KvSet }>;
type KvDeleteRecord = Extract<LogRecord, { type: typeof RecordType.KvDelete }>;
/** A text query in a namespace with more namespaces beneath it than this filters them after the search instead of in the index. */
const MAX_NAMESPACE_SEARCHES = 8;
/** Deletes `deleteNamespace` commits at once. */
const DELETE_BATCH = 512;
/** The fields `updateMemory` may change. */
const updatableFields = new Set(['text', 'tags', 'meta', 'embedding']);
/** The options of each call that takes them; any other field is refused (see `checkOptionNames`). */
const optionNames = {
  init: new Set(['search', 'codec', 'durability', 'batchIntervalMs', 'lockTimeoutMs', 'maxTextBytes', 'historyRetentionMs', 'autoCompaction', 'autoSnapshot', 'onIndexRebuild', 'chunkSizeBytes', 'reader', 'create', 'readOnly', 'wal', 'fileSystem', 'initialState']),
  append: new Set(['namespace', 'meta', 'ttlMs', 'embedding']),
  newMemory: new Set(['text', 'tags', 'namespace', 'meta', 'ttlMs', 'embedding']),
  query: new Set(['limit', 'offset', 'signal', 'embedding', 'hybrid', 'tags', 'namespace', 'filter', 'createdAt', 'updatedAt', 'prefix']),
  list: new Set(['limit', 'tags', 'namespace', 'cursor', 'filter', 'createdAt', 'updatedAt']),
  compact: new Set(['erase', 'onProgress']),
  watch: new Set(['signal']),
} satisfies Record<string, ReadonlySet<string>>;
/** Fields of a memory read back that a new memory does not take: said to be `restoreMemories`' to keep. */
const restoredFields = { for: new Set(['id', 'createdAt', 'updatedAt', 'expiresAt', 'score']), say: 'A memory read back (with its id and times) is written back with restoreMemories.' };

/**
 * A MemMapFS store: durable memories with full-text search, a KV store, append-only byte streams and
 * a typed agent state, all in one folder. Open one with `MemMapFS.init(root)`; close it with `close()`.
 *
 * @typeParam S - the agent state type; widen `AgentState` to carry your own fields.
 * @example
 * const fs = await MemMapFS.init('.memmap_fs_root');
 * const id = await fs.appendMemory('The user prefers dark mode', ['preference']);
 * const hits = await fs.queryMemory('dark mode', { tags: ['preference'] });
 * await fs.close();
 */
export class MemMapFS<S extends AgentState = AgentState> implements AsyncDisposable {
  private closing: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly streamCalls = new StreamCallOrder();
  private readonly kvCalls = new KeyCallOrder();
  private readonly textLimit: number;

  private readonly readOnly: boolean;

  private constructor(private readonly engine: StoreEngine<S>, options: MemMapFSOptions) {
    this.textLimit = options.maxTextBytes ?? limits.defaultTextBytes;
    this.readOnly = options.readOnly === true;
  }

  /**
   * Opens the store at `root`, creating it when absent, or recovering it after a crash: the WAL is
   * replayed (a torn tail is cut off). The search index is loaded (or rebuilt from the log) when the
   * first query needs it, not here.
   * Fails with `WAL_CORRUPT` when the log is damaged in the middle, `CODEC_MISMATCH` when `codec`
   * differs from the store's, `ADAPTER_NOT_INSTALLED` when a named adapter's package is missing.
   */
  static async init<S extends AgentState = AgentState>(root: string, ...[options]: InitArguments<S>): Promise<MemMapFS<S>> {
    if (typeof root !== 'string' || root.length === 0) {
      throw new MemMapError('INVALID_ARGUMENT', `MemMapFS.init: root must be a folder path, got ${root === '' ? 'an empty string' : typeof root}.`);
    }
    if (root.includes('\0')) throw new MemMapError('INVALID_ARGUMENT', 'MemMapFS.init: root must not contain a NUL character.');
    const opts = checkOptions<InitOptions<S>>(options, 'MemMapFS.init') as InitOptions<S>;
    checkOptionNames(opts, optionNames.init, 'MemMapFS.init');
    for (const flag of ['readOnly', 'create'] as const) {
      if (opts[flag] !== undefined && typeof opts[flag] !== 'boolean') throw new MemMapError('INVALID_ARGUMENT', `MemMapFS.init: ${flag} must be true or false, got ${describeValue(opts[flag])}.`);
    }
    if (opts.durability !== undefined && !['sync', 'batch', 'none'].includes(opts.durability)) {
      throw new MemMapError('INVALID_ARGUMENT', `MemMapFS.init: durability must be 'sync', 'batch' or 'none', got ${describeValue(opts.durability)}.`);
    }
    if (opts.reader !== undefined && !['auto', 'mmap', 'read'].includes(opts.reader)) {
      throw new MemMapError('INVALID_ARGUMENT', `MemMapFS.init: reader must be 'auto', 'mmap' or 'read', got ${describeValue(opts.reader)}.`);
    }
    if (opts.maxTextBytes !== undefined && (!Number.isInteger(opts.maxTextBytes) || opts.maxTextBytes < 1 || opts.maxTextBytes > 256 * 1024 * 1024)) {
      throw new MemMapError('INVALID_ARGUMENT', 'MemMapFS.init: maxTextBytes must be an integer from 1 to 268435456.');
    }
    if (opts.chunkSizeBytes !== undefined && (!Number.isInteger(opts.chunkSizeBytes) || opts.chunkSizeBytes < 4096 || opts.chunkSizeBytes > 1024 * 1024 * 1024)) {
      throw new MemMapError('INVALID_ARGUMENT', `MemMapFS.init: chunkSizeBytes must be an integer from 4096 to 1073741824, got ${describeValue(opts.chunkSizeBytes)}.`);
    }
    if (opts.batchIntervalMs !== undefined) checkDuration(opts.batchIntervalMs, 'batchIntervalMs', 'MemMapFS.init');
    if (opts.lockTimeoutMs !== undefined && (typeof opts.lockTimeoutMs !== 'number' || !Number.isFinite(opts.lockTimeoutMs) || opts.lockTimeoutMs < 0)) {
      throw new MemMapError('INVALID_ARGUMENT', `MemMapFS.init: lockTimeoutMs must be a finite non-negative number of milliseconds, got ${describeValue(opts.lockTimeoutMs)}.`);
    }
    if (opts.historyRetentionMs !== undefined && (typeof opts.historyRetentionMs !== 'number' || Number.isNaN(opts.historyRetentionMs) || opts.historyRetentionMs < 0)) {
      throw new MemMapError('INVALID_ARGUMENT', `MemMapFS.init: historyRetentionMs must be a non-negative number of milliseconds (Infinity to keep history until a compaction), got ${describeValue(opts.historyRetentionMs)}.`);
    }
    if (opts.wal !== undefined && opts.historyRetentionMs !== undefined && opts.historyRetentionMs !== Number.POSITIVE_INFINITY) {
      throw new MemMapError('NOT_SUPPORTED', `MemMapFS.init: historyRetentionMs is not supported with a log hosts share (the wal option): such a log keeps its records until snapshots let them go (publishSnapshot, autoSnapshot). Leave historyRetentionMs out.`);
    }
    checkAutoCompaction(opts.autoCompaction);
    checkAutoSnapshot(opts.autoSnapshot);
    if (opts.onIndexRebuild !== undefined && typeof opts.onIndexRebuild !== 'function') {
      throw new MemMapError('INVALID_ARGUMENT', 'MemMapFS.init: onIndexRebuild must be a function (done, total) => void.');
    }
    const initial = checkAgentState(opts.initialState ?? initialAgentState, 'MemMapFS.init') as unknown as S;
    const engine = await openStoreEngine<S>(resolve(root), opts, initial);
    engine.index.onRebuild = opts.onIndexRebuild;
    return new MemMapFS<S>(engine, opts);
  }

  /** Absolute path of the store's folder. */
  get root(): string {
    return this.engine.layout.root;
  }

  /** The largest memory text or stream chunk this handle takes, in bytes of UTF-8 (the `maxTextBytes` option; 16 MiB by default). */
  get maxTextBytes(): number {
    return this.textLimit;
  }

  /**
   * Appends a memory and returns its id (ids increase and are never reused). Resolves once the
   * memory is durable (under the default `'sync'` durability). `tags` are exact-match labels for
   * filtering; `namespace` separates tenants or agents; `meta` is plain data (`StorableValue`) returned
   * with the memory exactly; `ttlMs` makes it expire. Text, tags and namespace must be well-formed
   * strings (no lone UTF-16 surrogate). A call that fails has written nothing.
   */
  async appendMemory(text: string, tags?: readonly string[], options?: AppendMemoryOptions): Promise<number> {
    this.assertWritable('appendMemory');
    const prepared = this.prepareAppend(text, tags, options, 'appendMemory');
    const [id] = await this.track(() => this.appendPrepared([prepared]));
    return id!;
  }

  /**
   * Appends many memories in one commit (one WAL write and one fsync) and returns their ids in
   * order. All or none: after a crash, either every one of them is in the store or none is. Every
   * item is validated before anything is written: one bad item fails the whole call.
   */
  async appendMemories(items: readonly NewMemory[]): Promise<number[]> {
    this.assertWritable('appendMemories');
    if (!Array.isArray(items)) throw new MemMapError('INVALID_ARGUMENT', `appendMemories: items must be an array of { text, tags?, namespace?, meta?, ttlMs?, embedding? }, got ${items === null ? 'null' : typeof items}.`);
    // (Every index, empty slots of a sparse array included: `map` would pass over them.)
    const prepared = Array.from(items as unknown[], (item, index) => {
      const method = `appendMemories: item ${index}`;
      // (The item is its own options object: its text and tags are read from it, the other fields as options.)
      const memory = checkPlainObject(item, 'the item', method) as unknown as NewMemory;
      checkOptionNames(memory, optionNames.newMemory, method, 'fields', restoredFields);
      return this.prepareAppend(memory.text, memory.tags, memory, method, false);
    });
    if (prepared.length === 0) return [];
    return this.track(() => this.appendPrepared(prepared));
  }

  /**
   * Writes memories back as they were, from an export or another store's `listMemories` (a `Memory` is
   * a `RestoredMemory`): with their ids, times, tags, namespace, meta, expiry and embedding (of any
   * length), and returns their ids. Ids must increase and be above the last record of the log
   * (`stats().lastLsn`), else `MEMORY_ID_TAKEN`: ids are never reused, and a new store takes any. The
   * ids skipped are held by padding records (a few dozen bytes of log each, until compaction), so later
   * memories get higher ids. Another process appending meanwhile never moves a memory off its id: the
   * padding is counted again (or the call fails with `MEMORY_ID_TAKEN` if it took the id). The memories
   * are one commit, all or none; padding ahead of them may have been written when it fails (it changes
   * nothing). Ids more than 65,536 apart within one call, or more than 1,000,001 above the end of the
   * log, are `RESTORE_GAP_TOO_LARGE`: split the call. Items without ids (give every item one, or none)
   * take the next ids, keeping the rest.
   */
  async restoreMemories(memories: readonly RestoredMemory[]): Promise<number[]> {
    this.assertWritable('restoreMemories');
    const checked = checkRestoredMemories(memories, this.textLimit, this.engine.index.name);
    if (checked.length === 0) return [];
    return this.track(() => restoreMemories(this.engine, checked, 'restoreMemories'));
  }

  /** Writes checked new memories in one commit; their ids are the LSNs of their records. */
  private async appendPrepared(items: ReadonlyArray<ReturnType<MemMapFS['prepareAppend']>>): Promise<number[]> {
    // (Only texts small enough to travel in their records as copies are packed together: a large one is
    // fsynced before the log and read back from its chunk, and keeps no buffer of small ones alive.)
    const texts = encodeTexts(items.map((item) => item.text), items.map((item) => item.byteLength), BLOCK_COPY_LIMIT);
    const blocks = await this.engine.writeBlocks(texts);
    const now = Date.now();
    try {
      return await this.engine.commit(items.map((item, i) => ({
        type: RecordType.MemoryPut,
        copy: blocks[i]!.copy,
        memory: { id: 0, ref: blocks[i]!.ref, tags: item.tags, namespace: item.namespace, meta: item.meta, createdAt: now, updatedAt: now, expiresAt: item.ttl === undefined ? undefined : now + item.ttl, ...(item.embedding ? { embedding: item.embedding } : {}) },
      })), blocks);
    } finally {
      for (const block of blocks) block.release();
    }
  }

  /**
   * Full-text search over live memories, best first. `tags` keeps only memories that carry every
   * tag given; `namespace` only those in it or beneath it (`'user-42'` takes in `'user-42/ui'`);
   * `filter`, `createdAt` and `updatedAt` those whose meta and times pass (see `MetaFilter`); `offset`
   * skips hits. Any query string is safe; an empty one lists the newest memories that pass the
   * filters (score 0). A memory whose bytes fail their checksum is left out (with a process warning),
   * never returned. When `signal` aborts, the promise rejects with
   * its reason at once (the first query of a process may be waiting for the index to load), and the
   * query makes no further search provider call; `close()` still waits for the one under way.
   */
  async queryMemory(query: string, options?: QueryMemoryOptions): Promise<MemoryHit[]> {
    this.assertOpen('queryMemory');
    if (typeof query !== 'string') throw new MemMapError('INVALID_ARGUMENT', `queryMemory: query must be a string, got ${query === null ? 'null' : typeof query}.`);
    const opts = checkOptions<QueryMemoryOptions>(options, 'queryMemory');
    checkOptionNames(opts, optionNames.query, 'queryMemory');
    const limit = checkLimit(opts.limit, 'queryMemory');
    const offset = checkOffset(opts.offset, limit, 'queryMemory');
    const tags = checkTags(opts.tags, 'queryMemory');
    const namespace = opts.namespace === undefined ? undefined : checkNamespaceFilter(opts.namespace, 'queryMemory', this.knownNamespaces);
    const passes = checkMemoryConditions(opts, 'queryMemory');
    const signal = checkSignal(opts.signal, 'queryMemory');
    const textWeight = checkHybrid(opts.hybrid, opts.embedding !== undefined, 'queryMemory');
    if (opts.prefix !== undefined && typeof opts.prefix !== 'boolean') throw new MemMapError('INVALID_ARGUMENT', `queryMemory: prefix must be a boolean, got ${describeValue(opts.prefix)}.`);
    const wholeWords = opts.prefix === false;
    signal?.throwIfAborted();
    const trimmed = query.slice(0, limits.maxQueryLength).trim();
    // With an embedding, the text counts only in a hybrid search.
    const text = opts.embedding === undefined || textWeight !== undefined ? trimmed : '';
    // Tracked as writes are, until the work ends (it may be loading the index, or in a provider call),
    // even after an abort: close waits for it. Only the caller's promise races the signal.
    const work = this.track(() => this.engine.index.searching(async () => {
      await this.engine.catchUp();
      await this.engine.index.ready();
      signal?.throwIfAborted();
      // (Checked once the provider is loaded: its dimensions are the embedding's.)
      const embedding = opts.embedding === undefined ? undefined : embeddingOf(checkEmbedding(opts.embedding, 'queryMemory', this.engine.index.vectorDimensions, this.engine.index.name));
      if (wholeWords && text.length > 0 && !this.engine.index.matchesWholeWords) {
        throw new MemMapError('NOT_SUPPORTED', `queryMemory: the '${this.engine.index.name}' search provider matches words by their beginning whatever the query asks (it indexes them so), so prefix: false cannot be kept. Leave prefix out, or open the store with a provider that can (segments, orama, flexsearch with tokenize 'strict'); a custom provider that matches whole words when asked declares supports.wholeWords.`);
      }
      const matches = (m: MemoryRecord) => (namespace === undefined || isWithinNamespace(m.namespace, namespace)) && tags.every((t) => m.tags.includes(t)) && (passes === undefined || passes(m));
      const wanted = offset + limit;
      let candidates: Array<{ record: MemoryRecord; score: number }>;
      if (text.length === 0 && embedding === undefined) {
        const now = Date.now();
        candidates = this.engine.memories.newest(wanted, (m) => (m.expiresAt === undefined || m.expiresAt > now) && matches(m)).map((record) => ({ record, score: 0 }));
      } else {
        // Tags and namespaces are filtered in the index (a namespace and those beneath it: one search
        // each, up to a few); conditions on meta and times (and namespaces beyond those few) on the best
        // text matches, more of them asked for until enough pass (up to `maxQueryDepth`).
        const within = namespace === undefined ? undefined : [...this.engine.memories.namespaceCounts().keys()].filter((ns) => isWithinNamespace(ns, namespace));
        // (Merged by score only where scores of apart searches compare: one namespace is one search.)
        const hybrid = embedding !== undefined && text.length > 0 && textWeight !== undefined;
        const mergeable = within !== undefined && (within.length <= 1 || (this.engine.index.comparableScores && !hybrid));
        const searched = mergeable && within.length <= MAX_NAMESPACE_SEARCHES ? within : undefined;
        const filteredHere = passes !== undefined || (within !== undefined && searched === undefined);
        let ask = filteredHere ? Math.min(wanted * 4, limits.maxQueryDepth) : wanted;
        for (;;) {
          const hits = await this.engine.index.searchReplacingDamaged(() => this.searchIndex({ text, limit: ask, ...(wholeWords ? { prefix: false } : {}), ...(tags.length > 0 ? { tags } : {}), ...(embedding ? { embedding } : {}), ...(embedding && text.length > 0 && textWeight !== undefined ? { textWeight } : {}) }, searched, signal));
          candidates = [];
          for (const hit of hits) {
            const record = this.engine.liveMemory(hit.id);
            if (record && matches(record)) candidates.push({ record, score: hit.score });
          }
          if (!filteredHere || candidates.length >= wanted || hits.length < ask || ask >= limits.maxQueryDepth) break;
          ask = Math.min(ask * 4, limits.maxQueryDepth);
        }
      }
      const results: MemoryHit[] = [];
      for (const { record, score } of candidates.slice(offset, offset + limit)) {
        try {
          // (Not `{ ...memory, score }`: on Node 20 that clone takes V8's slow path, whose objects survive
          // scavenges and grow the young generation of a process that queries.)
          const hit = this.engine.toMemory(record) as MemoryHit;
          hit.score = score;
          results.push(hit);
        } catch (error) {
          if (!MemMapError.is(error, 'BLOCK_CORRUPT') && !MemMapError.is(error, 'BLOCK_MISSING')) throw error;
          process.emitWarning(`Memory ${record.id} was left out of the results: ${error.message}`, { code: 'MEMMAPFS_BLOCK_CORRUPT' });
        }
      }
      return results;
    }));
    return untilAborted(work, signal);
  }

  /**
   * The index's best hits for `request`, in any of `namespaces` (one search each, merged by score) or in
   * all. Fails with `signal`'s reason, before the next search, once it has aborted.
   */
  private async searchIndex(request: Omit<SearchRequest, 'namespace'>, namespaces: string[] | undefined, signal: AbortSignal | undefined): Promise<SearchHit[]> {
    const search = (namespace: string | undefined) => {
      signal?.throwIfAborted();
      return this.engine.index.call(() => this.engine.index.provider.search(namespace === undefined ? request : { ...request, namespace }));
    };
    if (namespaces === undefined) return search(undefined);
    if (namespaces.length === 1) return search(namespaces[0]);
    const hits: SearchHit[] = [];
    const seen = new Set<number>();
    for (const namespace of namespaces) {
      // (A memory is in one namespace: one found twice is a provider's mistake, kept once.)
      for (const hit of await search(namespace)) {
        if (seen.has(hit.id)) continue;
        seen.add(hit.id);
        hits.push(hit);
      }
    }
    // (Equal scores: the newer memory first, as the providers order them within one search, so that the
    // pages of a query agree with each other.)
    return hits.sort((a, b) => b.score - a.score || b.id - a.id).slice(0, request.limit);
  }

  /**
   * The memory with `id`, or `undefined` when there is none (never written, deleted or expired).
   * Fails with `BLOCK_CORRUPT` when its bytes do not match their checksum.
   */
  async getMemory(id: number): Promise<Memory | undefined> {
    this.assertOpen('getMemory');
    checkId(id, 'getMemory');
    await this.engine.catchUp();
    const record = this.engine.liveMemory(id);
    return record ? this.engine.toMemory(record) : undefined;
  }

  /** Whether there is a live memory with `id` (not deleted, not expired); reads no text. */
  async hasMemory(id: number): Promise<boolean> {
    this.assertOpen('hasMemory');
    checkId(id, 'hasMemory');
    await this.engine.catchUp();
    return this.engine.liveMemory(id) !== undefined;
  }

  /**
   * One page of the live memories, oldest first, optionally only those in `namespace`, carrying every
   * tag of `tags`, and passing `filter`, `createdAt` and `updatedAt` (see `MetaFilter`); `nextCursor`
   * gets the next page. Memories appended meanwhile come on later pages; none is listed twice. Filters
   * are checked memory by memory: a page of a rare namespace may read many memories' labels (never
   * their texts). A memory whose bytes fail their checksum is left out, with a process warning.
   */
  async listMemories(options?: ListMemoriesOptions): Promise<MemoryPage> {
    this.assertOpen('listMemories');
    const opts = checkOptions<ListMemoriesOptions>(options, 'listMemories');
    checkOptionNames(opts, optionNames.list, 'listMemories');
    const limit = checkLimit(opts.limit, 'listMemories');
    const tags = checkTags(opts.tags, 'listMemories');
    const namespace = opts.namespace === undefined ? undefined : checkNamespaceFilter(opts.namespace, 'listMemories', this.knownNamespaces);
    const passes = checkMemoryConditions(opts, 'listMemories');
    const after = opts.cursor === undefined ? 0 : decodeMemoryCursor(opts.cursor, 'listMemories');
    await this.engine.catchUp();
    const now = Date.now();
    const memories: Memory[] = [];
    let last = after;
    let more = false;
    for (const record of this.engine.memories.after(after)) {
      if ((record.expiresAt !== undefined && record.expiresAt <= now) || (namespace !== undefined && !isWithinNamespace(record.namespace, namespace)) || !tags.every((t) => record.tags.includes(t)) || (passes !== undefined && !passes(record))) continue;
      if (memories.length === limit) {
        more = true;
        break;
      }
      last = record.id;
      try {
        memories.push(this.engine.toMemory(record));
      } catch (error) {
        if (!MemMapError.is(error, 'BLOCK_CORRUPT') && !MemMapError.is(error, 'BLOCK_MISSING')) throw error;
        process.emitWarning(`Memory ${record.id} was left out of the list: ${error.message}`, { code: 'MEMMAPFS_BLOCK_CORRUPT' });
      }
    }
    return { memories, nextCursor: more ? encodeMemoryCursor(last) : undefined };
  }

  /** The namespaces the store holds memories in (string forms), as of the last change this process applied. */
  private readonly knownNamespaces = (): Iterable<string> => {
    this.engine.refresh();
    return this.engine.memories.namespaceCounts().keys();
  };

  /**
   * The namespaces that hold memories, in their string form, sorted; `prefix` keeps those in a namespace
   * or beneath it, `suffix` those ending with its segments, `maxDepth` cuts deeper ones to that many
   * segments. Reads no memory: it costs the number of namespaces (and the changes since the last
   * checkpoint, and the memories with a TTL).
   */
  async listNamespaces(options?: ListNamespacesOptions): Promise<string[]> {
    this.assertOpen('listNamespaces');
    const opts = checkListNamespacesOptions(options, 'listNamespaces');
    await this.engine.catchUp();
    try {
      return listNamespaces(this.engine.memories.liveNamespaceCounts(Date.now()).keys(), opts);
    } catch (error) {
      throw toMemMapError(error);
    }
  }

  /**
   * Deletes every live memory in `namespace` and beneath it, and resolves how many it deleted. Memories
   * another process appends to it meanwhile may stay. Reads the labels (never the texts) of every memory.
   * Commits the deletions in batches of 512: a crash in the middle leaves the batches committed before
   * it deleted and the rest live (calling it again finishes the work).
   */
  async deleteNamespace(namespace: Namespace): Promise<number> {
    this.assertWritable('deleteNamespace');
    const within = checkNamespaceFilter(namespace, 'deleteNamespace', this.knownNamespaces);
    return this.track(async () => {
      await this.engine.catchUp();
      // Every memory's labels, not the namespace counts: a deletion must not hinge on them being right.
      const ids: number[] = [];
      for (const record of this.engine.memories.values()) if (isWithinNamespace(record.namespace, within)) ids.push(record.id);
      let deleted = 0;
      for (let start = 0; start < ids.length; start += DELETE_BATCH) {
        let batch = ids.slice(start, start + DELETE_BATCH);
        // Retried without the memories another process deleted (or that expired) meanwhile.
        for (;;) {
          batch = batch.filter((id) => this.engine.liveMemory(id) !== undefined);
          if (batch.length === 0) break;
          const at = Date.now();
          const records = batch.map((id) => ({ type: RecordType.MemoryDelete, id, at }) as const);
          if ((await this.engine.commitIf(records, undefined, () => batch.every((id) => this.engine.liveMemory(id) !== undefined))) === 'written') {
            deleted += batch.length;
            break;
          }
        }
      }
      return deleted;
    });
  }

  /**
   * Changes a memory's text, tags, meta or embedding (absent fields are kept) and returns the updated
   * memory; with no field to change, writes nothing and returns the memory as it is.
   * Fails with `MEMORY_NOT_FOUND` when there is no live memory with `id`.
   */
  async updateMemory(id: number, update: MemoryUpdate): Promise<Memory> {
    this.assertWritable('updateMemory');
    checkId(id, 'updateMemory');
    const changes = checkPlainObject(update, 'update', 'updateMemory') as MemoryUpdate;
    const unknown = Object.keys(changes).filter((key) => !updatableFields.has(key));
    if (unknown.length > 0) {
      throw new MemMapError('INVALID_ARGUMENT', `updateMemory: ${unknown.map((key) => JSON.stringify(key)).join(', ')} cannot be updated; an update may change text, tags, meta and embedding${unknown.includes('namespace') ? ' (a memory keeps its namespace: append it anew in another)' : ''}.`);
    }
    // Read once: the caller's object is not read again after the awaits below.
    const newText = changes.text;
    const bytes = newText === undefined ? undefined : checkText(newText, 'updateMemory', this.textLimit);
    const tags = changes.tags === undefined ? undefined : checkTags(changes.tags, 'updateMemory', 'refused');
    const meta = changes.meta === undefined ? undefined : checkMeta(changes.meta, 'updateMemory');
    const embedding = changes.embedding === undefined ? undefined : checkEmbedding(changes.embedding, 'updateMemory', this.engine.index.vectorDimensions, this.engine.index.name);
    const notFound = () => new MemMapError('MEMORY_NOT_FOUND', `updateMemory: no memory with id ${id} (it was never written, or was deleted or expired).`);
    if (bytes === undefined && tags === undefined && meta === undefined && embedding === undefined) {
      // (Nothing to change: no new version, and `updatedAt` stays.)
      const memory = await this.getMemory(id);
      if (!memory) throw notFound();
      return memory;
    }
    return this.track(async () => {
      // (Caught up first only when the memory is not known here: another process may have just written
      // it. A version known here may be stale; the commit below is refused then, and tried again.)
      if (!this.engine.liveMemory(id)) {
        await this.engine.catchUp();
        if (!this.engine.liveMemory(id)) throw notFound();
      }
      // (Held until the record is in the log, however many tries it takes: no compaction takes its chunk.)
      const written = bytes === undefined ? undefined : await this.engine.writeBlock(bytes);
      try {
        // The record carries the whole memory: it is built from the latest version and written only if that
        // is still the latest under the writer lock, so concurrent updates of other fields are never lost.
        for (;;) {
          // (Its checkpoint row checked again: the record is made from it, and the log must not take damage as the memory.)
          const current = this.engine.liveMemory(id, true);
          if (!current) throw notFound();
          const memory: MemoryRecord = { ...current, ref: written?.ref ?? current.ref, tags: tags ?? current.tags, meta: meta ?? current.meta, updatedAt: Date.now(), ...(embedding ? { embedding } : {}) };
          const outcome = await this.engine.commitIf([{ type: RecordType.MemoryPut, memory, copy: written?.copy, update: true }], written, () => {
            const latest = this.engine.liveMemory(id);
            if (!latest) throw notFound();
            // (Compaction moves a block without a new version: an update that keeps the text must carry
            // the block's place as it is now, never one a compaction is about to remove.)
            return latest.version === current.version && (written !== undefined || sameBlock(latest.ref, current.ref));
          });
          // The new text is at hand: reading back the block just written would map its chunk again.
          if (outcome === 'written') return this.engine.toMemory(memory, newText);
        }
      } finally {
        written?.release();
      }
    });
  }

  /**
   * The versions of a memory the log still holds, oldest first: as it was created, as each update left
   * it, and its deletion, each with its time. Deleted and expired memories have a history too, until
   * compaction drops their records. `[]` when the log holds no record of `id`: there never was such a
   * memory, or a compaction dropped its records (a live one is still there for `getMemory`). Reads the log from
   * the memory's creation on, so it costs in proportion to the log after it.
   */
  async memoryHistory(id: number): Promise<MemoryVersion[]> {
    this.assertOpen('memoryHistory');
    checkId(id, 'memoryHistory');
    return this.track(async () => {
      await this.engine.catchUp();
      try {
        return await memoryHistory(this.engine.wal, this.engine.codec, id, (memory) => this.engine.readTextIfPresent(memory));
      } catch (error) {
        throw toMemMapError(error);
      }
    });
  }

  /**
   * Forgets a memory. Resolves `true` when this call deleted it, `false` when there was nothing to
   * delete (never written, already deleted by this or another process, or expired), or `options.ifKv`
   * did not take the KV value it names (see `DeleteMemoryOptions`).
   */
  async deleteMemory<T = unknown>(id: number, options?: DeleteMemoryOptions<T>): Promise<boolean> {
    this.assertWritable('deleteMemory');
    checkId(id, 'deleteMemory');
    const ifKv = checkDeleteMemoryOptions(options, 'deleteMemory');
    return this.track(async () => {
      // (Caught up first only when the memory is not known here; whether it is still live is asked again
      // under the writer lock, all changes applied.)
      if (!this.engine.liveMemory(id)) {
        await this.engine.catchUp();
        if (!this.engine.liveMemory(id)) return false;
      }
      const record: LogRecord = { type: RecordType.MemoryDelete, id, at: Date.now() };
      if (ifKv) return this.commitKvWhen([record], ifKv.key, (value) => this.engine.liveMemory(id) !== undefined && ifKv.when(value));
      return (await this.engine.commitIf([record], undefined, () => this.engine.liveMemory(id) !== undefined)) === 'written';
    });
  }

  /**
   * Replaces the agent state; subscribers are told once it is committed (durable under `'sync'`). The state is plain data that
   * reads back exactly (`StorableValue`); anything else is `INVALID_ARGUMENT`, and nothing is written.
   */
  async updateState(state: S): Promise<void> {
    this.assertWritable('updateState');
    const checked = checkAgentState(state, 'updateState');
    await this.track(() => this.engine.commit([{ type: RecordType.StateSet, state: checked }]));
  }

  /**
   * Changes the fields of the agent state given in `changes` and keeps the others, on the latest state
   * of any process (under the writer lock: two processes merging different fields at once both keep
   * theirs); returns the new state. A field is replaced whole (`extra` included). The result must be a
   * valid state, as for `updateState`.
   */
  async mergeState(changes: Partial<S>): Promise<S> {
    this.assertWritable('mergeState');
    checkPlainObject(changes, 'changes', 'mergeState');
    // Copied now: changing the object after the call changes nothing stored.
    const copy = toStorableValue(changes, 'mergeState', 'changes') as Partial<S>;
    return this.track(async () => {
      for (;;) {
        await this.engine.catchUp();
        const base = this.engine.state;
        const checked = checkAgentState({ ...base, ...copy }, 'mergeState');
        // Written only if no other state was applied since `base` was read (a record replaces the object).
        const outcome = await this.engine.commitIf([{ type: RecordType.StateSet, state: checked }], undefined, () => this.engine.state === base);
        if (outcome === 'written') return structuredClone(checked) as unknown as S;
      }
    });
  }

  /** The current agent state (a copy: changing it changes nothing until `updateState`). */
  getState(): S {
    this.assertOpen('getState');
    this.engine.refresh();
    return structuredClone(this.engine.state);
  }

  /**
   * Calls `listener` with each new state, whichever process wrote it (other processes' changes arrive
   * within about 100 ms); returns a function that unsubscribes.
   */
  subscribeState(listener: (state: S) => void): () => void {
    this.assertOpen('subscribeState');
    if (typeof listener !== 'function') throw new MemMapError('INVALID_ARGUMENT', `subscribeState: listener must be a function, got ${typeof listener}.`);
    this.engine.followOtherProcesses();
    return this.engine.stateChannel.subscribe(listener);
  }

  /**
   * Yields each new state, whichever process wrote it, from the moment of the call until the store
   * closes or the loop breaks. While a loop is waiting on it, the process stays alive (as with a server
   * socket); `subscribeState` listeners alone do not keep it alive. When `signal` aborts, the loop ends
   * by throwing the signal's reason (an `AbortError`, or a `TimeoutError` from `AbortSignal.timeout`);
   * from then on, even before the first `next()`, no state is kept for it.
   */
  watchState(options?: { signal?: AbortSignal }): AsyncGenerator<S, void, undefined> {
    this.assertOpen('watchState');
    const opts = checkOptions<{ signal: AbortSignal }>(options, 'watchState');
    checkOptionNames(opts, optionNames.watch, 'watchState');
    const signal = checkSignal(opts.signal, 'watchState');
    this.engine.followOtherProcesses();
    return this.engine.stateChannel.watch(signal);
  }

  /**
   * Sets a KV value: plain data (null, booleans, numbers, strings, Uint8Array, arrays and plain objects;
   * see the README) that reads back exactly. Anything else is `INVALID_ARGUMENT`, and nothing is written.
   * With `{ ifAbsent: true }` the value is set only if the key is unset, checked as `setKvs` checks it
   * (of calls racing for the key, from any processes, exactly one sets it). Resolves whether it set it.
   */
  async setKv<T = unknown>(key: string, value: T, options?: SetKvOptions<T>): Promise<boolean> {
    this.assertWritable('setKv');
    checkKey(key, 'setKv');
    const { ifAbsent, when } = checkSetKvOptions(options, 'setKv');
    const bytes = this.engine.encodeValue(checkKvValue(value, 'setKv'), 'setKv: the value');
    const records: KvSetRecord[] = [{ type: RecordType.KvSet, key, value: bytes }];
    if (when !== undefined) return this.track(() => this.kvCalls.barrier([key], () => this.commitKvWhen(records, key, when)));
    return (await this.writeKvRecords(records, ifAbsent ? new Set([key]) : new Set())).skipped.length === 0;
  }

  /**
   * Commits `records` if `when` returns `true` for the value of `key` (`undefined` when unset; with
   * `unsetRefuses`, an unset key refuses) under the writer lock, every change applied; rejects with
   * what `when` throws. Whether it committed them.
   */
  private async commitKvWhen(records: LogRecord[], key: string, when: (value: unknown) => boolean, unsetRefuses = false): Promise<boolean> {
    let thrown: { error: unknown } | undefined;
    const holds = () => {
      const bytes = this.engine.kv.get(key);
      if (bytes === undefined && unsetRefuses) return false;
      try {
        return when(bytes === undefined ? undefined : this.engine.decodeKvValue(bytes)) === true;
      } catch (error) {
        thrown = { error };
        return false;
      }
    };
    const outcome = await this.engine.commitIf(records, undefined, holds);
    if (thrown) throw thrown.error;
    return outcome === 'written';
  }

  /**
   * Sets several KV values in one commit: every one of them is set, or (when one is refused, or a crash
   * or power loss cuts the write) none. `entries` is an iterable of `[key, value]` pairs (an array of
   * pairs, a `Map`), each checked as `setKv` checks it; of two entries with one key, the later wins.
   * With `ifAbsent`, entries whose keys are set are skipped (see `SetKvsOptions`); the result names them.
   */
  async setKvs(entries: Iterable<readonly [key: string, value: unknown]>, options?: SetKvsOptions): Promise<SetKvsResult> {
    this.assertWritable('setKvs');
    const checked = checkKvEntries(entries, 'setKvs');
    const ifAbsent = checkIfAbsent(options, checked.map(([key]) => key), 'setKvs');
    const records = checked.map(([key, value], i): KvSetRecord => ({ type: RecordType.KvSet, key, value: this.engine.encodeValue(value, `setKvs: entry ${i}: the value`) }));
    return this.writeKvRecords(records, ifAbsent);
  }

  /** Commits `records` (KV sets), skipping those whose keys are in `ifAbsent` and set (see `SetKvsOptions`). */
  private async writeKvRecords(records: KvSetRecord[], ifAbsent: ReadonlySet<string>): Promise<SetKvsResult> {
    if (records.length === 0) return { skipped: [] };
    const keys = records.map(({ key }) => key);
    if (ifAbsent.size === 0) {
      await this.track(() => this.kvCalls.write(keys, () => this.engine.commit(records)));
      return { skipped: [] };
    }
    // (After this handle's earlier calls on these keys, and before its later ones: what it writes depends on them.)
    return this.track(() => this.kvCalls.barrier(keys, async () => {
      await this.engine.catchUp();
      for (;;) {
        // Which keys are set is guessed from what this process has applied, then the ones to write are
        // checked to be unset under the writer lock: when another process set one meanwhile, guessed
        // again (one removed meanwhile stays skipped: only a write that would replace a value is refused).
        const set = (key: string) => ifAbsent.has(key) && this.engine.kv.has(key);
        const chosen = records.filter((record) => !set(record.key));
        const skipped = [...new Set(records.filter((record) => set(record.key)).map((record) => record.key))];
        if (chosen.length === 0) return { skipped };
        if ((await this.engine.commitIf(chosen, undefined, () => chosen.every((record) => !set(record.key)))) === 'written') return { skipped };
      }
    }));
  }

  /** A KV value (a fresh copy), or `undefined` when the key is not set. */
  getKv<T = unknown>(key: string): T | undefined {
    this.assertOpen('getKv');
    checkKey(key, 'getKv');
    this.engine.refresh();
    const bytes = this.engine.kv.get(key);
    return bytes === undefined ? undefined : (this.engine.decodeKvValue(bytes) as T);
  }

  /**
   * The KV keys that are set, sorted in ascending order of UTF-16 code units (the order of `<`), as of
   * the call (other processes' writes included). `prefix` keeps the keys that start with it; `after`
   * those that sort after it, so the last key of one page gives the next; `limit` caps how many come
   * back. Reads keys only (`getKv` reads a value). Costs the keys it returns: the first listing of a
   * handle sorts every key once (about 0.3 s at a million keys), and every change keeps that order.
   */
  listKv(options?: ListKvOptions): string[] {
    this.assertOpen('listKv');
    const listing = checkListingOptions(options, 'listKv', 'kv');
    this.engine.refresh();
    return listKeys(this.engine.kvKeysInOrder(), listing);
  }

  /**
   * Removes a KV key. Resolves `true` when this call removed it, `false` when it was not set (in any
   * process), or `options.when` did not take its value (see `DeleteKvOptions`).
   */
  async deleteKv<T = unknown>(key: string, options?: DeleteKvOptions<T>): Promise<boolean> {
    this.assertWritable('deleteKv');
    checkKey(key, 'deleteKv');
    const when = checkDeleteKvOptions(options, 'deleteKv');
    return this.track(() => this.kvCalls.delete(key, async () => {
      // (Caught up first only when the key is not known here; whether it is still set is asked again
      // under the writer lock, all changes applied.)
      if (!this.engine.kv.has(key)) {
        await this.engine.catchUp();
        if (!this.engine.kv.has(key)) return false;
      }
      return this.commitKvWhen([{ type: RecordType.KvDelete, key }], key, (when ?? (() => true)) as (value: unknown) => boolean, true);
    }));
  }

  /**
   * Removes several KV keys in one commit: every one of them that is set is removed, or (a crash or
   * power loss cutting the write) none. `keys` is an iterable of keys, or `{ prefix }`: every key that
   * starts with the prefix (or with one of several), as found under the writer lock, so that a key
   * another process sets under it meanwhile is removed with the others or set after them, never left
   * half-way (etcd's delete with a prefix). Resolves the keys this call removed: those set, in any
   * process, when it committed, in the order given (a key given twice counts once), or in key order.
   */
  async deleteKvs(keys: Iterable<string> | { readonly prefix: string | readonly string[] }): Promise<string[]> {
    this.assertWritable('deleteKvs');
    const given = checkKeysOrPrefixes(keys, 'deleteKvs');
    if ('keys' in given && given.keys.length === 0) return [];
    const found = (): string[] => ('keys' in given ? given.keys.filter((key) => this.engine.kv.has(key)) : keysUnder(this.engine.kvKeysInOrder(), given.prefixes));
    // (After this handle's earlier calls on these keys, or on keys under these prefixes, and before its later ones.)
    const inOrder = (run: () => Promise<string[]>) => ('keys' in given ? this.kvCalls.barrier(given.keys, run) : this.kvCalls.prefixBarrier(given.prefixes, run));
    return this.track(() => inOrder(async () => {
      await this.engine.catchUp();
      for (;;) {
        // Which keys are set is read from what this process has applied, then checked to be the same
        // under the writer lock, every change applied: when another process set or removed one of them
        // meanwhile, read again.
        const chosen = found();
        if (chosen.length === 0) return [];
        const records = chosen.map((key): KvDeleteRecord => ({ type: RecordType.KvDelete, key }));
        const same = () => {
          const now = found();
          return now.length === chosen.length && now.every((key, i) => key === chosen[i]);
        };
        if ((await this.engine.commitIf(records, undefined, same)) === 'written') return chosen;
      }
    }));
  }

  /** Appends bytes (or a string, as UTF-8) to the stream `key`, creating it on first use. */
  async appendStream(key: string, data: Uint8Array | string): Promise<void> {
    this.assertWritable('appendStream');
    checkKey(key, 'appendStream');
    // A copy: the bytes are written after this call returns, and must not change meanwhile.
    const bytes = Uint8Array.from(checkStreamData(data, 'appendStream', this.textLimit));
    await this.track(() => this.streamCalls.append(key, async (turn) => {
      const block = await this.engine.writeBlock(bytes);
      try {
        await turn(() => this.engine.commit([{ type: RecordType.StreamAppend, key, ref: block.ref, copy: block.copy }], block));
      } finally {
        block.release();
      }
    }));
  }

  /**
   * Removes the stream `key` and every byte appended to it. Resolves `true` when this call removed it,
   * `false` when no stream has that key (in any process). Its bytes stay in the chunk files and the
   * log until a compaction drops them; `compact({ erase: true })` does it at once. A later
   * `appendStream` to the key starts a new stream.
   */
  async deleteStream(key: string): Promise<boolean> {
    this.assertWritable('deleteStream');
    checkKey(key, 'deleteStream');
    return this.track(() => this.streamCalls.delete(key, async () => {
      // (As deleteKv: whether the stream still exists is asked again under the writer lock.)
      if (!this.engine.streams.has(key)) {
        await this.engine.catchUp();
        if (!this.engine.streams.has(key)) return false;
      }
      return (await this.engine.commitIf([{ type: RecordType.StreamDelete, key }], undefined, () => this.engine.streams.has(key))) === 'written';
    }));
  }

  /**
   * The keys of the streams there are, sorted as `listKv`'s, as of the call (other processes' writes
   * included), with the same `prefix`, `after` and `limit` options, and the same costs.
   */
  listStreams(options?: ListStreamsOptions): string[] {
    this.assertOpen('listStreams');
    const listing = checkListingOptions(options, 'listStreams', 'stream');
    this.engine.refresh();
    return listKeys(this.engine.streamKeysInOrder(), listing);
  }

  /**
   * Reads the stream `key` chunk by chunk, as appended up to the call. Under mmap each chunk is a
   * read-only view into the mapped file (no copy), but for the newest bytes of a chunk file that grew
   * since it was mapped, which are read into a copy. An unknown key yields nothing. A read goes on
   * after the stream is deleted until a compaction removes the bytes it has yet to read; it then
   * fails with `STREAM_DELETED`.
   */
  openRead(key: string): AsyncGenerator<Uint8Array, void, undefined> {
    // Checked, and the stream's chunks taken, at the call (not at the first `next()`): a delete or an
    // append after it changes nothing of this read. (On a log hosts share, once every write that
    // resolved before the call, on any host, is applied: one that resolves meanwhile may be in it.)
    this.assertOpen('openRead');
    checkKey(key, 'openRead');
    // (Moves change a stream's array in place; a delete takes it out of the table, and a stream written
    // under the key since has an array of its own.)
    const take = () => {
      const stream = this.engine.streams.get(key);
      return { stream, refs: [...(stream ?? [])] };
    };
    let taken: Promise<ReturnType<typeof take>>;
    if (this.engine.remote) {
      taken = this.engine.catchUp().then(take);
      // (Said by the first `next()`, not as an unhandled rejection should the read never begin.)
      taken.catch(() => undefined);
    } else {
      this.engine.refresh();
      taken = Promise.resolve(take());
    }
    return this.readStream(key, taken);
  }

  /** The chunks of stream `key` that `openRead` took (`taken`), read one at a time. */
  private async *readStream(key: string, taken: Promise<{ stream: BlockRef[] | undefined; refs: BlockRef[] }>): AsyncGenerator<Uint8Array, void, undefined> {
    const { stream, refs } = await taken;
    for (const [index, ref] of refs.entries()) {
      this.assertOpen('openRead');
      let bytes: Uint8Array;
      try {
        bytes = this.engine.readBlock(ref);
      } catch (error) {
        // A compaction moved the block and removed its chunk meanwhile: catching up gives its new place.
        if (!MemMapError.is(error, 'BLOCK_MISSING')) throw error;
        this.engine.refresh();
        const deleted = this.engine.streams.get(key) !== stream;
        const deletedError = (cause: unknown) => new MemMapError('STREAM_DELETED', `openRead: the stream ${JSON.stringify(key)} was deleted while it was being read, and a compaction removed the bytes not read yet; read it again to get what the key holds now.`, { subsystem: 'stream', cause });
        const moved = stream![index]!;
        if (sameBlock(moved, ref)) throw deleted ? deletedError(error) : error;
        try {
          bytes = this.engine.readBlock(moved);
        } catch (again) {
          throw deleted && MemMapError.is(again, 'BLOCK_MISSING') ? deletedError(again) : again;
        }
      }
      yield bytes;
    }
  }

  /** Sizes, counts and configuration of the store. */
  stats(): StoreStats {
    this.assertOpen('stats');
    this.engine.refresh();
    return this.engine.stats();
  }

  /**
   * Waits until this process has applied every change committed before the call, by any process, on
   * any host: then the synchronous reads (`getState`, `getKv`, `listKv`, `stats`) see them too. The
   * asynchronous reads do this by themselves on a store whose log other hosts share (`wal` option); on
   * a local store every read already sees every change another process made before it started.
   */
  async catchUp(): Promise<void> {
    this.assertOpen('catchUp');
    await this.engine.catchUp();
  }

  /** Makes every write so far durable, whatever the durability mode (after the calls made before it, a `checkpoint()` or `compact()` included). */
  async flush(): Promise<void> {
    this.assertOpen('flush');
    await Promise.allSettled([...this.inflight]);
    await this.engine.flush();
  }

  /**
   * Writes a checkpoint of the tables now: the memories, KV, streams and state as they stand after
   * every change applied so far, in a file the next open reads in place instead of replaying the log
   * before it. The store writes one on its own as the log grows and on `close()`; call this before
   * handing the folder to processes that must open it fast. Resolves once it is durable. A search
   * index kept in files (`search: 'segments'`) that this process has loaded is saved too, and then,
   * with `historyRetentionMs`, the log drops the records whose retention is over.
   */
  async checkpoint(): Promise<void> {
    this.assertWritable('checkpoint');
    // Tracked from the call on, as `compact()`: a close() meanwhile waits for it.
    const before = [...this.inflight];
    await this.track(async () => {
      await Promise.allSettled(before);
      await this.engine.checkpointTables();
      await this.engine.index.savePersistent();
      await this.engine.cutCoveredHistory();
    });
  }

  /**
   * With a log other hosts share (the `wal` option, e.g. `postgresWal`): writes a checkpoint, then keeps
   * it with the log, together with every block it references, as the snapshot a new host starts from.
   * A host opening a folder with no checkpoint of its own (a new machine, a lost disk) then loads it
   * and reads only the records after it, instead of every record since the store began. The log then
   * drops the records the snapshot before it covers (but those an open process has yet to read), and with them
   * the history `memoryHistory` reads; a host that was away since starts from the snapshot too. The
   * store publishes one by itself after a checkpoint once the log has grown enough (`autoSnapshot`);
   * call this after large imports, or before adding hosts. Resolves with the LSN it covers
   * and its size in bytes, or `undefined` when the log already keeps a newer one. On a local store it
   * rejects with `NOT_SUPPORTED`: its own checkpoints serve.
   */
  async publishSnapshot(): Promise<{ lsn: number; bytes: number } | undefined> {
    this.assertWritable('publishSnapshot');
    // Tracked from the call on, as `compact()`: a close() meanwhile waits for it.
    const before = [...this.inflight];
    return this.track(async () => {
      await Promise.allSettled(before);
      return this.engine.publishSnapshot();
    });
  }

  /**
   * Compacts the store while other processes keep using it: deletes expired memories, copies the live
   * blocks out of chunk files that are mostly dead (with `erase`, every one holding a dead byte) and
   * removes those files, writes a checkpoint and drops the log before it (history with it). With
   * `erase`, what deleted memories said is in no file of the store once it resolves, except chunk
   * files another process appends to and did not let go of when asked, within a few seconds (counted
   * in `chunksSkipped`; the next compaction after it lets go of them rewrites them), and log segments
   * a process is still reading. On a log other hosts
   * share (the `wal` option), only the chunk files this host wrote are rewritten, the moves carry the
   * blocks' bytes so that every host writes them and removes the old files, and the log keeps its
   * records; `erase` rejects with `NOT_SUPPORTED` there.
   */
  async compact(options: CompactOptions = {}): Promise<CompactionReport> {
    this.assertWritable('compact');
    const opts = checkOptions<CompactOptions>(options, 'compact');
    checkOptionNames(opts, optionNames.compact, 'compact');
    if (opts.erase !== undefined && typeof opts.erase !== 'boolean') throw new MemMapError('INVALID_ARGUMENT', `compact: erase must be a boolean, got ${describeValue(opts.erase)}.`);
    if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') throw new MemMapError('INVALID_ARGUMENT', 'compact: onProgress must be a function (done, total, step) => void.');
    // Tracked from the call on, waiting included: a close() meanwhile waits for the compaction, as for
    // any call made before it, rather than closing the engine under it.
    const before = [...this.inflight];
    return this.track(async () => {
      await Promise.allSettled(before);
      return this.engine.compact(opts);
    });
  }

  /** `close()`, for `await using fs = await MemMapFS.init(root)`: the store closes when the block ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Waits for writes in flight, saves the search index, and closes the files. Watchers end. Any later
   * call fails with `STORE_CLOSED`. Closing twice is fine.
   */
  close(): Promise<void> {
    // Only the first call reports a failure to close (e.g. after WAL_FAILED); later calls just wait for it.
    if (this.closing) return this.closing.catch(() => undefined);
    this.engine.closeAsked = true;
    this.closing = (async () => {
      await Promise.allSettled([...this.inflight]);
      await this.engine.close();
    })();
    return this.closing;
  }

  /** A new memory checked: what `appendPrepared` writes (it encodes the texts). */
  private prepareAppend(text: unknown, tags: unknown, options: unknown, method: string, checkNames = true) {
    const byteLength = checkTextLength(text, method, this.textLimit);
    const opts = checkOptions<AppendMemoryOptions>(options, method);
    if (checkNames) checkOptionNames(opts, optionNames.append, method, 'options', restoredFields);
    return {
      byteLength,
      text: text as string,
      tags: checkTags(tags, method, 'refused'),
      namespace: opts.namespace === undefined ? DEFAULT_NAMESPACE : checkNamespace(opts.namespace, method),
      meta: opts.meta === undefined ? {} : checkMeta(opts.meta, method),
      ttl: opts.ttlMs === undefined ? undefined : checkTtl(opts.ttlMs, method),
      embedding: opts.embedding === undefined ? undefined : checkEmbedding(opts.embedding, method, this.engine.index.vectorDimensions, this.engine.index.name),
    };
  }

  private track<T>(operation: () => Promise<T>): Promise<T> {
    const promise = operation();
    this.inflight.add(promise);
    const forget = () => this.inflight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  private assertWritable(method: string): void {
    this.assertOpen(method);
    if (this.readOnly) throw new MemMapError('READ_ONLY', `${method}: the store at ${this.engine.layout.root} was opened with { readOnly: true }. Open it without readOnly to write.`);
  }

  private assertOpen(method: string): void {
    if (this.closing) throw new MemMapError('STORE_CLOSED', `${method}: the store at ${this.engine.layout.root} is closed. Open it again with MemMapFS.init.`);
  }
}
