import type { AgentState } from '@memmapfs/core';
import { positiveInteger, stringOption } from '../arguments.js';
import type { Command, StoreCommand } from '../command.js';
import { keyValueLines } from '../output.js';
import { taggedJsonObject, toTaggedJson } from '../json-value.js';

/** `memmapfs state get`: prints the agent state. */
export const stateGetCommand: Command = {
  path: ['state', 'get'],
  summary: 'Print the agent state',
  arguments: [],
  options: {},
  examples: ['memmapfs state get', 'memmapfs state get --json | jq -r .status'],
  store: 'read',
  prepare: () => async (store, output) => {
    const state = store.getState();
    output.result(toTaggedJson(state), () => keyValueLines(state));
  },
};

/** `memmapfs state set JSON`: replaces the agent state; fields the JSON leaves out keep their values. */
export const stateSetCommand: Command = {
  path: ['state', 'set'],
  summary: 'Replace the agent state and print it; fields left out keep their current values',
  arguments: [{ name: 'JSON', description: 'An AgentState object: status, activeMemoryCount, lastUpdatedId, extra (replaced whole)' }],
  options: {},
  examples: ['memmapfs state set \'{"status":"running","extra":{"task":"triage"}}\'', 'memmapfs state set \'{"lastUpdatedId":42}\''],
  store: 'existing',
  prepare(args) {
    const changes = taggedJsonObject(args.positionals[0]!, 'the state');
    return async (store, output) => {
      // (Merged under the writer lock: a field another process changes meanwhile keeps its new value.)
      const state = await store.mergeState(changes);
      output.result(toTaggedJson(state), () => keyValueLines(state));
    };
  },
};

/**
 * `memmapfs state watch`: prints each new agent state, whichever process wrote it, until the signal
 * of the context aborts (Ctrl-C, SIGTERM, stdout closed) or `--count` changes were printed.
 */
export const stateWatchCommand: StoreCommand = {
  path: ['state', 'watch'],
  summary: 'Print each change of the agent state, from any process, until interrupted (Ctrl-C)',
  arguments: [],
  options: {
    initial: { type: 'boolean', description: 'Print the current state first, then each change' },
    count: { type: 'string', valueName: 'N', description: 'Exit after N changes (the --initial state is not one). Default: until interrupted' },
  },
  examples: ['memmapfs state watch', 'memmapfs state watch --json | jq -r .status', 'memmapfs state watch --json --initial --count 1     # the state now, then the next change'],
  store: 'read',
  prepare(args) {
    const countOption = stringOption(args, 'count');
    const count = countOption === undefined ? Infinity : positiveInteger(countOption, '--count');
    const initial = args.options.initial === true;
    return async (store, output, { signal }) => {
      if (signal.aborted) return;
      const print = (state: AgentState): void => output.result(toTaggedJson(state), () => [stateLine(state, new Date())]);
      // Read the current state before the watch starts (nothing is awaited in between): what other
      // processes committed until now is in it, and every later change is watched, none twice.
      const current = store.getState();
      const states = store.watchState();
      // Closing ends the watch (core ends its iterators on close); runCommand closes it again, which
      // waits for the same close and reports its failure, if any.
      const stop = (): void => void store.close().catch(() => undefined);
      signal.addEventListener('abort', stop, { once: true });
      // Core follows other processes with an unref'd timer and file watcher, which do not keep the
      // process alive; without this, node would exit while the watch waits.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      try {
        if (initial) print(current);
        let changes = 0;
        for await (const state of states) {
          print(state);
          if (++changes >= count) break;
        }
      } finally {
        clearInterval(keepAlive);
        signal.removeEventListener('abort', stop);
      }
    };
  },
};

/** `<time>  status=running  activeMemoryCount=3  …`: a state on one line, stamped with when it was seen. */
function stateLine(state: AgentState, seenAt: Date): string {
  return [seenAt.toISOString(), ...Object.entries(state).map(([key, value]) => `${key}=${fieldValue(value)}`)].join('  ');
}

/** A string as it is when it is one plain word, anything else as JSON, so the line stays one line. */
function fieldValue(value: unknown): string {
  return typeof value === 'string' && /^[^\s"=\\]+$/u.test(value) ? value : JSON.stringify(toTaggedJson(value));
}
