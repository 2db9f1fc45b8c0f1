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
  if (await stat(layout.manifest).then(() => true, () => false)) found.push(layout.manifest);
  const inFolder = async (folder: string, name: RegExp) => {
    const names = await readdir(folder).catch(() => [] as string[]);
    for (const entry of names.filter((n) => name.test(n)).sort()) found.push(join(folder, entry));
  };
  await inFolder(layout.checkpoints, /^checkpoint-.*\.bin$/);
  await inFolder(layout.blocks, /^chunk_\d+\.bin$/);
  await inFolder(layout.segments, /\.seg$/);
  return found.map((path) => relative(layout.root, path));
}

/** `WAL_MISSING` for a store whose log is missing while `found` (see `filesWithoutLog`) are there. */
export function lostLogError(layout: StoreLayout, found: readonly string[]): MemMapError {
  const named = found.length > 3 ? `${found.slice(0, 3).join(', ')} and ${found.length - 3} more` : found.join(', ');
  return new MemMapError(
    'WAL_MISSING',
    `The log of the store at ${layout.root}, state.wal, is missing, but the store's other files are there (${named}): it was removed, or left out of a copy. ` +
      'A new log is not made over them (it would lose what only the old one held, and take their chunk files for dead): restore it from a backup of the store, or start a new store in another folder.',
    { subsystem: 'wal' },
  );
}
