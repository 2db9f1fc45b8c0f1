import type { Command } from '../command.js';
import { CommandFailure } from '../failures.js';
import { toTaggedJson } from '../json-value.js';

/** `memmapfs kv get KEY`: prints a KV value: a string as it is, anything else as JSON. */
export const kvGetCommand: Command = {
  path: ['kv', 'get'],
  summary: 'Print a KV value: a string as it is, anything else as JSON (exit code 1 when the key is not set)',
  arguments: [{ name: 'KEY', description: 'The key' }],
  options: {},
  examples: ['memmapfs kv get user.theme', 'memmapfs kv get session --json | jq .value'],
  store: 'read',
  prepare(args) {
    const key = args.positionals[0]!;
    return async (store, output) => {
      const value = store.getKv(key);
      if (value === undefined) throw new CommandFailure('KEY_NOT_FOUND', `no KV key ${JSON.stringify(key)}`);
      const json = toTaggedJson(value);
      output.result({ key, value: json }, () => [typeof value === 'string' ? value : JSON.stringify(json)]);
    };
  },
};
