import { registerCodec, registerSearchProvider, type Codec, type CodecName, type SearchProvider, type SearchProviderName } from '@memmapfs/core';
import cbor from '@memmapfs/codec-cbor';
import msgpack from '@memmapfs/codec-msgpack';
import flexsearch from '@memmapfs/search-flexsearch';
import orama from '@memmapfs/search-orama';
import segments from '@memmapfs/search-segments';

/** The search providers `--search` chooses from; the first is the default. */
export const searchProviders: Readonly<Record<SearchProviderName, () => SearchProvider>> = {
  flexsearch: () => flexsearch(),
  orama: () => orama(),
  segments: () => segments(),
};

/** The codecs `--codec` chooses from; the first is the default of a new store. */
export const codecs: Readonly<Record<CodecName, () => Codec>> = {
  msgpack: () => msgpack(),
  cbor: () => cbor(),
};

/**
 * Registers the bundled adapters under their names, so that a store opened without `--codec` finds
 * its own codec here rather than by a dynamic import that a global install may not resolve.
 */
export function registerBundledAdapters(): void {
  for (const [name, create] of Object.entries(codecs)) registerCodec(name as CodecName, create);
  for (const [name, create] of Object.entries(searchProviders)) registerSearchProvider(name as SearchProviderName, create);
}
