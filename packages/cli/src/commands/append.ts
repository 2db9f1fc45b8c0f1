import type { AppendMemoryOptions } from '@memmapfs/core';
import { jsonObject, labelOptions, positiveInteger, stringOption } from '../arguments.js';
import type { Command } from '../command.js';
import { UsageError } from '../failures.js';

/** `memmapfs append TEXT`: appends a memory and prints its id. */
export const appendCommand: Command = {
  path: ['append'],
  summary: 'Append a memory and print its id',
  arguments: [{ name: 'TEXT', description: "The memory's text (quoted; after -- when it starts with '-')" }],
  options: {
    tag: { type: 'string', multiple: true, valueName: 'T', description: 'A tag to filter by later' },
    namespace: { type: 'string', valueName: 'NS', description: 'Namespace of the memory. Default: default' },
    meta: { type: 'string', valueName: 'JSON', description: 'A JSON object kept with the memory (not searched)' },
    ttl: { type: 'string', valueName: 'MS', description: 'Milliseconds after which the memory expires' },
  },
  store: 'existing',
  prepare(args) {
    const text = args.positionals[0]!;
    if (text.trim() === '') throw new UsageError('TEXT must not be empty or only whitespace');
    const { tags, namespace } = labelOptions(args);
    const meta = stringOption(args, 'meta');
    const ttl = stringOption(args, 'ttl');
    const options: AppendMemoryOptions = {
      ...(namespace !== undefined ? { namespace } : {}),
      ...(meta !== undefined ? { meta: jsonObject(meta, '--meta') } : {}),
      ...(ttl !== undefined ? { ttlMs: positiveInteger(ttl, '--ttl') } : {}),
    };
    return async (store, output) => {
      const id = await store.appendMemory(text, tags, options);
      output.result({ id }, () => [String(id)]);
    };
  },
};
