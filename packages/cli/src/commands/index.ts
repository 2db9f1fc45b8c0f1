import type { Command } from '../command.js';
import { appendCommand } from './append.js';
import { compactCommand } from './compact.js';
import { deleteCommand, forgetCommand } from './delete.js';
import { exportCommand } from './export.js';
import { getCommand } from './get.js';
import { helpCommand } from './help.js';
import { historyCommand } from './history.js';
import { importCommand } from './import.js';
import { initCommand } from './init.js';
import { kvDeleteCommand } from './kv-delete.js';
import { kvGetCommand } from './kv-get.js';
import { kvListCommand } from './kv-list.js';
import { kvSetCommand } from './kv-set.js';
import { listCommand } from './list.js';
import { mcpCommand } from './mcp.js';
import { queryCommand } from './query.js';
import { repairCommand } from './repair.js';
import { snapshotCommand } from './snapshot.js';
import { stateGetCommand, stateSetCommand, stateWatchCommand } from './state.js';
import { statsCommand } from './stats.js';
import { streamAppendCommand } from './stream-append.js';
import { streamDeleteCommand } from './stream-delete.js';
import { streamListCommand } from './stream-list.js';
import { streamReadCommand } from './stream-read.js';
import { updateCommand } from './update.js';
import { verifyCommand } from './verify.js';

/** Every `memmapfs` command, in the order help lists them. */
export const commands: readonly Command[] = [
  initCommand,
  appendCommand,
  queryCommand,
  listCommand,
  getCommand,
  updateCommand,
  historyCommand,
  deleteCommand,
  forgetCommand,
  kvGetCommand,
  kvSetCommand,
  kvDeleteCommand,
  kvListCommand,
  streamAppendCommand,
  streamReadCommand,
  streamListCommand,
  streamDeleteCommand,
  stateGetCommand,
  stateSetCommand,
  stateWatchCommand,
  statsCommand,
  importCommand,
  exportCommand,
  compactCommand,
  snapshotCommand,
  verifyCommand,
  repairCommand,
  mcpCommand,
  helpCommand,
];
