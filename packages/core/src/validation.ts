import { MemMapError } from './errors.js';
import { isWellFormedText, toStorableValue, type StorableValue } from './storable-value.js';

/** Limits on caller input; documented in core's README. */
export const limits = {
  maxTags: 64,
  maxTagLength: 256,
  maxNamespaceLength: 256,
  maxKeyLength: 1024,
  maxQueryLength: 4096,
  maxQueryLimit: 1000,
  /** `offset + limit` of `queryMemory`: how deep pages of one query go. */
  maxQueryDepth: 10_000,
  defaultTextBytes: 16 * 1024 * 1024,
} as const;

/** The largest time (ms from the epoch, either way) a `Date` holds: every reader of a time can show it. */
export const MAX_TIME_MS = 8.64e15;

/** A value as an error message names what it got: its type, and the value itself when short (`NaN`, `Infinity` as such). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing (undefined)';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

const describe = describeValue;

function invalid(message: string): MemMapError {
  return new MemMapError('INVALID_ARGUMENT', message);
}

/** A memory id: a positive safe integer. */
export function checkId(id: unknown, method: string): number {
  if (!Number.isSafeInteger(id) || (id as number) < 1) throw invalid(`${method}: id must be a positive integer, got ${describe(id)}.`);
  return id as number;
}

/** A memory text: a non-empty, well-formed string within the byte limit; returns its UTF-8 bytes. */
export function checkText(text: unknown, method: string, maxBytes: number): Uint8Array {
  checkTextLength(text, method, maxBytes);
  return Buffer.from(text as string, 'utf8');
}

/** `checkText`'s checks alone: the text's length in UTF-8, which `encodeTexts` writes it in. */
export function checkTextLength(text: unknown, method: string, maxBytes: number): number {
  if (typeof text !== 'string') throw invalid(`${method}: text must be a string, got ${describe(text)}.`);
  if (text.trim().length === 0) throw invalid(`${method}: text must not be empty or only whitespace.`);
  if (!isWellFormedText(text)) throw notWellFormed(method, 'text');
  if (text.length > maxBytes) throw tooLarge(method, text.length, maxBytes);
  const length = Buffer.byteLength(text, 'utf8');
  if (length > maxBytes) throw tooLarge(method, length, maxBytes);
  return length;
}

/** Bytes of each buffer `encodeTexts` packs small texts into. */
const PACKED_TEXTS_BYTES = 1024 * 1024;

/**
 * Texts checked by `checkTextLength` (with their lengths), as UTF-8. Texts of at most `packUpTo` bytes
 * are views of buffers of their own, up to `PACKED_TEXTS_BYTES` each, filled one after the other;
 * larger ones are buffers of their own. Not a buffer each: a bulk load's thousands of small ones would
 * each take a slice of Node's shared pool, and each pool is an ArrayBuffer, which past V8's external
 * memory limit (a large store's mappings) costs a step of garbage collection to allocate.
 */
export function encodeTexts(texts: readonly string[], lengths: readonly number[], packUpTo: number): Uint8Array[] {
  if (texts.length === 1) return [Buffer.from(texts[0]!, 'utf8')];
  const packed = (length: number) => length <= packUpTo && length <= PACKED_TEXTS_BYTES;
  /** Bytes of the packed texts not written yet: the last buffer is no larger than they need. */
  let left = 0;
  for (const length of lengths) if (packed(length)) left += length;
  const views: Uint8Array[] = [];
  let buffer: Buffer | undefined;
  let at = 0;
  texts.forEach((text, i) => {
    const length = lengths[i]!;
    if (!packed(length)) {
      views.push(Buffer.from(text, 'utf8'));
      return;
    }
    if (!buffer || at + length > buffer.length) {
      buffer = Buffer.allocUnsafeSlow(Math.min(PACKED_TEXTS_BYTES, left));
      at = 0;
    }
    left -= length;
    buffer.write(text, at, length, 'utf8');
    views.push(buffer.subarray(at, (at += length)));
  });
  return views;
}

function tooLarge(method: string, size: number, maxBytes: number): MemMapError {
  return new MemMapError('TEXT_TOO_LARGE', `${method}: text is at least ${size} bytes; the limit is ${maxBytes} (option maxTextBytes). Split it, or store it with appendStream.`);
}

/** A string with a lone UTF-16 surrogate, which UTF-8 (and so every other process) cannot carry. */
function notWellFormed(method: string, what: string): MemMapError {
  return invalid(`${method}: ${what} has a lone UTF-16 surrogate, which UTF-8 cannot carry; remove it (String.prototype.toWellFormed() replaces it with U+FFFD).`);
}

/** Tags: an array of distinct, non-empty, well-formed strings; duplicates are dropped, order kept. */
export function checkTags(tags: unknown, method: string, blank: 'refused' | 'taken' = 'taken'): string[] {
  if (tags === undefined) return [];
  if (!Array.isArray(tags)) throw invalid(`${method}: tags must be an array of strings, got ${describe(tags)}.`);
  if (tags.length > limits.maxTags) throw invalid(`${method}: at most ${limits.maxTags} tags, got ${tags.length}.`);
  for (const tag of tags) {
    if (typeof tag !== 'string' || tag.length === 0 || tag.length > limits.maxTagLength) {
      throw invalid(`${method}: each tag must be a non-empty string of at most ${limits.maxTagLength} characters, got ${describe(tag)}.`);
    }
    if (!isWellFormedText(tag)) throw notWellFormed(method, `the tag ${describe(tag)}`);
    // (Only new tags: a restore keeps what a store of an earlier release held, and filters reach it.)
    if (blank === 'refused' && BLANK.test(tag)) throw invalid(`${method}: a tag must hold more than whitespace, got ${describe(tag)}.`);
  }
  // (A few tags, as most memories have: kept without a Set, made for every memory appended.)
  if (tags.length <= 8) {
    const kept: string[] = [];
    for (const tag of tags as string[]) if (!kept.includes(tag)) kept.push(tag);
    return kept;
  }
  return [...new Set(tags as string[])];
}

const BLANK = /^\s+$/u;

/** A plain object (not an array, not null). */
export function checkPlainObject(value: unknown, what: string, method: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw invalid(`${method}: ${what} must be a plain object, got ${describe(value)}.`);
  }
  return value as Record<string, unknown>;
}

/** An options argument: absent, or an object. */
export function checkOptions<T extends object>(options: unknown, method: string): Partial<T> {
  if (options === undefined) return {};
  return checkPlainObject(options, 'options', method) as Partial<T>;
}

/**
 * Refuses an options object (or a new memory) with a field `known` does not list: a misspelt option
 * would otherwise be left out without a word (a memory in the wrong namespace, one that never expires).
 * `hint` is said after the names, when one of `hintFor` is among the unknown ones.
 */
export function checkOptionNames(options: object, known: ReadonlySet<string>, method: string, what = 'options', hint?: { for: ReadonlySet<string>; say: string }): void {
  let unknown: string[] | undefined;
  for (const key in options) if (Object.prototype.hasOwnProperty.call(options, key) && !known.has(key)) (unknown ??= []).push(key);
  if (unknown === undefined) return;
  const named = unknown.map((key) => JSON.stringify(key)).join(', ');
  const also = hint && unknown.some((key) => hint.for.has(key)) ? ` ${hint.say}` : '';
  throw invalid(`${method}: ${named} ${unknown.length === 1 ? 'is not one' : 'are not'} of the ${what} it takes (${[...known].join(', ')}).${also}`);
}

/** `ttlMs` of a new memory: a positive duration whose expiry, from now, a `Date` can hold. */
export function checkTtl(value: unknown, method: string, now = Date.now()): number {
  const ttl = checkDuration(value, 'ttlMs', method);
  if (now + ttl > MAX_TIME_MS) throw invalid(`${method}: ttlMs ${ttl} puts the expiry past what a Date can hold (${MAX_TIME_MS} ms since the epoch); leave ttlMs out for a memory that never expires.`);
  return ttl;
}

/** A KV key or stream key: a non-empty, well-formed string. */
export function checkKey(key: unknown, method: string): string {
  if (typeof key !== 'string' || key.length === 0 || Buffer.byteLength(key) > limits.maxKeyLength) {
    throw invalid(`${method}: key must be a non-empty string of at most ${limits.maxKeyLength} bytes (UTF-8), got ${typeof key === 'string' && key.length > 0 ? `a key of ${Buffer.byteLength(key)} bytes` : describe(key)}.`);
  }
  if (!isWellFormedText(key)) throw notWellFormed(method, 'key');
  return key;
}

/**
 * `deleteKvs`' keys: an iterable of keys, each checked as `checkKey` checks it, each once in the order
 * given; or `{ prefix }`, one prefix or a non-empty array of them, each a non-empty string.
 */
export function checkKeysOrPrefixes(keys: unknown, method: string): { keys: string[] } | { prefixes: string[] } {
  if (typeof keys === 'object' && keys !== null && typeof (keys as Iterable<unknown>)[Symbol.iterator] === 'function') {
    const checked = new Set<string>();
    let at = 0;
    for (const key of keys as Iterable<unknown>) checked.add(checkKey(key, `${method}: key ${at++}`));
    return { keys: [...checked] };
  }
  const usage = `${method}: keys must be an iterable of keys (an array, a Set) or { prefix }, a non-empty string or an array of them`;
  if (typeof keys !== 'object' || keys === null) throw invalid(`${usage}, got ${describe(keys)}.`);
  checkOptionNames(keys as object, PREFIX_OPTIONS, method);
  const { prefix } = keys as { prefix?: unknown };
  const prefixes = Array.isArray(prefix) ? prefix : [prefix];
  if (prefixes.length === 0 || prefixes.some((one) => typeof one !== 'string' || one.length === 0 || !isWellFormedText(one))) {
    throw invalid(`${usage} (to remove every key, list them with listKv), got prefix ${describe(prefix)}.`);
  }
  return { prefixes: [...new Set(prefixes as string[])] };
}

const PREFIX_OPTIONS: ReadonlySet<string> = new Set(['prefix']);

/** A positive, finite duration in milliseconds. */
export function checkDuration(value: unknown, what: string, method: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalid(`${method}: ${what} must be a positive number of milliseconds, got ${describe(value)}.`);
  return value;
}

/** `MemMapFSOptions.autoCompaction`: a boolean, or `{ minDeadBytes }` with a non-negative integer. */
export function checkAutoCompaction(value: unknown): void {
  if (value === undefined || typeof value === 'boolean') return;
  const minDeadBytes = (value as { minDeadBytes?: unknown } | null)?.minDeadBytes;
  const keys = value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : undefined;
  if (!keys || keys.some((key) => key !== 'minDeadBytes') || (minDeadBytes !== undefined && (!Number.isSafeInteger(minDeadBytes) || (minDeadBytes as number) < 0))) {
    throw invalid(`MemMapFS.init: autoCompaction must be true, false or { minDeadBytes } with a non-negative integer number of bytes, got ${describe(value)}.`);
  }
}

/** `MemMapFSOptions.autoSnapshot`: a boolean, or `{ everyRecords }` with a positive integer. */
export function checkAutoSnapshot(value: unknown): void {
  if (value === undefined || typeof value === 'boolean') return;
  const everyRecords = (value as { everyRecords?: unknown } | null)?.everyRecords;
  const keys = value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : undefined;
  if (!keys || keys.some((key) => key !== 'everyRecords') || (everyRecords !== undefined && (!Number.isSafeInteger(everyRecords) || (everyRecords as number) < 1))) {
    throw invalid(`MemMapFS.init: autoSnapshot must be true, false or { everyRecords } with a positive integer number of records, got ${describe(value)}.`);
  }
}

/** A query limit: an integer from 1 to the maximum. */
export function checkLimit(limit: unknown, method: string): number {
  if (limit === undefined) return 10;
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > limits.maxQueryLimit) {
    throw invalid(`${method}: limit must be an integer from 1 to ${limits.maxQueryLimit}, got ${describe(limit)}.`);
  }
  return limit as number;
}

/** `queryMemory`'s `offset`: a whole number of hits to skip, so that `offset + limit` stays within `maxQueryDepth`. */
export function checkOffset(offset: unknown, limit: number, method: string): number {
  if (offset === undefined) return 0;
  if (!Number.isInteger(offset) || (offset as number) < 0 || (offset as number) + limit > limits.maxQueryDepth) {
    throw invalid(`${method}: offset must be an integer from 0 to ${limits.maxQueryDepth - limit} (offset + limit at most ${limits.maxQueryDepth}), got ${describe(offset)}.`);
  }
  return offset as number;
}

/**
 * An agent state: the four fields of AgentState with the right types (more fields are allowed), all
 * of it storable exactly; returns the copy to store.
 */
export function checkAgentState(state: unknown, method: string): Record<string, StorableValue> {
  const s = checkPlainObject(state, 'state', method);
  if (typeof s.status !== 'string') throw invalid(`${method}: state.status must be a string, got ${describe(s.status)}.`);
  if (typeof s.activeMemoryCount !== 'number' || !Number.isFinite(s.activeMemoryCount)) throw invalid(`${method}: state.activeMemoryCount must be a finite number, got ${describe(s.activeMemoryCount)}.`);
  if (typeof s.lastUpdatedId !== 'number' || !Number.isFinite(s.lastUpdatedId)) throw invalid(`${method}: state.lastUpdatedId must be a finite number, got ${describe(s.lastUpdatedId)}.`);
  checkPlainObject(s.extra, 'state.extra', method);
  return toStorableValue(s, method, 'state') as Record<string, StorableValue>;
}

/** Memory meta: a plain object, storable exactly; returns the copy to store. */
export function checkMeta(meta: unknown, method: string): Record<string, StorableValue> {
  checkPlainObject(meta, 'meta', method);
  return toStorableValue(meta, method, 'meta') as Record<string, StorableValue>;
}

/** A KV value: anything storable exactly but `undefined` itself; returns the copy to store. */
export function checkKvValue(value: unknown, method: string): StorableValue {
  if (value === undefined) throw invalid(`${method}: value must not be undefined; use deleteKv to remove a key.`);
  return toStorableValue(value, method, '');
}

/**
 * The entries of `setKvs`: an iterable (an array of pairs, a `Map`) of `[key, value]` pairs, each
 * checked as `setKv` checks its key and value, in order.
 */
export function checkKvEntries(entries: unknown, method: string): Array<[string, StorableValue]> {
  if (typeof entries !== 'object' || entries === null || typeof (entries as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw invalid(`${method}: entries must be an iterable of [key, value] pairs (an array of pairs, or a Map), got ${describe(entries)}.`);
  }
  const checked: Array<[string, StorableValue]> = [];
  for (const entry of entries as Iterable<unknown>) {
    const at = `${method}: entry ${checked.length}`;
    if (!Array.isArray(entry) || entry.length !== 2) throw invalid(`${at} must be a [key, value] pair, got ${describe(entry)}.`);
    checked.push([checkKey(entry[0], at), checkKvValue(entry[1], at)]);
  }
  return checked;
}

/**
 * `setKvs`' options: the keys of `keys` (its entries') to skip when set, none without `ifAbsent`. An
 * `ifAbsent` naming a key no entry has is refused: a misspelt key would be set over what it holds.
 */
export function checkIfAbsent(options: unknown, keys: readonly string[], method: string): ReadonlySet<string> {
  const checked = checkOptions<{ ifAbsent?: unknown }>(options, method);
  checkOptionNames(checked, IF_ABSENT_OPTIONS, method);
  const { ifAbsent } = checked;
  if (ifAbsent === undefined || ifAbsent === false) return new Set();
  if (ifAbsent === true) return new Set(keys);
  const usage = `${method}: ifAbsent must be a boolean or an iterable of the keys of its entries to skip when set`;
  if (typeof ifAbsent !== 'object' || ifAbsent === null || typeof (ifAbsent as Iterable<unknown>)[Symbol.iterator] !== 'function') throw invalid(`${usage}, got ${describe(ifAbsent)}.`);
  const named = new Set<string>();
  const known = new Set(keys);
  for (const key of ifAbsent as Iterable<unknown>) {
    if (typeof key !== 'string') throw invalid(`${usage}, got ${describe(key)} among them.`);
    if (!known.has(key)) throw invalid(`${method}: ifAbsent names ${JSON.stringify(key)}, which none of its entries sets.`);
    named.add(key);
  }
  return named;
}
const IF_ABSENT_OPTIONS: ReadonlySet<string> = new Set(['ifAbsent']);
const DELETE_KV_OPTIONS: ReadonlySet<string> = new Set(['when']);
const DELETE_MEMORY_OPTIONS: ReadonlySet<string> = new Set(['ifKv']);
const IF_KV_FIELDS: ReadonlySet<string> = new Set(['key', 'when']);
const SET_KV_OPTIONS: ReadonlySet<string> = new Set(['ifAbsent', 'when']);

/** `setKv`'s options: whether `ifAbsent` is asked for. */
export function checkSetKvOptions(options: unknown, method: string): { ifAbsent: boolean; when: ((value: unknown) => boolean) | undefined } {
  const checked = checkOptions<{ ifAbsent?: unknown; when?: unknown }>(options, method);
  checkOptionNames(checked, SET_KV_OPTIONS, method);
  const { ifAbsent, when } = checked;
  if (ifAbsent !== undefined && typeof ifAbsent !== 'boolean') throw invalid(`${method}: ifAbsent must be true or false, got ${describe(ifAbsent)}.`);
  if (when !== undefined && typeof when !== 'function') throw invalid(`${method}: when must be a function of the value there (undefined when the key is unset) that returns true to set it, got ${describe(when)}.`);
  if (ifAbsent === true && when !== undefined) throw invalid(`${method}: give ifAbsent or when, not both (ifAbsent is when: (value) => value === undefined).`);
  return { ifAbsent: ifAbsent === true, when: when as ((value: unknown) => boolean) | undefined };
}

/** `deleteKv`'s options: its `when` test, if any. */
export function checkDeleteKvOptions(options: unknown, method: string): ((value: unknown) => boolean) | undefined {
  const checked = checkOptions<{ when?: unknown }>(options, method);
  checkOptionNames(checked, DELETE_KV_OPTIONS, method);
  const { when } = checked;
  if (when !== undefined && typeof when !== 'function') throw invalid(`${method}: when must be a function of the value that returns true to remove the key, got ${describe(when)}.`);
  return when as ((value: unknown) => boolean) | undefined;
}

/** `deleteMemory`'s options: the KV key whose value it is tested against, and the test, if any. */
export function checkDeleteMemoryOptions(options: unknown, method: string): { key: string; when: (value: unknown) => boolean } | undefined {
  const checked = checkOptions<{ ifKv?: unknown }>(options, method);
  checkOptionNames(checked, DELETE_MEMORY_OPTIONS, method);
  const { ifKv } = checked;
  if (ifKv === undefined) return undefined;
  if (typeof ifKv !== 'object' || ifKv === null || Array.isArray(ifKv)) throw invalid(`${method}: ifKv must be an object { key, when }, got ${describe(ifKv)}.`);
  checkOptionNames(ifKv as Record<string, unknown>, IF_KV_FIELDS, `${method}: ifKv`);
  const { key, when } = ifKv as { key?: unknown; when?: unknown };
  checkKey(key, method);
  if (typeof when !== 'function') throw invalid(`${method}: ifKv.when must be a function of the KV value (undefined when the key is unset) that returns true to delete the memory, got ${describe(when)}.`);
  return { key: key as string, when: when as (value: unknown) => boolean };
}

/** Stream data: bytes, or a well-formed string written as UTF-8. */
export function checkStreamData(data: unknown, method: string, maxBytes: number): Uint8Array {
  let bytes: Uint8Array;
  if (typeof data === 'string') {
    if (!isWellFormedText(data)) throw notWellFormed(method, 'the text of data');
    bytes = Buffer.from(data, 'utf8');
  } else if (data instanceof Uint8Array) bytes = data;
  else throw invalid(`${method}: data must be a Uint8Array or a string, got ${describe(data)}.`);
  if (bytes.byteLength === 0) throw invalid(`${method}: data must not be empty.`);
  if (bytes.byteLength > maxBytes) throw new MemMapError('TEXT_TOO_LARGE', `${method}: ${bytes.byteLength} bytes exceed the ${maxBytes}-byte limit (option maxTextBytes); append it in smaller chunks.`);
  return bytes;
}
