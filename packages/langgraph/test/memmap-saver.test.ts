import { ERROR, INTERRUPT, emptyCheckpoint, uuid6, type Checkpoint, type CheckpointMetadata } from '@langchain/langgraph-checkpoint';
import { MemMapError, type MemMapFS } from '@memmapfs/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemMapSaver, type CheckpointStore } from '../src/index.js';
import { laggingStore } from './support/lagging-store.js';
import { openStore, tempFolder } from './support/open-store.js';

let root: string;
let remove: () => Promise<void>;
let store: MemMapFS;
beforeEach(async () => {
  ({ root, remove } = await tempFolder('saver'));
  store = await openStore(root);
});
afterEach(async () => {
  await store.close();
  await remove();
});

const meta = (step: number): CheckpointMetadata => ({ source: 'loop', step, parents: {} });
const checkpoint = (values: Record<string, unknown>, versions: Record<string, number>): Checkpoint => ({ ...emptyCheckpoint(), id: uuid6(-1), channel_values: values, channel_versions: versions });
const thread = (thread_id: string, checkpoint_ns = '') => ({ configurable: { thread_id, checkpoint_ns } });

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const result: T[] = [];
  for await (const item of items) result.push(item);
  return result;
}

async function rejection(promise: Promise<unknown>): Promise<MemMapError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(MemMapError);
  return error as MemMapError;
}

describe('what MemMapSaver stores', () => {
  it('stores a channel value once per version, and gives it to every checkpoint that has that version', async () => {
    const saver = new MemMapSaver(store);
    const document = 'x'.repeat(10_000);
    let config = await saver.put(thread('t'), checkpoint({ document, count: 0 }, { document: 1, count: 1 }), meta(0), { document: 1, count: 1 });
    for (let count = 1; count <= 3; count++) {
      config = await saver.put(config, checkpoint({ document, count }, { document: 1, count: count + 1 }), meta(count), { count: count + 1 });
    }
    expect(store.listKv({ prefix: 'langgraph/channel/t//document/' })).toEqual(['langgraph/channel/t//document/1']);
    expect(store.listKv({ prefix: 'langgraph/channel/t//count/' })).toHaveLength(4);
    const tuples = await all(saver.list(thread('t')));
    expect(tuples.map((t) => t.checkpoint.channel_values)).toEqual([3, 2, 1, 0].map((count) => ({ document, count })));
  });

  it('leaves out of channel_values a channel updated to no value', async () => {
    const saver = new MemMapSaver(store);
    const first = await saver.put(thread('t'), checkpoint({ a: 1, b: 2 }, { a: 1, b: 1 }), meta(0), { a: 1, b: 1 });
    const second = await saver.put(first, checkpoint({ a: 1 }, { a: 1, b: 2 }), meta(1), { b: 2 });
    expect((await saver.getTuple(second))?.checkpoint).toMatchObject({ channel_values: { a: 1 }, channel_versions: { a: 1, b: 2 } });
    expect((await saver.getTuple(first))?.checkpoint.channel_values).toEqual({ a: 1, b: 2 });
  });

  it('replaces a write to a special channel, and keeps the first of other writes', async () => {
    const saver = new MemMapSaver(store);
    const config = await saver.put(thread('t'), checkpoint({}, {}), meta(0), {});
    await saver.putWrites(config, [['out', 'first'], [ERROR, 'boom 1']], 'task', 'path');
    await saver.putWrites(config, [['out', 'second'], [ERROR, 'boom 2'], [INTERRUPT, 'wait']], 'task', 'path');
    await saver.putWrites(config, [['out', 'input']], 'input-task');
    expect((await saver.getTuple(config))?.pendingWrites).toEqual([
      // No task path first (graph input), then by path, task id and index (special channels have negative ones).
      ['input-task', 'out', 'input'],
      ['task', INTERRUPT, 'wait'],
      ['task', ERROR, 'boom 2'],
      ['task', 'out', 'first'],
    ]);
  });

  it('keeps the first of a task\'s writes that another process made between its look and its commit', async () => {
    const saver = new MemMapSaver(store);
    const config = await saver.put(thread('t'), checkpoint({}, {}), meta(0), {});
    // (A view that has not seen any write yet: as when another process commits one right after this one looked.)
    const unseeing = new Proxy(store, {
      get: (target, name) => (name === 'getKv' ? (key: string) => (key.includes('write') ? undefined : target.getKv(key)) : (Reflect.get(target, name) as (...a: unknown[]) => unknown).bind?.(target) ?? Reflect.get(target, name)),
    });
    await saver.putWrites(config, [['out', 'first'], [ERROR, 'boom 1']], 'task');
    await new MemMapSaver(unseeing).putWrites(config, [['out', 'second'], [ERROR, 'boom 2']], 'task');
    expect((await saver.getTuple(config))?.pendingWrites).toEqual([
      ['task', ERROR, 'boom 2'],
      ['task', 'out', 'first'],
    ]);
  });

  it('stores two putWrites of a task called without awaiting the first in call order, as MemorySaver does: the later error write replaces the earlier one', async () => {
    const saver = new MemMapSaver(store);
    const config = await saver.put(thread('t'), checkpoint({}, {}), meta(0), {});
    // (The first has more values to serialise: its writes are ready after the second's.)
    await Promise.all([
      saver.putWrites(config, [['out', 'x'], ['more', 'y'], [ERROR, 'boom 1']], 'task'),
      saver.putWrites(config, [[ERROR, 'boom 2']], 'task'),
    ]);
    expect((await saver.getTuple(config))?.pendingWrites).toEqual([
      ['task', ERROR, 'boom 2'],
      ['task', 'out', 'x'],
      ['task', 'more', 'y'],
    ]);
  });

  it('keeps threads and namespaces apart whatever characters their names hold', async () => {
    const saver = new MemMapSaver(store);
    const names: Array<[string, string]> = [['a', 'b/c'], ['a/b', 'c'], ['a%2Fb', 'c'], ['ä 💬', ''], ['a', '']];
    for (const [t, ns] of names) await saver.put(thread(t, ns), checkpoint({ at: `${t}|${ns}` }, { at: 1 }), meta(0), { at: 1 });
    for (const [t, ns] of names) expect((await saver.getTuple(thread(t, ns)))?.checkpoint.channel_values).toEqual({ at: `${t}|${ns}` });
    expect((await all(saver.list({ configurable: { thread_id: 'a' } }))).map((tuple) => tuple.config.configurable?.checkpoint_ns)).toEqual(['', 'b/c']);
    expect(await all(saver.list({ configurable: {} }))).toHaveLength(names.length);
    expect(await all(saver.list({ configurable: { checkpoint_ns: 'c' } }))).toHaveLength(2);
  });

  it('catches up before it reads, so that a checkpoint another host put is found on a log hosts share (where synchronous reads lag until catchUp)', async () => {
    const elsewhere = new MemMapSaver(laggingStore(store));
    const config = await new MemMapSaver(store).put(thread('shared'), checkpoint({ by: 'the other host' }, { by: 1 }), meta(0), { by: 1 });
    await new MemMapSaver(store).putWrites(config, [['by', 'a write']], 'task');
    expect((await elsewhere.getTuple(thread('shared')))?.checkpoint.channel_values).toEqual({ by: 'the other host' });
    expect((await elsewhere.getTuple(thread('shared')))?.pendingWrites).toEqual([['task', 'by', 'a write']]);
    expect(await all(elsewhere.list(thread('shared')))).toHaveLength(1);
  });

  it('list refuses a thread_id that is empty or not a string, as MemorySaver does, rather than list every thread', async () => {
    const saver = new MemMapSaver(store);
    for (const t of ['alice', 'bob']) await saver.put(thread(t), checkpoint({ at: t }, { at: 1 }), meta(0), { at: 1 });
    for (const bad of ['', null, 0, false]) {
      await expect(all(saver.list({ configurable: { thread_id: bad } })), String(bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('thread_id must be a non-empty string') });
    }
  });

  it('deleteThread removes every key of the thread, in every namespace, and nothing of other threads', async () => {
    const saver = new MemMapSaver(store);
    for (const t of ['doomed', 'kept']) {
      for (const ns of ['', 'inner']) {
        const config = await saver.put(thread(t, ns), checkpoint({ v: t }, { v: 1 }), meta(0), { v: 1 });
        await saver.putWrites(config, [['v', 'next'], [INTERRUPT, 'x']], 'task');
      }
    }
    const before = store.listKv({ prefix: 'langgraph/' });
    await saver.deleteThread('doomed');
    expect(store.listKv({ prefix: 'langgraph/' })).toEqual(before.filter((key) => !key.includes('/doomed/')));
    expect(store.listKv({ prefix: 'langgraph/' }).length).toBe(before.length / 2);
    expect(await saver.getTuple(thread('doomed'))).toBeUndefined();
    expect(await saver.getTuple(thread('doomed', 'inner'))).toBeUndefined();
    expect((await saver.getTuple(thread('kept', 'inner')))?.pendingWrites).toHaveLength(2);
  });

  it('deleteThread that fails (a full disk) leaves the thread as it was, never rolled back to an older checkpoint: it removes every key in one commit', async () => {
    const diskFull = () => new MemMapError('IO_ERROR', 'no space left on device (a test)');
    // The store as the saver sees it, on a disk that is full now: any delete fails, but the one of the
    // thread's second checkpoint alone when removed key by key (a crash half-way leaves the same).
    let full = false;
    let second: string | undefined;
    const onFullDisk: CheckpointStore = {
      root: store.root,
      getKv: (key) => store.getKv(key),
      setKvs: (entries, options) => store.setKvs(entries, options),
      listKv: (options) => store.listKv(options),
      catchUp: () => store.catchUp(),
      deleteKv: async (key) => {
        if (full && key === second) throw diskFull();
        return store.deleteKv(key);
      },
      deleteKvs: async (keys) => {
        if (full) throw diskFull();
        return store.deleteKvs(keys);
      },
    };
    const saver = new MemMapSaver(onFullDisk);
    let config = await saver.put(thread('t'), checkpoint({ step: 0 }, { step: 1 }), meta(0), { step: 1 });
    for (let step = 1; step < 4; step++) config = await saver.put(config, checkpoint({ step }, { step: step + 1 }), meta(step), { step: step + 1 });
    const latest = (await saver.getTuple(thread('t')))!;
    second = store.listKv({ prefix: 'langgraph/checkpoint/' })[1];
    const before = store.listKv();
    full = true;
    await expect(saver.deleteThread('t')).rejects.toMatchObject({ code: 'IO_ERROR' });
    // (Whatever deletes were still under way are done once the store is closed.)
    await store.close();
    store = await openStore(root);
    expect(store.listKv()).toEqual(before);
    expect((await saver.getTuple(thread('t')))?.config).toEqual(latest.config);
    full = false;
    await saver.deleteThread('t');
    expect(store.listKv({ prefix: 'langgraph/' })).toEqual([]);
  });

  it('savers with different key prefixes in one store do not see each other', async () => {
    const one = new MemMapSaver(store);
    const other = new MemMapSaver(store, { keyPrefix: 'agents/other/' });
    await one.put(thread('t'), checkpoint({ by: 'one' }, { by: 1 }), meta(0), { by: 1 });
    expect(await other.getTuple(thread('t'))).toBeUndefined();
    expect(await all(other.list({ configurable: {} }))).toEqual([]);
    await other.put(thread('t'), checkpoint({ by: 'other' }, { by: 1 }), meta(0), { by: 1 });
    expect((await one.getTuple(thread('t')))?.checkpoint.channel_values).toEqual({ by: 'one' });
    expect(store.listKv({ prefix: 'agents/other/' })).toHaveLength(2);
  });

  it('writes a checkpoint with its channel values, and a task\'s writes, each in one commit of the store (all or none after a crash)', async () => {
    const calls: Array<[string, number]> = [];
    const counted = new Proxy(store, {
      get(target, property) {
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== 'function') return value;
        if (property === 'setKv') return (...args: unknown[]) => (calls.push(['setKv', 1]), (value as (...a: unknown[]) => unknown).apply(target, args));
        if (property === 'setKvs') return (entries: unknown[]) => (calls.push(['setKvs', [...entries].length]), (value as (...a: unknown[]) => unknown).call(target, entries));
        return (value as (...a: unknown[]) => unknown).bind(target);
      },
    });
    const saver = new MemMapSaver(counted);
    const config = await saver.put(thread('one-commit'), checkpoint({ a: 1, b: 2, c: 3 }, { a: 1, b: 1, c: 1 }), meta(0), { a: 1, b: 1, c: 1 });
    await saver.putWrites(config, [['a', 10], ['b', 20], ['c', 30], [ERROR, 'boom']], 'task-1');
    // Three channel values and the checkpoint; four writes.
    expect(calls).toEqual([['setKvs', 4], ['setKvs', 4]]);
    const tuple = await new MemMapSaver(store).getTuple(thread('one-commit'));
    expect(tuple?.checkpoint.channel_values).toEqual({ a: 1, b: 2, c: 3 });
    expect(tuple?.pendingWrites).toHaveLength(4);
  });
});

describe('errors', () => {
  it('refuses calls without a thread_id or checkpoint_id, and a store that is not one, with INVALID_ARGUMENT', async () => {
    const saver = new MemMapSaver(store);
    expect((await rejection(saver.put({ configurable: {} }, checkpoint({}, {}), meta(0), {}))).code).toBe('INVALID_ARGUMENT');
    const error = await rejection(saver.putWrites(thread('t'), [['a', 1]], 'task'));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/MemMapSaver\.putWrites: config\.configurable\.checkpoint_id is missing/);
    expect(() => new MemMapSaver({} as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(store.listKv()).toEqual([]);
  });

  it('refuses options it does not know, naming them (a misspelt keyPrefix would share the default one)', () => {
    expect(() => new MemMapSaver(store, { keyprefix: 'agents/a/' } as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/"keyprefix".*keyPrefix/) }));
  });

  it('fails with STORE_CLOSED, naming the method, once the store is closed', async () => {
    const saver = new MemMapSaver(store);
    const config = await saver.put(thread('t'), checkpoint({}, {}), meta(0), {});
    await store.close();
    for (const call of [saver.getTuple(config), saver.put(config, checkpoint({}, {}), meta(1), {}), saver.putWrites(config, [['a', 1]], 'task'), saver.deleteThread('t'), all(saver.list(config))]) {
      const error = await rejection(call);
      expect(error.code).toBe('STORE_CLOSED');
      expect(error.message).toMatch(/^\[memmapfs\] \[core\] \[langgraph\] MemMapSaver\.\w+: the store at .* is closed/);
      expect(MemMapError.is(error.cause, 'STORE_CLOSED')).toBe(true);
    }
    store = await openStore(root);
  });

  it('reads checkpoints from a read-only store, and refuses writes to it with READ_ONLY', async () => {
    const config = await new MemMapSaver(store).put(thread('t'), checkpoint({ a: 1 }, { a: 1 }), meta(0), { a: 1 });
    const reader = await openStore(root, { readOnly: true });
    try {
      const saver = new MemMapSaver(reader);
      expect((await saver.getTuple(thread('t')))?.checkpoint.channel_values).toEqual({ a: 1 });
      const error = await rejection(saver.put(config, checkpoint({ a: 2 }, { a: 2 }), meta(1), { a: 2 }));
      expect(error.code).toBe('READ_ONLY');
      expect(error.message).toMatch(/MemMapSaver\.put: .*readOnly/);
      expect((await rejection(saver.deleteThread('t'))).code).toBe('READ_ONLY');
      expect(await all(saver.list(thread('t')))).toHaveLength(1);
    } finally {
      await reader.close();
    }
  });
});
