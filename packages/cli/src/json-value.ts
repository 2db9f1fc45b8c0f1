import { jsonObject } from './arguments.js';

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

/** The stored value that `toTaggedJson` wrote as `json` (parsed). Objects of one unknown `$` key stay as they are. */
export function fromTaggedJson(json: unknown): unknown {
  if (Array.isArray(json)) return json.map(fromTaggedJson);
  if (typeof json !== 'object' || json === null) return json;
  const entries = Object.entries(json);
  if (entries.length === 1) {
    const [key, item] = entries[0]!;
    if (key === '$base64' && typeof item === 'string') return new Uint8Array(Buffer.from(item, 'base64'));
    if (key === '$number' && (item === 'NaN' || item === 'Infinity' || item === '-Infinity')) return Number(item);
    if (key === '$undefined' && item === true) return undefined;
    if (key === '$object' && typeof item === 'object' && item !== null && !Array.isArray(item)) return members(item);
  }
  return members(json);
}

function members(json: object): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(json)) define(object, key, fromTaggedJson(item));
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
  return fromTaggedJson(jsonObject(text, what)) as Record<string, unknown>;
}
