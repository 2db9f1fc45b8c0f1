import type { JsonValue, SearchProvider, SearchProviderSpec } from '../contracts/search-provider.js';

/** Deepest nesting of recorded options: deeper ones are not recorded. */
const MAX_DEPTH = 32;

/** What `jsonCopy` returns for a value JSON cannot hold exactly. */
const NOT_JSON = Symbol('not JSON');

/**
 * How the provider chosen by a `search` option is made again by name, to record with the saved index:
 * a name, or a name with options (a JSON copy of them), as given; for an instance, the `spec` it
 * declares. `undefined` when it cannot be said (options that are not plain JSON, no `spec`).
 */
export function searchProviderSpec(option: string | { provider: string; options?: unknown } | SearchProvider): SearchProviderSpec | undefined {
  if (typeof option === 'string') return { provider: option };
  if ('provider' in option && typeof option.provider === 'string') return checkedSpec({ provider: option.provider, options: option.options });
  return checkedSpec((option as SearchProvider).spec);
}

/** A spec (from a provider, or read from a saved index) with its options copied, when it is well-formed. */
export function checkedSpec(spec: unknown): SearchProviderSpec | undefined {
  if (spec === null || typeof spec !== 'object') return undefined;
  const { provider, options } = spec as { provider?: unknown; options?: unknown };
  if (typeof provider !== 'string' || provider.length === 0) return undefined;
  if (options === undefined) return { provider };
  const copy = jsonCopy(options, 0);
  return copy === NOT_JSON ? undefined : { provider, options: copy };
}

/** A copy of `value` as JSON holds it (object properties that are `undefined` left out), or `NOT_JSON`. */
function jsonCopy(value: unknown, depth: number): JsonValue | typeof NOT_JSON {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : NOT_JSON;
  if (typeof value !== 'object' || depth >= MAX_DEPTH) return NOT_JSON;
  if (Array.isArray(value)) {
    const items: JsonValue[] = [];
    for (const item of value as unknown[]) {
      const copy = jsonCopy(item, depth + 1);
      if (copy === NOT_JSON) return NOT_JSON;
      items.push(copy);
    }
    return items;
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return NOT_JSON;
  const object: { [key: string]: JsonValue } = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (key === '__proto__') return NOT_JSON;
    const copy = jsonCopy(item, depth + 1);
    if (copy === NOT_JSON) return NOT_JSON;
    object[key] = copy;
  }
  return object;
}
