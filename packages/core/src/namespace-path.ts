import { MemMapError } from './errors.js';
import { isWellFormedText } from './storable-value.js';
import type { ListNamespacesOptions } from './types.js';
import { checkOptionNames, checkOptions, limits } from './validation.js';

/**
 * A namespace: a path of one or more segments, given as an array (`['user-42', 'preferences']`) or as
 * a string with the segments joined by `/` (`'user-42/preferences'`; a plain `'user-42'` is a path of
 * one segment). Both spell the same namespace; a memory's `namespace` is always the string form.
 */
export type Namespace = string | readonly string[];

/** What joins a namespace's segments in its string form. */
export const NAMESPACE_SEPARATOR = '/';

/**
 * The string form of a namespace given by a caller: segments non-empty, well-formed, without `/` when
 * given as an array, at most `limits.maxNamespaceLength` characters joined. Anything else is
 * `INVALID_ARGUMENT`, saying which segment is wrong.
 */
export function checkNamespace(namespace: unknown, method: string, what = 'namespace'): string {
  const invalid = (why: string) => new MemMapError('INVALID_ARGUMENT', `${method}: ${what} ${why}. A namespace is a path: a non-empty string like 'user-42/preferences' or an array of segments like ['user-42', 'preferences'].`);
  let joined: string;
  if (typeof namespace === 'string') {
    joined = namespace;
    if (joined.length === 0) throw invalid('is empty');
    if (joined.split(NAMESPACE_SEPARATOR).includes('')) throw invalid(`${JSON.stringify(joined)} has an empty segment (a leading, trailing or doubled '/')`);
  } else if (Array.isArray(namespace)) {
    if (namespace.length === 0) throw invalid('is an empty array');
    // (Every index, holes too: `forEach` skips a hole, which `join` makes an empty segment.)
    for (let i = 0; i < namespace.length; i++) {
      const segment: unknown = namespace[i];
      if (typeof segment !== 'string' || segment.length === 0) throw invalid(`has a segment ${i} that is not a non-empty string (${segment === null ? 'null' : typeof segment === 'string' ? 'an empty string' : typeof segment})`);
      if (segment.includes(NAMESPACE_SEPARATOR)) throw invalid(`has a segment ${JSON.stringify(segment)} with a '/' (segments are joined by it; give them apart)`);
    }
    joined = namespace.join(NAMESPACE_SEPARATOR);
  } else {
    throw invalid(`must be a string or an array of strings, got ${namespace === null ? 'null' : typeof namespace}`);
  }
  if (joined.length > limits.maxNamespaceLength) throw invalid(`is ${joined.length} characters long; at most ${limits.maxNamespaceLength} (segments and separators)`);
  if (!isWellFormedText(joined)) throw new MemMapError('INVALID_ARGUMENT', `${method}: ${what} has a lone UTF-16 surrogate, which UTF-8 cannot carry; remove it (String.prototype.toWellFormed() replaces it with U+FFFD).`);
  return joined;
}

/**
 * A namespace a caller reads or deletes by, in string form: as `checkNamespace` checks it, except that a
 * string with an empty segment (`'a//b'`, written by releases that did not treat namespaces as paths)
 * is taken as it is when some namespace of the store (`known`) is it or lies beneath it.
 */
export function checkNamespaceFilter(namespace: unknown, method: string, known: () => Iterable<string>): string {
  try {
    return checkNamespace(namespace, method);
  } catch (error) {
    if (typeof namespace !== 'string' || namespace.length === 0 || !namespaceSegments(namespace).includes('')) throw error;
    for (const existing of known()) if (isWithinNamespace(existing, namespace)) return namespace;
    throw error;
  }
}

/** The segments of a namespace's string form. */
export function namespaceSegments(namespace: string): string[] {
  return namespace.split(NAMESPACE_SEPARATOR);
}

/** Whether `namespace` is `within` or lies beneath it (`'a/b'` is within `'a'`; `'ab'` is not). */
export function isWithinNamespace(namespace: string, within: string): boolean {
  return namespace.length === within.length ? namespace === within : namespace.startsWith(within) && namespace.charCodeAt(within.length) === 0x2f;
}

/** `listNamespaces`'s options, checked: prefix and suffix in string form. */
export interface NamespaceListing {
  readonly prefix: string | undefined;
  readonly suffix: string | undefined;
  readonly maxDepth: number | undefined;
  readonly limit: number;
  readonly offset: number;
}

/** At most this many namespaces in one `listNamespaces` answer. */
const MAX_NAMESPACES_LISTED = 10_000;
/** The options `listNamespaces` takes. */
const LIST_NAMESPACES_OPTIONS = new Set(['prefix', 'suffix', 'maxDepth', 'limit', 'offset']);

export function checkListNamespacesOptions(options: unknown, method: string): NamespaceListing {
  const opts = checkOptions<ListNamespacesOptions>(options, method);
  checkOptionNames(opts, LIST_NAMESPACES_OPTIONS, method);
  const count = (value: unknown, what: string, fallback: number | undefined, min: number, max: number) => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
      throw new MemMapError('INVALID_ARGUMENT', `${method}: ${what} must be an integer from ${min} to ${max}, got ${typeof value === 'number' ? value : typeof value}.`);
    }
    return value as number;
  };
  return {
    prefix: opts.prefix === undefined ? undefined : checkNamespace(opts.prefix, method, 'prefix'),
    suffix: opts.suffix === undefined ? undefined : checkNamespace(opts.suffix, method, 'suffix'),
    maxDepth: count(opts.maxDepth, 'maxDepth', undefined, 1, Number.MAX_SAFE_INTEGER),
    limit: count(opts.limit, 'limit', 100, 1, MAX_NAMESPACES_LISTED)!,
    offset: count(opts.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER)!,
  };
}

/** The page `listing` asks for of `namespaces` (string forms, each once). */
export function listNamespaces(namespaces: Iterable<string>, listing: NamespaceListing): string[] {
  const { prefix, suffix, maxDepth } = listing;
  const found = new Set<string>();
  for (const namespace of namespaces) {
    if (prefix !== undefined && !isWithinNamespace(namespace, prefix)) continue;
    if (suffix !== undefined && !(namespace === suffix || (namespace.endsWith(suffix) && namespace.charCodeAt(namespace.length - suffix.length - 1) === 0x2f))) continue;
    found.add(maxDepth === undefined ? namespace : namespaceSegments(namespace).slice(0, maxDepth).join(NAMESPACE_SEPARATOR));
  }
  return [...found].sort(compareNamespaces).slice(listing.offset, listing.offset + listing.limit);
}

/** Orders namespaces segment by segment (`'a/b'` before `'a-b'`, unlike their strings), parents first. */
function compareNamespaces(a: string, b: string): number {
  const left = namespaceSegments(a);
  const right = namespaceSegments(b);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    if (left[i] !== right[i]) return left[i]! < right[i]! ? -1 : 1;
  }
  return left.length - right.length;
}
