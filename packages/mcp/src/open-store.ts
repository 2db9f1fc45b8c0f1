import { MemMapError, MemMapFS, registerCodec, registerSearchProvider, type SearchProviderName, type WalOpener } from '@memmapfs/core';
import cbor from '@memmapfs/codec-cbor';
import msgpack from '@memmapfs/codec-msgpack';
import flexsearch from '@memmapfs/search-flexsearch';
import segments from '@memmapfs/search-segments';

/** The search providers `--search` names; the first is the default and comes with this package. */
export const searchNames = ['segments', 'flexsearch', 'orama'] as const satisfies readonly SearchProviderName[];

/**
 * Opens the store at `root`, creating it when absent. The codecs (msgpack, cbor), the default search
 * provider (segments: one index in files that every server process shares) and flexsearch (the default
 * of earlier versions, so that the stores it indexed open without a rebuild) come with this package and
 * are registered by name, so that a store opens with its own codec; orama is imported by core, and a
 * missing package is `ADAPTER_NOT_INSTALLED`, naming what to install. Without `search`, the store's own
 * provider (the one its saved index names, with its options), or segments for a store without a saved
 * index; one whose provider cannot be made here is `ADAPTER_NOT_INSTALLED`: the server never rebuilds
 * an index an application saved.
 */
export async function openStore(root: string, search?: (typeof searchNames)[number], shared?: SharedLog): Promise<MemMapFS> {
  registerCodec('msgpack', () => msgpack());
  registerCodec('cbor', () => cbor());
  registerSearchProvider('segments', (options) => segments(options));
  registerSearchProvider('flexsearch', (options) => flexsearch(options));
  const wal = shared === undefined ? undefined : await postgresLog(shared);
  if (search !== undefined) return MemMapFS.init(root, { search, ...(wal === undefined ? {} : { wal }) });
  // Without --search, core falls back to segments when the saved index's provider cannot be made here,
  // and says so (a warning): the server then refuses, rather than replace an application's index.
  let unavailable: Error | undefined;
  const heard = (warning: Error & { code?: string }): void => {
    if (warning.code === 'MEMMAPFS_SAVED_PROVIDER_UNAVAILABLE') unavailable ??= warning;
  };
  process.on('warning', heard);
  let store: MemMapFS;
  try {
    store = await MemMapFS.init(root, wal === undefined ? {} : { wal });
    // (A warning is emitted on a later tick than the one it is raised in.)
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', heard);
  }
  if (unavailable !== undefined) {
    // (Nothing was indexed: the index is loaded only when a query needs it.)
    await store.close().catch(() => undefined);
    throw new MemMapError('ADAPTER_NOT_INSTALLED', `${unavailable.message.replace(/: the store uses the default.*$/s, '')}. The server does not replace an index an application saved: install that provider's package next to @memmapfs/mcp (orama: npx -y -p @memmapfs/mcp -p @memmapfs/search-orama memmapfs-mcp …), or pass --search segments to index the store anew in its place.`, { cause: unavailable, subsystem: 'registry' });
  }
  return store;
}

/** A store's log in PostgreSQL, which hosts share (`@memmapfs/wal-postgres`): `root` is then this host's cache. */
export interface SharedLog {
  readonly connectionString: string;
  readonly store: string;
}

/** The PostgreSQL log, from `@memmapfs/wal-postgres` (an optional peer: installed by those who use it). */
async function postgresLog(shared: SharedLog): Promise<WalOpener> {
  let walPostgres: typeof import('@memmapfs/wal-postgres');
  try {
    walPostgres = await import('@memmapfs/wal-postgres');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException)?.code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes('@memmapfs/wal-postgres');
    throw new MemMapError('ADAPTER_NOT_INSTALLED', missing
      ? 'A store on PostgreSQL (--postgres) needs @memmapfs/wal-postgres, which is not installed. Install it where @memmapfs/mcp is: npm install @memmapfs/wal-postgres in your project, npm install -g @memmapfs/wal-postgres for a global install, or with npx: npx -y -p @memmapfs/mcp -p @memmapfs/wal-postgres memmapfs-mcp …'
      : `A store on PostgreSQL (--postgres) needs @memmapfs/wal-postgres, which did not load: ${(error as Error)?.message ?? error}. Reinstall it next to @memmapfs/mcp.`, { cause: error, subsystem: 'registry' });
  }
  return walPostgres.postgresWal(shared);
}
