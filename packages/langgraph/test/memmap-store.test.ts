// The cases of LangGraph's own store tests (libs/checkpoint/src/tests/store.test.ts: BaseStore and
// InMemoryStore; libs/checkpoint-postgres/src/tests/store.int.test.ts: batch, CRUD, search, namespaces,
// TTL), adapted to MemMapStore; then what is ours (labels with '/' and '%', expiry, sweeps, reopen).
import { InvalidNamespaceError } from '@langchain/langgraph-checkpoint';
import { MemMapError, type MemMapFS } from '@memmapfs/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemMapStore, type ItemStore } from '../src/index.js';
import { laggingStore } from './support/lagging-store.js';
import { openStore, tempFolder } from './support/open-store.js';
import { replacedMeanwhile } from './support/replaced-meanwhile.js';

let root: string;
let remove: () => Promise<void>;
let fs: MemMapFS;
let store: MemMapStore;
beforeEach(async () => {
  ({ root, remove } = await tempFolder('store'));
  fs = await openStore(root);
  store = new MemMapStore(fs);
});
afterEach(async () => {
  store.stop();
  await fs.close();
  await remove();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => expect.unreachable('expected a rejection'), (error: unknown) => error);
}

describe('BaseStore methods over batch (store.test.ts: BaseStore, InMemoryStore)', () => {
  it('get returns an item with its value, key, namespace and dates', async () => {
    await store.put(['test'], '123', { value: 1 });
    expect(await store.get(['test'], '123')).toEqual({ value: { value: 1 }, key: '123', namespace: ['test'], createdAt: expect.any(Date), updatedAt: expect.any(Date) });
  });

  it('search lists the items of a namespace in the order they were put', async () => {
    await store.put(['test'], '123', { value: 1 });
    await store.put(['test'], '456', { value: 2 });
    const result = await store.search(['test']);
    expect(result).toHaveLength(2);
    expect(result[0]).toMatchObject({ value: { value: 1 }, key: '123', namespace: ['test'] });
    expect(result[1]).toMatchObject({ value: { value: 2 }, key: '456', namespace: ['test'] });
  });

  it('put stores and delete removes', async () => {
    await store.put(['test'], '123', { value: 1 });
    expect(await store.get(['test'], '123')).toMatchObject({ value: { value: 1 }, key: '123', namespace: ['test'] });
    await store.delete(['test'], '123');
    expect(await store.get(['test'], '123')).toBeNull();
    // Deleting what is not there is fine.
    await store.delete(['test'], '123');
    await store.delete(['never'], 'was');
  });

  it('passes search options and defaults to batch', async () => {
    const batch = vi.spyOn(store, 'batch');
    await store.search(['test']);
    await store.search(['test'], { limit: 20, offset: 5, filter: { key: 'value' } });
    expect(batch.mock.calls.map(([ops]) => ops)).toEqual([
      [{ namespacePrefix: ['test'], limit: 10, offset: 0 }],
      [{ namespacePrefix: ['test'], limit: 20, offset: 5, filter: { key: 'value' } }],
    ]);
  });

  it('blocks invalid namespaces in put, and allows a "langgraph" root through batch', async () => {
    const doc = { foo: 'bar' };
    await expect(store.put([], 'foo', doc)).rejects.toThrow(InvalidNamespaceError);
    await expect(store.put(['the', 'thing.about'], 'foo', doc)).rejects.toThrow(InvalidNamespaceError);
    await expect(store.put(['some', 'fun', ''], 'foo', doc)).rejects.toThrow(InvalidNamespaceError);
    await expect(store.put(['langgraph', 'foo'], 'bar', doc)).rejects.toThrow(InvalidNamespaceError);
    await expect(store.put(['a:b'], 'bar', doc)).rejects.toThrow(InvalidNamespaceError);

    await store.put(['foo', 'langgraph', 'foo'], 'bar', doc);
    expect((await store.get(['foo', 'langgraph', 'foo'], 'bar'))?.value).toEqual(doc);
    expect((await store.search(['foo', 'langgraph', 'foo']))[0]?.value).toEqual(doc);
    await store.delete(['foo', 'langgraph', 'foo'], 'bar');
    expect(await store.get(['foo', 'langgraph', 'foo'], 'bar')).toBeNull();

    await store.batch([{ namespace: ['langgraph', 'foo'], key: 'bar', value: doc }]);
    expect((await store.get(['langgraph', 'foo'], 'bar'))?.value).toEqual(doc);
    expect((await store.search(['langgraph', 'foo']))[0]?.value).toEqual(doc);
    await store.delete(['langgraph', 'foo'], 'bar');
    expect(await store.get(['langgraph', 'foo'], 'bar')).toBeNull();
  });

  it('refuses the messages Postgres store tests expect', async () => {
    await expect(store.put([], 'key', { foo: 'bar' })).rejects.toThrow('Namespace cannot be empty');
    await expect(store.put(['invalid.namespace'], 'key', { foo: 'bar' })).rejects.toThrow('Namespace labels cannot contain periods');
    await expect(store.put(['valid', ''], 'key', { foo: 'bar' })).rejects.toThrow('Namespace labels cannot be empty strings');
    await expect(store.put(['valid', 123 as unknown as string], 'key', { foo: 'bar' })).rejects.toThrow('Namespace labels must be strings');
    await expect(store.put(['langgraph'], 'key', { foo: 'bar' })).rejects.toThrow('Root label for namespace cannot be "langgraph"');
  });
});

describe('ItemStore', () => {
  it('takes a store whose setKv resolves nothing (a wrapper written before setKv resolved whether it set the key)', async () => {
    const written: string[] = [];
    type VoidSetKv = Omit<ItemStore, 'setKv'> & { setKv(key: string, value: unknown): Promise<void> };
    const setKv = async (key: string, value: unknown): Promise<void> => {
      written.push(key);
      await fs.setKv(key, value);
    };
    const wrapper: VoidSetKv = Object.assign(Object.create(fs) as Omit<ItemStore, 'setKv'>, { setKv });
    // (A compile-time check above all: such a store is an ItemStore.)
    const asItemStore = (store: VoidSetKv): ItemStore => store;
    const wrapped = new MemMapStore(asItemStore(wrapper));
    await wrapped.put(['users'], 'u1', { name: 'Ada' });
    expect(written).toHaveLength(1);
    expect((await wrapped.get(['users'], 'u1'))?.value).toEqual({ name: 'Ada' });
  });
});

describe('listNamespaces (store.test.ts: BaseStore listNamespaces, InMemoryStore)', () => {
  beforeEach(async () => {
    for (const [i, ns] of [['a', 'b', 'c'], ['a', 'b', 'd'], ['a', 'c', 'e'], ['x', 'y', 'z']].entries()) await store.put(ns, String(i), { value: i });
  });

  it('lists every namespace, sorted', async () => {
    expect(await store.listNamespaces({})).toEqual([['a', 'b', 'c'], ['a', 'b', 'd'], ['a', 'c', 'e'], ['x', 'y', 'z']]);
  });

  it('filters by prefix and by suffix', async () => {
    expect(await store.listNamespaces({ prefix: ['a'] })).toEqual([['a', 'b', 'c'], ['a', 'b', 'd'], ['a', 'c', 'e']]);
    expect(await store.listNamespaces({ suffix: ['d'] })).toEqual([['a', 'b', 'd']]);
    expect(await store.listNamespaces({ prefix: ['a', 'b'], suffix: ['d'] })).toEqual([['a', 'b', 'd']]);
  });

  it('cuts namespaces to maxDepth, each listed once', async () => {
    expect(await store.listNamespaces({ maxDepth: 2 })).toEqual([['a', 'b'], ['a', 'c'], ['x', 'y']]);
    expect(await store.listNamespaces({ maxDepth: 1 })).toEqual([['a'], ['x']]);
  });

  it('applies limit and offset', async () => {
    expect(await store.listNamespaces({ limit: 2, offset: 1 })).toEqual([['a', 'b', 'd'], ['a', 'c', 'e']]);
    expect(await store.listNamespaces({ limit: 10, offset: 4 })).toEqual([]);
  });

  it('combines prefix, suffix and maxDepth', async () => {
    expect(await store.listNamespaces({ prefix: ['a'], suffix: ['c'], maxDepth: 2 })).toEqual([['a', 'b']]);
  });

  it('matches any one label with "*" in a prefix or a suffix', async () => {
    expect(await store.listNamespaces({ prefix: ['a', '*', 'c'] })).toEqual([['a', 'b', 'c']]);
    expect(await store.listNamespaces({ suffix: ['*', 'z'] })).toEqual([['x', 'y', 'z']]);
    expect(await store.listNamespaces({ prefix: ['*', 'b'] })).toEqual([['a', 'b', 'c'], ['a', 'b', 'd']]);
    expect(await store.listNamespaces({ suffix: ['b', '*'] })).toEqual([['a', 'b', 'c'], ['a', 'b', 'd']]);
    expect(await store.listNamespaces({ prefix: ['*', '*', '*', '*'] })).toEqual([]);
  });

  it('returns nothing when no namespace matches', async () => {
    expect(await store.listNamespaces({ prefix: ['non', 'existent'] })).toEqual([]);
  });

  it('drops a namespace once its last item is deleted', async () => {
    await store.delete(['x', 'y', 'z'], '3');
    expect(await store.listNamespaces({ prefix: ['x'] })).toEqual([]);
  });
});

describe('batch (Postgres store tests: Batch Operations)', () => {
  it('runs operations in order, each seeing those before it', async () => {
    const results = await store.batch([
      { namespace: ['batch'], key: 'item1', value: { data: 'first' } },
      { namespace: ['batch'], key: 'item2', value: { data: 'second' } },
      { namespace: ['batch'], key: 'item1' },
      { namespacePrefix: ['batch'], limit: 10, offset: 0 },
      { namespace: ['batch'], key: 'item1', value: null },
      { namespace: ['batch'], key: 'item1' },
      { matchConditions: [{ matchType: 'prefix', path: ['batch'] }], limit: 10, offset: 0 },
    ]);
    expect(results).toHaveLength(7);
    expect(results[0]).toBeUndefined();
    expect(results[1]).toBeUndefined();
    expect(results[2]).toMatchObject({ value: { data: 'first' } });
    expect((results[3] as unknown as Array<{ key: string }>).map((item) => item.key)).toEqual(['item1', 'item2']);
    expect(results[5]).toBeNull();
    expect(results[6]).toEqual([['batch']]);
  });

  it('fails a batch with an invalid operation before writing anything', async () => {
    await expect(store.batch([
      { namespace: ['batch'], key: 'item1', value: { data: 'first' } },
      { namespace: [], key: 'item2', value: { data: 'invalid' } },
      { namespace: ['batch'], key: 'item1' },
    ])).rejects.toThrow('Namespace cannot be empty');
    expect(await store.get(['batch'], 'item1')).toBeNull();
  });

  it('writes each put\'s value and namespace as they were when it was called: changing them before it runs changes nothing written, nor fails the batch half-way', async () => {
    const shared = { text: 'first' };
    const namespace = ['copied'];
    const writes = [store.put(namespace, 'a', shared)];
    shared.text = 'second';
    namespace[0] = 'elsewhere';
    writes.push(store.put(['copied'], 'b', shared));
    shared.text = 'third';
    await Promise.all(writes);
    expect((await store.get(['copied'], 'a'))?.value).toEqual({ text: 'first' });
    expect((await store.get(['copied'], 'b'))?.value).toEqual({ text: 'second' });
    expect(await store.get(['elsewhere'], 'a')).toBeNull();
    const later: Record<string, unknown> = { text: 'valid' };
    const batch = store.batch([
      { namespace: ['copied'], key: 'x', value: { text: 'written' } },
      { namespace: ['copied'], key: 'y', value: later },
    ]);
    later.when = new Date();
    await batch;
    expect((await store.get(['copied'], 'y'))?.value).toEqual({ text: 'valid' });
  });

  it('says a namespace must be an array, naming the method called, when it is given as a string', async () => {
    const asString = 'user-42' as unknown as string[];
    const refused = { code: 'INVALID_ARGUMENT', message: expect.stringMatching(/MemMapStore\.(put|get|delete|search): namespace(Prefix)? must be an array of labels.*the string "user-42"/) };
    await expect(store.put(asString, 'k', { a: 1 })).rejects.toMatchObject({ ...refused, message: expect.stringContaining('MemMapStore.put: namespace must') });
    await expect(store.get(asString, 'k')).rejects.toMatchObject({ ...refused, message: expect.stringContaining('MemMapStore.get: namespace must') });
    await expect(store.delete(asString, 'k')).rejects.toMatchObject({ ...refused, message: expect.stringContaining('MemMapStore.delete: namespace must') });
    await expect(store.search(asString)).rejects.toMatchObject({ ...refused, message: expect.stringContaining('MemMapStore.search: namespacePrefix must') });
  });

  it('fails a batch whose search filter has a bad operand before writing anything, naming the operation', async () => {
    const bad = [{ $or: [] }, { $and: [] }, { kind: { $in: 'x' } }, { kind: { $nin: 3 } }, { n: { $gt: {} } }, { n: { $lte: Number.NaN } }];
    for (const [i, filter] of bad.entries()) {
      await expect(store.batch([
        { namespace: ['filters'], key: `k${i}`, value: { kind: 'x', n: 1 } },
        { namespacePrefix: ['filters'], filter, limit: 10, offset: 0 },
      ]), JSON.stringify(filter)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('MemMapStore.batch: operation 1 (search)') });
      expect(await store.get(['filters'], `k${i}`)).toBeNull();
    }
  });

  it('stores a value whose strings together pass the store\'s text limit, indexing the beginning of them; a batch holding one writes it with the rest', async () => {
    const big = { a: 'x'.repeat(12 * 1024 * 1024), b: `${'y'.repeat(12 * 1024 * 1024)} needle` };
    await store.batch([
      { namespace: ['big'], key: 'first', value: { v: 1 } },
      { namespace: ['big'], key: 'large', value: big },
    ]);
    expect((await store.get(['big'], 'large'))?.value).toEqual(big);
    expect((await store.get(['big'], 'first'))?.value).toEqual({ v: 1 });
  });
});

describe('CRUD (Postgres store tests: CRUD Operations)', () => {
  it('stores and retrieves a simple item', async () => {
    await store.put(['crud', 'simple'], 'item1', { foo: 'bar', num: 42 });
    const item = await store.get(['crud', 'simple'], 'item1');
    expect(item?.namespace).toEqual(['crud', 'simple']);
    expect(item?.key).toBe('item1');
    expect(item?.value).toEqual({ foo: 'bar', num: 42 });
    expect(item?.createdAt).toBeInstanceOf(Date);
    expect(item?.updatedAt).toBeInstanceOf(Date);
    // (A new item, as InMemoryStore's: put at one time, not updated since.)
    expect(item!.updatedAt.getTime()).toBe(item!.createdAt.getTime());
  });

  it('updates an existing item: new value, later updatedAt, same createdAt, still one item', async () => {
    await store.put(['crud', 'update'], 'item2', { foo: 'bar' });
    const original = await store.get(['crud', 'update'], 'item2');
    await sleep(5);
    await store.put(['crud', 'update'], 'item2', { foo: 'baz', extra: 123 });
    const updated = await store.get(['crud', 'update'], 'item2');
    expect(original?.value).toEqual({ foo: 'bar' });
    expect(updated?.value).toEqual({ foo: 'baz', extra: 123 });
    expect(updated!.updatedAt.getTime()).toBeGreaterThan(original!.updatedAt.getTime());
    expect(updated!.createdAt.getTime()).toBe(original!.createdAt.getTime());
    expect(await store.search(['crud'])).toHaveLength(1);
    // The replaced version is gone from the store, not only hidden.
    expect((await fs.listMemories({ namespace: 'langgraph-store' })).memories).toHaveLength(1);
  });

  it('a put after a delete starts a new item (new createdAt)', async () => {
    await store.put(['crud'], 'again', { n: 1 });
    const first = await store.get(['crud'], 'again');
    await store.delete(['crud'], 'again');
    await sleep(5);
    await store.put(['crud'], 'again', { n: 2 });
    expect((await store.get(['crud'], 'again'))!.createdAt.getTime()).toBeGreaterThan(first!.createdAt.getTime());
  });

  it('keeps complex JSON values exactly', async () => {
    const complexValue = { string: 'test', number: 42, boolean: true, null: null, array: [1, 2, 3, 'four'], nested: { deep: { value: 'nested data' } }, bytes: new Uint8Array([1, 2, 3]) };
    await store.put(['crud', 'complex'], 'item4', complexValue);
    expect((await store.get(['crud', 'complex'], 'item4'))?.value).toEqual(complexValue);
  });

  it('runs puts, deletes and gets of one key in the order they were called, when a caller does not await one before the next', async () => {
    const calls = [store.put(['order'], 'k', { v: 1 }), store.delete(['order'], 'k'), store.get(['order'], 'k'), store.put(['order'], 'k2', { v: 1 }), store.put(['order'], 'k2', { v: 2 }), store.get(['order'], 'k2')];
    const results = await Promise.all(calls);
    expect(results[2]).toBeNull();
    expect((results[5] as { value: unknown } | null)?.value).toEqual({ v: 2 });
    expect(await store.get(['order'], 'k')).toBeNull();
    expect((await store.get(['order'], 'k2'))?.value).toEqual({ v: 2 });
    // A search and a listing after un-awaited puts see them.
    const [, found, listed] = await Promise.all([store.put(['order', 'sub'], 'k4', { text: 'zebra crossing' }), store.search(['order'], { query: 'zebra' }), store.listNamespaces({ prefix: ['order', 'sub'] })]);
    expect(found.map((item) => item.key)).toEqual(['k4']);
    expect(listed).toEqual([['order', 'sub']]);
    // One batch with two operations on a key runs them in its order too.
    await store.batch([{ namespace: ['order'], key: 'k3', value: { v: 1 } }, { namespace: ['order'], key: 'k3', value: null }, { namespace: ['order'], key: 'k3' }]);
    expect(await store.get(['order'], 'k3')).toBeNull();
  });

  it('leaves no expiry of an item a get pushed back once a delete called after the get has run', async () => {
    const ttlStore = new MemMapStore(fs, { ttl: { defaultTtl: 60, refreshOnRead: true } });
    await Promise.all(Array.from({ length: 20 }, (_, i) => [ttlStore.put(['ttl-order'], `k${i}`, { v: i }), ttlStore.get(['ttl-order'], `k${i}`), ttlStore.delete(['ttl-order'], `k${i}`)]).flat());
    expect(fs.listKv({ prefix: 'langgraph-store/ttl/' })).toEqual([]);
    ttlStore.stop();
  });

  it('refuses a value that contains itself with the store\'s message, writing nothing', async () => {
    const looped: Record<string, unknown> = { title: 'a loop' };
    looped.self = { inner: looped };
    await expect(store.put(['crud', 'loop'], 'item', looped)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('cycle') });
    expect(await store.get(['crud', 'loop'], 'item')).toBeNull();
  });

  it('returns null for items that do not exist', async () => {
    expect(await store.get(['crud', 'missing'], 'nope')).toBeNull();
    expect(await store.get([], 'nope')).toBeNull();
  });

  it('takes a TTL per put (minutes)', async () => {
    await store.put(['ttl', 'custom'], 'tempItem', { data: 'temporary data' }, undefined, { ttl: 5 });
    expect((await store.get(['ttl', 'custom'], 'tempItem'))?.value).toEqual({ data: 'temporary data' });
  });

  it('refuses options it does not know, naming them (a misspelt defaultTtl would keep items for ever)', () => {
    for (const [options, named] of [[{ tll: { defaultTtl: 1 } }, '"tll"'], [{ indx: {} }, '"indx"'], [{ ttl: { defaultTTL: 1 } }, '"defaultTTL"']] as const) {
      expect(() => new MemMapStore(fs, options as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(named) }));
    }
    expect(() => new MemMapStore(fs, { ttl: { defaultTTL: 1 } } as never)).toThrow(expect.objectContaining({ message: expect.stringContaining('defaultTtl') }));
  });

  it('names NaN as such in its messages, not as null', async () => {
    expect(() => new MemMapStore(fs, { ttl: { defaultTtl: Number.NaN } })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('NaN') }));
    expect(await rejection(store.put(['ttl'], 'k', { v: 1 }, undefined, { ttl: Number.NaN }))).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('NaN') });
    expect(await rejection(store.search(['ttl'], { limit: Number.NaN }))).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('NaN') });
    expect(await rejection(store.listNamespaces({ offset: Number.NaN }))).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('NaN') });
  });

  it('refuses values that are not plain data, saying what to store', async () => {
    const error = await rejection(store.put(['crud'], 'date', { when: new Date() }));
    expect(error).toBeInstanceOf(MemMapError);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/MemMapStore\.put: .*Date/) });
    // (In the caller's terms: the item's value, not the memory core keeps it in.)
    expect((error as Error).message).toMatch(/MemMapStore\.put: the value at value\.when is a Date/);
    expect((error as Error).message).not.toMatch(/appendMemory|meta\./);
    const filter = await rejection(store.search(['crud'], { filter: { v: { $bad: 1 } } as never }));
    expect((filter as Error).message).toMatch(/MemMapStore\.search: filter\.v: /);
    expect((filter as Error).message).not.toMatch(/listMemories|filter\.value/);
    expect(await store.get(['crud'], 'date')).toBeNull();
    await expect(store.put(['crud'], 'list', [1, 2] as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('catches up before a batch, so that an item another host put is found on a log hosts share (where synchronous reads lag until catchUp)', async () => {
    const elsewhere = new MemMapStore(laggingStore(fs));
    await store.put(['shared'], 'item', { by: 'the other host' });
    expect((await elsewhere.get(['shared'], 'item'))?.value).toEqual({ by: 'the other host' });
    expect((await elsewhere.search(['shared'])).map((item) => item.key)).toEqual(['item']);
    await elsewhere.stop();
  });

  it('blames the namespace, not a short key, when the namespace makes the KV key too long or holds a lone surrogate', async () => {
    await expect(store.put(['日'.repeat(120)], 'k', { v: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/once percent-encoded .*use a shorter namespace/) });
    await expect(store.put(['a\ud800b'], 'k', { v: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('the namespace "a\\ud800b" has a lone UTF-16 surrogate') });
    await expect(store.put(['ns'], 'k'.repeat(1100), { v: 1 })).rejects.toMatchObject({ message: expect.stringContaining('use a shorter key') });
  });

  it('names the field of the value that holds a lone UTF-16 surrogate, indexed or not', async () => {
    const cases: Array<[Record<string, unknown>, string[] | undefined, string]> = [
      [{ note: 'bad \ud800 x' }, undefined, 'value.note'],
      [{ title: 'fine', parts: [{ text: 'ok' }, { text: '\udc00' }] }, undefined, 'value.parts[1].text'],
      [{ 'odd key': 'x\ud800' }, ['odd key'], 'value["odd key"]'],
      [{ title: 'fine', other: 'bad \udc00' }, ['title'], 'value.other'],
    ];
    for (const [value, index, named] of cases) {
      const error = (await rejection(store.put(['crud'], 'lone', value, index))) as Error;
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(error.message).toContain(`MemMapStore.put: the value at ${named} is a string with a lone UTF-16 surrogate`);
      expect(error.message).not.toMatch(/\btext has/);
    }
    expect(await store.get(['crud'], 'lone')).toBeNull();
  });

  it('refuses a batch with an invalid operation of any kind before it writes any of its operations, naming the method called', async () => {
    const bad: unknown[] = [
      { namespace: ['x'.repeat(300)], key: 'b', value: { x: 1 } },
      { namespace: ['ok'], key: 'k'.repeat(1_100), value: { x: 1 } },
      { namespace: ['ok'], key: 'k\ud800', value: { x: 1 } },
      { namespacePrefix: ['ok'], filter: 5 },
      { namespacePrefix: ['ok'], limit: -1 },
      { namespacePrefix: ['ok'], filter: { x: { $regex: 'a' } } },
      { matchConditions: [], maxDepth: 0 },
    ];
    for (const [i, operation] of bad.entries()) {
      const error = await rejection(store.batch([{ namespace: ['ok'], key: `first-${i}`, value: { x: 1 } }, operation as never]));
      expect(error, JSON.stringify(operation).slice(0, 80)).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/MemMapStore\.batch: operation 1 \((put|search|listNamespaces)\): /) });
      expect(await store.get(['ok'], `first-${i}`), JSON.stringify(operation).slice(0, 80)).toBeNull();
    }
    // A single operation is named by the method the caller called.
    expect(((await rejection(store.get(['q'], 5 as never))) as Error).message).toMatch(/MemMapStore\.get: key must be a string/);
    expect(((await rejection(store.search(['q'], { filter: { x: { $regex: 'a' } } } as never))) as Error).message).toMatch(/MemMapStore\.search: .*\$regex/);
  });

  it('runs a search on the items as they were when it was called: writes called after it do not change what it finds', async () => {
    await store.put(['order'], 'b', { n: 0 });
    const earlier = store.put(['order'], 'a', { n: 1 });
    const seen = store.search(['order']);
    const deleting = store.delete(['order'], 'b');
    const adding = store.put(['order'], 'c', { n: 2 });
    expect((await seen).map((item) => item.key).sort()).toEqual(['a', 'b']);
    await Promise.all([earlier, deleting, adding]);
    expect((await store.search(['order'])).map((item) => item.key).sort()).toEqual(['a', 'c']);
  });

  it('refuses a batch with a value that is not plain data before it writes any of its operations', async () => {
    for (const bad of [{ when: new Date() }, { note: 'bad \ud800' }, { fn: () => 1 }]) {
      const error = await rejection(store.batch([{ namespace: ['crud'], key: 'first', value: { v: 1 } }, { namespace: ['crud'], key: 'second', value: bad }]));
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/MemMapStore\.batch: operation 1 \(put\): the value at value\.(when|note|fn) /) });
      expect(await store.get(['crud'], 'first')).toBeNull();
    }
  });
});

describe('search (Postgres store tests: Search)', () => {
  beforeEach(async () => {
    await store.put(['docs'], 'doc1', { title: 'JavaScript Guide', content: 'Complete guide to JavaScript programming', category: 'programming', difficulty: 'beginner', tags: ['javascript', 'web', 'tutorial'] });
    await store.put(['docs'], 'doc2', { title: 'TypeScript Handbook', content: 'Advanced TypeScript programming techniques', category: 'programming', difficulty: 'intermediate', tags: ['typescript', 'javascript', 'types'] });
    await store.put(['docs'], 'doc3', { title: 'Python Basics', content: 'Introduction to Python programming language', category: 'programming', difficulty: 'beginner', tags: ['python', 'basics'] });
    await store.put(['recipes'], 'recipe1', { title: 'Chocolate Cake', content: 'Delicious chocolate cake recipe with detailed instructions', category: 'dessert', difficulty: 'easy', tags: ['chocolate', 'cake', 'baking'] });
  });

  it('searches a namespace with no options', async () => {
    const results = await store.search(['docs']);
    expect(results.map((item) => item.key)).toEqual(['doc1', 'doc2', 'doc3']);
    expect(results.every((item) => item.namespace[0] === 'docs' && item.score === undefined)).toBe(true);
    expect(await store.search([])).toHaveLength(4);
  });

  it('filters on a field value', async () => {
    const results = await store.search(['docs'], { filter: { category: 'programming' } });
    expect(results).toHaveLength(3);
    expect(results.every((item) => item.value.category === 'programming')).toBe(true);
  });

  it('filters with $eq, $ne, $in, $nin, $gt/$lt, $exists, $or', async () => {
    expect(await store.search(['docs'], { filter: { difficulty: { $eq: 'beginner' } } })).toHaveLength(2);
    const several = await store.search(['docs'], { filter: { category: 'programming', difficulty: { $ne: 'advanced' } } });
    expect(several.map((item) => item.key)).toEqual(['doc1', 'doc2', 'doc3']);
    expect(await store.search(['docs'], { filter: { difficulty: { $in: ['beginner', 'intermediate'] } } })).toHaveLength(3);
    expect((await store.search([], { filter: { difficulty: { $nin: ['beginner', 'intermediate'] } } })).map((item) => item.key)).toEqual(['recipe1']);
    expect((await store.search([], { filter: { title: { $gt: 'P', $lt: 'U' } } })).map((item) => item.key)).toEqual(['doc2', 'doc3']);
    expect(await store.search([], { filter: { missing: { $exists: true } } })).toEqual([]);
    expect(await store.search([], { filter: { missing: { $exists: false } } })).toHaveLength(4);
    expect((await store.search([], { filter: { $or: [{ category: 'dessert' }, { title: 'Python Basics' }] } })).map((item) => item.key)).toEqual(['doc3', 'recipe1']);
    // A whole array or object matches by content.
    expect((await store.search([], { filter: { tags: ['python', 'basics'] } })).map((item) => item.key)).toEqual(['doc3']);
  });

  it('compares numbers, and reaches nested fields with dots', async () => {
    for (let n = 1; n <= 5; n++) await store.put(['nums'], `n${n}`, { n, meta: { even: n % 2 === 0 } });
    expect((await store.search(['nums'], { filter: { n: { $gte: 2, $lt: 4 } } })).map((item) => item.key)).toEqual(['n2', 'n3']);
    expect((await store.search(['nums'], { filter: { 'meta.even': true } })).map((item) => item.key)).toEqual(['n2', 'n4']);
  });

  it('applies limit and offset without overlap', async () => {
    const page1 = await store.search(['docs'], { limit: 2, offset: 0 });
    const page2 = await store.search(['docs'], { limit: 2, offset: 2 });
    expect(page1.map((item) => item.key)).toEqual(['doc1', 'doc2']);
    expect(page2.map((item) => item.key)).toEqual(['doc3']);
    expect(await store.search(['docs'], { limit: 0 })).toEqual([]);
  });

  it('returns an empty array for a namespace with nothing in it', async () => {
    expect(await store.search(['nonexistent'])).toEqual([]);
  });

  it('full-text query: best first, with a score', async () => {
    const results = await store.search(['docs'], { query: 'JavaScript' });
    expect(results.length).toBeGreaterThan(0);
    expect(results[0]?.key).toBe('doc1');
    expect(results.every((item) => typeof item.score === 'number' && JSON.stringify(item.value).includes('javascript'))).toBe(true);
    expect((await store.search(['docs'], { query: 'programming' })).map((item) => item.key).sort()).toEqual(['doc1', 'doc2', 'doc3']);
    expect(await store.search(['docs'], { query: 'chocolate' })).toEqual([]);
  });

  it('combines a filter with a query', async () => {
    const results = await store.search(['docs'], { query: 'guide', filter: { difficulty: 'beginner' } });
    expect(results.map((item) => item.key)).toEqual(['doc1']);
  });

  it('indexes only the fields given to put, or nothing with index: false', async () => {
    await store.put(['selective'], 'doc1', { title: 'Indexed Title', content: 'Not indexed content', summary: 'Indexed summary' }, ['title', 'summary']);
    await store.put(['selective'], 'doc2', { title: 'Test Document', content: 'This content should not be indexed' }, false);
    expect((await store.search(['selective'], { query: 'summary' })).map((item) => item.key)).toEqual(['doc1']);
    expect(await store.search(['selective'], { query: 'content' })).toEqual([]);
    expect(await store.search(['selective'], { query: 'document' })).toEqual([]);
    // Still there, and found without a query.
    expect((await store.search(['selective'])).map((item) => item.key)).toEqual(['doc1', 'doc2']);
  });

  it('lists an item another store replaces while the last page of the listing is read, as it is then, with a filter or without', async () => {
    const other = new MemMapStore(fs);
    const listing = replacedMeanwhile(fs, 'listMemories');
    const replace = (value: Record<string, unknown>) => listing.arm(() => other.put(['docs'], 'doc2', value));
    try {
      replace({ title: 'TypeScript Handbook, second edition', category: 'programming', edition: 2 });
      expect((await store.search(['docs'])).map((item) => [item.key, item.value.edition])).toEqual([['doc1', undefined], ['doc3', undefined], ['doc2', 2]]);
      replace({ title: 'TypeScript Handbook, third edition', category: 'programming', edition: 3 });
      expect((await store.search(['docs'], { filter: { category: 'programming' } })).map((item) => [item.key, item.value.edition])).toEqual([['doc1', undefined], ['doc3', undefined], ['doc2', 3]]);
      // (Replaced by a value the filter does not take: not listed.)
      replace({ title: 'TypeScript Handbook', category: 'typing', edition: 4 });
      expect((await store.search(['docs'], { filter: { category: 'programming' } })).map((item) => item.key)).toEqual(['doc1', 'doc3']);
      expect(listing.armed()).toBe(false);
    } finally {
      listing.restore();
      other.stop();
    }
  });

  it('finds an item another store replaces while the hits of a query are read, by its new text', async () => {
    const other = new MemMapStore(fs);
    const querying = replacedMeanwhile(fs, 'queryMemory');
    querying.arm(() => other.put(['docs'], 'doc2', { title: 'TypeScript Handbook, second edition', content: 'Advanced TypeScript programming', category: 'programming', edition: 2 }));
    try {
      const results = await store.search(['docs'], { query: 'programming' });
      expect(results.map((item) => item.key).sort()).toEqual(['doc1', 'doc2', 'doc3']);
      expect(results.find((item) => item.key === 'doc2')?.value.edition).toBe(2);
      expect(results.map((item) => item.score)).toEqual([...results.map((item) => item.score)].sort((a, b) => b! - a!));
      expect(await store.search(['docs'], { query: 'programming', limit: 1 })).toHaveLength(1);
    } finally {
      querying.restore();
      other.stop();
    }
  });

  it('finds an updated item by its new text only', async () => {
    await store.put(['docs'], 'doc3', { title: 'Rust Basics', category: 'programming' });
    expect(await store.search(['docs'], { query: 'python' })).toEqual([]);
    expect((await store.search(['docs'], { query: 'rust' })).map((item) => item.key)).toEqual(['doc3']);
  });
});

describe('labels and keys', () => {
  it('keeps labels with "/" and "%" and keys of any characters apart and unchanged', async () => {
    const namespaces = [['a/b'], ['a', 'b'], ['a%2Fb'], ['a%b', 'c/d/e'], ['*', 'ünï']];
    for (const [i, ns] of namespaces.entries()) await store.put(ns, `k/${i}%2F`, { i });
    for (const [i, ns] of namespaces.entries()) expect(await store.get(ns, `k/${i}%2F`)).toMatchObject({ namespace: ns, key: `k/${i}%2F`, value: { i } });
    expect(await store.listNamespaces({})).toEqual([['*', 'ünï'], ['a', 'b'], ['a%2Fb'], ['a%b', 'c/d/e'], ['a/b']]);
    expect((await store.search(['a'])).map((item) => item.value)).toEqual([{ i: 1 }]);
    expect((await store.search(['a/b'])).map((item) => item.value)).toEqual([{ i: 0 }]);
    expect(await store.listNamespaces({ prefix: ['a%b', '*'] })).toEqual([['a%b', 'c/d/e']]);
  });

  it('keeps items of other prefixes and the folder\'s own memories apart', async () => {
    const other = new MemMapStore(fs, { prefix: 'other-agent' });
    await fs.appendMemory('a memory of the app itself about tea', [], { namespace: 'user' });
    await store.put(['user'], 'k', { text: 'tea' });
    await other.put(['user'], 'k', { text: 'more tea' });
    expect((await store.search(['user'], { query: 'tea' })).map((item) => item.value)).toEqual([{ text: 'tea' }]);
    expect((await other.search([])).map((item) => item.value)).toEqual([{ text: 'more tea' }]);
    expect(await store.listNamespaces({})).toEqual([['user']]);
  });
});

describe('TTL (Postgres store tests: TTL, and expiry itself)', () => {
  it('keeps an item within its TTL, and a sweep leaves it', async () => {
    const ttlStore = new MemMapStore(fs, { ttl: { defaultTtl: 1, refreshOnRead: true } });
    await ttlStore.put(['test'], 'ttl-item', { data: 'expires' });
    expect((await ttlStore.get(['test'], 'ttl-item'))?.value).toEqual({ data: 'expires' });
    expect(await ttlStore.sweep()).toBe(0);
    expect((await ttlStore.get(['test'], 'ttl-item'))?.value).toEqual({ data: 'expires' });
  });

  it('expires items: get, search and a sweep no longer see them; a put of the key starts anew', async () => {
    const ttlStore = new MemMapStore(fs, { ttl: { defaultTtl: 0.01 } }); // 600 ms
    await ttlStore.put(['t'], 'short', { text: 'gone soon' });
    await ttlStore.put(['t'], 'forever', { text: 'stays' }, undefined, { ttl: null });
    expect(await ttlStore.search(['t'], { refreshTtl: false })).toHaveLength(2);
    await sleep(700);
    expect(await ttlStore.get(['t'], 'short')).toBeNull();
    expect((await ttlStore.search(['t'])).map((item) => item.key)).toEqual(['forever']);
    expect(await ttlStore.search(['t'], { query: 'gone' })).toEqual([]);
    expect(await ttlStore.sweep()).toBe(1);
    expect((await fs.listMemories({ namespace: 'langgraph-store' })).memories).toHaveLength(1);
    await ttlStore.put(['t'], 'short', { text: 'back' });
    expect((await ttlStore.get(['t'], 'short'))?.value).toEqual({ text: 'back' });
  });

  it('refreshes the TTL of what get and search return (refreshOnRead), and not when told not to', async () => {
    const ttlStore = new MemMapStore(fs, { ttl: { defaultTtl: 0.02, refreshOnRead: true } }); // 1.2 s
    await ttlStore.put(['r'], 'read', { text: 'kept alive by reads' });
    await ttlStore.put(['r'], 'unread', { text: 'left alone' });
    for (let i = 0; i < 4; i++) {
      await sleep(450);
      expect(await ttlStore.get(['r'], 'read')).not.toBeNull();
    }
    // 1.8 s after the puts: only the item read since is still there.
    expect((await ttlStore.search(['r'], { refreshTtl: false })).map((item) => item.key)).toEqual(['read']);
    expect(await ttlStore.get(['r'], 'unread', { refreshTtl: true })).toBeNull();

    const noRefresh = new MemMapStore(fs, { ttl: { defaultTtl: 0.02, refreshOnRead: false } });
    await noRefresh.put(['n'], 'k', { text: 'x' });
    await sleep(500);
    expect(await noRefresh.get(['n'], 'k')).not.toBeNull();
    await sleep(900);
    expect(await noRefresh.get(['n'], 'k')).toBeNull();
  });

  it('a sweep removes an expired item\'s pointer with its memories, honours the refreshed expiries an earlier release kept apart and carries them into the pointers, and leaves a pointer a put replaced meanwhile', async () => {
    const ttlStore = new MemMapStore(fs, { ttl: { defaultTtl: 1, refreshOnRead: true } });
    const realNow = Date.now.bind(Date);
    for (let i = 0; i < 4; i++) {
      await ttlStore.put(['ns'], `k${i}`, { text: 'x' });
      await ttlStore.get(['ns'], `k${i}`);
    }
    await ttlStore.put(['ns'], 'kept', { text: 'y' }, undefined, { ttl: null });
    // Reads push expiries back in the pointers: nothing apart.
    expect(fs.listKv({ prefix: 'langgraph-store/ttl/' })).toEqual([]);
    // Refreshed expiries as an earlier release kept them: k1's to 10 minutes, k3's to 30 s (expired at
    // the sweep), and one whose item is gone (a read's refresh that landed after another process's delete).
    const idOf = (key: string) => fs.getKv<{ id: number }>(`langgraph-store/item/ns/${key}`)!.id;
    await fs.setKv('langgraph-store/ttl/ns/k1', { id: idOf('k1'), expiresAt: realNow() + 10 * 60_000 });
    await fs.setKv('langgraph-store/ttl/ns/k3', { id: idOf('k3'), expiresAt: realNow() + 30_000 });
    await fs.setKv('langgraph-store/ttl/ns/orphan', { id: 999_999, expiresAt: realNow() + 60_000 });
    // A put replacing k0 as the sweep removes what expired: its pointer stays.
    const deleteKv = fs.deleteKv.bind(fs);
    let replaced = false;
    fs.deleteKv = (async (key: string, options?: Parameters<typeof fs.deleteKv>[1]) => {
      if (!replaced && key.endsWith('/item/ns/k0')) {
        replaced = true;
        vi.restoreAllMocks();
        await ttlStore.put(['ns'], 'k0', { text: 'put again' });
        vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 5 * 60_000);
      }
      return deleteKv(key, options);
    }) as typeof fs.deleteKv;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 5 * 60_000);
    try {
      // k2's and k3's memories (k0's went with the put that replaced it).
      expect(await ttlStore.sweep()).toBe(2);
      expect((await ttlStore.get(['ns'], 'k1'))?.value).toEqual({ text: 'x' });
    } finally {
      vi.restoreAllMocks();
      fs.deleteKv = deleteKv;
    }
    expect(replaced).toBe(true);
    expect(fs.listKv({ prefix: 'langgraph-store/' })).toEqual(['langgraph-store/item/ns/k0', 'langgraph-store/item/ns/k1', 'langgraph-store/item/ns/kept']);
    // k1's expiry, 10 minutes from its refresh, now in its pointer.
    expect(fs.getKv<{ expiresAt: number }>('langgraph-store/item/ns/k1')!.expiresAt).toBeGreaterThan(realNow() + 9 * 60_000);
    expect((await fs.listMemories({ namespace: 'langgraph-store' })).memories.map((memory) => (memory.meta as { key: string }).key).sort()).toEqual(['k0', 'k1', 'kept']);
    expect((await ttlStore.get(['ns'], 'k0'))?.value).toEqual({ text: 'put again' });
    expect((await ttlStore.get(['ns'], 'kept'))?.value).toEqual({ text: 'y' });
  });

  it('sweeps on its own every sweepIntervalMinutes until stopped', async () => {
    const ttlStore = new MemMapStore(fs, { ttl: { defaultTtl: 0.001, sweepIntervalMinutes: 0.002 } });
    await ttlStore.put(['s'], 'k', { text: 'x' });
    const deadline = Date.now() + 10_000;
    while ((await fs.listMemories({ namespace: 'langgraph-store' })).memories.length > 0 && Date.now() < deadline) await sleep(50);
    ttlStore.stop();
    expect((await fs.listMemories({ namespace: 'langgraph-store' })).memories).toEqual([]);
  });

  it('refuses a TTL that is not a positive number of minutes', async () => {
    expect(() => new MemMapStore(fs, { ttl: { defaultTtl: 0 } })).toThrow(/defaultTtl must be a positive number of minutes/);
    await expect(store.put(['t'], 'k', { a: 1 }, undefined, { ttl: -1 })).rejects.toThrow(/options.ttl must be a positive number of minutes/);
  });
});

describe('sweeping the memories no pointer names', () => {
  const MINUTE = 60_000;
  const DAY = 24 * 60 * MINUTE;

  it('leaves the memories of items written back before their pointers (an import of an export), however old their times', async () => {
    await store.put(['user'], 'tea', { text: 'likes green tea' });
    await store.put(['user', 'pets'], 'cat', { text: 'has a cat named Miso' });
    // What an export holds, in its order: the memories, then the KV entries (the pointers).
    const { memories } = await fs.listMemories({ namespace: 'langgraph-store' });
    const entries = fs.listKv({ prefix: 'langgraph-store/' }).map((key) => [key, fs.getKv(key)] as const);
    expect(memories).toHaveLength(2);
    expect(entries).toHaveLength(2);

    const copy = await tempFolder('import');
    const target = await openStore(copy.root);
    try {
      const importing = new MemMapStore(target);
      await target.restoreMemories(memories.map(({ id, text, tags, namespace, meta, createdAt }) => ({ id, text, tags, namespace, meta, createdAt: createdAt - DAY })));
      expect(await importing.sweep()).toBe(0);
      for (const [key, value] of entries) await target.setKv(key, value);
      expect(await importing.sweep()).toBe(0);
      expect((await importing.get(['user'], 'tea'))?.value).toEqual({ text: 'likes green tea' });
      expect((await importing.get(['user', 'pets'], 'cat'))?.value).toEqual({ text: 'has a cat named Miso' });
    } finally {
      await target.close();
      await copy.remove();
    }
  });

  it('deletes a memory no pointer names once a sweep at least ten minutes earlier saw the log past it', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      await store.put(['user'], 'kept', { text: 'an item' });
      // What a process killed between an item's memory and its pointer leaves.
      const leftMeta = (key: string) => ({ key, value: { text: key }, createdAt: Date.now() - DAY, updatedAt: Date.now() - DAY, ttlMinutes: null, expiresAt: null });
      const left = await fs.appendMemory('left', [], { namespace: 'langgraph-store/user', meta: leftMeta('left') });
      expect(await store.sweep()).toBe(0);
      const later = await fs.appendMemory('later', [], { namespace: 'langgraph-store/user', meta: leftMeta('later') });

      vi.advanceTimersByTime(9 * MINUTE);
      expect(await store.sweep()).toBe(0);
      vi.advanceTimersByTime(2 * MINUTE);
      // Ten minutes after the first sweep: what was written before it goes, not what came after.
      expect(await store.sweep()).toBe(1);
      expect(await fs.hasMemory(left)).toBe(false);
      expect(await fs.hasMemory(later)).toBe(true);

      vi.advanceTimersByTime(10 * MINUTE);
      expect(await store.sweep()).toBe(1);
      expect(await fs.hasMemory(later)).toBe(false);
      expect((await store.get(['user'], 'kept'))?.value).toEqual({ text: 'an item' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('deletes what no pointer names only once it is old enough, in a store of its own too', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const left = await fs.appendMemory('left', [], { namespace: 'langgraph-store/user', meta: { key: 'left', value: {}, createdAt: Date.now(), ttlMinutes: null, expiresAt: Date.now() - MINUTE } });
      // Expired by its own times, but no pointer names it yet: it may be an item on its way back.
      expect(await store.sweep()).toBe(0);
      const other = new MemMapStore(fs);
      vi.advanceTimersByTime(10 * MINUTE);
      // A store that has not swept before has no earlier look at the log to go by.
      expect(await other.sweep()).toBe(0);
      expect(await store.sweep()).toBe(1);
      expect(await fs.hasMemory(left)).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('construction and the store underneath', () => {
  it('refuses what is not a MemMapFS store', () => {
    expect(() => new MemMapStore({} as never)).toThrow(/store must be an open MemMapFS/);
  });

  it('keeps items across a close and reopen of the folder', async () => {
    await store.put(['user-42', 'prefs'], 'theme', { theme: 'dark' });
    await store.put(['user-42', 'facts'], 'pet', { text: 'has a cat named Miso' });
    await fs.close();
    fs = await openStore(root);
    store = new MemMapStore(fs);
    expect((await store.get(['user-42', 'prefs'], 'theme'))?.value).toEqual({ theme: 'dark' });
    expect((await store.search(['user-42'], { query: 'cat' })).map((item) => item.key)).toEqual(['pet']);
    expect(await store.listNamespaces({ prefix: ['user-42'] })).toEqual([['user-42', 'facts'], ['user-42', 'prefs']]);
  });

  it('reads through a read-only store; writes fail with READ_ONLY', async () => {
    const ttlStore = new MemMapStore(fs, { ttl: { defaultTtl: 5 } });
    await ttlStore.put(['ro'], 'k', { v: 1 });
    const reader = await openStore(root, { readOnly: true });
    try {
      const readOnly = new MemMapStore(reader, { ttl: { defaultTtl: 5 } });
      expect((await readOnly.get(['ro'], 'k'))?.value).toEqual({ v: 1 });
      expect(await readOnly.search(['ro'])).toHaveLength(1);
      await expect(readOnly.put(['ro'], 'k', { v: 2 })).rejects.toMatchObject({ code: 'READ_ONLY', message: expect.stringContaining('MemMapStore.put') });
    } finally {
      await reader.close();
    }
  });

  it('fails with STORE_CLOSED, naming the method, once the folder is closed', async () => {
    await fs.close();
    await expect(store.get(['a'], 'b')).rejects.toMatchObject({ code: 'STORE_CLOSED', message: expect.stringContaining('MemMapStore.get') });
    fs = await openStore(root);
  });

  it('keeps one item per key when puts of one key run at once', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(['race'], 'same', { i })));
    const items = await store.search(['race']);
    expect(items).toHaveLength(1);
    expect((await store.get(['race'], 'same'))?.value).toEqual(items[0]?.value);
  });
});
