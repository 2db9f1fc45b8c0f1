import type { Memory } from '@memmapfs/core';
import { positiveInteger } from '../arguments.js';
import type { Command } from '../command.js';
import { CommandFailure } from '../failures.js';
import { memoryJson, toTaggedJson } from '../json-value.js';

/** `memmapfs get ID`: prints a memory's text and a line of its metadata. */
export const getCommand: Command = {
  path: ['get'],
  summary: 'Print a memory: its text, then a line of metadata',
  arguments: [{ name: 'ID', description: 'The memory id, as printed by append' }],
  options: {},
  examples: ['memmapfs get 1', "memmapfs get 1 --json | jq -r .text"],
  store: 'read',
  prepare(args) {
    const id = positiveInteger(args.positionals[0]!, 'ID');
    return async (store, output) => {
      const memory = await store.getMemory(id);
      if (!memory) throw new CommandFailure('MEMORY_NOT_FOUND', `no memory with id ${id}`);
      output.result(memoryJson(memory), () => memoryLines(memory));
    };
  },
};

/** A time as ISO 8601; an expiry past what a `Date` holds (an older release took one) as the last time it holds. */
const time = (ms: number): string => new Date(Math.max(-8.64e15, Math.min(8.64e15, ms))).toISOString();

/** A memory as `get` prints it: its text, then one line of metadata. */
export function memoryLines(memory: Memory): string[] {
  return [memory.text, metadataLine(memory)];
}

function metadataLine(memory: Memory): string {
  const fields = [`#${memory.id}`, `namespace ${memory.namespace}`, `tags [${memory.tags.join(', ')}]`, `created ${time(memory.createdAt)}`];
  if (memory.updatedAt !== memory.createdAt) fields.push(`updated ${time(memory.updatedAt)}`);
  if (memory.expiresAt !== undefined) fields.push(`expires ${time(memory.expiresAt)}`);
  if (Object.keys(memory.meta).length > 0) fields.push(`meta ${JSON.stringify(toTaggedJson(memory.meta))}`);
  return fields.join('  ');
}
