import type { Command } from '../command.js';
import { listingFrom, listingOptions } from './key-listing.js';

/** `memmapfs kv list`: the keys that are set, sorted, one per line. */
export const kvListCommand: Command = {
  path: ['kv', 'list'],
  summary: 'List the KV keys that are set, sorted, one per line',
  arguments: [],
  options: listingOptions,
  examples: ['memmapfs kv list', 'memmapfs kv list --prefix user.', 'memmapfs kv list --limit 100 --after user.theme'],
  store: 'read',
  prepare(args) {
    const options = listingFrom(args);
    return async (store, output) => {
      const keys = store.listKv(options);
      output.result(keys, () => keys);
    };
  },
};
