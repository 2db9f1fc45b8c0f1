import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { MemMapError } from '../errors.js';
import type { StoreLayout } from './store-layout.js';

/**
 * The files of a local store that are there though its log (`state.wal`) is not: the manifest,
 * checkpoint files, chunk files, sealed log segments. A store writes none of them before its log
 * exists, so any of them means the log was lost (removed, or left out of a copy), not that there is no
 * store. (Not the head file or empty folders: an open that failed before it made the log leaves those.)
 */
export async function filesWithoutLog(layout: StoreLayout): Promise<string[]> {
  const found: string[] = [];
  if (await present(layout.manifest)) found.push(layout.manifest);
  const inFolder = async (folder: string, name: RegExp) => {
    const names = await readdir(folder).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [] as string[];
      throw unreadable(folder, error);
    });
    for (const entry of names.filter((n) => name.test(n)).sort()) found.push(join(folder, entry));
  };
  await inFolder(layout.checkpoints, /^checkpoint-.*\.bin$/);
  await inFolder(layout.blocks, /^chunk_\d+\.bin$/);
  await inFolder(layout.segments, /\.seg$/);
  // Another process may have made the store meanwhile (its log first, then the rest): the log is there
  // now. (Once made, state.wal is only ever replaced by a rename over it, never removed.)
  if (found.length > 0 && (await present(layout.wal))) return [];
  return found.map((path) => relative(layout.root, path));
}

/** Whether a file is at `path`; an error other than its absence is `IO_ERROR`. */
async function present(path: string): Promise<boolean> {
  return stat(path).then(() => true, (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return false;
    throw unreadable(path, error);
  });
}

function unreadable(path: string, cause: NodeJS.ErrnoException): MemMapError {
  return new MemMapError('IO_ERROR', `Cannot look at ${path} (${cause.code ?? cause.message}), to tell whether the store there lost its log: check its permissions and the disk.`, { cause });
}

/** `WAL_MISSING` for a store whose log is missing while `found` (see `filesWithoutLog`) are there. */
export function lostLogError(layout: StoreLayout, found: readonly string[]): MemMapError {
  const named = found.length > 3 ? `${found.slice(0, 3).join(', ')} and ${found.length - 3} more` : found.join(', ');
  return new MemMapError(
    'WAL_MISSING',
    `The log of the store at ${layout.root}, state.wal, is missing, but the store's other files are there (${named}): it was removed, or left out of a copy. ` +
      'A new log is not made over them (it would lose what only the old one held, and take their chunk files for dead): restore it from a backup of the store, or start a new store in another folder. ' +
      "If the folder is a host's cache of a store on a shared log (it has no state.wal of its own), open it with that log, the same `wal` option (e.g. postgresWal({ connectionString, store })).",
    { subsystem: 'wal' },
  );
}
