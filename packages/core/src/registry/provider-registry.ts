import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Codec } from '../contracts/codec.js';
import type { SearchProvider, SearchProviderSpec } from '../contracts/search-provider.js';
import { MemMapError } from '../errors.js';
import { checkOptionNames, describeValue } from '../validation.js';
import { adapterOptionError, checkAdapterOptions } from './adapter-options.js';
import { locateAdapter } from './adapter-location.js';
import { importModule } from './import-module.js';
import { searchProviderSpec } from './provider-spec.js';
import type { CborCodecOptions, FlexSearchProviderOptions, MsgpackCodecOptions, OramaProviderOptions, SegmentSearchOptions } from './builtin-options.js';
import { describeThrown } from '@memmapfs/wal';

/** Options an adapter accepts when it is chosen by name. */
export type AdapterOptions = Record<string, unknown>;

/**
 * Search providers that can be chosen by name, mapped to the options they take. Custom backends add
 * themselves by declaration merging and register a factory under the same name:
 *
 * @example
 * declare module '@memmapfs/core' { interface SearchProviders { mine: { stemming?: boolean } } }
 * // (options is undefined when the store names the provider without options: `search: 'mine'`.)
 * registerSearchProvider('mine', (options) => new MySearch(options ?? {}));
 * await MemMapFS.init(root, { search: { provider: 'mine', options: { stemming: true } } });
 */
export interface SearchProviders {
  /** `@memmapfs/search-flexsearch`: an in-memory FlexSearch index in each process. */
  flexsearch: FlexSearchProviderOptions;
  /** `@memmapfs/search-orama`. */
  orama: OramaProviderOptions;
  /** `@memmapfs/search-segments` (the default): a BM25 index of segment files read through mappings, shared by every process. */
  segments: SegmentSearchOptions;
}

/** Codecs that can be chosen by name, mapped to the options they take. Extend like `SearchProviders`. */
export interface Codecs {
  /** `@memmapfs/codec-msgpack` (the default). */
  msgpack: MsgpackCodecOptions;
  /** `@memmapfs/codec-cbor`. */
  cbor: CborCodecOptions;
}

export type SearchProviderName = Extract<keyof SearchProviders, string>;
export type CodecName = Extract<keyof Codecs, string>;

/** Creates a search provider from its options. An adapter package's default export is one. */
export type SearchProviderFactory<Options = AdapterOptions> = (options?: Options) => SearchProvider | Promise<SearchProvider>;
/** Creates a codec from its options. An adapter package's default export is one. */
export type CodecFactory<Options = AdapterOptions> = (options?: Options) => Codec | Promise<Codec>;

/** How `MemMapFS.init` is told which search provider to use: a name, a name with options, or an instance. */
export type SearchOption =
  | SearchProviderName
  | { [K in SearchProviderName]: { provider: K; options?: SearchProviders[K] } }[SearchProviderName]
  | SearchProvider;

/** How `MemMapFS.init` is told which codec to use: a name, a name with options, or an instance. */
export type CodecOption =
  | CodecName
  | { [K in CodecName]: { codec: K; options?: Codecs[K] } }[CodecName]
  | Codec;

/** The packages that provide the built-in names; loaded on first use, never imported by core. */
const builtinPackages: Record<string, string> = {
  flexsearch: '@memmapfs/search-flexsearch',
  orama: '@memmapfs/search-orama',
  segments: '@memmapfs/search-segments',
  msgpack: '@memmapfs/codec-msgpack',
  cbor: '@memmapfs/codec-cbor',
};

/** The built-in names that are search providers (the others in `builtinPackages` are codecs). */
const builtinSearchProviders = new Set(['flexsearch', 'orama', 'segments']);

/** The search provider of a store opened without a `search` option and without a saved index. */
const defaultSearchProvider = 'segments';

const searchFactories = new Map<string, SearchProviderFactory<never>>();
const codecFactories = new Map<string, CodecFactory<never>>();

/**
 * Makes a search provider available by name to every store opened afterwards in this process. A second
 * registration of a name replaces the first; one of a built-in name (`'segments'`, `'flexsearch'`,
 * `'orama'`) replaces that adapter, the default included.
 */
export function registerSearchProvider<K extends SearchProviderName>(name: K, factory: SearchProviderFactory<SearchProviders[K]>): void {
  assertRegistrationName(name, 'search provider', 48);
  searchFactories.set(name, factory as SearchProviderFactory<never>);
}

/**
 * Makes a codec available by name to every store opened afterwards in this process. A second registration
 * of a name replaces the first, a built-in one (`'msgpack'`, `'cbor'`) included.
 */
export function registerCodec<K extends CodecName>(name: K, factory: CodecFactory<Codecs[K]>): void {
  assertRegistrationName(name, 'codec', CODEC_NAME_MAX);
  codecFactories.set(name, factory as CodecFactory<never>);
}

/** The longest codec name: a log's header holds it in 24 bytes (FORMAT.md). */
const CODEC_NAME_MAX = 24;

/** What a provider or codec may be named: what a store records, and `registerCodec` / `registerSearchProvider` take. */
const REGISTRABLE_NAME = /^[a-z0-9][a-z0-9._-]*$/i;

function assertRegistrationName(name: unknown, kind: string, max: number): void {
  if (typeof name !== 'string' || name.length > max || !REGISTRABLE_NAME.test(name)) {
    throw new MemMapError('INVALID_ARGUMENT', `A ${kind} name must be 1 to ${max} letters, digits, '.', '_' or '-'; got ${JSON.stringify(name)}.`, { subsystem: 'registry' });
  }
}

/** Turns a `search` option into a provider instance. */
export async function resolveSearchProvider(option: SearchOption | undefined): Promise<SearchProvider> {
  const chosen = option ?? defaultSearchProvider;
  if (typeof chosen === 'object' && chosen !== null && !('provider' in chosen && typeof chosen.provider === 'string')) {
    return checkSearchProvider(chosen as SearchProvider);
  }
  if (typeof chosen === 'object') checkChoiceFields(chosen, ['provider', 'options'], 'search');
  const [name, options] = typeof chosen === 'string' ? [chosen, undefined] : [chosen.provider, chosen.options];
  const factory = searchFactories.get(name) ?? (await loadBuiltinFactory(name, 'search provider'));
  const provider = await callFactory(() => (factory as SearchProviderFactory<unknown>)(options), name, 'search provider');
  return checkSearchProvider(provider as SearchProvider);
}

/** A search provider chosen by the `search` option, loaded when first needed. */
export interface DeferredSearchProvider {
  /** Its name (a built-in's, before it is loaded). */
  readonly name: string;
  /** How it is made again by name, recorded with the saved index; `undefined` when that cannot be said. */
  readonly spec?: SearchProviderSpec | undefined;
  /** Loads (once; again after a failure) and returns the provider. */
  load(): Promise<SearchProvider>;
  /** The provider, if it was created (to close it). */
  created(): SearchProvider | undefined;
}

/**
 * Like `resolveSearchProvider`, but a built-in adapter chosen by its bare name is only checked to be
 * installed here, and imported (with its search library) when `load` is first called: a process that
 * never queries never pays for loading it. An instance, a registered factory, or a name given with
 * options is resolved at once (so bad options fail the open).
 */
export async function deferSearchProvider(option: SearchOption | undefined): Promise<DeferredSearchProvider> {
  const chosen = option ?? defaultSearchProvider;
  // Only a built-in chosen by its bare name is deferred: options given with it are checked at open.
  if (typeof chosen !== 'string' || searchFactories.has(chosen) || !builtinSearchProviders.has(chosen)) {
    const provider = await resolveSearchProvider(option);
    return { name: provider.name, spec: searchProviderSpec(chosen), load: async () => provider, created: () => provider };
  }
  assertInstalled(builtinPackages[chosen]!, chosen, 'search provider');
  let loading: Promise<SearchProvider> | undefined;
  let provider: SearchProvider | undefined;
  return {
    name: chosen,
    spec: { provider: chosen },
    load: () => (loading ??= resolveSearchProvider(chosen).then(
      (made) => (provider = made),
      (error: unknown) => {
        loading = undefined;
        throw error;
      },
    )),
    created: () => provider,
  };
}

/**
 * The search provider of a store opened without a `search` option: the one its saved index names
 * (`saved`: the provider's name and, when recorded, how it is made), with its options, when it can be made
 * here (a built-in one, or one registered); otherwise the default, as for a new store. A known one
 * that fails to be made (its package is not installed, say) is a warning, and the default is used.
 */
export async function deferStoreSearchProvider(saved: { readonly name: string; readonly spec?: SearchProviderSpec | undefined } | undefined): Promise<DeferredSearchProvider> {
  const name = saved?.spec?.provider ?? saved?.name;
  if (name === undefined) return deferSearchProvider(undefined);
  if (!isKnownSearchProvider(name)) {
    process.emitWarning(`The saved search index is the '${name}' search provider's, which is not registered in this process: the store uses the default, which rebuilds the index when a query needs it and saves its own in its place. Register it first (registerSearchProvider('${name}', factory)), or pass search, to keep that index.`, { code: 'MEMMAPFS_SAVED_PROVIDER_UNAVAILABLE' });
    return deferSearchProvider(undefined);
  }
  const options = saved?.spec?.options;
  try {
    return await deferSearchProvider(options === undefined ? name : ({ provider: name, options } as SearchOption));
  } catch (error) {
    process.emitWarning(`The saved search index is the '${name}' search provider's, which cannot be used here (${describeThrown(error)}): the store uses the default, which rebuilds the index when a query needs it.`, { code: 'MEMMAPFS_SAVED_PROVIDER_UNAVAILABLE' });
    return deferSearchProvider(undefined);
  }
}

/** Whether `name` is a search provider that can be made by name: a built-in one, or one registered. */
export function isKnownSearchProvider(name: string): name is SearchProviderName {
  return builtinSearchProviders.has(name) || searchFactories.has(name);
}

/** Throws `ADAPTER_NOT_INSTALLED` when `pkg` cannot be found from core or from the application's folder (nothing is loaded). */
function assertInstalled(pkg: string, name: string, kind: string): void {
  const location = locateAdapter(pkg);
  if (location.fromCore || location.fromApplication) return;
  // In neither folder: Node's own resolution decides (NODE_PATH, a loader, a test runner's transform).
  try {
    // (Absent where modules are not loaded by Node itself, e.g. under a test runner's transform.)
    if (typeof import.meta.resolve === 'function') {
      import.meta.resolve(pkg);
      return;
    }
  } catch {
    // Not visible from core: from the application's folder, as importAdapter does.
  }
  try {
    createRequire(join(process.cwd(), 'package.json')).resolve(pkg);
  } catch (error) {
    if (!isModuleNotFound(error, pkg)) return;
    throw new MemMapError('ADAPTER_NOT_INSTALLED', `The ${kind} '${name}' needs ${pkg}, which is not installed. Install it (npm install ${pkg})${otherChoice(kind)}.`, { cause: error, subsystem: 'registry' });
  }
}

/** Turns a `codec` option into a codec instance; `fallback` is used when the option is absent. */
export async function resolveCodec(option: CodecOption | undefined, fallback: string = 'msgpack'): Promise<Codec> {
  const chosen = option ?? fallback;
  if (typeof chosen === 'object' && chosen !== null && !('codec' in chosen && typeof chosen.codec === 'string')) {
    return checkCodec(chosen as Codec);
  }
  if (typeof chosen === 'object') checkChoiceFields(chosen, ['codec', 'options'], 'codec');
  const [name, options] = typeof chosen === 'string' ? [chosen, undefined] : [chosen.codec, chosen.options];
  // (Registered or not: a factory registered under a built-in name stands in for that codec, options and all.)
  if (Object.hasOwn(BUILTIN_CODEC_OPTIONS, name)) checkBuiltinCodecOptions(name, options);
  const factory = codecFactories.get(name) ?? (await loadBuiltinFactory(name, 'codec'));
  const codec = await callFactory(() => (factory as CodecFactory<unknown>)(options), name, 'codec');
  return checkCodec(codec as Codec);
}

/** The options each built-in codec takes (all of them booleans): `MsgpackCodecOptions`, `CborCodecOptions`. */
const BUILTIN_CODEC_OPTIONS: Readonly<Record<string, readonly string[]>> = { msgpack: ['copyBinary'], cbor: ['copyBinary'] };

/**
 * Refuses options a built-in codec chosen by name does not take, or of the wrong type, with
 * `INVALID_ARGUMENT`: its factory ignores them, and a misspelt one would go unnoticed.
 */
function checkBuiltinCodecOptions(name: string, options: unknown): void {
  const known = BUILTIN_CODEC_OPTIONS[name]!;
  checkAdapterOptions(options, known, name, 'codec');
  for (const key of known) {
    const value = (options as Record<string, unknown> | undefined)?.[key];
    if (value !== undefined && typeof value !== 'boolean') throw adapterOptionError(name, `${key} must be true or false; got ${describeValue(value)}`, 'codec');
  }
}

/** Refuses a choice by name (`{ provider, options }`) with another field: a misspelt `options` would be left out without a word. */
function checkChoiceFields(chosen: object, fields: readonly string[], option: 'search' | 'codec'): void {
  checkOptionNames(chosen, new Set(fields), `MemMapFS.init: ${option}`, 'fields');
}

/** What else a user may do when an adapter is not installed: a store keeps the codec it was made with. */
function otherChoice(kind: string): string {
  return kind === 'codec' ? ', or make a new store with another codec (an existing store keeps its own)' : ` or pass another ${kind}`;
}

async function callFactory<T>(create: () => T | Promise<T>, name: string, kind: string): Promise<T> {
  try {
    return await create();
  } catch (cause) {
    if (cause instanceof MemMapError) throw cause;
    throw new MemMapError('PROVIDER_FAILED', `The ${kind} '${name}' could not be created: ${describeThrown(cause)}`, { cause, subsystem: 'registry' });
  }
}

/** Adapter packages being loaded or loaded, by package: each is imported once per process. */
const adapterLoads = new Map<string, Promise<unknown>>();

/**
 * Starts loading the built-in codec `name` (when installed) without waiting: an open that will need it
 * once it has read which codec the store uses overlaps the import with its reads of the store's files.
 */
export function prefetchCodec(name: string): void {
  const pkg = Object.hasOwn(builtinPackages, name) ? builtinPackages[name] : undefined;
  if (pkg === undefined || codecFactories.has(name)) return;
  loadAdapter(pkg, name, 'codec').catch(() => undefined);
}

function loadAdapter(pkg: string, name: string, kind: string): Promise<unknown> {
  let load = adapterLoads.get(pkg);
  if (!load) {
    load = importAdapter(pkg, name, kind);
    adapterLoads.set(pkg, load);
    // (A failed import is tried again by the next caller, who then sees its error.)
    load.catch(() => adapterLoads.delete(pkg));
  }
  return load;
}

async function loadBuiltinFactory(name: string, kind: string): Promise<(options?: unknown) => unknown> {
  // (Own names only: `toString` or `constructor` is a name no package has.)
  const pkg = Object.hasOwn(builtinPackages, name) ? builtinPackages[name] : undefined;
  if (pkg === undefined) {
    const known = kind === 'codec' ? [...new Set([...codecFactories.keys(), 'msgpack', 'cbor'])] : [...new Set([...searchFactories.keys(), 'flexsearch', 'orama', 'segments'])];
    throw new MemMapError('PROVIDER_UNKNOWN', `Unknown ${kind} '${name}'. Use one of ${known.map((k) => `'${k}'`).join(', ')}, pass an instance, or register '${name}' first with ${kind === 'codec' ? 'registerCodec' : 'registerSearchProvider'}().`, { subsystem: 'registry' });
  }
  const mod = await loadAdapter(pkg, name, kind);
  const factory = (mod as { default?: unknown }).default;
  if (typeof factory !== 'function') {
    throw new MemMapError('PROVIDER_FAILED', `${pkg} does not export a factory as its default export; is it a MemMapFS adapter of a matching version?`, { subsystem: 'registry' });
  }
  return factory as (options?: unknown) => unknown;
}

/**
 * Loads an adapter package: as a plain import from core (hoisted installs, or an adapter declared next to
 * core), or from the application's own folder (strict layouts such as pnpm's, where core cannot see
 * its siblings). Core's first, unless only the application's folder holds the package: a failed import
 * costs a thrown error.
 */
async function importAdapter(pkg: string, name: string, kind: string): Promise<unknown> {
  const location = locateAdapter(pkg);
  const fromCore = () => importModule(pkg);
  // (The entry file found by looking, when it was: CommonJS's resolution, the only use of its loader in
  // an open, costs milliseconds.)
  const fromApplication = () => importModule(pathToFileURL(location.applicationEntry ?? createRequire(join(process.cwd(), 'package.json')).resolve(pkg)).href);
  const applicationFirst = !location.fromCore && location.fromApplication;
  // (When neither finds it, the application's error is the one to show: it names what is missing there.)
  let notFound: unknown;
  for (const load of applicationFirst ? [fromApplication, fromCore] : [fromCore, fromApplication]) {
    try {
      return await load();
    } catch (error) {
      if (!isModuleNotFound(error, pkg)) throw wrapLoadError(error, pkg);
      if (load === fromApplication || notFound === undefined) notFound = error;
    }
  }
  throw new MemMapError('ADAPTER_NOT_INSTALLED', `The ${kind} '${name}' needs ${pkg}, which is not installed. Install it (npm install ${pkg})${otherChoice(kind)}.`, { cause: notFound, subsystem: 'registry' });
}

function isModuleNotFound(error: unknown, pkg: string): boolean {
  const code = (error as { code?: string })?.code;
  const message = String((error as Error)?.message ?? '');
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find (module|package)|Failed to load url/.test(message)) && message.includes(pkg);
}

function wrapLoadError(cause: unknown, pkg: string): MemMapError {
  return new MemMapError('PROVIDER_FAILED', `${pkg} is installed but failed to load: ${describeThrown(cause)}`, { cause, subsystem: 'registry' });
}

function checkSearchProvider(provider: SearchProvider): SearchProvider {
  const ok = provider !== null && typeof provider === 'object' && typeof provider.name === 'string' &&
    ['add', 'remove', 'search', 'clear'].every((m) => typeof (provider as unknown as Record<string, unknown>)[m] === 'function');
  if (!ok) {
    throw new MemMapError('INVALID_ARGUMENT', 'The search option must be a provider name or an object implementing SearchProvider (name, supports, add, remove, search, clear).', { subsystem: 'registry' });
  }
  return provider;
}

/** The name of what was passed as a codec, for the message that refuses it. */
function describeCodecName(codec: unknown): string {
  const name = codec !== null && typeof codec === 'object' ? (codec as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? `one named ${JSON.stringify(name)}` : 'one without a name';
}

function checkCodec(codec: Codec): Codec {
  const ok = codec !== null && typeof codec === 'object' && typeof codec.name === 'string' && codec.name.length <= CODEC_NAME_MAX && REGISTRABLE_NAME.test(codec.name) &&
    typeof codec.encode === 'function' && typeof codec.decode === 'function';
  if (!ok) {
    throw new MemMapError('INVALID_ARGUMENT', `The codec option must be a codec name or an object implementing Codec (a name of 1 to ${CODEC_NAME_MAX} letters, digits, '.', '_' or '-', as registerCodec takes; encode; decode); got ${describeCodecName(codec)}.`, { subsystem: 'registry' });
  }
  return codec;
}
