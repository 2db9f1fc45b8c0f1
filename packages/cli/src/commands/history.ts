import type { MemoryVersion } from '@memmapfs/core';
import { positiveInteger } from '../arguments.js';
import type { Command } from '../command.js';
import { CommandFailure } from '../failures.js';
import { memoryJson, toTaggedJson } from '../json-value.js';
import { visibleControls } from '../output.js';

/** `memmapfs history ID`: a memory's versions the log still holds, oldest first. */
export const historyCommand: Command = {
  path: ['history'],
  summary: "List a memory's versions, oldest first: created, each update, deleted",
  arguments: [{ name: 'ID', description: 'The memory id, as printed by append' }],
  options: {},
  examples: [
    'memmapfs history 1',
    'memmapfs history 1 --json',
  ],
  store: 'read',
  prepare(args) {
    const id = positiveInteger(args.positionals[0]!, 'ID');
    return async (store, output) => {
      const versions = await store.memoryHistory(id);
      if (versions.length === 0) throw new CommandFailure('MEMORY_NOT_FOUND', `no memory with id ${id} in the log`);
      output.result(versions.map((version) => (version.memory ? { ...version, memory: memoryJson(version.memory) } : version)), () => versions.map(versionLine));
    };
  },
};

function versionLine(version: MemoryVersion): string {
  const when = version.at === undefined ? 'at an unknown time' : new Date(version.at).toISOString();
  const head = `${version.event.padEnd(7)}  ${when}  lsn ${version.lsn}`;
  if (!version.memory) return head;
  const { text, tags, meta } = version.memory;
  const fields = [head, `tags [${tags.join(', ')}]`];
  if (Object.keys(meta).length > 0) fields.push(`meta ${JSON.stringify(toTaggedJson(meta))}`);
  fields.push(text === undefined ? '(text gone)' : JSON.stringify(text));
  return visibleControls(fields.join('  '));
}
