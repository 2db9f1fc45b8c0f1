import { registerCodec, registerSearchProvider, type Codec, type CodecName, type Codecs, type SearchProvider, type SearchProviderName, type SearchProviders } from '@memmapfs/core';
import { importModule } from './import-module.js';

/**
 * The search providers `--search` chooses from; the first is the default. Each adapter (and its search
 * library) is imported only when a store is opened with it, so a command starts without loading them all.
 * Registered by name (see `registerBundledAdapters`), they also make the provider a store's saved index
 * names, with the options recorded there.
 */
export const searchProviders: { readonly [K in SearchProviderName]: (options?: SearchProviders[K]) => Promise<SearchProvider> } = {
  segments: async (options) => (await importModule<typeof import('@memmapfs/search-segments')>('@memmapfs/search-segments')).default(options),
  flexsearch: async (options) => (await importModule<typeof import('@memmapfs/search-flexsearch')>('@memmapfs/search-flexsearch')).default(options),
  orama: async (options) => (await importModule<typeof import('@memmapfs/search-orama')>('@memmapfs/search-orama')).default(options),
};

/** The codecs `--codec` chooses from; the first is the default of a new store. Imported when used, as above. */
export const codecs: { readonly [K in CodecName]: (options?: Codecs[K]) => Promise<Codec> } = {
  msgpack: async (options) => (await importModule<typeof import('@memmapfs/codec-msgpack')>('@memmapfs/codec-msgpack')).default(options),
  cbor: async (options) => (await importModule<typeof import('@memmapfs/codec-cbor')>('@memmapfs/codec-cbor')).default(options),
};

/**
 * Registers the bundled adapters under their names, so that a store opened without `--codec` or
 * `--search` finds its own codec and search provider here rather than by a dynamic import that a global
 * install may not resolve.
 */
export function registerBundledAdapters(): void {
  for (const [name, create] of Object.entries(codecs)) registerCodec(name as CodecName, create as (options?: unknown) => Promise<Codec>);
  for (const [name, create] of Object.entries(searchProviders)) registerSearchProvider(name as SearchProviderName, create as (options?: unknown) => Promise<SearchProvider>);
}
