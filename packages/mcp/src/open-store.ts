import { MemMapFS, registerCodec, registerSearchProvider, type SearchProviderName } from '@memmapfs/core';
import cbor from '@memmapfs/codec-cbor';
import msgpack from '@memmapfs/codec-msgpack';
import flexsearch from '@memmapfs/search-flexsearch';

/** The search providers `--search` names; the first is the default and comes with this package. */
export const searchNames = ['flexsearch', 'orama', 'segments'] as const satisfies readonly SearchProviderName[];

/**
 * Opens the store at `root`, creating it when absent. The codecs (msgpack, cbor) and the default search
 * provider (flexsearch) come with this package and are registered by name, so that a store opens with
 * its own codec; another provider (`orama`, `segments`) is imported by core, and a missing package is
 * `ADAPTER_NOT_INSTALLED`, naming what to install. Without `search`, the store's own provider (the one
 * its saved index names, with its options) when it can be made, else flexsearch: the server never
 * rebuilds an index an application saved.
 */
export function openStore(root: string, search?: (typeof searchNames)[number]): Promise<MemMapFS> {
  registerCodec('msgpack', () => msgpack());
  registerCodec('cbor', () => cbor());
  registerSearchProvider('flexsearch', (options) => flexsearch(options));
  return MemMapFS.init(root, search === undefined ? {} : { search });
}
