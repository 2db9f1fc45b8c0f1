import type { Command } from '../command.js';
import { listingFrom, listingOptions } from './key-listing.js';

/** `memmapfs stream list`: the stream keys, sorted, one per line. */
export const streamListCommand: Command = {
  path: ['stream', 'list'],
  summary: 'List the streams there are, sorted, one per line',
  arguments: [],
  options: listingOptions,
  examples: ['memmapfs stream list', 'memmapfs stream list --prefix tool/'],
  store: 'read',
  prepare(args) {
    const options = listingFrom(args);
    return async (store, output) => {
      const keys = store.listStreams(options);
      output.result(keys, () => keys);
    };
  },
};
