import { registerCodec, registerSearchProvider, type Codec, type CodecName, type SearchProvider, type SearchProviderName } from '@memmapfs/core';

/**
 * The search providers `--search` chooses from; the first is the default. Each adapter (and its search
 * library) is imported only when a store is opened with it, so a command starts without loading them all.
 */
export const searchProviders: Readonly<Record<SearchProviderName, () => Promise<SearchProvider>>> = {
  flexsearch: async () => (await import('@memmapfs/search-flexsearch')).default(),
  orama: async () => (await import('@memmapfs/search-orama')).default(),
  segments: async () => (await import('@memmapfs/search-segments')).default(),
};

/** The codecs `--codec` chooses from; the first is the default of a new store. Imported when used, as above. */
export const codecs: Readonly<Record<CodecName, () => Promise<Codec>>> = {
  msgpack: async () => (await import('@memmapfs/codec-msgpack')).default(),
  cbor: async () => (await import('@memmapfs/codec-cbor')).default(),
};

/**
 * Registers the bundled adapters under their names, so that a store opened without `--codec` finds
 * its own codec here rather than by a dynamic import that a global install may not resolve.
 */
export function registerBundledAdapters(): void {
  for (const [name, create] of Object.entries(codecs)) registerCodec(name as CodecName, create);
  for (const [name, create] of Object.entries(searchProviders)) registerSearchProvider(name as SearchProviderName, create);
}
