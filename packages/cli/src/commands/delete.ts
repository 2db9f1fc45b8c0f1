import { positiveInteger } from '../arguments.js';
import type { Command } from '../command.js';
import { CommandFailure } from '../failures.js';

/** `memmapfs delete ID`: forgets a memory; a missing one is a failure (exit code 1). */
export const deleteCommand: Command = {
  path: ['delete'],
  summary: 'Delete a memory (exit code 1 when there is none with that id)',
  arguments: [{ name: 'ID', description: 'The memory id' }],
  options: {},
  store: 'existing',
  prepare(args) {
    const id = positiveInteger(args.positionals[0]!, 'ID');
    return async (store, output) => {
      const deleted = await store.deleteMemory(id);
      if (deleted || output.json) output.result({ deleted }, () => [`deleted memory ${id}`]);
      if (!deleted) throw new CommandFailure('MEMORY_NOT_FOUND', `no memory with id ${id}`);
    };
  },
};
