import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MemMapError, type MemMapFS } from '@memmapfs/core';
import { openStore, searchNames } from './open-store.js';
import { serveStdio } from './stdio.js';
import { mcpVersion } from './version.js';

/** The store folder used when neither `--root` nor `MEMMAPFS_ROOT` is given, relative to the current folder. */
export const defaultRoot = '.memmap_fs_root';

/** What `runMcpCommand` reads and where it writes, besides stdin and stdout, which carry the protocol. */
export interface McpCommandIo {
  /** Log lines and failures. Default `process.stderr`. */
  readonly stderr?: { write(text: string): unknown };
  /** Help and the version (written only when asked for, never while serving). Default `process.stdout`. */
  readonly stdout?: { write(text: string): unknown };
  /** Variables read for `MEMMAPFS_ROOT`. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Folder a relative root is resolved against. Default `process.cwd()`. */
  readonly cwd?: string;
  /** Ends the session when aborted. */
  readonly signal?: AbortSignal;
}

const help = `Usage: memmapfs-mcp [--root DIR] [--search NAME]

Serves a MemMapFS store to one MCP client over stdio (stdin and stdout carry the protocol; logs go to
stderr) until stdin ends or the process gets SIGINT or SIGTERM. Any number of servers, and other
processes, may use the same store folder at once. Creates the store when the folder has none.

Options:
  --root DIR      Store folder. Default: $MEMMAPFS_ROOT, else ${defaultRoot} in the current folder
  --search NAME   Search provider: ${searchNames.join(', ')}. Default: the store's own (the one that saved its index), else ${searchNames[0]} (the others need their package installed)
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
  let values: { root?: string | undefined; search?: string | undefined; help?: boolean | undefined; version?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { root: { type: 'string' }, search: { type: 'string' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
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
  const root = resolve(io.cwd ?? process.cwd(), values.root ?? (env.MEMMAPFS_ROOT?.trim() ? env.MEMMAPFS_ROOT : defaultRoot));

  let store: MemMapFS;
  try {
    store = await openStore(root, search as (typeof searchNames)[number] | undefined);
  } catch (error) {
    stderr.write(`memmapfs-mcp: ${describe(error)}\n`);
    return 1;
  }
  stderr.write(`memmapfs-mcp ${mcpVersion}: serving the store at ${root} over stdio\n`);
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

function describe(error: unknown): string {
  if (MemMapError.is(error)) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}
