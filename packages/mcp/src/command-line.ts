import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MemMapError, type MemMapFS } from '@memmapfs/core';
import { openStore, searchNames, type SharedLog } from './open-store.js';
import { serveStdio } from './stdio.js';
import { mcpVersion } from './version.js';

/** The store folder used when neither `--root` nor `MEMMAPFS_ROOT` is given, relative to the current folder. */
export const defaultRoot = '.memmap_fs_root';

/** The store's name in PostgreSQL when neither `--store` nor `MEMMAPFS_STORE` is given. */
export const defaultStore = 'memmapfs';

/** What `runMcpCommand` reads and where it writes, besides stdin and stdout, which carry the protocol. */
export interface McpCommandIo {
  /** Log lines and failures. Default `process.stderr`. */
  readonly stderr?: { write(text: string): unknown };
  /** Help and the version (written only when asked for, never while serving). Default `process.stdout`. */
  readonly stdout?: { write(text: string): unknown };
  /** Variables read for `MEMMAPFS_ROOT`, `MEMMAPFS_POSTGRES` and `MEMMAPFS_STORE`. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Folder a relative root is resolved against. Default `process.cwd()`. */
  readonly cwd?: string;
  /** Ends the session when aborted. */
  readonly signal?: AbortSignal;
}

const help = `Usage: memmapfs-mcp [--root DIR] [--search NAME] [--postgres URL [--store NAME]]

Serves a MemMapFS store to one MCP client over stdio (stdin and stdout carry the protocol; logs go to
stderr) until stdin ends or the process gets SIGINT or SIGTERM. Any number of servers, and other
processes, may use the same store folder at once. Creates the store when the folder has none.

Options:
  --root DIR      Store folder. Default: $MEMMAPFS_ROOT, else ${defaultRoot} in the current folder
  --search NAME   Search provider: ${searchNames.join(', ')}. Default: the store's own (the one that saved its index), else ${searchNames[0]} (orama needs @memmapfs/search-orama installed)
  --postgres URL  Run the store on its log in PostgreSQL, which servers on other hosts share
                  (needs @memmapfs/wal-postgres); DIR is then this host's cache. Default: $MEMMAPFS_POSTGRES
  --store NAME    The store's name in that database. Default: $MEMMAPFS_STORE, else ${defaultStore}
  -h, --help      Show this help
  --version       Print the version

Exit codes: 0 session ended, 1 the store could not be opened or closed, 2 usage error.`;

/**
 * Runs the `memmapfs-mcp` command line `argv` (without the node and script paths): opens the store,
 * serves it over stdio until the session ends, closes it, and resolves the exit code (0, 1 when the
 * store failed to open or close, 2 for a usage error). Never rejects.
 */
export async function runMcpCommand(argv: readonly string[], io: McpCommandIo = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  const stdout = io.stdout ?? process.stdout;
  let values: { root?: string | undefined; search?: string | undefined; postgres?: string | undefined; store?: string | undefined; help?: boolean | undefined; version?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { root: { type: 'string' }, search: { type: 'string' }, postgres: { type: 'string' }, store: { type: 'string' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    stderr.write(`memmapfs-mcp: ${(error as Error).message} (run 'memmapfs-mcp --help' for usage)\n`);
    return 2;
  }
  if (values.help) {
    stdout.write(`${help}\n`);
    return 0;
  }
  if (values.version) {
    stdout.write(`${mcpVersion}\n`);
    return 0;
  }
  const search = values.search;
  if (search !== undefined && !(searchNames as readonly string[]).includes(search)) {
    stderr.write(`memmapfs-mcp: --search must be ${searchNames.join(', ')}, got '${search}'\n`);
    return 2;
  }
  if (values.root !== undefined && values.root.trim() === '') {
    stderr.write('memmapfs-mcp: --root must not be empty\n');
    return 2;
  }
  const env = io.env ?? process.env;
  const root = resolve(io.cwd ?? process.cwd(), withHome(values.root ?? (env.MEMMAPFS_ROOT?.trim() ? env.MEMMAPFS_ROOT : defaultRoot)));
  const connectionString = values.postgres ?? (env.MEMMAPFS_POSTGRES?.trim() ? env.MEMMAPFS_POSTGRES : undefined);
  const storeName = values.store ?? (env.MEMMAPFS_STORE?.trim() ? env.MEMMAPFS_STORE : undefined);
  if (connectionString !== undefined && !/^postgres(ql)?:\/\//.test(connectionString.trim())) {
    // (Not echoed: a connection string in another form may hold a password.)
    stderr.write(`memmapfs-mcp: --postgres must be a PostgreSQL URL (postgresql://user:password@host:5432/database); the value given does not start with postgres:// or postgresql://\n`);
    return 2;
  }
  if (values.store !== undefined && connectionString === undefined) {
    stderr.write('memmapfs-mcp: --store names a store in PostgreSQL: give --postgres URL (or MEMMAPFS_POSTGRES) too\n');
    return 2;
  }
  if (storeName !== undefined && storeName.trim() === '') {
    stderr.write('memmapfs-mcp: --store must not be empty\n');
    return 2;
  }
  const shared: SharedLog | undefined = connectionString === undefined ? undefined : { connectionString: connectionString.trim(), store: storeName ?? defaultStore };

  let store: MemMapFS;
  try {
    const opening = openStore(root, search as (typeof searchNames)[number] | undefined, shared);
    // (An open may wait for the writer lock, up to lockTimeoutMs: a signal meanwhile ends the session
    // then, and the store is closed once the open is done.)
    const opened = await untilAborted(opening, io.signal);
    if (opened === undefined) {
      opening.then((late) => late.close(), () => undefined).catch(() => undefined);
      stderr.write('memmapfs-mcp: stopped while opening the store\n');
      return 0;
    }
    store = opened;
  } catch (error) {
    stderr.write(`memmapfs-mcp: ${describe(error)}\n`);
    return 1;
  }
  stderr.write(`memmapfs-mcp ${mcpVersion}: serving the store ${shared ? `'${shared.store}' in PostgreSQL (this host's cache at ${root})` : `at ${root}`} over stdio\n`);
  try {
    await serveStdio(store, io.signal ? { signal: io.signal } : {});
  } finally {
    try {
      await store.close();
    } catch (error) {
      stderr.write(`memmapfs-mcp: closing the store failed: ${describe(error)}\n`);
      return 1;
    }
  }
  return 0;
}

/** What `work` resolves, or `undefined` once `signal` aborts first (at once when it is aborted already). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T | undefined> {
  if (signal === undefined) return work;
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function describe(error: unknown): string {
  if (MemMapError.is(error)) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

/** `path` with a leading `~` as the user's home folder: an MCP client's config passes it as it is, no shell expands it. */
function withHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path;
}
