/**
 * A value as JSON can carry it. Stored values are plain data (core's `StorableValue`), of which JSON
 * lacks only a few kinds: bytes become `{ "$base64": "…" }`, `NaN` and the infinities `null`, an
 * `undefined` array item `null`, and an `undefined` property is left out.
 */
export function toJsonValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : toJsonValue(item)));
  if (typeof value === 'object' && value !== null) {
    const object: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      // (defineProperty: a key named `__proto__` stays a key.)
      if (item !== undefined) Object.defineProperty(object, key, { value: toJsonValue(item), enumerable: true, writable: true, configurable: true });
    }
    return object;
  }
  return value;
}

/** An object of stored values (a memory's `meta`, the agent state) as JSON can carry it; see `toJsonValue`. */
export function toJsonObject(value: object): Record<string, unknown> {
  return toJsonValue(value) as Record<string, unknown>;
}
