import { jsonObject } from '../arguments.js';
import type { Command } from '../command.js';
import { keyValueLines } from '../output.js';

/** `memmapfs state get`: prints the agent state. */
export const stateGetCommand: Command = {
  path: ['state', 'get'],
  summary: 'Print the agent state',
  arguments: [],
  options: {},
  store: 'existing',
  prepare: () => async (store, output) => {
    const state = store.getState();
    output.result(state, () => keyValueLines(state));
  },
};

/** `memmapfs state set JSON`: replaces the agent state; fields the JSON leaves out keep their values. */
export const stateSetCommand: Command = {
  path: ['state', 'set'],
  summary: 'Replace the agent state and print it; fields left out keep their current values',
  arguments: [{ name: 'JSON', description: 'An AgentState object: status, activeMemoryCount, lastUpdatedId, extra (replaced whole)' }],
  options: {},
  store: 'existing',
  prepare(args) {
    const changes = jsonObject(args.positionals[0]!, 'the state');
    return async (store, output) => {
      await store.updateState({ ...store.getState(), ...changes });
      const state = store.getState();
      output.result(state, () => keyValueLines(state));
    };
  },
};
