import { memberPathText } from '@memmapfs/core';
import { jsonObject } from './arguments.js';
import { UsageError } from './failures.js';

/** A `{"$base64": …}` whose string is not base64: it would be stored as other bytes. */
export class BadTaggedValue extends Error {
  override readonly name = 'BadTaggedValue';
}

/** Standard base64, padded to a multiple of 4 (as `Buffer.toString('base64')` writes it). */
export function isBase64(text: string): boolean {
  return text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text);
}

/**
 * Stored values (core's `StorableValue`: KV values, memory `meta`, the agent state) as JSON, and back,
 * exactly. JSON lacks a few of their kinds, which are written as objects of one `$` key:
 *
 * - bytes (`Uint8Array`): `{"$base64": "…"}` (as the MCP server shows them);
 * - `NaN`, `Infinity`, `-Infinity`: `{"$number": "NaN"}`;
 * - `undefined` (an array item or an object property): `{"$undefined": true}`;
 * - a plain object that itself has exactly one key, starting with `$`: `{"$object": {…}}`, so that it
 *   is never read as one of the above.
 */
export function toTaggedJson(value: unknown): unknown {
  if (value === undefined) return { $undefined: true };
  if (value instanceof Uint8Array) return { $base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $number: String(value) };
  if (Array.isArray(value)) return value.map(toTaggedJson);
  if (typeof value === 'object' && value !== null) {
    const object: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) define(object, key, toTaggedJson(item));
    const keys = Object.keys(object);
    return keys.length === 1 && keys[0]!.startsWith('$') ? { $object: object } : object;
  }
  return value;
}

/**
 * The stored value that `toTaggedJson` wrote as `json` (parsed). Objects of one unknown `$` key stay as
 * they are. A `{"$base64": …}` that is not base64 throws `BadTaggedValue`, naming where it is in
 * `name` (`--meta`, `meta`): `Buffer.from` would decode what it can and store other bytes. So does a
 * number that JSON.parse read as ±Infinity (written too large for a number).
 */
export function fromTaggedJson(json: unknown, name = 'the value', path = ''): unknown {
  if (Array.isArray(json)) return json.map((item, i) => fromTaggedJson(item, name, `${path}[${i}]`));
  // (JSON.parse reads a number past ±1.8e308 as ±Infinity: stored so, it would not be the number given.)
  if (typeof json === 'number' && !Number.isFinite(json)) {
    throw new BadTaggedValue(`the number at ${name}${path} is too large for a number (JSON numbers past ±1.8e308 read as Infinity); write {"$number": "Infinity"} for Infinity itself`);
  }
  if (typeof json !== 'object' || json === null) return json;
  const entries = Object.entries(json);
  if (entries.length === 1) {
    const [key, item] = entries[0]!;
    if (key === '$base64' && typeof item === 'string') {
      if (!isBase64(item)) throw new BadTaggedValue(`{"$base64": …} at ${name}${path} is not base64 (A–Z, a–z, 0–9, + and /, padded with = to a multiple of 4 characters)`);
      return new Uint8Array(Buffer.from(item, 'base64'));
    }
    if (key === '$number' && (item === 'NaN' || item === 'Infinity' || item === '-Infinity')) return Number(item);
    if (key === '$undefined' && item === true) return undefined;
    if (key === '$object' && typeof item === 'object' && item !== null && !Array.isArray(item)) return members(item, name, path);
  }
  return members(json, name, path);
}

function members(json: object, name: string, path: string): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(json)) define(object, key, fromTaggedJson(item, name, `${path}${memberPathText(key)}`));
  return object;
}

/** Sets a property, a key named `__proto__` included, as an own property. */
function define(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A memory (or hit) in the CLI's JSON: its `meta` in tagged JSON, its embedding (if any) as an array of numbers. */
export function memoryJson<M extends { readonly meta: Record<string, unknown>; readonly embedding?: Float32Array }>(memory: M): MemoryJson<M> {
  const { embedding, ...rest } = memory;
  return { ...rest, meta: toTaggedJson(memory.meta) as Record<string, unknown>, ...(embedding ? { embedding: Array.from(embedding) } : {}) } as MemoryJson<M>;
}

/** What `memoryJson` makes of `M`. */
type MemoryJson<M> = Omit<M, 'meta' | 'embedding'> & { meta: Record<string, unknown>; embedding?: number[] };

/** `--meta` or the state given as JSON: an object, its tagged values (`{"$base64"}` and the like) read as what they stand for. */
export function taggedJsonObject(text: string, what: string): Record<string, unknown> {
  const json = jsonObject(text, what);
  try {
    return fromTaggedJson(json, what) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof BadTaggedValue) throw new UsageError(error.message);
    throw error;
  }
}
