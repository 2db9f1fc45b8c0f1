import { positiveInteger } from '../arguments.js';
import type { Command } from '../command.js';
import { CommandFailure } from '../failures.js';
import { eraseIncomplete } from './compact.js';

/** `memmapfs delete ID`: forgets a memory; a missing one is a failure (exit code 1). */
export const deleteCommand: Command = {
  path: ['delete'],
  summary: 'Delete a memory (exit code 1 when there is none with that id)',
  arguments: [{ name: 'ID', description: 'The memory id' }],
  options: {
    erase: { type: 'boolean', description: 'Then compact with erase: its text is in no file of the store afterwards' },
  },
  examples: [
    'memmapfs delete 3',
    'memmapfs delete 3 --erase       # and erase its text from every file',
  ],
  store: 'existing',
  prepare(args) {
    const id = positiveInteger(args.positionals[0]!, 'ID');
    const erase = args.options.erase === true;
    return async (store, output) => {
      const deleted = await store.deleteMemory(id);
      // (Erased even when it was deleted before: what it said may still be in the store's files.)
      const compaction = erase ? await store.compact({ erase: true }) : undefined;
      const result = compaction ? { deleted, erased: compaction.erased === true, compaction } : { deleted };
      if (!deleted) {
        if (output.json) output.result(result, () => []);
        const erasedToo = compaction?.erased === true ? ' (compacted with erase all the same: nothing deleted is left in a file of the store)' : '';
        // (The erase's failure first: a script that erases checks for it.)
        if (compaction?.erased === false) throw new CommandFailure('ERASE_INCOMPLETE', `no memory with id ${id}; compacted with erase all the same, but ${eraseIncomplete(compaction)}`);
        throw new CommandFailure('MEMORY_NOT_FOUND', `no memory with id ${id}${erasedToo}`);
      }
      output.result(result, () => [compaction?.erased === true ? `deleted memory ${id} and erased it from every file of the store` : `deleted memory ${id}`]);
      if (compaction?.erased === false) throw new CommandFailure('ERASE_INCOMPLETE', eraseIncomplete(compaction));
    };
  },
};

/** `memmapfs forget ID [--erase]`: the same as `delete`, by the name agents use. */
export const forgetCommand: Command = {
  ...deleteCommand,
  path: ['forget'],
  summary: 'Same as delete: forget a memory (--erase: from every file)',
  examples: ['memmapfs forget 3', 'memmapfs forget 3 --erase'],
};
