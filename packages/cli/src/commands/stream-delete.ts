import type { Command } from '../command.js';
import { CommandFailure } from '../failures.js';
import { eraseIncomplete } from './compact.js';

/** `memmapfs stream delete KEY [--erase]`: removes a stream; one that is not there is a failure (exit code 1). */
export const streamDeleteCommand: Command = {
  path: ['stream', 'delete'],
  summary: 'Delete the stream KEY and its bytes (exit code 1 when there is none; --erase: from every file)',
  arguments: [{ name: 'KEY', description: 'The stream' }],
  options: {
    erase: { type: 'boolean', description: 'Then compact with erase: its bytes are in no file of the store afterwards' },
  },
  examples: ['memmapfs stream delete tool-output', 'memmapfs stream delete transcript --erase   # and erase its bytes from every file'],
  store: 'existing',
  prepare(args) {
    const key = args.positionals[0]!;
    const erase = args.options.erase === true;
    return async (store, output) => {
      const deleted = await store.deleteStream(key);
      // (Erased even when it was deleted before, as `forget --erase` does.)
      const compaction = erase ? await store.compact({ erase: true }) : undefined;
      const result = compaction ? { deleted, erased: compaction.erased === true, compaction } : { deleted };
      if (!deleted) {
        if (output.json) output.result(result, () => []);
        if (compaction?.erased === false) throw new CommandFailure('ERASE_INCOMPLETE', `no stream ${JSON.stringify(key)}; compacted with erase all the same, but ${eraseIncomplete(compaction)}`);
        throw new CommandFailure('STREAM_NOT_FOUND', `no stream ${JSON.stringify(key)}${compaction ? ' (compacted with erase all the same: nothing deleted is left in a file of the store)' : ''}`);
      }
      output.result(result, () => [compaction?.erased === true ? `deleted stream ${key} and erased it from every file of the store` : `deleted stream ${key}`]);
      if (compaction?.erased === false) throw new CommandFailure('ERASE_INCOMPLETE', eraseIncomplete(compaction));
    };
  },
};
