import type { Command } from '../command.js';

/** `memmapfs init`: creates the store, or opens an existing one, and prints where it is. */
export const initCommand: Command = {
  path: ['init'],
  summary: 'Create the store (or open an existing one) and print where it is',
  arguments: [],
  options: {},
  examples: [
    'memmapfs init',
    'memmapfs --root ./agent-store --codec cbor init',
  ],
  store: 'create',
  prepare: () => async (store, output) => {
    const { root, memories, codec, search } = store.stats();
    output.result({ root, memories, codec, search }, () => [`Store at ${root} (${memories} memories, codec ${codec}, search ${search})`]);
  },
};
