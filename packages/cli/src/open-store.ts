import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { MemMapError, MemMapFS, type WalOpener } from '@memmapfs/core';
import { codecs, searchProviders } from './adapters.js';
import type { GlobalOptions } from './arguments.js';
import type { StoreCommand } from './command.js';
import { UsageError } from './failures.js';
import type { Output } from './output.js';
import type { ProgressBar } from './terminal/progress-bar.js';
import { importModule } from './import-module.js';

/** The store folder used when neither `--root` nor `MEMMAPFS_ROOT` is given, relative to the current folder. */
export const defaultRoot = '.memmap_fs_root';

/** The absolute store folder: `--root`, else `$MEMMAPFS_ROOT`, else `.memmap_fs_root`, resolved against `cwd`. */
export function storeRoot(globals: GlobalOptions, env: Readonly<Record<string, string | undefined>>, cwd: string): string {
  const fromEnv = env.MEMMAPFS_ROOT?.trim() ? env.MEMMAPFS_ROOT : undefined;
  return resolve(cwd, withHome(globals.root ?? fromEnv ?? defaultRoot));
}

/** `path` with a leading `~` as the user's home folder, as a shell would expand it (a script or a config file passes it as it is). */
function withHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path;
}

/** A store's log in PostgreSQL, which hosts share: `root` is then this host's cache. */
export interface SharedLog {
  readonly connectionString: string;
  /** The store's name in PostgreSQL. */
  readonly store: string;
}

/** The store in PostgreSQL that `--postgres`/`--store` (else `$MEMMAPFS_POSTGRES`/`$MEMMAPFS_STORE`) name, if any. */
export function sharedLog(globals: GlobalOptions, env: Readonly<Record<string, string | undefined>>): SharedLog | undefined {
  const connectionString = globals.postgres ?? (env.MEMMAPFS_POSTGRES?.trim() ? env.MEMMAPFS_POSTGRES : undefined);
  if (connectionString === undefined) {
    if (globals.store !== undefined) throw new UsageError('--store names a store in PostgreSQL: give --postgres URL (or MEMMAPFS_POSTGRES) too');
    return undefined;
  }
  if (!/^postgres(ql)?:\/\//.test(connectionString.trim())) {
    // (Not echoed: a connection string in another form may hold a password.)
    throw new UsageError(`${globals.postgres !== undefined ? '--postgres' : 'MEMMAPFS_POSTGRES'} must be a PostgreSQL URL (postgresql://user:password@host:5432/database); the value given does not start with postgres:// or postgresql://`);
  }
  return { connectionString, store: globals.store ?? (env.MEMMAPFS_STORE?.trim() ? env.MEMMAPFS_STORE : 'memmapfs') };
}

/**
 * Opens the store at `root`. A search provider and a codec are given only when `--search` or `--codec`
 * is, as instances: an existing store otherwise keeps its own codec and the search provider (with its
 * options) that saved its index, which core makes through the bundled adapters registered by name (a new
 * store, or one without a saved index, gets segments), so that the index an application saved is not
 * rebuilt. A rebuild of the search index (a query's, when the saved index is missing or of another
 * provider) shows a progress bar on a terminal. With `shared`, the store's log is in PostgreSQL and
 * `root` is this host's cache.
 */
export async function openStore(root: string, globals: GlobalOptions, mode: StoreCommand['store'], output: Output, shared?: SharedLog): Promise<MemMapFS> {
  try {
    return await openStoreAt(root, globals, mode, output, shared);
  } catch (error) {
    // (`--root` naming the project folder, where `memmapfs init` made its default folder.)
    const inside = join(root, defaultRoot);
    if (MemMapError.is(error, 'STORE_NOT_FOUND') && shared === undefined && existsSync(join(inside, 'state.wal'))) {
      throw new MemMapError('STORE_NOT_FOUND', `No store at ${root}, but a store is in ${inside} (the folder memmapfs uses by default in ${root}): give --root ${inside}, or run the command from ${root} without --root.`, { cause: error });
    }
    throw error;
  }
}

async function openStoreAt(root: string, globals: GlobalOptions, mode: StoreCommand['store'], output: Output, shared?: SharedLog): Promise<MemMapFS> {
  let rebuilding: ProgressBar | undefined;
  const wal = shared === undefined ? undefined : await postgresLog(shared);
  const options = {
    ...(wal !== undefined ? { wal } : {}),
    ...(globals.search !== undefined ? { search: await searchProviders[globals.search]() } : {}),
    ...(globals.codec !== undefined ? { codec: await codecs[globals.codec]() } : {}),
    create: mode === 'create',
    onIndexRebuild: (done: number, total: number) => {
      rebuilding ??= output.progress('reindex', 'memories');
      rebuilding.update(done, total);
      if (done === total) {
        rebuilding.end();
        rebuilding = undefined;
      }
    },
  };
  // (A host's cache of a shared log is made by a writable open, which a read-only one cannot stand in for.)
  if (mode !== 'read' || shared !== undefined) return MemMapFS.init(root, options);
  try {
    return await MemMapFS.init(root, { ...options, lockTimeoutMs: READ_LOCK_WAIT_MS });
  } catch (error) {
    if (!cannotWrite(error)) throw error;
    // A command that only reads does not wait for a writer that holds on (stopped, or stuck), nor needs
    // a folder it may write to: a read-only open reads every durable write, with no lock. (Not the
    // writes of 'batch' or 'none' writers that are not synced yet, which a writable open would take
    // under the lock: said, so that an answer without them is not taken for the whole story.)
    const store = await MemMapFS.init(root, { ...options, readOnly: true });
    const why = MemMapError.is(error, 'LOCK_TIMEOUT') ? 'another process holds the writer lock' : 'this process may not write to the store\'s folder';
    output.warning('READ_ONLY_FALLBACK', `opened read-only (${why}): what other processes wrote with durability 'batch' or 'none' and have not synced yet is not shown`);
    return store;
  }
}

/** How long a command that only reads waits for the writer lock before it opens the store read-only. */
const READ_LOCK_WAIT_MS = 1000;

/** Whether an open failed because this process cannot write the store now: the writer lock held elsewhere, or a folder it may not write to. */
function cannotWrite(error: unknown): boolean {
  if (MemMapError.is(error, 'LOCK_TIMEOUT') || MemMapError.is(error, 'READ_ONLY')) return true;
  if (!MemMapError.is(error, 'IO_ERROR')) return false;
  for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return true;
  }
  return false;
}

/** The PostgreSQL log, from `@memmapfs/wal-postgres` (an optional peer: installed by those who use it). */
async function postgresLog(shared: SharedLog): Promise<WalOpener> {
  let walPostgres: typeof import('@memmapfs/wal-postgres');
  try {
    walPostgres = await importModule<typeof import('@memmapfs/wal-postgres')>('@memmapfs/wal-postgres');
  } catch (error) {
    // (The package itself not found: not one it imports, which Node reports in the same words, from inside it.)
    const missing = (error as NodeJS.ErrnoException)?.code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes("Cannot find package '@memmapfs/wal-postgres'");
    throw new MemMapError('ADAPTER_NOT_INSTALLED', missing
      ? '--postgres needs @memmapfs/wal-postgres, which is not installed. Install it where @memmapfs/cli is: npm install @memmapfs/wal-postgres in your project, npm install -g @memmapfs/wal-postgres for a global memmapfs, or with npx: npx -p @memmapfs/cli -p @memmapfs/wal-postgres memmapfs …'
      : `--postgres needs @memmapfs/wal-postgres, which did not load: ${(error as Error)?.message ?? error}. Reinstall it next to @memmapfs/cli.`, { cause: error, subsystem: 'registry' });
  }
  return walPostgres.postgresWal(shared);
}
