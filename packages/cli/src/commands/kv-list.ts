import type { ListKvOptions } from '@memmapfs/core';
import { positiveInteger, stringOption } from '../arguments.js';
import type { Command } from '../command.js';

/** `memmapfs kv list`: the keys that are set, sorted, one per line. */
export const kvListCommand: Command = {
  path: ['kv', 'list'],
  summary: 'List the KV keys that are set, sorted, one per line',
  arguments: [],
  options: {
    prefix: { type: 'string', valueName: 'P', description: 'Only keys that start with P' },
    after: { type: 'string', valueName: 'K', description: 'Only keys that sort after K: the last key of one page gives the next' },
    limit: { type: 'string', valueName: 'N', description: 'At most N keys. Default: all' },
  },
  examples: ['memmapfs kv list', 'memmapfs kv list --prefix user.', 'memmapfs kv list --limit 100 --after user.theme'],
  store: 'read',
  prepare(args) {
    const prefix = stringOption(args, 'prefix');
    const after = stringOption(args, 'after');
    const limit = stringOption(args, 'limit');
    const options: ListKvOptions = {
      ...(prefix !== undefined ? { prefix } : {}),
      ...(after !== undefined ? { after } : {}),
      ...(limit !== undefined ? { limit: positiveInteger(limit, '--limit') } : {}),
    };
    return async (store, output) => {
      const keys = store.listKv(options);
      output.result(keys, () => keys);
    };
  },
};
