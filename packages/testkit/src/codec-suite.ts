import { maxStorableDepth, type Codec } from '@memmapfs/core';
import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';

/** Options of `codecSuite`. */
export interface CodecSuiteOptions {
  /**
   * Titles of checks to leave out, exactly as the suite prints them, for what a codec knowingly does
   * not do. A title the suite does not have is an error, so a renamed check is not skipped silently.
   */
  skip?: string[];
}

/**
 * A value a codec must round-trip exactly: what a store accepts from callers (core's `StorableValue`)
 * and what it writes itself. `-0`, lone surrogates and `__proto__` keys are refused by the store.
 */
type StoredValue = null | undefined | boolean | number | string | Uint8Array | StoredValue[] | { [key: string]: StoredValue };

const KiB = 1024;
const MiB = 1024 * KiB;

const integers = [
  0, 1, -1, 23, 24, 31, -32, -33, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769, 65535, 65536,
  2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32 - 1, 2 ** 32, -(2 ** 32), 2 ** 53 - 1, -(2 ** 53 - 1),
];

const floats = [0.5, -1.25, 0.1, Math.PI, -Math.E, 1e-300, 1e300, Number.MIN_VALUE, Number.MAX_VALUE, Number.EPSILON, 3.4028234663852886e38, 1.1754943508222875e-38];

const unicodeStrings = [
  '',
  'a',
  'memory',
  'é',
  'Grüße aus Köln',
  '記憶の地図',
  '内存映射文件系统',
  '기억',
  'مرحبا بالعالم',
  'שלום',
  '👩‍👩‍👧‍👦',
  '🇺🇳🏳️‍🌈',
  'e\u0301',
  '\u0000',
  'nul\u0000inside',
  '\uFEFFbom',
  '\u200B\u200D\u2060',
  '\uFFFD',
  '\uFFFE\uFFFF',
  '\u{10FFFF}',
  '\u{1F600}\u{1F601}',
  '\r\n\t\b\f\v',
  '\u007F\u0080\u00FF',
];

/** Lengths where binary and string headers change size in MessagePack and CBOR. */
const headerBoundaries = [0, 1, 23, 24, 31, 32, 255, 256, 65535, 65536];

/** A record as the store writes it to the WAL. */
const storeRecords: Record<string, StoredValue>[] = [
  { t: 1, id: 5, ref: [0, 128, 42, 3735928559], tags: ['a', 'b'], ns: 'default', meta: { k: 'v' }, at: 1700000000000 },
  { t: 1, id: 6, ref: [3, 0, 11, 12345678], tags: [], ns: 'agent-7', meta: {}, at: 1700000000001, exp: 1700003600001 },
  { t: 2, id: 5, text: 'updated', ref: [1, 4096, 7, 1], at: 1700000000500 },
  { t: 3, id: 5, at: 1700000000900 },
  { t: 4, key: 'agent/state', value: { status: 'running', activeMemoryCount: 12, lastUpdatedId: 6, extra: { step: 3 } }, at: 1700000001000 },
  { t: 5, stream: 'transcript', seq: 18, chunk: new Uint8Array([1, 2, 3, 254, 255]), at: 1700000002000 },
  { t: 6, key: 'blob', value: new Uint8Array(300).fill(7), at: 1700000003000 },
];

/** Keys an object may have in a store that are also names on `Object.prototype`, or close to them. */
const prototypeLikeKeys = [
  'constructor', 'toString', 'toLocaleString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable',
  '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__', '__proto_', '___proto__', 'prototype',
];

/** Keys of generated objects: any code points (never a lone surrogate), names like Object.prototype's; never `__proto__`. */
const objectKey = fc
  .oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom(...prototypeLikeKeys, '', '0', '-1', '4294967295'))
  .filter((key) => key !== '__proto__');

const scalar: fc.Arbitrary<StoredValue> = fc.oneof(
  fc.constantFrom(null, undefined, true, false, NaN, Infinity, -Infinity),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double().filter((value) => !Object.is(value, -0)),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.uint8Array({ maxLength: 64 }),
);

const { storedValue } = fc.letrec<{ storedValue: StoredValue; list: StoredValue[]; record: { [key: string]: StoredValue } }>((tie) => ({
  storedValue: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('list'), tie('record')),
  list: fc.array(tie('storedValue'), { maxLength: 6 }),
  // Null-prototype objects too: a store accepts them, and they read back as plain objects.
  record: fc.dictionary(objectKey, tie('storedValue'), { maxKeys: 6 }),
}));

const astral = '\u{1F600}\u{10FFFF}\u{1D11E}';

/** Values at the edges of what a store accepts from callers, each with a title that says what it is. */
function acceptedValues(): Array<[string, StoredValue]> {
  const bytes = new Uint8Array([0, 1, 127, 128, 255]);
  const backing = new Uint8Array([9, 8, 7, 6, 5, 4, 3]);
  const nullPrototype = Object.assign(Object.create(null) as Record<string, StoredValue>, { a: 1, toString: 'not a method', nested: Object.create(null) as Record<string, StoredValue> });
  return [
    ['keys named like members of Object.prototype', Object.fromEntries(prototypeLikeKeys.map((key, index) => [key, index % 2 === 0 ? key : { [key]: [key] }]))],
    ['a key named constructor whose value is an object', { constructor: { name: 'Object', prototype: { constructor: null } } }],
    ['empty, blank and index-like keys', { '': '', ' ': [''], '0': 'zero', '1': 'one', '-1': 'minus one', '01': 'leading zero', '1.5': 'fraction', '4294967295': 'past the last index' }],
    ['strings and keys in any script, with astral characters', { 'Grüße': 'é e\u0301 記憶の地図 기억 مرحبا', [astral]: astral, '👩‍👩‍👧‍👦': '🇺🇳🏳️‍🌈', 'nul\u0000key': 'nul\u0000value', '\uFEFF': '\uFFFD\uFFFE\uFFFF' }],
    ['empty strings, lists, objects and bytes', { text: '', list: [], record: {}, bytes: new Uint8Array(0), all: ['', [], {}, new Uint8Array(0)] }],
    ['undefined as a property and as array items', { set: undefined, list: [undefined, null, undefined], nested: { deeper: { unset: undefined } } }],
    ['NaN, the infinities and numbers at the edges', { nan: NaN, list: [Infinity, -Infinity, 0, -1, 1.5, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 64, Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON] }],
    ['binary alone, in lists, in objects, from a Buffer and from a view', { bytes, list: [bytes, [bytes]], buffer: Buffer.from('a Buffer'), view: backing.subarray(2, 5) }],
    ['a null-prototype object', nullPrototype],
    ['nested lists and objects', { lists: [[[]], [1, [2, [3, [4]]]]], records: [{ a: [{ b: [{ c: {} }] }] }] }],
    ['the same object twice', (() => { const shared = { shared: [1] }; return { first: shared, second: shared, list: [shared, shared] }; })()],
    [`lists nested ${maxStorableDepth} deep`, nestedLists(maxStorableDepth)],
    [`objects nested ${maxStorableDepth} deep`, nestedObjects(maxStorableDepth)],
    ['keys that codecs often take for tags of their own', { $: 'u', $type: 'Date', __type: 'bytes', _t: 'x', '@type': 'Map', '~b': '', '#': 1, nested: { $: { $: [{ __type: 'undefined' }] }, $date: 0, $binary: 'AAE=' } }],
  ];
}

/**
 * Where `actual` differs from `value` as a store reads values back, or `undefined` when it does not:
 * every number the same (`NaN` included), every string the same, binary as a plain `Uint8Array` (never
 * a `Buffer`) with the same bytes, arrays as plain arrays of the same length without holes, and objects
 * (null-prototype ones too) as objects with prototype `Object.prototype` and the same keys, in the same
 * order, a key set to `undefined` included.
 */
function exactDifference(actual: unknown, value: unknown, path = 'value'): string | undefined {
  if (value instanceof Uint8Array) {
    if (!(actual instanceof Uint8Array)) return `${path} is ${describeValue(actual)}, not a Uint8Array`;
    if (Object.getPrototypeOf(actual) !== Uint8Array.prototype) return `${path} is a ${actual.constructor.name}, not a plain Uint8Array`;
    if (actual.byteLength !== value.byteLength || Buffer.compare(actual, value) !== 0) return `${path} has other bytes`;
    return undefined;
  }
  if (Array.isArray(value)) {
    if (!Array.isArray(actual) || Object.getPrototypeOf(actual) !== Array.prototype) return `${path} is ${describeValue(actual)}, not an array`;
    if (actual.length !== value.length) return `${path} has ${actual.length} items, not ${value.length}`;
    for (let index = 0; index < value.length; index++) {
      if (!(index in actual)) return `${path}[${index}] is a hole`;
      const difference = exactDifference(actual[index], value[index], `${path}[${index}]`);
      if (difference) return difference;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    if (actual === null || typeof actual !== 'object' || Object.getPrototypeOf(actual) !== Object.prototype) return `${path} is ${describeValue(actual)}, not a plain object`;
    const keys = Object.keys(value);
    const actualKeys = Object.keys(actual);
    if (keys.length !== actualKeys.length || keys.some((key, index) => key !== actualKeys[index])) return `${path} has keys ${JSON.stringify(actualKeys)}, not ${JSON.stringify(keys)}`;
    for (const key of keys) {
      const difference = exactDifference((actual as Record<string, unknown>)[key], (value as Record<string, unknown>)[key], `${path}[${JSON.stringify(key)}]`);
      if (difference) return difference;
    }
    return undefined;
  }
  return Object.is(actual, value) ? undefined : `${path} is ${describeValue(actual)}, not ${describeValue(value)}`;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return Object.is(value, -0) ? '-0' : String(value);
  return Array.isArray(value) ? 'an array' : `an object (${(Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'null prototype'})`;
}

function expectRoundTrip(codec: Codec, value: unknown): void {
  expectDecodesTo(codec, encodeChecked(codec, value), value);
}

function expectDecodesTo(codec: Codec, bytes: Uint8Array, value: unknown): void {
  expect(exactDifference(codec.decode(bytes), value), 'reads back exactly').toBeUndefined();
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Decoders replace an invalid UTF-8 sequence with one U+FFFD or with one per byte. */
function collapseReplacements(text: string): string {
  return text.replace(/\uFFFD+/g, '\uFFFD');
}

function containsKey(value: unknown, key: string): boolean {
  if (Array.isArray(value)) return value.some((item) => containsKey(item, key));
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return false;
  return Object.prototype.hasOwnProperty.call(value, key) || Object.values(value).some((item) => containsKey(item, key));
}

/**
 * Whether the 1 MiB of memory `use` is given, like a mapping of a file, is garbage-collected once `use`
 * has returned and nothing of the caller's holds it (full collections, forced).
 */
async function collectedAfter(use: (memory: ArrayBuffer) => void): Promise<boolean> {
  const gc = forcedCollection();
  let collected = false;
  const registry = new FinalizationRegistry<void>(() => (collected = true));
  (() => {
    const memory = new ArrayBuffer(MiB);
    registry.register(memory);
    use(memory);
  })();
  for (let attempt = 0; attempt < 20 && !collected; attempt++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return collected;
}

let gcFunction: (() => void) | undefined;

/** A full garbage collection on demand: `global.gc` where Node was started with `--expose-gc`, else V8's own, exposed at run time. */
function forcedCollection(): () => void {
  if (gcFunction) return gcFunction;
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return (gcFunction = exposed);
  // (Node calls flags set after start-up unpredictable; this one only makes V8 define `gc` in new contexts.)
  setFlagsFromString('--expose-gc');
  return (gcFunction = runInNewContext('gc') as () => void);
}

function encodeChecked(codec: Codec, value: unknown): Uint8Array {
  const bytes = codec.encode(value);
  expect(bytes).toBeInstanceOf(Uint8Array);
  return bytes;
}

function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.byteLength).toBe(expected.byteLength);
  expect(Buffer.compare(actual, expected)).toBe(0);
}

/** Decodes input that may be malformed: a thrown value must be an Error; a returned value is fine. */
function decodeUntrusted(codec: Codec, bytes: Uint8Array): void {
  try {
    codec.decode(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
  }
}

function nestedLists(depth: number): StoredValue {
  let value: StoredValue = ['leaf', depth];
  for (let level = depth - 1; level > 0; level--) value = [level, value];
  return value;
}

function nestedRecords(depth: number): StoredValue {
  let value: StoredValue = { leaf: true };
  for (let level = depth - 1; level > 0; level--) value = { level, child: value, list: [level, { at: level }] };
  return value;
}

function nestedObjects(depth: number): StoredValue {
  let value: StoredValue = { leaf: true };
  for (let level = depth - 1; level > 0; level--) value = { level, child: value };
  return value;
}

function randomBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0;
  for (let index = 0; index < length; index++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[index] = state >>> 24;
  }
  return bytes;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Registers a vitest `describe` block that checks a codec against the `Codec` contract of
 * `@memmapfs/core`: the name, round trips of every kind of value the store writes, deterministic
 * output, tolerance of truncated and random bytes, and independence of instances. Checks that
 * generate values use fast-check.
 *
 * @param name Title of the `describe` block.
 * @param createCodec Returns a fresh codec; called for every check (twice where instances are compared).
 * @param options `skip`: titles of checks to leave out.
 *
 * @example
 * import { codecSuite } from '@memmapfs/testkit';
 * import { msgpack } from '@memmapfs/codec-msgpack';
 * codecSuite('msgpack', () => msgpack());
 */
export function codecSuite(name: string, createCodec: () => Codec | Promise<Codec>, options: CodecSuiteOptions = {}): void {
  const skipped = new Set(options.skip ?? []);
  const titles = new Set<string>();

  describe(name, () => {
    const check = (title: string, body: (codec: Codec) => void | Promise<void>): void => {
      titles.add(title);
      it.skipIf(skipped.has(title))(title, async () => body(await createCodec()));
    };

    check('has a name that can be registered and fits a log header: 1 to 24 letters, digits, ".", "_" or "-"', (codec) => {
      expect(typeof codec.name).toBe('string');
      expect(codec.name).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]{0,23}$/);
    });

    check('every instance has the same name', async (codec) => {
      expect((await createCodec()).name).toBe(codec.name);
    });

    check('encode returns a Uint8Array', (codec) => {
      for (const value of [null, 0, 'x', [], {}, new Uint8Array(1), storeRecords[0]]) encodeChecked(codec, value);
    });

    check('round-trips null and booleans', (codec) => {
      for (const value of [null, true, false]) expect(codec.decode(encodeChecked(codec, value))).toBe(value);
    });

    check('round-trips integers at every encoding boundary', (codec) => {
      for (const value of integers) expect(codec.decode(encodeChecked(codec, value))).toBe(value);
    });

    check('encodes negative zero; it decodes as 0 or -0', (codec) => {
      // A store refuses -0 (MessagePack and CBOR codecs write it as 0); a codec that keeps it is fine.
      expect([0, -0]).toContain(codec.decode(encodeChecked(codec, -0)));
    });

    check('round-trips floats exactly', (codec) => {
      for (const value of floats) expect(codec.decode(encodeChecked(codec, value))).toBe(value);
    });

    check('round-trips NaN and the infinities', (codec) => {
      for (const value of [NaN, Infinity, -Infinity]) expect(codec.decode(encodeChecked(codec, value))).toBe(value);
    });

    check('round-trips any double and any safe integer', (codec) => {
      fc.assert(
        fc.property(fc.oneof(fc.double(), fc.maxSafeInteger()), (value) => {
          const decoded = codec.decode(encodeChecked(codec, value));
          // -0 may come back as 0: a store refuses it.
          if (Object.is(value, -0)) expect(decoded === 0).toBe(true);
          else expect(decoded).toBe(value);
        }),
      );
    });

    check('round-trips strings in any script, emoji and special code points', (codec) => {
      for (const value of unicodeStrings) expect(codec.decode(encodeChecked(codec, value))).toBe(value);
    });

    check('round-trips strings at every header boundary, in one- to four-byte UTF-8', (codec) => {
      for (const byteLength of headerBoundaries) {
        for (const unit of ['a', 'é', '€', '😀']) {
          const unitBytes = Buffer.byteLength(unit);
          const value = unit.repeat(Math.floor(byteLength / unitBytes)) + 'a'.repeat(byteLength % unitBytes);
          const decoded = codec.decode(encodeChecked(codec, value));
          expect(decoded === value, `${unit} × ${byteLength} bytes`).toBe(true);
        }
      }
    });

    check('round-trips 1 MiB strings', (codec) => {
      for (const value of ['m'.repeat(MiB), '記'.repeat(MiB / 2), '🧠'.repeat(MiB / 4)]) {
        const decoded = codec.decode(encodeChecked(codec, value));
        expect(typeof decoded).toBe('string');
        expect((decoded as string).length).toBe(value.length);
        expect(decoded === value).toBe(true);
      }
    });

    check('round-trips any string of code points', (codec) => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (value) => {
          expect(codec.decode(encodeChecked(codec, value))).toBe(value);
        }),
      );
    });

    check('encodes lone surrogates; they decode as themselves or as U+FFFD', (codec) => {
      for (const value of ['\uD800', 'a\uDC00b', '\uDBFF\uDBFF', 'x\uD83D', `${'\uD800'.repeat(100)}🧠`]) {
        const decoded = codec.decode(encodeChecked(codec, value));
        expect(typeof decoded).toBe('string');
        if (decoded !== value) expect(collapseReplacements(decoded as string)).toBe(collapseReplacements(value.replace(loneSurrogate, '\uFFFD')));
      }
    });

    check('round-trips Uint8Array as Uint8Array with the same bytes', (codec) => {
      for (const length of [...headerBoundaries, 64 * KiB]) {
        const value = randomBytes(length, length + 1);
        const decoded = codec.decode(encodeChecked(codec, value));
        expect(decoded).toBeInstanceOf(Uint8Array);
        expectSameBytes(decoded as Uint8Array, value);
      }
    });

    check('encodes only the viewed range of a Uint8Array that is a view into a larger buffer', (codec) => {
      const backing = randomBytes(4 * KiB, 99);
      const view = backing.subarray(1000, 1500);
      const decoded = codec.decode(encodeChecked(codec, { view }));
      expectSameBytes((decoded as { view: Uint8Array }).view, view);
    });

    check('decodes bytes that are a view into a larger buffer', (codec) => {
      const value = storeRecords[0];
      const bytes = encodeChecked(codec, value);
      const backing = new Uint8Array(bytes.byteLength + 64).fill(0xc1);
      backing.set(bytes, 13);
      const view = backing.subarray(13, 13 + bytes.byteLength);
      expectDecodesTo(codec, view, value);
      const buffer = Buffer.from(backing.buffer, backing.byteOffset + 13, bytes.byteLength);
      expectDecodesTo(codec, buffer, value);
    });

    check('decoded binary does not change when the input bytes are overwritten', (codec) => {
      const chunk = randomBytes(200, 5);
      const bytes = encodeChecked(codec, { chunk });
      const decoded = codec.decode(bytes) as { chunk: Uint8Array };
      bytes.fill(0);
      expectSameBytes(decoded.chunk, chunk);
    });

    check('decodes new objects every time: a result changed changes no later one', (codec) => {
      const bytes = encodeChecked(codec, { list: [1, 2], inner: { a: 1 }, chunk: new Uint8Array([1, 2, 3]) });
      const first = codec.decode(bytes) as { list: number[]; inner: { a: number }; chunk: Uint8Array };
      first.list.push(3);
      first.inner.a = 2;
      first.chunk[0] = 9;
      expect(codec.decode(bytes), 'a second decode of the same bytes, after the first result was changed').toEqual({ list: [1, 2], inner: { a: 1 }, chunk: new Uint8Array([1, 2, 3]) });
    });

    check('round-trips empty and nested arrays and objects', (codec) => {
      for (const value of [[], {}, [[]], [{}], { a: [] }, { a: {} }, [null, true, 1, 'x', [2], { b: 3 }]]) expectRoundTrip(codec, value);
    });

    check('round-trips arrays and objects nested 20 deep', (codec) => {
      expectRoundTrip(codec, nestedLists(20));
      expectRoundTrip(codec, nestedRecords(20));
      expectRoundTrip(codec, { outer: [nestedRecords(20), nestedLists(20)] });
    });

    check('round-trips objects with unusual keys', (codec) => {
      expectRoundTrip(codec, { '': 1, ' ': 2, '0': 3, '01': 4, '-1': 5, '1.5': 6, 'constructor': 7, 'toString': 8, 'hasOwnProperty': 9, '記': 10, '😀': 11, 'a\u0000b': 12 });
    });

    check('round-trips objects with many keys (70,000) and long arrays (100,000)', (codec) => {
      const record: Record<string, number> = {};
      for (let index = 0; index < 70_000; index++) record[`key${index}`] = index;
      const decoded = codec.decode(encodeChecked(codec, record)) as Record<string, number>;
      expect(Object.keys(decoded).length).toBe(70_000);
      expect(decoded).toEqual(record);
      const list = Array.from({ length: 100_000 }, (_, index) => index % 3 === 0 ? index : `item${index}`);
      expect(codec.decode(encodeChecked(codec, list))).toEqual(list);
    });

    check('round-trips the records the store writes', (codec) => {
      for (const record of storeRecords) expectRoundTrip(codec, record);
      expectRoundTrip(codec, storeRecords);
    });

    check(`round-trips values nested ${maxStorableDepth} deep inside the records the store wraps them in`, (codec) => {
      // (A store takes values nested maxStorableDepth deep and encodes each inside a record: a memory's
      // meta in its record's map, and in a checkpoint row's list; a state in its record or the checkpoint's tables.)
      const lists = nestedLists(maxStorableDepth);
      const objects = nestedObjects(maxStorableDepth);
      expectRoundTrip(codec, { ...storeRecords[0], meta: objects });
      expectRoundTrip(codec, [['a'], 'default', objects]);
      expectRoundTrip(codec, { ...storeRecords[4], value: objects });
      expectRoundTrip(codec, { kv: [], state: lists });
    });

    check('round-trips undefined as an object property (the key kept) and as an array item', (codec) => {
      const decoded = codec.decode(encodeChecked(codec, { id: 1, expiresAt: undefined })) as Record<string, unknown>;
      expect(Object.keys(decoded)).toEqual(['id', 'expiresAt']);
      expect(decoded.expiresAt).toBeUndefined();
      expect(codec.decode(encodeChecked(codec, [undefined, 1, undefined]))).toEqual([undefined, 1, undefined]);
      expect(codec.decode(encodeChecked(codec, undefined))).toBeUndefined();
    });

    for (const [what, value] of acceptedValues()) {
      check(`round-trips exactly what a store accepts: ${what}`, (codec) => {
        expectRoundTrip(codec, value);
      });
    }

    check('decodes binary as a plain Uint8Array, never a Buffer, whatever the bytes it is given', (codec) => {
      const chunk = randomBytes(300, 11);
      for (const value of [chunk, Buffer.from(chunk), { chunk }, [chunk], { nested: [{ chunk: Buffer.from(chunk) }] }]) {
        const bytes = encodeChecked(codec, value);
        const pool = Buffer.alloc(bytes.byteLength + 32, 0xc1);
        pool.set(bytes, 16);
        const inputs = [bytes, Buffer.from(bytes), pool.subarray(16, 16 + bytes.byteLength), new Uint8Array(pool.buffer, pool.byteOffset + 16, bytes.byteLength)];
        for (const input of inputs) {
          expect(exactDifference(codec.decode(input), value), `decoding a ${input.constructor.name}`).toBeUndefined();
        }
      }
    });

    check('decoding a key named __proto__ never changes a prototype', (codec) => {
      const value = JSON.parse('{"__proto__": {"polluted": true}, "nested": {"__proto__": {"polluted": true}}}');
      const decoded = codec.decode(encodeChecked(codec, value)) as Record<string, unknown>;
      expect(isPlainObject(decoded)).toBe(true);
      expect(decoded.polluted).toBeUndefined();
      expect(isPlainObject(decoded.nested as object)).toBe(true);
      expect((decoded.nested as Record<string, unknown>).polluted).toBeUndefined();
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    check('round-trips any JSON value', (codec) => {
      fc.assert(
        // As JSON.parse returns it (so no -0, which a store refuses), without __proto__ keys (refused too).
        fc.property(fc.jsonValue().map((value) => JSON.parse(JSON.stringify(value)) as unknown).filter((value) => !containsKey(value, '__proto__')), (value) => {
          expectRoundTrip(codec, value);
        }),
      );
    });

    check('round-trips any value a store accepts, exactly', (codec) => {
      fc.assert(
        fc.property(storedValue, (value) => {
          expectRoundTrip(codec, value);
        }),
      );
    });

    check('encoding is deterministic, across instances too', async (codec) => {
      const other = await createCodec();
      fc.assert(
        fc.property(storedValue, (value) => {
          const bytes = encodeChecked(codec, value);
          expectSameBytes(encodeChecked(codec, value), bytes);
          expectSameBytes(encodeChecked(codec, structuredClone(value)), bytes);
          expectSameBytes(encodeChecked(other, value), bytes);
        }),
      );
    });

    check('decoding empty bytes throws an Error', (codec) => {
      expect(() => codec.decode(new Uint8Array(0))).toThrow(Error);
    });

    check('decoding truncated bytes throws an Error', (codec) => {
      fc.assert(
        fc.property(storedValue, fc.nat(), (value, cut) => {
          const bytes = encodeChecked(codec, value);
          fc.pre(bytes.byteLength > 1);
          // An encoded value says where it ends, so any shorter prefix of it is malformed.
          expect(() => codec.decode(bytes.slice(0, cut % bytes.byteLength))).toThrow(Error);
        }),
        { numRuns: 500 },
      );
    });

    check('decoding random bytes throws an Error or returns a value', (codec) => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
          decodeUntrusted(codec, bytes);
        }),
        { numRuns: 2000 },
      );
    });

    check('decoding corrupted bytes throws an Error or returns a value', (codec) => {
      fc.assert(
        fc.property(storedValue, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (value, flips) => {
          const bytes = encodeChecked(codec, value).slice();
          for (const [at, byte] of flips) bytes[at % bytes.byteLength] = byte;
          decodeUntrusted(codec, bytes);
        }),
        { numRuns: 1000 },
      );
    });

    check('returned bytes are not reused by later calls', (codec) => {
      const first = encodeChecked(codec, storeRecords[0]);
      const firstCopy = first.slice();
      for (const record of storeRecords) encodeChecked(codec, record);
      codec.decode(encodeChecked(codec, 'x'.repeat(20 * KiB)));
      expectSameBytes(first, firstCopy);
      first.fill(0xff);
      expectRoundTrip(codec, storeRecords[1]);
      expectSameBytes(encodeChecked(codec, storeRecords[0]), firstCopy);
    });

    // A store decodes straight from memory mappings of its files: a codec that kept the last bytes it
    // decoded reachable (a module-level view of them, say) would keep a file mapped after the store
    // closed or removed it, its disk space not given back.
    check('keeps nothing it decoded from reachable', async (codec) => {
      for (const value of [storeRecords[0], { tags: ['a'], namespace: 'n', meta: { turn: 1 } }, 'x'.repeat(300)]) {
        const collected = await collectedAfter((memory) => {
          const encoded = encodeChecked(codec, value);
          new Uint8Array(memory, 4096, encoded.byteLength).set(encoded);
          expectDecodesTo(codec, new Uint8Array(memory, 4096, encoded.byteLength), value as StoredValue);
        });
        expect(collected, `the memory ${JSON.stringify(value).slice(0, 40)} was decoded from stayed reachable after decode returned`).toBe(true);
      }
      // …and after a decode that failed midway.
      const failed = await collectedAfter((memory) => {
        const encoded = encodeChecked(codec, storeRecords[0]);
        new Uint8Array(memory, 4096, encoded.byteLength).set(encoded);
        expect(() => codec.decode(new Uint8Array(memory, 4096, encoded.byteLength - 1))).toThrow();
      });
      expect(failed, 'the memory a failed decode read stayed reachable after it threw').toBe(true);
    });

    check('two instances work independently, interleaved, and read each other\'s bytes', async (codec) => {
      const other = await createCodec();
      const run = async (own: Codec, peer: Codec, offset: number): Promise<void> => {
        const kept: [Uint8Array, Uint8Array, StoredValue][] = [];
        for (let step = 0; step < 50; step++) {
          const value: StoredValue = { ...storeRecords[(step + offset) % storeRecords.length], id: step + offset * 1000, text: `${offset}:${step}` };
          const bytes = encodeChecked(own, value);
          kept.push([bytes, bytes.slice(), value]);
          await nextTurn();
          expectDecodesTo(own, bytes, value);
          expectDecodesTo(peer, bytes, value);
        }
        for (const [bytes, copy] of kept) expectSameBytes(bytes, copy);
      };
      await Promise.all([run(codec, other, 0), run(other, codec, 3)]);
    });

    const unknown = [...skipped].filter((title) => !titles.has(title));
    if (unknown.length > 0) {
      throw new Error(`[memmapfs] [testkit] codecSuite('${name}') was asked to skip checks it does not have: ${unknown.map((title) => JSON.stringify(title)).join(', ')}.`);
    }
  });
}
