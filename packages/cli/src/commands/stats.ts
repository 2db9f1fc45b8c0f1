import type { Command } from '../command.js';
import { keyValueLines } from '../output.js';

/** `memmapfs stats`: prints the store's sizes, counts and configuration. */
export const statsCommand: Command = {
  path: ['stats'],
  summary: "Print the store's sizes, counts and configuration",
  arguments: [],
  options: {},
  examples: [
    'memmapfs stats',
    'memmapfs stats --json | jq .memories',
  ],
  store: 'read',
  prepare: () => async (store, output) => {
    const stats = store.stats();
    output.result(stats, () => keyValueLines(stats));
  },
};
