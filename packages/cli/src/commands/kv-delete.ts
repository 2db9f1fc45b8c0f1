import type { Command } from '../command.js';
import { CommandFailure } from '../failures.js';

/** `memmapfs kv delete KEY`: removes a KV key; one that is not set is a failure (exit code 1). */
export const kvDeleteCommand: Command = {
  path: ['kv', 'delete'],
  summary: 'Remove a KV key (exit code 1 when it is not set)',
  arguments: [{ name: 'KEY', description: 'The key' }],
  options: {},
  examples: ['memmapfs kv delete session'],
  store: 'existing',
  prepare(args) {
    const key = args.positionals[0]!;
    return async (store, output) => {
      const deleted = await store.deleteKv(key);
      if (!deleted) {
        if (output.json) output.result({ deleted }, () => []);
        throw new CommandFailure('KEY_NOT_FOUND', `no KV key ${JSON.stringify(key)}`);
      }
      output.result({ deleted }, () => [`deleted ${key}`]);
    };
  },
};
