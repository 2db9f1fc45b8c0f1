import type { Command } from '../command.js';
import { appendCommand } from './append.js';
import { compactCommand } from './compact.js';
import { deleteCommand, forgetCommand } from './delete.js';
import { getCommand } from './get.js';
import { historyCommand } from './history.js';
import { importCommand } from './import.js';
import { initCommand } from './init.js';
import { mcpCommand } from './mcp.js';
import { queryCommand } from './query.js';
import { repairCommand } from './repair.js';
import { stateGetCommand, stateSetCommand, stateWatchCommand } from './state.js';
import { statsCommand } from './stats.js';
import { verifyCommand } from './verify.js';

/** Every `memmapfs` command, in the order help lists them. */
export const commands: readonly Command[] = [
  initCommand,
  appendCommand,
  queryCommand,
  getCommand,
  historyCommand,
  deleteCommand,
  forgetCommand,
  stateGetCommand,
  stateSetCommand,
  stateWatchCommand,
  statsCommand,
  importCommand,
  compactCommand,
  verifyCommand,
  repairCommand,
  mcpCommand,
];
