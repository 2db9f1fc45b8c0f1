import { MemMapError, type Subsystem } from './errors.js';
import { isWellFormedText } from './storable-value.js';
import { checkOptionNames, checkOptions, describeValue } from './validation.js';

/** Keys kept in ascending order of UTF-16 code units: those from a key on, in order. */
export interface KeysInOrder {
  /** The keys from `start` on (or after it, without `inclusive`), in order. */
  from(start: string, inclusive: boolean): Iterable<string>;
}

/** Options of `MemMapFS.listKv` and `MemMapFS.listStreams`. */
export interface ListKeysOptions {
  /** Only keys that start with this string. Default `''`: every key. */
  prefix?: string;
  /**
   * Only keys that sort after this one (the key itself excluded): pass the last key of a page to get
   * the next page. Need not be a key that exists.
   */
  after?: string;
  /** At most this many keys (a positive integer). Default: every key that matches. */
  limit?: number;
}

/** Options of `MemMapFS.listKv`. */
export type ListKvOptions = ListKeysOptions;

/** Options of `MemMapFS.listStreams`. */
export type ListStreamsOptions = ListKeysOptions;

/** `ListKeysOptions` once checked. */
export interface KeyListing {
  readonly prefix: string;
  readonly after: string | undefined;
  readonly limit: number;
}

/** The options a listing takes. */
const LISTING_OPTIONS = new Set(['prefix', 'after', 'limit']);

/** Checks the options of `listKv` or `listStreams`: strings that UTF-8 can carry, and a positive integer limit. */
export function checkListingOptions(options: unknown, method: string, subsystem: Subsystem): KeyListing {
  const invalid = (message: string) => new MemMapError('INVALID_ARGUMENT', message, { subsystem });
  const opts = checkOptions<ListKeysOptions>(options, method);
  checkOptionNames(opts, LISTING_OPTIONS, method);
  const { prefix, after, limit } = opts;
  for (const [name, value] of [['prefix', prefix], ['after', after]] as const) {
    if (value === undefined) continue;
    if (typeof value !== 'string') throw invalid(`${method}: ${name} must be a string, got ${value === null ? 'null' : typeof value}.`);
    if (!isWellFormedText(value)) throw invalid(`${method}: ${name} has a lone UTF-16 surrogate, which no key can hold; remove it.`);
  }
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
    throw invalid(`${method}: limit must be a positive integer, got ${describeValue(limit)}.`);
  }
  return { prefix: prefix ?? '', after, limit: limit ?? Infinity };
}

/**
 * The keys that match a listing, in ascending order of UTF-16 code units (the order of `<` and of
 * `Array.prototype.sort()`). The keys under a prefix are one run of the order: the listing starts at
 * the prefix (or after `after`) and stops at the first key past them or at `limit`.
 */
export function listKeys(ordered: KeysInOrder, { prefix, after, limit }: KeyListing): string[] {
  const matching: string[] = [];
  const keys = after !== undefined && after >= prefix ? ordered.from(after, false) : ordered.from(prefix, true);
  for (const key of keys) {
    if (!key.startsWith(prefix) || matching.length >= limit) break;
    matching.push(key);
  }
  return matching;
}

/** The keys of `ordered` that start with one of `prefixes`, each once, sorted (as `listKeys` sorts them). */
export function keysUnder(ordered: KeysInOrder, prefixes: readonly string[]): string[] {
  const matching = new Set<string>();
  for (const prefix of prefixes) {
    for (const key of ordered.from(prefix, true)) {
      if (!key.startsWith(prefix)) break;
      matching.add(key);
    }
  }
  return prefixes.length === 1 ? [...matching] : [...matching].sort();
}
