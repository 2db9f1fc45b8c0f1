import { access } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS, type AgentState } from '@memmapfs/core';
import { functionDroppingCodec, useTempRoot, v8Codec, WordSearch } from './fixtures.js';

// Issue 8, item 5: what a call accepts reads back exactly, in every process and after a reopen; what
// cannot be stored exactly is refused with INVALID_ARGUMENT, and a call that rejects has written nothing.

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = (extra: Parameters<typeof MemMapFS.init>[1] = {}) => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), ...extra });

const baseState = (extra: Record<string, unknown> = {}): AgentState => ({ status: 'idle', activeMemoryCount: 0, lastUpdatedId: 0, extra });

async function invalidArgument(action: () => unknown): Promise<MemMapError> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a MemMapError INVALID_ARGUMENT').toBeInstanceOf(MemMapError);
  expect((caught as MemMapError).code).toBe('INVALID_ARGUMENT');
  return caught as MemMapError;
}

function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let level = 0; level < depth; level++) value = level % 2 === 0 ? [value] : { level: value };
  return value;
}

class Point {
  constructor(readonly x: number) {}
}

/** Each kind of value no codec stores exactly, as the third item of `.a.b`; `says` is what the error says of it. */
const refused: Array<{ kind: string; bad: () => unknown; says: RegExp }> = [
  { kind: 'a function', bad: () => () => 1, says: /is a function/ },
  { kind: 'a symbol', bad: () => Symbol('s'), says: /is a symbol/ },
  { kind: 'a bigint', bad: () => 10n, says: /is a bigint/ },
  { kind: 'negative zero', bad: () => -0, says: /is -0/ },
  { kind: 'a Map', bad: () => new Map([['k', 1]]), says: /is a Map/ },
  { kind: 'a Set', bad: () => new Set([1]), says: /is a Set/ },
  { kind: 'a Date', bad: () => new Date(1_700_000_000_123), says: /is a Date/ },
  { kind: 'a class instance', bad: () => new Point(1), says: /is an instance of Point/ },
  { kind: 'a RegExp', bad: () => /x/g, says: /is a RegExp/ },
  { kind: 'an Error', bad: () => new Error('e'), says: /is an instance of Error/ },
  { kind: 'another typed array', bad: () => new Float32Array([1.5]), says: /is a Float32Array/ },
  { kind: 'an ArrayBuffer', bad: () => new ArrayBuffer(2), says: /is an ArrayBuffer/ },
  { kind: 'a boxed string', bad: () => new String('x'), says: /is a String/ },
  { kind: 'an own __proto__ key', bad: () => JSON.parse('{"__proto__": {"x": 1}}'), says: /has a key named __proto__/ },
  { kind: 'a lone surrogate in a string', bad: () => 'ab\uD800', says: /lone UTF-16 surrogate/ },
  { kind: 'a lone surrogate in a key', bad: () => ({ 'k\uDC00': 1 }), says: /key .*lone UTF-16 surrogate/ },
  { kind: 'a symbol key', bad: () => ({ [Symbol('k')]: 1 }), says: /symbol key/ },
  { kind: 'a sparse array', bad: () => [1, , 3], says: /hole/ },
  { kind: 'an array subclass', bad: () => new (class List extends Array {})(), says: /is an instance of List/ },
];

describe('values that cannot be stored exactly are refused before anything is written', () => {
  it.each(refused)('$kind, in a KV value, meta, appended memories, an update, the state and the initial state', async ({ bad, says }) => {
    const value = () => ({ a: { b: [0, 1, bad()] } });
    const fs = await open();
    const id = await fs.appendMemory('kept as it was', ['t'], { meta: { n: 1 } });
    await fs.setKv('k', 'before');
    await fs.updateState(baseState({ n: 1 }));
    const before = fs.stats();

    const kv = await invalidArgument(() => fs.setKv('k', value()));
    expect(kv.message).toMatch(/setKv: the value at \.a\.b\[2\] /);
    expect(kv.message).toMatch(says);
    const meta = await invalidArgument(() => fs.appendMemory('not written', [], { meta: value() }));
    expect(meta.message).toMatch(/appendMemory: the value at meta\.a\.b\[2\] /);
    expect(meta.message).toMatch(says);
    const batch = await invalidArgument(() => fs.appendMemories([{ text: 'fine' }, { text: 'not fine', meta: value() }]));
    expect(batch.message).toMatch(/appendMemories: item 1: the value at meta\.a\.b\[2\] /);
    await invalidArgument(() => fs.updateMemory(id, { text: 'changed', meta: value() }));
    const state = await invalidArgument(() => fs.updateState({ ...baseState(value()), mine: 1 } as AgentState));
    expect(state.message).toMatch(/updateState: the value at state\.extra\.a\.b\[2\] /);
    await invalidArgument(() => fs.updateState({ ...baseState(), mine: value() } as AgentState));

    const after = fs.stats();
    expect(after.lastLsn).toBe(before.lastLsn);
    expect(after.walBytes).toBe(before.walBytes);
    expect(after.blockBytes).toBe(before.blockBytes);
    expect(after.memories).toBe(1);
    expect(fs.getKv('k')).toBe('before');
    expect(await fs.getMemory(id)).toMatchObject({ text: 'kept as it was', meta: { n: 1 } });
    expect(fs.getState()).toEqual(baseState({ n: 1 }));
    await fs.close();

    const other = `${root}-other`;
    const init = await invalidArgument(() => MemMapFS.init(other, { codec: v8Codec(), search: new WordSearch(), initialState: baseState(value()) }));
    expect(init.message).toMatch(/MemMapFS\.init: the value at state\.extra\.a\.b\[2\] /);
    await expect(access(other)).rejects.toThrow();
  });

  it('a value that contains itself (a cycle)', async () => {
    const fs = await open();
    const before = fs.stats().lastLsn;
    const cyclic: Record<string, unknown> = { a: { b: [0, 1] } };
    ((cyclic.a as { b: unknown[] }).b).push(cyclic);
    const error = await invalidArgument(() => fs.setKv('k', cyclic));
    expect(error.message).toMatch(/the value at \.a\.b\[2\] .*cycle/);
    // A cycle below the top, and a value met twice that is no cycle (stored twice).
    const inner: Record<string, unknown> = { n: 1 };
    inner.self = { up: inner };
    expect((await invalidArgument(() => fs.setKv('k', { x: [inner] }))).message).toMatch(/the value at \.x\[0\]\.self\.up .*cycle/);
    await invalidArgument(() => fs.appendMemory('x', [], { meta: cyclic }));
    await invalidArgument(() => fs.updateState(baseState(cyclic)));
    expect(fs.stats().lastLsn).toBe(before);
    const shared = { n: 2 };
    await fs.setKv('twice', { a: shared, b: [shared, shared] });
    expect(fs.getKv('twice')).toEqual({ a: { n: 2 }, b: [{ n: 2 }, { n: 2 }] });
    await fs.close();
  });

  it('values nested more than 64 levels deep; 64 levels are fine', async () => {
    const fs = await open();
    await fs.setKv('deep', nested(64));
    expect(fs.getKv('deep')).toEqual(nested(64));
    const before = fs.stats().lastLsn;
    const error = await invalidArgument(() => fs.setKv('deeper', nested(65)));
    expect(error.message).toMatch(/more than 64 levels/);
    await invalidArgument(() => fs.appendMemory('x', [], { meta: { deep: nested(64) } }));
    await invalidArgument(() => fs.updateState(baseState({ deep: nested(63) })));
    expect(fs.stats().lastLsn).toBe(before);
    await fs.close();
  });

  it('a function in meta is refused up front, even by a codec that would drop it, so reads never meet a DataCloneError', async () => {
    const fs = await open({ codec: functionDroppingCodec() });
    const id = await fs.appendMemory('a memory with plain meta', [], { meta: { ok: true } });
    const before = fs.stats().lastLsn;
    await invalidArgument(() => fs.updateMemory(id, { meta: { callback: () => 1 } }));
    await invalidArgument(() => fs.appendMemory('a memory with a callback', [], { meta: { callback() {} } }));
    await invalidArgument(() => fs.setKv('k', { callback() {} }));
    await invalidArgument(() => fs.updateState(baseState({ callback() {} })));
    expect(fs.stats().lastLsn).toBe(before);
    expect(await fs.getMemory(id)).toMatchObject({ meta: { ok: true } });
    expect((await fs.queryMemory('memory')).map((hit) => hit.id)).toEqual([id]);
    expect(fs.getState()).toEqual(baseState());
    await fs.close();
  });

  it('lone surrogates in memory text, tags, namespaces, KV keys, stream keys, stream text and state.status', async () => {
    const fs = await open();
    const id = await fs.appendMemory('kept');
    const before = fs.stats();
    const lone = 'x\uD83D';
    await invalidArgument(() => fs.appendMemory(lone));
    await invalidArgument(() => fs.appendMemory('fine', [lone]));
    await invalidArgument(() => fs.appendMemory('fine', [], { namespace: lone }));
    await invalidArgument(() => fs.appendMemories([{ text: 'fine' }, { text: lone }]));
    await invalidArgument(() => fs.updateMemory(id, { text: lone }));
    await invalidArgument(() => fs.updateMemory(id, { tags: ['\uDE00'] }));
    await invalidArgument(() => fs.setKv(lone, 1));
    await invalidArgument(() => fs.appendStream(lone, 'data'));
    await invalidArgument(() => fs.appendStream('s', lone));
    const status = await invalidArgument(() => fs.updateState({ ...baseState(), status: lone }));
    expect(status.message).toMatch(/state\.status .*lone UTF-16 surrogate/);
    const after = fs.stats();
    expect(after.lastLsn).toBe(before.lastLsn);
    expect(after.blockBytes).toBe(before.blockBytes);
    expect((await fs.getMemory(id))?.text).toBe('kept');
    await fs.close();
  });
});

/** Values at the edges of what is accepted; `expected` is how they read back. */
function edgeValue(): { value: Record<string, unknown>; expected: Record<string, unknown> } {
  const backing = new Uint8Array([9, 8, 7, 6, 5, 4, 3]);
  const nullPrototype = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1, toString: 'not a method' });
  const common = (shared = { shared: [1] }) => ({
    constructor: 'not a function',
    toString: 'not a method',
    valueOf: 1,
    hasOwnProperty: null,
    __proto_: 'one underscore short',
    __defineGetter__: [],
    prototype: { constructor: { name: 'x' } },
    '': '',
    ' ': [''],
    '0': 'an index-like key',
    '-1': 'a negative one',
    'Grüße': 'é e\u0301 記憶の地図 🧠 👩‍👩‍👧‍👦 \u{10FFFF} \uFFFD \uFEFF \u200D',
    '🧠': 'nul\u0000inside',
    bytes: new Uint8Array([0, 1, 127, 128, 255]),
    empty: { list: [], record: {}, bytes: new Uint8Array(0), text: '' },
    nested: [[[]], [1, [2, [3, [4]]]], [{ a: [{ b: [] }] }]],
    numbers: [0, -1, 1.5, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 64, Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON, NaN, Infinity, -Infinity],
    literals: [true, false, null],
    unset: undefined,
    gaps: [undefined, null, undefined],
    twice: [shared, shared],
    deep: nested(40),
  });
  return {
    value: { ...common(), buffer: Buffer.from('from a Buffer'), view: backing.subarray(2, 5), nullPrototype },
    expected: { ...common(), buffer: new Uint8Array(Buffer.from('from a Buffer')), view: new Uint8Array([7, 6, 5]), nullPrototype: { a: 1, toString: 'not a method' } },
  };
}

/**
 * `actual` is `expected` exactly: same prototypes (a Buffer is not a Uint8Array), same keys (one set to
 * undefined included), `NaN` equal to itself. (`toStrictEqual` compares `.constructor`, an own key here.)
 */
function expectExactly(actual: unknown, expected: unknown): void {
  expect(actual).toEqual(expected);
  expect(isDeepStrictEqual(actual, expected), 'exactly equal: prototypes, keys set to undefined, binary types').toBe(true);
}

/** Every binary value in `value` is a plain Uint8Array (not a Buffer), whichever path it came back by. */
function expectPlainBinary(value: unknown): void {
  if (value instanceof Uint8Array) expect(Object.getPrototypeOf(value)).toBe(Uint8Array.prototype);
  else if (Array.isArray(value)) value.forEach(expectPlainBinary);
  else if (value !== null && typeof value === 'object') Object.values(value).forEach(expectPlainBinary);
}

describe('accepted values read back exactly', () => {
  it('in the writing instance, in a second instance on the same folder, and after a reopen', async () => {
    const { value, expected } = edgeValue();
    const writer = await open();
    const reader = await open();
    const tags = ['__proto__', 'constructor', '🧠', 'é'];
    const namespace = '记忆/🧠';
    const text = 'Grüße 記憶 🧠 \u{1F600} e\u0301';
    const id = await writer.appendMemory(text, tags, { namespace, meta: value });
    const [batchId] = await writer.appendMemories([{ text: 'second', meta: edgeValue().value }]);
    const updated = await writer.appendMemory('to update');
    await writer.updateMemory(updated, { meta: edgeValue().value });
    await writer.setKv('edge', value);
    await writer.setKv('__proto__', 'a key like any other');
    await writer.setKv('constructor', { constructor: 'x' });
    for (const [key, scalar] of [['nan', NaN], ['empty', ''], ['null', null], ['bytes', Buffer.from([1, 2])], ['list', [[], {}]], ['astral', '\u{10FFFF}']] as const) {
      await writer.setKv(key, scalar);
    }
    const state = { ...baseState(value), mine: value } as AgentState;
    await writer.updateState(state);
    const expectedState = { ...baseState(expected), mine: expected };
    // Mutating what was passed in changes nothing stored.
    (value.nested as unknown[]).push('late');
    (value.bytes as Uint8Array)[0] = 99;

    const check = async (fs: MemMapFS) => {
      const memory = await fs.getMemory(id);
      expect(memory).toMatchObject({ text, tags, namespace });
      expectExactly(memory!.meta, expected);
      expectPlainBinary(memory!.meta);
      expectExactly((await fs.getMemory(batchId!))!.meta, expected);
      expectExactly((await fs.getMemory(updated))!.meta, expected);
      const hit = (await fs.queryMemory('', { namespace, tags })).find((h) => h.id === id);
      expectExactly(hit?.meta, expected);
      expectExactly(fs.getKv('edge'), expected);
      expectPlainBinary(fs.getKv('edge'));
      expect(fs.getKv('__proto__')).toBe('a key like any other');
      expectExactly(fs.getKv('constructor'), { constructor: 'x' });
      expect(fs.getKv('nan')).toBeNaN();
      expect(fs.getKv('empty')).toBe('');
      expect(fs.getKv('null')).toBeNull();
      expectExactly(fs.getKv('bytes'), new Uint8Array([1, 2]));
      expectExactly(fs.getKv('list'), [[], {}]);
      expect(fs.getKv('astral')).toBe('\u{10FFFF}');
      expectExactly(fs.getState(), expectedState);
      expectPlainBinary(fs.getState());
    };
    await check(writer);
    await check(reader);
    await writer.close();
    await reader.close();
    const reopened = await open();
    await check(reopened);
    await reopened.close();
  });

  it('hands subscribers the state as it reads back', async () => {
    const { value, expected } = edgeValue();
    const fs = await open();
    const seen: unknown[] = [];
    fs.subscribeState((state) => seen.push(state));
    await fs.updateState(baseState(value));
    expectExactly(seen, [baseState(expected)]);
    await fs.close();
  });

  it('takes an initial state with edge values and gives it back as it would read back', async () => {
    const { value, expected } = edgeValue();
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), initialState: baseState(value) });
    expectExactly(fs.getState(), baseState(expected));
    await fs.close();
  });
});
