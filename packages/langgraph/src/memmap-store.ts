import {
  BaseStore,
  validateNamespace,
  type GetOperation,
  type Item,
  type ListNamespacesOperation,
  type MatchCondition,
  type Operation,
  type OperationResults,
  type PutOperation,
  type SearchItem,
  type SearchOperation,
} from '@langchain/langgraph-checkpoint';
import { MemMapError, toStorableValue, type Memory, type MemMapFS, type MetaFilter, type SetKvOptions } from '@memmapfs/core';
import { checkOptionNames, describeValue, invalidArgument, onStore } from './adapter-errors.js';
import { indexedText, textWithin } from './indexed-text.js';
import { ItemEmbeddings, type EmbedOption, type FieldVector } from './item-embeddings.js';
import { KeyOrder } from './key-order.js';
import { ItemLayout, expiryOf, memoriesOf, pointerNames, type ItemMeta, type ItemPointer, type ItemRefresh } from './item-layout.js';
import { valueFilter } from './value-filter.js';
import { checkVectorSearch } from './vector-search-check.js';

/** The text limit of a store that does not say its own (`MemMapFS`'s default). */
const DEFAULT_MAX_TEXT_BYTES = 16 * 1024 * 1024;

/**
 * The part of a `MemMapFS` store a `MemMapStore` uses: memories, KV, namespaces (and its text limit and
 * KV listing, when it has them). Its `setKv` and `deleteKv` must honour `options.when` (a put replaces
 * the pointer it read, and a sweep or a delete removes the one it read, so that a put in another process
 * meanwhile is kept); its `setKv` resolves `false` when `when` refused (a wrapper written before
 * `setKv` resolved whether it set the key, resolving nothing, is taken to have set it). Its
 * `deleteMemory` must honour `options.ifKv` (a sweep removes a memory left over only while no pointer
 * names it).
 */
export type ItemStore = Pick<MemMapFS, 'root' | 'getKv' | 'deleteKv' | 'appendMemory' | 'appendMemories' | 'getMemory' | 'hasMemory' | 'deleteMemory' | 'queryMemory' | 'listMemories' | 'listNamespaces'>
  & { setKv<T>(key: string, value: T, options?: SetKvOptions<T>): Promise<unknown> }
  & Partial<Pick<MemMapFS, 'maxTextBytes' | 'catchUp' | 'listKv'>>;

/**
 * Semantic search over embeddings (LangGraph's `index` option, as `PostgresStore` takes it): puts
 * embed texts of the value, and `search(prefix, { query })` ranks items by the cosine similarity of
 * their embeddings to the query's. Needs a store opened with a search provider that has vector search
 * of `dims` dimensions, e.g. `{ search: { provider: 'orama', options: { vectors: { dimensions: dims } } } }`.
 */
export interface MemMapStoreIndexConfig {
  /** Number of dimensions of the embeddings: the length of your model's, and the search provider's `vectors.dimensions`. */
  dims: number;
  /** What turns texts into embeddings: LangChain `Embeddings` (`embedDocuments` for puts, `embedQuery` for queries), or a function. */
  embed: EmbedOption;
  /**
   * Paths of the value to embed, each text found an embedding of its own: `'$'` (the whole value as
   * JSON), `'text'`, `'author.name'`, `'chapters[*].text'`, `'sections[-1]'`. Default `['$']`. A put's
   * `index` replaces them for its item.
   */
  fields?: string[];
}

/** Expiry of items (`ttl` option). Times are in minutes, as in LangGraph. */
export interface MemMapStoreTtlConfig {
  /** TTL of items put without one of their own. Default: none (items do not expire). */
  defaultTtl?: number;
  /** Whether `get` and `search` push back the expiry of the items they return (by their TTL). Default `true`. */
  refreshOnRead?: boolean;
  /** Run `sweep()` every this many minutes while the store is started. Default: only when called. */
  sweepIntervalMinutes?: number;
}

/** Options of `new MemMapStore(store, options)`. */
export interface MemMapStoreOptions {
  /**
   * Semantic search: `query` ranks by the similarity of embeddings instead of by text. Without it,
   * `query` is full-text search.
   */
  index?: MemMapStoreIndexConfig;
  /** Expiry of items. */
  ttl?: MemMapStoreTtlConfig;
  /**
   * The namespace segment the items' memories are kept under, and the start of the store's KV keys
   * (`<prefix>/…`). Default `'langgraph-store'`. Stores with different prefixes in one folder do not
   * see each other's items.
   */
  prefix?: string;
}

/** Options of `put` beyond LangGraph's. */
export interface PutItemOptions {
  /** TTL of this item in minutes; `null` for none. Default: the store's `ttl.defaultTtl`. */
  ttl?: number | null;
}

/** A `PutOperation` that may carry a TTL. */
export type MemMapPutOperation = PutOperation & { options?: PutItemOptions };
/** A `GetOperation` or `SearchOperation` that may say whether to refresh TTLs. */
export type RefreshingOperation<Op> = Op & { refreshTtl?: boolean };

const MINUTE = 60_000;
/** Text of an item with nothing to index: non-empty (core wants text) but no word, so no query finds it. */
const NO_TEXT = '-';
/** Largest page core gives (`limit` of `queryMemory` and `listMemories`). */
const PAGE = 1000;
/** How deep core goes into one query's hits (`offset + limit`). */
const QUERY_DEPTH = 10_000;
/** Largest page of `listNamespaces` in core. */
const NAMESPACE_PAGE = 10_000;
/**
 * A memory that no pointer names and was written this long before a sweep is left over (from a process
 * killed between an item's memory and its pointer), and `sweep` deletes it. Younger, it may be a put, or
 * an import, still on its way to writing its pointer. How long ago it was written is told by the log, not
 * by the memory's times (an import writes back old ones): see `SweepLook`.
 */
const LEFTOVER_AGE_MS = 10 * MINUTE;

/**
 * What a sweep saw: every memory with an id up to `id` was written before `at` (this process's monotonic
 * clock, so that no clock of another host, nor a change of the wall clock, counts). `id` is the highest
 * the sweep listed: ids are log positions, so a memory written later, even one written back with its
 * id by `restoreMemories`, has a higher one.
 */
interface SweepLook {
  readonly id: number;
  readonly at: number;
}

/** How many times a `get` reads an item's pointer again when the memory it named was replaced meanwhile. */
const MAX_POINTER_READS = 8;
/** How many times a listing reads its last page again when an item on it was replaced meanwhile. */
const MAX_PAGE_REREADS = 8;

type Kind = 'get' | 'put' | 'search' | 'listNamespaces';

/** Where a search looks and how many items it needs (`offset + limit`). */
interface SearchScope {
  namespace: string;
  filter: MetaFilter | undefined;
  wanted: number;
  now: number;
}

/** An item found by a search: its current memory, and its score when ranked. */
interface Found {
  memory: Memory;
  score?: number;
}

/**
 * A LangGraph `BaseStore` over MemMapFS: namespaced items kept durably in a local folder, visible to
 * every process that opens it, with full-text or semantic (`index`) `query`, filters on the value, and TTLs.
 *
 * Each item is one memory (namespace = the item's namespace under `prefix`, text = its indexed text,
 * meta = its key and value), and a KV pointer from namespace + key to that memory's id. A put writes
 * a new memory, then the pointer, then deletes the memory it replaced: whichever pointer write comes
 * last wins, in every process, and reads return an item only through its pointer, so a key is always
 * one item.
 *
 * @example
 * const fs = await MemMapFS.init('.memmap_fs_root');
 * const store = new MemMapStore(fs);
 * await store.put(['user-42', 'memories'], 'tea', { text: 'likes green tea' });
 * const hits = await store.search(['user-42'], { query: 'tea' });
 */
export class MemMapStore extends BaseStore {
  /** The MemMapFS store items live in. Close it yourself when nothing uses this `MemMapStore` any more. */
  readonly store: ItemStore;
  private readonly layout: ItemLayout;
  /** The order of the operations on each item key: see `KeyOrder`. */
  private readonly keyOrder = new KeyOrder();
  private readonly defaultTtl: number | null;
  private readonly refreshOnRead: boolean;
  private readonly sweepIntervalMs: number | undefined;
  private readonly embeddings: ItemEmbeddings | undefined;
  /** Whether the store's search provider was found to search embeddings of `index.dims` (checked by the first batch). */
  private vectorSearchChecked = false;
  private sweeper: NodeJS.Timeout | undefined;
  /** The looks at the log of this store's earlier sweeps, oldest first: the newest one old enough, and any since. */
  private readonly sweepLooks: SweepLook[] = [];

  /**
   * @param store An open `MemMapFS` (from `MemMapFS.init`). Opened with `readOnly: true`, the store can
   *   get, search and list namespaces (TTLs are then not refreshed); puts and deletes fail with `READ_ONLY`.
   *   With `index`, it must have been opened with a search provider that has vector search of
   *   `index.dims` dimensions: core does not tell synchronously, so the first operation checks, and
   *   fails with `INVALID_ARGUMENT` saying how to open it.
   */
  constructor(store: ItemStore, options: MemMapStoreOptions = {}) {
    super();
    const methods = ['getKv', 'setKv', 'deleteKv', 'appendMemory', 'getMemory', 'hasMemory', 'deleteMemory', 'queryMemory', 'listMemories', 'listNamespaces'] as const;
    if (typeof store !== 'object' || store === null || methods.some((name) => typeof store[name] !== 'function')) {
      throw invalidArgument('constructor', 'store must be an open MemMapFS (await MemMapFS.init(folder)) from a @memmapfs/core release that has listMemories and listNamespaces.', 'MemMapStore');
    }
    if (typeof options !== 'object' || options === null) throw invalidArgument('constructor', 'options must be an object: { index?, ttl?, prefix? }.', 'MemMapStore');
    checkOptionNames(options, ['index', 'ttl', 'prefix'], 'constructor', 'options', 'MemMapStore');
    this.embeddings = options.index === undefined ? undefined : ItemEmbeddings.fromOption(options.index);
    if (this.embeddings !== undefined && typeof store.appendMemories !== 'function') {
      throw invalidArgument('constructor', 'index needs a @memmapfs/core release with embeddings (appendMemories, queryMemory with { embedding }).', 'MemMapStore');
    }
    const ttl = options.ttl ?? {};
    if (typeof ttl !== 'object' || ttl === null) throw invalidArgument('constructor', 'ttl must be an object: { defaultTtl?, refreshOnRead?, sweepIntervalMinutes? }.', 'MemMapStore');
    checkOptionNames(ttl, ['defaultTtl', 'refreshOnRead', 'sweepIntervalMinutes'], 'constructor', 'ttl options', 'MemMapStore');
    this.defaultTtl = ttl.defaultTtl === undefined ? null : minutes(ttl.defaultTtl, 'ttl.defaultTtl', 'constructor');
    if (ttl.refreshOnRead !== undefined && typeof ttl.refreshOnRead !== 'boolean') throw invalidArgument('constructor', `ttl.refreshOnRead must be a boolean, got ${describeValue(ttl.refreshOnRead)}.`, 'MemMapStore');
    this.refreshOnRead = ttl.refreshOnRead ?? true;
    this.sweepIntervalMs = ttl.sweepIntervalMinutes === undefined ? undefined : minutes(ttl.sweepIntervalMinutes, 'ttl.sweepIntervalMinutes', 'constructor') * MINUTE;
    const prefix = options.prefix ?? 'langgraph-store';
    if (typeof prefix !== 'string' || prefix.length === 0 || prefix.includes('/') || !(prefix as string & { isWellFormed(): boolean }).isWellFormed()) {
      throw invalidArgument('constructor', `prefix must be a non-empty string without '/', got ${JSON.stringify(prefix)}.`, 'MemMapStore');
    }
    this.store = store;
    this.layout = new ItemLayout(prefix);
    this.start();
  }

  /**
   * Runs the operations in order, each seeing the ones before it: gets, searches, namespace listings,
   * puts, and deletes (puts with `value: null`). Every operation is checked before any runs: one
   * invalid operation fails the batch with nothing written. With `index`, the texts of all its puts
   * are embedded in one call, and its queries, before any operation runs: a failed embedding fails
   * the batch with nothing written.
   */
  async batch<Op extends Operation[]>(operations: Op): Promise<OperationResults<Op>> {
    if (!Array.isArray(operations)) throw invalidArgument('batch', 'operations must be an array.', 'MemMapStore');
    const checked = operations.map((operation, index) => this.checkOperation(operation, index, operations.length));
    const kinds = checked.map(({ kind }) => kind);
    // (Each put as it was when batch was called: its value and namespace copied, so that the caller's
    // later changes to them reach nothing written, nor fail the batch half-way.)
    operations = checked.map(({ operation }) => operation) as Op;
    // Turns taken now, before anything awaits (see `KeyOrder`). A get takes a write's turn: it may push
    // back the item's expiry, which a delete called after it must remove.
    const turns = operations.map((operation, index) => {
      const kind = kinds[index];
      if (kind !== 'put' && kind !== 'get') return this.keyOrder.takeAll();
      const { namespace, key } = operation as GetOperation;
      return this.keyOrder.take(JSON.stringify([namespace, key]));
    });
    try {
      // (On a log hosts share, the store's synchronous reads see what has arrived only until it catches up.)
      if (operations.length > 0) await onStore(methodOf(operations[0]!, kinds[0]!), this.store.root, async () => this.store.catchUp?.(), 'MemMapStore');
      const embedded = operations.length === 0 ? undefined : await onStore(methodOf(operations[0]!, kinds[0]!), this.store.root, () => this.embedBatch(operations, kinds), 'MemMapStore');
      const results: unknown[] = [];
      for (const [index, operation] of operations.entries()) {
        await turns[index]!.ready;
        try {
          results.push(await this.runOperation(operation, kinds[index]!, index, embedded));
        } finally {
          turns[index]!.done();
        }
      }
      return results as OperationResults<Op>;
    } finally {
      for (const turn of turns) turn.done();
    }
  }

  /** Runs one operation of a batch and returns its result. */
  private async runOperation(operation: Operation, kind: Kind, index: number, embedded: Awaited<ReturnType<MemMapStore['embedBatch']>>): Promise<unknown> {
    switch (kind) {
      case 'get':
        return onStore('get', this.store.root, () => this.getItem(operation as RefreshingOperation<GetOperation>), 'MemMapStore');
      case 'put': {
        const put = operation as MemMapPutOperation;
        const method = put.value === null ? 'delete' : 'put';
        return onStore(method, this.store.root, () => (put.value === null ? this.deleteItem(put) : this.putItem(put, embedded?.puts.get(index))), 'MemMapStore');
      }
      case 'search':
        return onStore('search', this.store.root, () => this.searchItems(operation as RefreshingOperation<SearchOperation>, embedded?.queries.get(index)), 'MemMapStore');
      default:
        return onStore('listNamespaces', this.store.root, () => this.listItemNamespaces(operation as ListNamespacesOperation), 'MemMapStore');
    }
  }

  /** The item, or `null`; with `refreshTtl` (default `ttl.refreshOnRead`) its expiry is pushed back by its TTL. */
  override async get(namespace: string[], key: string, options: { refreshTtl?: boolean } = {}): Promise<Item | null> {
    validateNamespace(namespace, { allowEmpty: true, allowReservedRoot: true });
    const [item] = await this.batch([{ namespace, key, ...refreshOption(options) }]);
    return item ?? null;
  }

  /**
   * Items in `namespacePrefix` and beneath it. With `query` and `index`: ranked by the cosine
   * similarity of their embeddings to the query's, most similar first, each with its similarity as
   * `score`, then the items without an embedding, without a score. With `query` alone: full-text search
   * over the items' indexed text, best first, with its `score`. Without `query`: in the order they
   * were last put. `filter` conditions on the value's fields; `refreshTtl` (default
   * `ttl.refreshOnRead`) pushes back the expiry of the items returned.
   */
  override async search(namespacePrefix: string[], options: { filter?: Record<string, unknown>; limit?: number; offset?: number; query?: string; refreshTtl?: boolean } = {}): Promise<SearchItem[]> {
    validateNamespace(namespacePrefix, { allowEmpty: true, allowReservedRoot: true });
    const { filter, limit = 10, offset = 0, query } = options;
    const [items] = await this.batch([{ namespacePrefix, filter, limit, offset, query, ...refreshOption(options) }]);
    return items!;
  }

  /**
   * Stores an item, replacing the one with the same namespace and key. `index`: the value's fields whose
   * text a `query` searches (with the store's `index`: the fields embedded, instead of `index.fields`;
   * default the whole value), or `false` for none (nothing embedded). `options.ttl`: minutes until
   * it expires (`null`: never; default `ttl.defaultTtl`). Resolves once durable.
   */
  override async put(namespace: string[], key: string, value: Record<string, unknown>, index?: false | string[], options?: PutItemOptions): Promise<void> {
    validateNamespace(namespace);
    await this.batch([{ namespace, key, value, index, ...(options === undefined ? {} : { options }) }]);
  }

  /**
   * Deletes expired items, and memories no item's pointer names that an earlier sweep of this
   * `MemMapStore`, at least ten minutes before, saw (left over by a process killed between an item's two
   * writes), in every namespace of this store; resolves how many memories it deleted. Expired items are
   * never returned even before a sweep; sweeping gives their space back. Reads every item's memory.
   */
  async sweep(): Promise<number> {
    return onStore('sweep', this.store.root, async () => {
      await this.store.catchUp?.();
      const now = Date.now();
      const leftoverUpTo = this.leftoverUpTo();
      let removed = 0;
      let highestId = 0;
      let cursor: string | undefined;
      do {
        const page = await this.store.listMemories({ namespace: this.layout.root, limit: PAGE, cursor });
        for (const memory of page.memories) {
          highestId = Math.max(highestId, memory.id);
          removed += await this.sweepMemory(memory, now, leftoverUpTo);
        }
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      await this.foldRefreshes();
      this.sweepLooks.push({ id: highestId, at: performance.now() });
      return removed;
    }, 'MemMapStore');
  }

  /** Starts sweeping every `ttl.sweepIntervalMinutes` (done by the constructor; again after `stop`). */
  override start(): void {
    if (this.sweepIntervalMs === undefined || this.sweeper !== undefined) return;
    this.sweeper = setInterval(() => {
      this.sweep().catch((error: unknown) => {
        if (MemMapError.is(error, 'STORE_CLOSED')) this.stop();
        else process.emitWarning(`MemMapStore: a TTL sweep failed: ${error instanceof Error ? error.message : String(error)}`, { code: 'MEMMAPFS_LANGGRAPH_SWEEP' });
      });
    }, this.sweepIntervalMs);
    // The sweeps alone do not keep the process alive.
    this.sweeper.unref();
  }

  /** Stops the sweeps. The MemMapFS store stays open: close it yourself. */
  override stop(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /**
   * With `index`: checks (once it passes) that the store's provider searches embeddings of `dims`,
   * then embeds the texts of the batch's puts (one call) and its queries, by operation index.
   */
  private async embedBatch(operations: readonly Operation[], kinds: readonly Kind[]): Promise<{ puts: Map<number, FieldVector[]>; queries: Map<number, number[] | undefined> } | undefined> {
    const embeddings = this.embeddings;
    if (embeddings === undefined) return undefined;
    const method = methodOf(operations[0]!, kinds[0]!);
    if (!this.vectorSearchChecked) {
      await checkVectorSearch(this.store, embeddings.dims, this.layout.root, method);
      this.vectorSearchChecked = true;
    }
    const texts = new Map<number, ReturnType<ItemEmbeddings['textsOf']>>();
    const queries = new Map<number, string>();
    for (const [index, operation] of operations.entries()) {
      if (kinds[index] === 'put') {
        const put = operation as PutOperation;
        if (put.value !== null && put.index !== false) texts.set(index, embeddings.textsOf(put.value, put.index ?? undefined));
      } else if (kinds[index] === 'search') {
        const query = (operation as SearchOperation).query;
        if (typeof query === 'string' && query.trim().length > 0) queries.set(index, query);
      }
    }
    const [documents, queryEmbeddings] = await Promise.all([
      embeddings.embedDocuments([...texts.values()].flatMap((found) => found.map(({ text }) => text)), method),
      Promise.all([...new Set(queries.values())].map(async (query) => [query, await embeddings.embedQuery(query, method)] as const)),
    ]);
    const byQuery = new Map(queryEmbeddings);
    return {
      puts: new Map([...texts].map(([index, found]) => [index, found.flatMap(({ field, text }) => {
        const embedding = documents.get(text);
        return embedding === undefined ? [] : [{ field, embedding }];
      })])),
      queries: new Map([...queries].map(([index, query]) => [index, byQuery.get(query)])),
    };
  }

  private async getItem(operation: RefreshingOperation<GetOperation>): Promise<Item | null> {
    if (operation.namespace.length === 0) return null;
    const namespace = this.layout.memoryNamespace(operation.namespace, 'get');
    const pointerKey = this.layout.pointerKey(namespace, operation.key, 'get');
    for (let read = 1; ; read++) {
      const pointer = this.store.getKv<ItemPointer>(pointerKey);
      if (pointer === undefined || expiryOf(pointer, this.refreshOf(namespace, operation.key, pointer)) <= Date.now()) return null;
      const memory = await this.store.getMemory(pointer.id);
      if (memory !== undefined && memory.namespace === namespace && (memory.meta as Partial<ItemMeta>).key === operation.key) {
        await this.refresh([memory], operation.refreshTtl);
        return this.itemOf(memory);
      }
      // Gone since the pointer was read: deleted with the item, or replaced by a newer put, whose pointer
      // (written before the memory it replaced was deleted) names the new one: read again, caught up (a
      // store whose KV reads lag may show the pointer it replaced).
      if (read === MAX_POINTER_READS) return null;
      await this.store.catchUp?.();
      if (this.store.getKv<ItemPointer>(pointerKey)?.id === pointer.id) return null;
    }
  }

  /**
   * Writes an item: its memory (with its first embedding), those of its other embeddings, then its
   * pointer. `putAgain`: this put's memories were swept after its pointer `over` named them; the item is
   * written again only over that pointer (a put or a delete that came after it wins).
   */
  private async putItem(operation: MemMapPutOperation, vectors: readonly FieldVector[] = [], putAgain?: { createdAt: number; over: number }): Promise<void> {
    const { key, value } = operation as MemMapPutOperation & { value: Record<string, unknown> };
    const namespace = this.layout.memoryNamespace(operation.namespace, 'put');
    const pointerKey = this.layout.pointerKey(namespace, key, 'put');
    const ttlMinutes = operation.options?.ttl === undefined ? this.defaultTtl : operation.options.ttl === null ? null : minutes(operation.options.ttl, 'options.ttl', 'put');
    const text = textWithin(indexedText(value, operation.index === false ? [] : (operation.index ?? ['$'])), this.store.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES);
    const now = Date.now();
    const previous = this.store.getKv<ItemPointer>(pointerKey);
    const replaces = previous !== undefined && expiryOf(previous, this.refreshOf(namespace, key, previous)) > now && (await this.store.hasMemory(previous.id));
    // (Put again, its item is the one it was: its pointer names the memory of this put, swept.)
    const createdAt = putAgain ? putAgain.createdAt : replaces ? previous.createdAt : now;
    const expiresAt = ttlMinutes === null ? null : now + ttlMinutes * MINUTE;
    const meta: ItemMeta = { key, value, createdAt, updatedAt: now, ttlMinutes, expiresAt };
    const [first, ...others] = vectors;
    const itemText = text.trim().length > 0 ? text : NO_TEXT;
    const itemMeta = meta as unknown as Record<string, unknown>;
    // One commit: the item's memory and those of its other embeddings are all written, or none.
    const [id, ...vectorIds] = others.length === 0
      ? [await this.store.appendMemory(itemText, [], { namespace, meta: itemMeta, ...(first === undefined ? {} : { embedding: first.embedding }) })]
      : await this.store.appendMemories([
        { text: itemText, namespace, meta: itemMeta, embedding: first!.embedding },
        ...others.map(({ field, embedding }) => ({ text: NO_TEXT, namespace, meta: { ...meta, field } as unknown as Record<string, unknown>, embedding })),
      ]);
    const pointer: ItemPointer = { id: id!, createdAt, expiresAt, ...(vectorIds.length === 0 ? {} : { vectors: vectorIds }) };
    // The pointer replaces the one read (a compare-and-set under the writer lock); when another put or a
    // delete came between, the one there now, read again. So whichever pointer is written last is the
    // item, and each put knows the memories it replaced, which go.
    let replaced = previous;
    for (;;) {
      const expected = putAgain ? putAgain.over : replaced?.id;
      if ((await this.store.setKv<ItemPointer>(pointerKey, pointer, { when: (current) => current?.id === expected })) !== false) break;
      if (putAgain) {
        await Promise.all([id!, ...vectorIds].map((mine) => this.store.deleteMemory(mine)));
        return;
      }
      await this.store.catchUp?.();
      replaced = this.store.getKv<ItemPointer>(pointerKey);
    }
    if (replaced !== undefined) await Promise.all(memoriesOf(replaced).map((old) => this.store.deleteMemory(old)));
    // A put stopped between its two writes for longer than `LEFTOVER_AGE_MS` (a paused process) may
    // find its memories swept as leftovers meanwhile: its pointer names nothing then. Put again (which
    // can happen again only if this process is stopped that long again).
    if (this.store.getKv<ItemPointer>(pointerKey)?.id === id && !(await this.allThere([id!, ...vectorIds]))) await this.putItem(operation, vectors, { createdAt, over: id! });
  }

  private async allThere(ids: readonly number[]): Promise<boolean> {
    return (await Promise.all(ids.map((id) => this.store.hasMemory(id)))).every(Boolean);
  }

  private async deleteItem(operation: MemMapPutOperation): Promise<void> {
    if (operation.namespace.length === 0) return;
    const namespace = this.layout.memoryNamespace(operation.namespace, 'delete');
    const pointerKey = this.layout.pointerKey(namespace, operation.key, 'delete');
    const pointer = this.store.getKv<ItemPointer>(pointerKey);
    if (pointer === undefined) return;
    // The pointer first, only the one read (a put that replaced it meanwhile stays, and deletes the
    // memories it replaced itself); then its memories. Memories gone under a pointer that names them are
    // taken, by the put that wrote it, for ones a sweep removed as left over (and put again): never so
    // for a delete half done. A process killed between the two leaves memories no pointer names, which
    // keep their namespace listed until a sweep removes them as left over.
    if (!(await this.store.deleteKv<ItemPointer>(pointerKey, { when: (current) => current?.id === pointer.id }))) return;
    const refreshKey = this.layout.refreshKey(namespace, operation.key, 'delete');
    await this.store.deleteKv<ItemRefresh>(refreshKey, { when: (current) => current?.id === pointer.id });
    await Promise.all(memoriesOf(pointer).map((id) => this.store.deleteMemory(id)));
  }

  /** A search; `queryEmbedding` is the query's (with `index`; `undefined` for one of all zeros). */
  private async searchItems(operation: RefreshingOperation<SearchOperation>, queryEmbedding: number[] | undefined): Promise<SearchItem[]> {
    const { limit, offset, namespace, filter, text } = this.searchParameters(operation);
    if (limit === 0) return [];
    const scope: SearchScope = { namespace, filter, wanted: offset + limit, now: Date.now() };
    const found = text.length > 0 && this.embeddings !== undefined ? await this.similarItems(queryEmbedding, scope, offset)
      : text.length > 0 ? await this.textHits(text, scope)
      : await this.listedItems(scope, () => true);
    const page = found.slice(offset, scope.wanted);
    await this.refresh(page.map(({ memory }) => memory), operation.refreshTtl);
    return page.map(({ memory, score }) => (score === undefined ? this.itemOf(memory) : { ...this.itemOf(memory), score }));
  }

  /** Items by full-text relevance: core's hits, page by page, less those not (or no longer) an item's current memory. */
  private async textHits(text: string, { namespace, filter, wanted, now }: SearchScope): Promise<Found[]> {
    const found: Found[] = [];
    const listed = new Set<number>();
    let replaced = false;
    let rereads = 0;
    /** While the hits are read again, how far the reading before went. */
    let readBefore = 0;
    for (let from = 0; ;) {
      const ask = Math.min(PAGE, QUERY_DEPTH - from, Math.max(2 * (wanted - found.length), 10));
      const more = ask > 0 && (found.length < wanted || from < readBefore);
      const hits = more ? await this.store.queryMemory(text, { namespace, limit: ask, offset: from, ...(filter ? { filter } : {}) }) : [];
      for (const hit of hits) {
        if (listed.has(hit.id)) continue;
        if (this.isCurrent(hit, now)) {
          listed.add(hit.id);
          found.push({ memory: hit, score: hit.score });
        } else replaced ||= this.replacedSince(hit);
      }
      if (more && hits.length === ask) {
        from += ask;
        continue;
      }
      // An item replaced while the hits were read (by another process, say) has a new memory no page
      // read held, ranked anywhere (the hits after the old one moved up): the hits are read again.
      if (!replaced || ++rereads > MAX_PAGE_REREADS) break;
      replaced = false;
      readBefore = from + hits.length;
      from = 0;
    }
    if (rereads === 0) return found;
    // (Best first: a hit read again may rank above those found before it.)
    return found.sort((a, b) => b.score! - a.score! || b.memory.id - a.memory.id).slice(0, wanted);
  }

  /** Items in the order they were last put (those `include` keeps). */
  private async listedItems({ namespace, filter, wanted, now }: SearchScope, include: (memory: Memory) => boolean, found: Found[] = []): Promise<Found[]> {
    const listed = new Set(found.map(({ memory }) => memory.id));
    let cursor: string | undefined;
    let rereads = 0;
    for (;;) {
      const page = await this.store.listMemories({ namespace, limit: PAGE, cursor, ...(filter ? { filter } : {}) });
      let replaced = false;
      for (const memory of page.memories) {
        if (listed.has(memory.id)) continue;
        if (this.isCurrent(memory, now)) {
          if (include(memory)) {
            listed.add(memory.id);
            found.push({ memory });
          }
        } else replaced ||= this.replacedSince(memory);
      }
      if (found.length >= wanted) break;
      if (page.nextCursor !== undefined) cursor = page.nextCursor;
      // An item replaced since the last page was read (by another process, say) has its new memory
      // after it, which that page did not list: read from the same place again.
      else if (!replaced || ++rereads > MAX_PAGE_REREADS) break;
    }
    return found;
  }

  /** Whether `memory` was an item's, replaced by a later memory (its pointer names one with a higher id). */
  private replacedSince(memory: Memory): boolean {
    const key = (memory.meta as Partial<ItemMeta>).key;
    if (typeof key !== 'string') return false;
    const pointer = this.store.getKv<ItemPointer>(this.layout.pointerKey(memory.namespace, key, 'search'));
    return pointer !== undefined && pointer.id > memory.id;
  }

  /**
   * Items by the cosine similarity of their embeddings to the query's, as LangGraph's `InMemoryStore`
   * ranks them: an item scores its best embedding's similarity; items without an embedding follow, in
   * the order they were last put, without a score (all items, for a query `embedding` of all zeros).
   * Only the items of the page (from `offset`) are read in full; the others are placeholders.
   */
  private async similarItems(embedding: number[] | undefined, scope: SearchScope, offset: number): Promise<Found[]> {
    const { namespace, filter, wanted, now } = scope;
    const ranked: Array<{ hit: Memory; score: number; pointer: ItemPointer }> = [];
    /** The pointer keys of the items ranked. */
    const seen = new Set<string>();
    let searchedAll = embedding === undefined;
    let replaced = false;
    let rereads = 0;
    /** While the hits are read again, how far the reading before went. */
    let readBefore = 0;
    for (let from = 0; embedding !== undefined;) {
      const ask = Math.min(PAGE, QUERY_DEPTH - from, Math.max(2 * (wanted - ranked.length), 10));
      const more = ask > 0 && (ranked.length < wanted || from < readBefore);
      const hits = more ? await this.store.queryMemory('', { embedding, namespace, limit: ask, offset: from, ...(filter ? { filter } : {}) }) : [];
      for (const hit of hits) {
        const key = (hit.meta as Partial<ItemMeta>).key;
        if (typeof key !== 'string') continue;
        const pointerKey = this.layout.pointerKey(hit.namespace, key, 'search');
        const pointer = this.store.getKv<ItemPointer>(pointerKey);
        // Hits come best first: an item's first is its best embedding.
        if (pointer === undefined || seen.has(pointerKey) || expiryOf(pointer, this.refreshOf(hit.namespace, key, pointer)) <= now) continue;
        if (!pointerNames(pointer, hit.id)) {
          // (Replaced while the hits were read: its new memories may rank anywhere.)
          replaced ||= pointer.id > hit.id;
          continue;
        }
        seen.add(pointerKey);
        ranked.push({ hit, score: hit.score, pointer });
      }
      if (more && hits.length === ask) {
        from += ask;
        continue;
      }
      // (A page short of what was asked: every embedding in scope was ranked.)
      if (more && hits.length < ask) searchedAll = true;
      if (!replaced || ++rereads > MAX_PAGE_REREADS) break;
      replaced = false;
      readBefore = from + hits.length;
      from = 0;
    }
    // (Best first: a hit read again may rank above those ranked before it.)
    if (rereads > 0) ranked.sort((a, b) => b.score - a.score || b.hit.id - a.hit.id);
    const found: Found[] = [];
    for (const [i, { hit, score, pointer }] of ranked.slice(0, wanted).entries()) {
      // The best hit may be one of the item's other embeddings: the item is its own memory.
      const memory = i < offset || hit.id === pointer.id ? hit : await this.store.getMemory(pointer.id);
      if (memory !== undefined && memory.namespace === hit.namespace) found.push({ memory, score });
    }
    if (!searchedAll || found.length >= wanted) return found;
    // Every embedding in scope was ranked: on to the items without one (an item's memory has its first).
    return this.listedItems(scope, (memory) => embedding === undefined || memory.embedding === undefined, found);
  }

  private async listItemNamespaces(operation: ListNamespacesOperation): Promise<string[][]> {
    const { matchConditions, maxDepth, limit, offset, corePrefix, coreSuffix } = this.listingParameters(operation);
    const stored: string[] = [];
    for (let from = 0; ; from += NAMESPACE_PAGE) {
      const page = await this.store.listNamespaces({ prefix: corePrefix, ...(coreSuffix === undefined ? {} : { suffix: coreSuffix }), limit: NAMESPACE_PAGE, offset: from });
      stored.push(...page);
      if (page.length < NAMESPACE_PAGE) break;
    }
    const seen = new Set<string>();
    const namespaces: string[][] = [];
    for (const memoryNamespace of stored) {
      const namespace = this.layout.itemNamespace(memoryNamespace);
      if (namespace === undefined || !matchConditions.every((condition) => matches(condition, namespace))) continue;
      const listed = maxDepth === undefined ? namespace : namespace.slice(0, maxDepth);
      const id = JSON.stringify(listed);
      if (seen.has(id)) continue;
      seen.add(id);
      namespaces.push(listed);
    }
    return namespaces.sort(compareNamespaces).slice(offset, offset + limit);
  }

  /**
   * Checks `operation` (the `index`th of a batch of `count`) as running it would, before any operation of
   * the batch runs: an invalid one fails the batch with nothing written. Its kind, and the operation to
   * run (a put's value and namespace copied).
   */
  private checkOperation(operation: unknown, index: number, count: number): { kind: Kind; operation: Operation } {
    let method: string | undefined;
    try {
      const kind = operationKind(operation, index);
      const op = operation as Operation;
      method = methodOf(op, kind);
      if (kind === 'search') this.searchParameters(op as SearchOperation);
      else if (kind === 'listNamespaces') this.listingParameters(op as ListNamespacesOperation);
      else {
        const { namespace, key } = op as GetOperation;
        this.layout.pointerKey(this.layout.memoryNamespace(namespace, method), key, method);
        if (kind === 'put') {
          const put = op as PutOperation;
          const value = put.value === null ? null : checkValue(put.value as Record<string, unknown>);
          return { kind, operation: { ...put, namespace: [...put.namespace], value, ...(Array.isArray(put.index) ? { index: [...put.index] } : {}) } };
        }
      }
      return { kind, operation: op };
    } catch (error) {
      // (Said of the batch when it has more than this one operation: the caller called batch.)
      if (count === 1 || !MemMapError.is(error, 'INVALID_ARGUMENT') || /MemMapStore\.batch: /.test(error.message)) throw error;
      throw invalidArgument('batch', `operation ${index}${method ? ` (${method})` : ''}: ${error.message.replace(/^\[memmapfs\] (\[[^\]]+\] )*MemMapStore\.\w+: /, '')}`, 'MemMapStore', error);
    }
  }

  /** A search's page, namespace, filter and query text, checked (`INVALID_ARGUMENT` for what is not one). */
  private searchParameters(operation: SearchOperation) {
    const { limit = 10, offset = 0, query } = operation;
    if (!Number.isSafeInteger(limit) || limit < 0) throw invalidArgument('search', `limit must be a non-negative integer, got ${describeValue(limit)}.`, 'MemMapStore');
    if (!Number.isSafeInteger(offset) || offset < 0) throw invalidArgument('search', `offset must be a non-negative integer, got ${describeValue(offset)}.`, 'MemMapStore');
    if (query !== undefined && query !== null && typeof query !== 'string') throw invalidArgument('search', `query must be a string, got ${typeof query}.`, 'MemMapStore');
    const namespace = operation.namespacePrefix.length === 0 ? this.layout.root : this.layout.memoryNamespace(operation.namespacePrefix, 'search');
    const filter = valueFilter(operation.filter, 'search');
    return { limit, offset, namespace, filter, text: query?.trim() ?? '' };
  }

  /** A listing's conditions, depth, page, and the core prefix and suffix that narrow it, checked. */
  private listingParameters(operation: ListNamespacesOperation) {
    const { matchConditions = [], maxDepth, limit = 100, offset = 0 } = operation;
    if (!Array.isArray(matchConditions)) throw invalidArgument('listNamespaces', 'matchConditions must be an array of { matchType, path }.', 'MemMapStore');
    for (const condition of matchConditions) checkMatchCondition(condition);
    if (maxDepth !== undefined && (!Number.isSafeInteger(maxDepth) || maxDepth < 1)) throw invalidArgument('listNamespaces', `maxDepth must be a positive integer, got ${describeValue(maxDepth)}.`, 'MemMapStore');
    if (!Number.isSafeInteger(limit) || limit < 0) throw invalidArgument('listNamespaces', `limit must be a non-negative integer, got ${describeValue(limit)}.`, 'MemMapStore');
    if (!Number.isSafeInteger(offset) || offset < 0) throw invalidArgument('listNamespaces', `offset must be a non-negative integer, got ${describeValue(offset)}.`, 'MemMapStore');
    // Core narrows by the labels before the first wildcard of a prefix and after the last of a suffix;
    // the wildcards, maxDepth and the page are applied here.
    const prefix = matchConditions.filter((c) => c.matchType === 'prefix').map((c) => literalRun(c.path)).sort((a, b) => b.length - a.length)[0] ?? [];
    const suffix = matchConditions.filter((c) => c.matchType === 'suffix').map((c) => literalRun([...c.path].reverse()).reverse()).sort((a, b) => b.length - a.length)[0] ?? [];
    const corePrefix = this.layout.memoryNamespace(prefix, 'listNamespaces');
    const coreSuffix = suffix.length === 0 ? undefined : this.layout.memoryNamespace(suffix, 'listNamespaces').slice(this.layout.root.length + 1);
    return { matchConditions, maxDepth, limit, offset, corePrefix, coreSuffix };
  }

  /** Whether a memory is the current version of a live item (the one its pointer names, not expired). */
  private isCurrent(memory: Memory, now: number): boolean {
    const key = (memory.meta as Partial<ItemMeta>).key;
    if (typeof key !== 'string') return false;
    const pointer = this.store.getKv<ItemPointer>(this.layout.pointerKey(memory.namespace, key, 'search'));
    return pointer?.id === memory.id && expiryOf(pointer, this.refreshOf(memory.namespace, key, pointer)) > now;
  }

  /**
   * The highest id of a memory written at least `LEFTOVER_AGE_MS` ago, by what earlier sweeps saw (0
   * when none of them is that old).
   */
  private leftoverUpTo(): number {
    const now = performance.now();
    const looks = this.sweepLooks;
    let oldEnough = -1;
    while (oldEnough + 1 < looks.length && looks[oldEnough + 1]!.at <= now - LEFTOVER_AGE_MS) oldEnough++;
    // The newest look old enough bounds more than any older one: those go.
    if (oldEnough > 0) looks.splice(0, oldEnough);
    return oldEnough >= 0 ? looks[0]!.id : 0;
  }

  /**
   * What `sweep` does with a memory: the item it belongs to (its own or one of its embeddings') goes
   * when expired, and a memory no item's pointer names when its id is up to `leftoverUpTo` (written long
   * enough ago). How many memories it removed.
   */
  private async sweepMemory(memory: Memory, now: number, leftoverUpTo: number): Promise<number> {
    const meta = memory.meta as Partial<ItemMeta>;
    if (typeof meta.key !== 'string') return 0;
    const pointerKey = this.layout.pointerKey(memory.namespace, meta.key, 'sweep');
    const pointer = this.store.getKv<ItemPointer>(pointerKey);
    if (pointer !== undefined && pointerNames(pointer, memory.id)) {
      return expiryOf(pointer, this.refreshOf(memory.namespace, meta.key, pointer)) <= now ? this.forgetExpired(memory.namespace, meta.key, pointer, now) : 0;
    }
    if (memory.id > leftoverUpTo) return 0;
    // Only while no pointer names it, in the same step under the writer lock: a put stopped between its
    // two writes that writes its pointer now keeps its memory (one that writes it after finds the memory
    // gone, and puts its item again).
    const leftOver = (current: ItemPointer | undefined) => current === undefined || !pointerNames(current, memory.id);
    return (await this.store.deleteMemory<ItemPointer>(memory.id, { ifKv: { key: pointerKey, when: leftOver } })) ? 1 : 0;
  }

  /**
   * Removes an expired item: its pointer first, only while it is the one read and still expired (a read
   * in another process may have pushed its expiry back since it was read: the test and the delete are one
   * step under the writer lock), then the memories it named. A sweep stopped between the two leaves
   * memories no pointer names, which a later sweep removes as left over. How many memories it removed.
   */
  private async forgetExpired(namespace: string, key: string, pointer: ItemPointer, now: number): Promise<number> {
    // (A `when` must not call the store: an earlier release's refreshed expiry, read before.)
    const refreshed = this.refreshOf(namespace, key, pointer);
    const expired = (current: ItemPointer | undefined) => current?.id === pointer.id && expiryOf(current, refreshed) <= now;
    if (!(await this.store.deleteKv<ItemPointer>(this.layout.pointerKey(namespace, key, 'sweep'), { when: expired }))) return 0;
    await this.store.deleteKv<ItemRefresh>(this.layout.refreshKey(namespace, key, 'sweep'), { when: (value) => value?.id === pointer.id });
    return (await Promise.all(memoriesOf(pointer).map((id) => this.store.deleteMemory(id)))).filter(Boolean).length;
  }

  /**
   * Removes the refreshed expiries earlier releases kept apart from the pointers: one that names its
   * item's memory is carried into the pointer first (only ever later); one that names no item's memory
   * (a read's refresh that landed after the item was deleted or replaced) just goes. Each goes only while
   * it names the same memory and expires no later than when read (ids are never used again).
   */
  private async foldRefreshes(): Promise<void> {
    const listKv = this.store.listKv?.bind(this.store);
    if (!listKv) return;
    const prefix = `${this.layout.root}/ttl/`;
    for (let after: string | undefined; ;) {
      const keys = listKv({ prefix, limit: PAGE, ...(after === undefined ? {} : { after }) });
      for (const key of keys) {
        const refresh = this.store.getKv<ItemRefresh>(key);
        if (refresh === undefined) continue;
        const pointerKey = `${this.layout.root}/item/${key.slice(prefix.length)}`;
        const pointer = this.store.getKv<ItemPointer>(pointerKey);
        if (pointer?.id === refresh.id && pointer.expiresAt !== null && pointer.expiresAt < refresh.expiresAt) {
          await this.store.setKv<ItemPointer>(pointerKey, { ...pointer, expiresAt: refresh.expiresAt }, { when: (current) => current?.id === refresh.id && current.expiresAt !== null && current.expiresAt < refresh.expiresAt });
        }
        await this.store.deleteKv<ItemRefresh>(key, { when: (value) => value?.id === refresh.id && value.expiresAt <= refresh.expiresAt });
      }
      if (keys.length < PAGE) return;
      after = keys[keys.length - 1];
    }
  }

  /** The expiry a read of an earlier release pushed back, kept apart from the pointer (see `ItemRefresh`). */
  private refreshOf(namespace: string, key: string, pointer: ItemPointer): ItemRefresh | undefined {
    return pointer.expiresAt === null ? undefined : this.store.getKv<ItemRefresh>(this.layout.refreshKey(namespace, key, 'get'));
  }

  /**
   * Pushes back the expiry of items read, by their TTL, when asked to (or by default, `refreshOnRead`):
   * in each item's pointer, only while it names the memory read and expires earlier (a compare-and-set:
   * a sweep removes a pointer only while it is expired, in the same step, so a refresh lands before the
   * sweep's look, and the item stays, or finds the pointer gone).
   */
  private async refresh(memories: readonly Memory[], asked: boolean | undefined): Promise<void> {
    if (!(asked ?? this.refreshOnRead)) return;
    const now = Date.now();
    const writes = memories.flatMap((memory) => {
      const { key, ttlMinutes } = memory.meta as unknown as ItemMeta;
      if (typeof ttlMinutes !== 'number') return [];
      const pointerKey = this.layout.pointerKey(memory.namespace, key, 'get');
      const pointer = this.store.getKv<ItemPointer>(pointerKey);
      if (pointer?.id !== memory.id) return [];
      const expiresAt = now + ttlMinutes * MINUTE;
      // (The pointer's other fields are those of the put that wrote this memory: the same in any pointer naming it.)
      // (Not an item expired since it was read: a sweep may have removed it, or not yet.)
      // (A `when` must not call the store: an earlier release's refreshed expiry, read before.)
      const refreshed = this.refreshOf(memory.namespace, key, pointer);
      const pushesBack = (current: ItemPointer | undefined) => current?.id === memory.id && current.expiresAt !== null && current.expiresAt < expiresAt && expiryOf(current, refreshed) > Date.now();
      return [this.store.setKv<ItemPointer>(pointerKey, { ...pointer, expiresAt }, { when: pushesBack })];
    });
    try {
      await Promise.all(writes);
    } catch (error) {
      // A store opened read-only serves reads without refreshing.
      if (!MemMapError.is(error, 'READ_ONLY')) throw error;
    }
  }

  private itemOf(memory: Memory): Item {
    const meta = memory.meta as unknown as ItemMeta;
    return { namespace: this.layout.itemNamespace(memory.namespace) ?? [], key: meta.key, value: meta.value, createdAt: new Date(meta.createdAt), updatedAt: new Date(meta.updatedAt ?? memory.createdAt) };
  }
}

/** A value as a message names what was given in its place. */
function describeGiven(value: unknown): string {
  return typeof value === 'string' ? `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}` : value === null ? 'null' : typeof value;
}

/** Which operation it is (as LangGraph's stores tell them apart), after checking it. */
function operationKind(operation: unknown, index: number): Kind {
  if (typeof operation !== 'object' || operation === null) throw invalidArgument('batch', `operation ${index} must be an object, got ${operation === null ? 'null' : typeof operation}.`, 'MemMapStore');
  const op = operation as Record<string, unknown>;
  if ('namespacePrefix' in op) {
    if (!Array.isArray(op.namespacePrefix)) throw invalidArgument('search', `namespacePrefix must be an array of labels, e.g. ['users', '42'], got ${describeGiven(op.namespacePrefix)}.`, 'MemMapStore');
    validateNamespace(op.namespacePrefix as string[], { allowEmpty: true, allowReservedRoot: true });
    return 'search';
  }
  if ('matchConditions' in op) return 'listNamespaces';
  if ('namespace' in op && !Array.isArray(op.namespace)) {
    const method = !('value' in op) ? 'get' : op.value === null ? 'delete' : 'put';
    throw invalidArgument(method, `namespace must be an array of labels, e.g. ['users', '42'], got ${describeGiven(op.namespace)}.`, 'MemMapStore');
  }
  if (!Array.isArray(op.namespace)) throw invalidArgument('batch', `operation ${index} is neither a get, put, search nor listNamespaces operation.`, 'MemMapStore');
  if (typeof op.key !== 'string') throw invalidArgument(!('value' in op) ? 'get' : op.value === null ? 'delete' : 'put', `key must be a string, got ${op.key === null ? 'null' : typeof op.key}.`, 'MemMapStore');
  if (!('value' in op)) {
    validateNamespace(op.namespace as string[], { allowEmpty: true, allowReservedRoot: true });
    return 'get';
  }
  if (op.value === null) {
    validateNamespace(op.namespace as string[], { allowEmpty: true, allowReservedRoot: true });
    return 'put';
  }
  validateNamespace(op.namespace as string[], { allowReservedRoot: true });
  if (typeof op.value !== 'object' || Array.isArray(op.value)) throw invalidArgument('put', `value must be an object (or null to delete), got ${Array.isArray(op.value) ? 'an array' : typeof op.value}.`, 'MemMapStore');
  if (op.index !== undefined && op.index !== null && op.index !== false && !(Array.isArray(op.index) && op.index.every((field) => typeof field === 'string'))) {
    throw invalidArgument('put', 'index must be false or an array of field paths, e.g. ["title", "chapters[*].text"].', 'MemMapStore');
  }
  const options = op.options as PutItemOptions | undefined;
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalidArgument('put', 'options must be an object: { ttl? }.', 'MemMapStore');
  if (options?.ttl !== undefined && options.ttl !== null) minutes(options.ttl, 'options.ttl', 'put');
  return 'put';
}

/**
 * What the store would refuse of a put's value when the put runs, after the operations before it were
 * written: said of the value's own field (the memory's text, made of its fields, would be named
 * otherwise). The value is kept one level down in the memory's meta: nested as deep as that allows.
 * Returns the value's copy, which the put writes.
 */
function checkValue(value: Record<string, unknown>): Record<string, unknown> {
  try {
    const copy = toStorableValue(value, 'put', 'value') as Record<string, unknown>;
    toStorableValue({ value: copy }, 'put', 'the item');
    return copy;
  } catch (error) {
    if (!MemMapError.is(error, 'INVALID_ARGUMENT')) throw error;
    throw invalidArgument('put', error.message.replace(/^\[memmapfs\] \[[^\]]+\] put: /, ''), 'MemMapStore', error);
  }
}

/** The `BaseStore` method an operation is (for messages). */
function methodOf(operation: Operation, kind: Kind): string {
  return kind === 'put' && (operation as PutOperation).value === null ? 'delete' : kind;
}

function checkMatchCondition(condition: MatchCondition): void {
  if (typeof condition !== 'object' || condition === null || (condition.matchType !== 'prefix' && condition.matchType !== 'suffix') || !Array.isArray(condition.path) || condition.path.some((label) => typeof label !== 'string' || label.length === 0)) {
    throw invalidArgument('listNamespaces', 'each match condition must be { matchType: "prefix" | "suffix", path: [labels, "*" for any] }.', 'MemMapStore');
  }
}

/** The labels of a path up to its first `'*'`. */
function literalRun(path: readonly string[]): string[] {
  const wildcard = path.indexOf('*');
  return wildcard === -1 ? [...path] : path.slice(0, wildcard);
}

/** LangGraph's namespace matching: a prefix or suffix of labels, `'*'` matching any one label. */
function matches({ matchType, path }: MatchCondition, namespace: readonly string[]): boolean {
  if (path.length > namespace.length) return false;
  const start = matchType === 'prefix' ? 0 : namespace.length - path.length;
  return path.every((label, i) => label === '*' || namespace[start + i] === label);
}

/** Label by label in code-unit order, a namespace before those beneath it. */
function compareNamespaces(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}

function minutes(value: unknown, name: string, method: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalidArgument(method, `${name} must be a positive number of minutes, got ${describeValue(value)}.`, 'MemMapStore');
  return value;
}

function refreshOption(options: { refreshTtl?: boolean }): { refreshTtl?: boolean } {
  return options.refreshTtl === undefined ? {} : { refreshTtl: options.refreshTtl };
}
