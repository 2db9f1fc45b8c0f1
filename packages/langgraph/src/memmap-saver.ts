import type { RunnableConfig } from '@langchain/core/runnables';
import {
  BaseCheckpointSaver,
  TASKS,
  WRITES_IDX_MAP,
  compareWritesSortKeys,
  copyCheckpoint,
  maxChannelVersion,
  writesSortKey,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  type PendingWrite,
  type SerializerProtocol,
} from '@langchain/langgraph-checkpoint';
import type { MemMapFS } from '@memmapfs/core';
import { CheckpointKeys, type ThreadScope } from './checkpoint-keys.js';
import { checkpointIdOf, namespaceOf, optionalNamespaceOf, requiredThreadIdOf, threadIdOf } from './config-fields.js';
import { checkOptionNames, describeValue, invalidArgument, onStore, onStoreEach } from './adapter-errors.js';
import type { ChannelValueRecord, CheckpointRecord, WriteRecord } from './stored-records.js';

/** The part of a `MemMapFS` store a saver uses: its KV. */
export type CheckpointStore = Pick<MemMapFS, 'root' | 'getKv' | 'setKvs' | 'deleteKv' | 'listKv'> & Partial<Pick<MemMapFS, 'catchUp' | 'deleteKvs'>>;

/** Options of `new MemMapSaver(store, options)`. */
export interface MemMapSaverOptions {
  /** How checkpoints, metadata, channel values and writes become bytes. Default LangGraph's `JsonPlusSerializer`. */
  serde?: SerializerProtocol;
  /**
   * The start of every KV key the saver writes. Default `'langgraph/'`. Give savers that must not see
   * each other's threads in one store different prefixes; keep other keys out of it.
   */
  keyPrefix?: string;
}

/** How many channels' versions a saver remembers having seen stored (see `storedVersions`). */
const REMEMBERED_CHANNELS = 10_000;

/**
 * A LangGraph checkpointer that keeps checkpoints and pending writes in a MemMapFS store, durably (a
 * `put` resolves once it is on disk, under the store's default durability) and visible to every
 * process that has the store's folder open.
 *
 * @example
 * const store = await MemMapFS.init('.memmap_fs_root');
 * const graph = builder.compile({ checkpointer: new MemMapSaver(store) });
 * await graph.invoke(input, { configurable: { thread_id: 'conversation-1' } });
 */
export class MemMapSaver extends BaseCheckpointSaver {
  /** The store the saver reads and writes. Close it yourself when no graph uses the saver any more. */
  readonly store: CheckpointStore;
  private readonly keys: CheckpointKeys;
  /**
   * Settles once the last `putWrites` called has handed its writes to the store (or failed before):
   * each waits for the one called before it, so that they reach the store in call order whatever their
   * values take to serialise (a later error write then replaces an earlier one, as in `MemorySaver`).
   */
  private writesHandedOver: Promise<void> = Promise.resolve();
  /**
   * The version of a channel's value this saver last stored or read (by `valueKey`'s thread, namespace
   * and channel; the most recent `REMEMBERED_CHANNELS`): a later checkpoint that keeps that version
   * while the value is gone (a `deleteThread` as the graph ran) stores it again.
   */
  private readonly storedVersions = new Map<string, number | string>();

  /**
   * @param store An open `MemMapFS` (from `MemMapFS.init`). Opened with `readOnly: true`, the saver
   *   reads checkpoints and every write fails with `READ_ONLY`.
   */
  constructor(store: CheckpointStore, options: MemMapSaverOptions = {}) {
    super((options as MemMapSaverOptions | null)?.serde);
    const methods = ['getKv', 'setKvs', 'deleteKv', 'listKv'] as const;
    if (typeof store !== 'object' || store === null || methods.some((name) => typeof store[name] !== 'function')) {
      throw invalidArgument('constructor', 'store must be an open MemMapFS (await MemMapFS.init(folder)) from a @memmapfs/core release that has setKvs.');
    }
    if (typeof options !== 'object' || options === null) throw invalidArgument('constructor', 'options must be an object: { serde?, keyPrefix? }.');
    checkOptionNames(options, ['serde', 'keyPrefix'], 'constructor', 'options', 'MemMapSaver');
    const prefix = options.keyPrefix ?? 'langgraph/';
    if (typeof prefix !== 'string') throw invalidArgument('constructor', `keyPrefix must be a string, got ${describeValue(prefix)}.`);
    this.store = store;
    this.keys = new CheckpointKeys(prefix);
  }

  /**
   * The next version of a channel: the whole number after `current`'s, plus a random fraction. A
   * channel's value is kept under its version, so versions must differ between the branches of a
   * thread (a replay or a fork from an earlier checkpoint, or two processes running the thread at
   * once), where LangGraph's plain `current + 1` would give both branches the same one and the later
   * write would change the earlier checkpoints. Versions stay numbers and keep increasing, also past
   * those of checkpoints saved with whole numbers.
   */
  override getNextVersion(current: number | undefined): number {
    if (typeof current === 'string') throw invalidArgument('getNextVersion', 'channel versions of this saver are numbers: a checkpoint with string versions was saved by another checkpointer.');
    const whole = typeof current === 'number' && Number.isFinite(current) ? Math.floor(current) : 0;
    // (Never a whole number, which a checkpoint saved with whole-number versions may hold, nor one a
    // fraction near 1 rounds up past the next: drawn again then.)
    let version = whole + 1 + Math.random();
    while (Number.isInteger(version) || version >= whole + 2) version = whole + 1 + Math.random();
    return version;
  }

  /**
   * The checkpoint `config` names (`thread_id`, `checkpoint_ns`, and `checkpoint_id`; without an id,
   * the thread's latest), with its metadata, parent and pending writes; `undefined` when there is none.
   */
  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = threadIdOf(config, 'getTuple');
    const ns = namespaceOf(config, 'getTuple');
    const requestedId = checkpointIdOf(config, 'getTuple');
    if (threadId === undefined) return undefined;
    return onStore('getTuple', this.store.root, async () => {
      await this.caughtUp();
      const id = requestedId ?? this.latestCheckpointId(threadId, ns);
      if (id === undefined) return undefined;
      const record = this.store.getKv<CheckpointRecord>(this.keys.checkpoint(threadId, ns, id));
      if (record === undefined) return undefined;
      return this.tupleOf(threadId, ns, id, record, this.store.listKv({ prefix: this.keys.writes([threadId, ns, id]) }));
    });
  }

  /**
   * The checkpoints that match, newest first within each thread and namespace: those of
   * `config.configurable.thread_id` (every thread when absent) in `checkpoint_ns` (every namespace when
   * absent), older than `before`, whose metadata has every entry of `filter`, at most `limit`.
   */
  list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    return onStoreEach('list', this.store.root, () => this.listTuples(config, options));
  }

  private async *listTuples(config: RunnableConfig, { limit, before, filter }: CheckpointListOptions): AsyncGenerator<CheckpointTuple> {
    await this.caughtUp();
    const threadId = threadIdOf(config, 'list');
    const ns = optionalNamespaceOf(config, 'list');
    const onlyId = checkpointIdOf(config, 'list');
    const beforeId = before === undefined ? undefined : checkpointIdOf(before, 'list');
    if (limit !== undefined && (typeof limit !== 'number' || Number.isNaN(limit))) throw invalidArgument('list', `limit must be a number, got ${typeof limit}.`);
    const scope: ThreadScope = threadId === undefined ? [] : ns === undefined ? [threadId] : [threadId, ns];
    const found = this.store.listKv({ prefix: this.keys.checkpoints(scope) })
      .map((key) => this.keys.parseCheckpoint(key))
      .filter(([, n, id]) => (ns === undefined || n === ns) && (onlyId === undefined || id === onlyId) && (beforeId === undefined || id < beforeId))
      .sort(([t1, n1, id1], [t2, n2, id2]) => compare(t1, t2) || compare(n1, n2) || compare(id2, id1));
    const writeKeys = new Map<string, string[]>();
    for (const key of this.store.listKv({ prefix: this.keys.writes(scope) })) {
      const [t, n, id] = this.keys.parseWrite(key);
      const at = JSON.stringify([t, n, id]);
      const keys = writeKeys.get(at);
      if (keys) keys.push(key);
      else writeKeys.set(at, [key]);
    }
    let remaining = limit;
    for (const [t, n, id] of found) {
      if (remaining !== undefined && remaining <= 0) return;
      const record = this.store.getKv<CheckpointRecord>(this.keys.checkpoint(t, n, id));
      // (Gone when its thread was deleted since the listing.)
      if (record === undefined) continue;
      const metadata = (await this.serde.loadsTyped(record.metadataType, record.metadata)) as CheckpointMetadata;
      if (filter && !Object.entries(filter).every(([key, value]) => (metadata as Record<string, unknown>)[key] === value)) continue;
      if (remaining !== undefined) remaining -= 1;
      const tuple = await this.tupleOf(t, n, id, record, writeKeys.get(JSON.stringify([t, n, id])) ?? [], metadata);
      if (tuple !== undefined) yield tuple;
    }
  }

  /**
   * Stores a checkpoint made from the one `config` names (its parent), and the values of the channels
   * in `newVersions`; the checkpoint's other channel values were stored with the checkpoints that
   * gave them their versions, and are written again only where they are gone (a `deleteThread` while
   * the graph ran). Resolves, with the new checkpoint's config, once it is durable.
   */
  async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, newVersions: ChannelVersions): Promise<RunnableConfig> {
    const threadId = requiredThreadIdOf(config, 'put');
    const ns = namespaceOf(config, 'put');
    const parentId = checkpointIdOf(config, 'put') ?? null;
    if (typeof checkpoint?.id !== 'string' || checkpoint.id.length === 0) throw invalidArgument('put', 'checkpoint.id must be a non-empty string.');
    const key = this.keys.checkpoint(threadId, ns, checkpoint.id);
    const { channel_values: values, ...rest } = copyCheckpoint(checkpoint);
    const [[checkpointType, checkpointBytes], [metadataType, metadataBytes]] = await Promise.all([
      this.serde.dumpsTyped({ ...rest, channel_values: {} }),
      this.serde.dumpsTyped(metadata),
    ]);
    const valueOf = async ([channel, version]: [string, number | string]): Promise<[string, ChannelValueRecord]> => {
      const valueKey = this.keys.channelValue(threadId, ns, channel, version);
      if (!Object.hasOwn(values, channel)) return [valueKey, { type: null, value: null }];
      const [type, value] = await this.serde.dumpsTyped((values as Record<string, unknown>)[channel]);
      return [valueKey, { type, value }];
    };
    const changed = newVersions ?? {};
    const channelValues = await Promise.all(Object.entries(changed).map(valueOf));
    // The values of the channels this checkpoint did not change, stored before (there now, or stored or
    // read by this saver): written too, but only where they are gone under the writer lock (a
    // deleteThread of another process removed them as the graph ran: the checkpoint would read back
    // without them). A value never stored is not (a checkpoint stores the values its new versions name).
    const storedBefore = ([channel, version]: [string, number | string]) => !Object.hasOwn(changed, channel)
      && (this.store.getKv(this.keys.channelValue(threadId, ns, channel, version)) !== undefined || this.storedVersions.get(JSON.stringify([threadId, ns, channel])) === version);
    const kept = await Promise.all(Object.entries(rest.channel_versions ?? {}).filter(storedBefore).map(valueOf));
    const record: CheckpointRecord = { parentId, checkpointType, checkpoint: checkpointBytes, metadataType, metadata: metadataBytes };
    // One commit: a checkpoint another process can see, or one left after a crash, always has its values.
    await onStore('put', this.store.root, () => this.store.setKvs([...channelValues, ...kept, [key, record]], kept.length === 0 ? undefined : { ifAbsent: kept.map(([valueKey]) => valueKey) }));
    for (const [channel, version] of Object.entries(changed)) this.remember(threadId, ns, channel, version);
    return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpoint.id } };
  }

  /**
   * Stores a task's writes against the checkpoint `config` names. A write to a special channel
   * (error, interrupt, resume, scheduled) replaces the task's earlier one; another write is kept as
   * first stored, so a task run again after a failure does not change what it wrote.
   */
  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void> {
    const threadId = requiredThreadIdOf(config, 'putWrites');
    const ns = namespaceOf(config, 'putWrites');
    const checkpointId = checkpointIdOf(config, 'putWrites');
    if (checkpointId === undefined) throw invalidArgument('putWrites', 'config.configurable.checkpoint_id is missing: writes belong to a checkpoint; pass the config put returned.');
    if (typeof taskId !== 'string' || taskId.length === 0) throw invalidArgument('putWrites', 'taskId must be a non-empty string.');
    if (!Array.isArray(writes)) throw invalidArgument('putWrites', 'writes must be an array of [channel, value] pairs.');
    const before = this.writesHandedOver;
    let handedOver!: () => void;
    this.writesHandedOver = new Promise((resolve) => (handedOver = resolve));
    try {
      const records = new Map<string, WriteRecord>();
      for (const [position, [channel, value]] of writes.entries()) {
        const index = (WRITES_IDX_MAP as Record<string, number | undefined>)[channel] ?? position;
        const [type, bytes] = await this.serde.dumpsTyped(value);
        records.set(this.keys.write(threadId, ns, checkpointId, taskId, index), { taskId, taskPath: taskPath ?? '', index, channel, type, value: bytes });
      }
      await before;
      // One commit: LangGraph takes a task with writes for done, so a crash must leave all of them or none.
      await onStore('putWrites', this.store.root, async () => {
        // (Caught up first: a write of the task another host kept is kept, not replaced. And checked again
        // under the store's writer lock: one another process committed since this look is kept too.)
        await this.caughtUp();
        const entries = [...records].filter(([key, record]) => record.index < 0 || this.store.getKv(key) === undefined);
        const written = this.store.setKvs(entries, { ifAbsent: entries.filter(([, record]) => record.index >= 0).map(([key]) => key) });
        handedOver();
        await written;
      });
    } finally {
      handedOver();
    }
  }

  /** Deletes every checkpoint, channel value and pending write of a thread, in every namespace, in one commit (all or none). */
  async deleteThread(threadId: string): Promise<void> {
    if (typeof threadId !== 'string' || threadId.length === 0) throw invalidArgument('deleteThread', 'threadId must be a non-empty string.');
    await onStore('deleteThread', this.store.root, async () => {
      await this.caughtUp();
      const prefixes = [this.keys.checkpoints([threadId]), this.keys.writes([threadId]), this.keys.channelValues([threadId])];
      // In one commit, of every key under them as found under the writer lock: a failure or a crash
      // half-way would leave an older checkpoint the thread's latest, and keys listed one prefix at a
      // time would miss a checkpoint another process put meanwhile, and remove its channel values.
      if (this.store.deleteKvs) {
        await this.store.deleteKvs({ prefix: prefixes });
        return;
      }
      // (A store of a release before deleteKvs: a key at a time, checkpoints first, so that one still
      // listed never lacks its channel values; every delete of a group done before it fails.)
      for (const group of prefixes.map((prefix) => this.store.listKv({ prefix }))) {
        const failed = (await Promise.allSettled(group.map((key) => this.store.deleteKv(key)))).find((outcome) => outcome.status === 'rejected');
        if (failed) throw failed.reason;
      }
    });
  }

  /**
   * Waits until the store has applied what was committed before (on a log hosts share, its synchronous
   * reads see only what has arrived until then; on a local store they see everything already).
   */
  private async caughtUp(): Promise<void> {
    await this.store.catchUp?.();
  }

  /** The newest checkpoint id of a thread's namespace (ids are uuid6: they sort by time). */
  private latestCheckpointId(threadId: string, ns: string): string | undefined {
    let latest: string | undefined;
    for (const key of this.store.listKv({ prefix: this.keys.checkpoints([threadId, ns]) })) {
      const [, , id] = this.keys.parseCheckpoint(key);
      if (latest === undefined || id > latest) latest = id;
    }
    return latest;
  }

  /**
   * The checkpoint `record` (of `id`) with its channel values and pending writes; `undefined` when it is
   * gone (its thread deleted, by another process say, since it was listed).
   */
  private async tupleOf(threadId: string, ns: string, id: string, record: CheckpointRecord, writeKeys: readonly string[], metadata?: CheckpointMetadata): Promise<CheckpointTuple | undefined> {
    const checkpoint = (await this.serde.loadsTyped(record.checkpointType, record.checkpoint)) as Checkpoint;
    // Its values and writes read in one go, then the checkpoint looked for: a deleteThread (one commit)
    // that came before the reads removed it too; one after them, none of what was read.
    const values = this.storedValues(threadId, ns, checkpoint.channel_versions ?? {});
    const writes = this.writeRecords(writeKeys);
    if (this.store.getKv(this.keys.checkpoint(threadId, ns, id)) === undefined) return undefined;
    checkpoint.channel_values = {};
    for (const [channel, stored] of values) {
      this.remember(threadId, ns, channel, checkpoint.channel_versions[channel]!);
      checkpoint.channel_values[channel] = await this.serde.loadsTyped(stored.type!, stored.value!);
    }
    if (checkpoint.v < 4 && record.parentId !== null) await this.migratePendingSends(checkpoint, threadId, ns, record.parentId);
    const tuple: CheckpointTuple = {
      config: configOf(threadId, ns, id),
      checkpoint,
      metadata: metadata ?? ((await this.serde.loadsTyped(record.metadataType, record.metadata)) as CheckpointMetadata),
      pendingWrites: await this.decodedWrites(writes),
    };
    if (record.parentId !== null) tuple.parentConfig = configOf(threadId, ns, record.parentId);
    return tuple;
  }

  /** Remembers that the value of `channel` at `version` was stored (see `storedVersions`). */
  private remember(threadId: string, ns: string, channel: string, version: number | string): void {
    const remembered = JSON.stringify([threadId, ns, channel]);
    this.storedVersions.delete(remembered);
    this.storedVersions.set(remembered, version);
    if (this.storedVersions.size > REMEMBERED_CHANNELS) this.storedVersions.delete(this.storedVersions.keys().next().value!);
  }

  /** The stored value of each channel at the version the checkpoint has of it, not decoded (channels without one are left out). */
  private storedValues(threadId: string, ns: string, versions: ChannelVersions): Array<[string, ChannelValueRecord]> {
    const values: Array<[string, ChannelValueRecord]> = [];
    for (const [channel, version] of Object.entries(versions)) {
      const stored = this.store.getKv<ChannelValueRecord>(this.keys.channelValue(threadId, ns, channel, version));
      if (stored?.type != null && stored.value !== null) values.push([channel, stored]);
    }
    return values;
  }

  /** The write records of `keys` there now, in the order LangGraph applies them: by task path, task id, index. */
  private writeRecords(keys: readonly string[]): WriteRecord[] {
    const records = keys.map((key) => this.store.getKv<WriteRecord>(key)).filter((record): record is WriteRecord => record !== undefined);
    return records.sort((a, b) => compareWritesSortKeys(writesSortKey(a.taskPath, a.taskId, a.index), writesSortKey(b.taskPath, b.taskId, b.index)));
  }

  private decodedWrites(records: readonly WriteRecord[]): Promise<CheckpointPendingWrite[]> {
    return Promise.all(records.map(async (record): Promise<CheckpointPendingWrite> => [record.taskId, record.channel, await this.serde.loadsTyped(record.type, record.value)]));
  }

  /**
   * Checkpoints of format 1 to 3 kept the sends of a step in their parent's writes to `TASKS`; newer
   * LangGraph reads them from the `TASKS` channel.
   */
  private async migratePendingSends(checkpoint: Checkpoint, threadId: string, ns: string, parentId: string): Promise<void> {
    const parentWrites = await this.decodedWrites(this.writeRecords(this.store.listKv({ prefix: this.keys.writes([threadId, ns, parentId]) })));
    checkpoint.channel_values ??= {};
    checkpoint.channel_values[TASKS] = parentWrites.filter(([, channel]) => channel === TASKS).map(([, , value]) => value);
    checkpoint.channel_versions ??= {};
    const versions = Object.values(checkpoint.channel_versions);
    checkpoint.channel_versions[TASKS] = versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
  }
}

function configOf(threadId: string, ns: string, checkpointId: string): RunnableConfig {
  return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpointId } };
}

/** Ascending order of UTF-16 code units, as MemorySaver sorts checkpoint ids. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
