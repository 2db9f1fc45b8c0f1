import { findCommand } from '../arguments.js';
import type { ClosedStoreCommand } from '../command.js';
import { commandHelp, generalHelp } from '../help.js';
import { commands } from './index.js';

/** `memmapfs help [COMMAND]`: every command, or one command's (or group's) usage, options and examples. */
export const helpCommand: ClosedStoreCommand = {
  path: ['help'],
  summary: "Show every command, or a command's arguments, options and examples",
  arguments: [{ name: 'COMMAND', optional: true, rest: true, description: 'A command (kv set), or a group of them (state, kv, stream)' }],
  options: {},
  examples: ['memmapfs help', 'memmapfs help import', 'memmapfs help kv'],
  store: 'closed',
  prepare(args) {
    const words = args.positionals;
    const topic = words.length === 0 ? undefined : findCommand(words, commands, true);
    return async (output) => {
      output.text(topic === undefined ? generalHelp(commands) : commandHelp('command' in topic ? [topic.command] : topic.group));
    };
  },
};
