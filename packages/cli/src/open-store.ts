import { resolve } from 'node:path';
import { MemMapFS } from '@memmapfs/core';
import { codecs, searchProviders } from './adapters.js';
import type { GlobalOptions } from './arguments.js';
import type { StoreCommand } from './command.js';
import type { Output } from './output.js';
import type { ProgressBar } from './terminal/progress-bar.js';

/** The store folder used when neither `--root` nor `MEMMAPFS_ROOT` is given, relative to the current folder. */
export const defaultRoot = '.memmap_fs_root';

/** The absolute store folder: `--root`, else `$MEMMAPFS_ROOT`, else `.memmap_fs_root`, resolved against `cwd`. */
export function storeRoot(globals: GlobalOptions, env: Readonly<Record<string, string | undefined>>, cwd: string): string {
  const fromEnv = env.MEMMAPFS_ROOT?.trim() ? env.MEMMAPFS_ROOT : undefined;
  return resolve(cwd, globals.root ?? fromEnv ?? defaultRoot);
}

/**
 * Opens the store at `root`. A search provider and a codec are given only when `--search` or `--codec`
 * is, as instances: an existing store otherwise keeps its own codec and the search provider (with its
 * options) that saved its index, which core makes through the bundled adapters registered by name (a new
 * store, or one without a saved index, gets flexsearch), so that the index an application saved is not
 * rebuilt. A rebuild of the search index (a query's, when the saved index is missing or of another
 * provider) shows a progress bar on a terminal.
 */
export async function openStore(root: string, globals: GlobalOptions, mode: StoreCommand['store'], output: Output): Promise<MemMapFS> {
  let rebuilding: ProgressBar | undefined;
  return MemMapFS.init(root, {
    ...(globals.search !== undefined ? { search: await searchProviders[globals.search]() } : {}),
    ...(globals.codec !== undefined ? { codec: await codecs[globals.codec]() } : {}),
    create: mode === 'create',
    onIndexRebuild: (done, total) => {
      rebuilding ??= output.progress('reindex', 'memories');
      rebuilding.update(done, total);
      if (done === total) {
        rebuilding.end();
        rebuilding = undefined;
      }
    },
  });
}
