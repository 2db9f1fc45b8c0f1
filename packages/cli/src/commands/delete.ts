import { positiveInteger } from '../arguments.js';
import type { Command } from '../command.js';
import { deleteThenErase } from './deletion.js';

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
    return (store, output) => deleteThenErase(store, output, erase, () => store.deleteMemory(id), { thing: `memory ${id}`, missing: `no memory with id ${id}`, missingCode: 'MEMORY_NOT_FOUND' });
  },
};

/** `memmapfs forget ID [--erase]`: the same as `delete`, by the name agents use. */
export const forgetCommand: Command = {
  ...deleteCommand,
  path: ['forget'],
  summary: 'Same as delete: forget a memory (--erase: from every file)',
  examples: ['memmapfs forget 3', 'memmapfs forget 3 --erase'],
};
