import type { MemMapFS } from '@memmapfs/core';
import { CommandFailure } from '../failures.js';
import type { Output } from '../output.js';
import { eraseIncomplete } from './compact.js';

/** How `deleteThenErase` names what it deletes, in its output and failures. */
export interface DeletionNames {
  /** As done: `memory 3`, `stream transcript`. */
  readonly thing: string;
  /** When there was none: `no memory with id 3`. */
  readonly missing: string;
  /** The failure's code when there was none: `MEMORY_NOT_FOUND`. */
  readonly missingCode: string;
}

/**
 * `delete`/`forget` and `stream delete`: runs `remove`, then, with `erase`, a compaction with erase
 * (even when there was nothing to delete: what was deleted before may still be in the store's files),
 * and reports both. Nothing to delete, or an erase that left something, is a failure (exit code 1);
 * the erase's first, as a script that erases checks for it.
 */
export async function deleteThenErase(store: MemMapFS, output: Output, erase: boolean, remove: () => Promise<boolean>, names: DeletionNames): Promise<void> {
  const deleted = await remove();
  const compaction = erase ? await store.compact({ erase: true }) : undefined;
  const result = compaction ? { deleted, erased: compaction.erased === true, compaction } : { deleted };
  if (!deleted) {
    if (output.json) output.result(result, () => []);
    if (compaction?.erased === false) throw new CommandFailure('ERASE_INCOMPLETE', `${names.missing}; compacted with erase all the same, but ${eraseIncomplete(compaction)}`);
    const erasedToo = compaction ? ' (compacted with erase all the same: nothing deleted is left in a file of the store)' : '';
    throw new CommandFailure(names.missingCode, `${names.missing}${erasedToo}`);
  }
  output.result(result, () => [compaction?.erased === true ? `deleted ${names.thing} and erased it from every file of the store` : `deleted ${names.thing}`]);
  if (compaction?.erased === false) throw new CommandFailure('ERASE_INCOMPLETE', eraseIncomplete(compaction));
}
