import type { ListMemoriesOptions } from '@memmapfs/core';
import { labelOptions, positiveInteger, stringOption } from '../arguments.js';
import type { Command } from '../command.js';
import { memoryJson } from '../json-value.js';

/** Memories on a page of `list` when `--limit` is not given. */
export const defaultListLimit = 20;

/** `memmapfs list`: one page of the live memories, oldest first, and the cursor of the next page. */
export const listCommand: Command = {
  path: ['list'],
  summary: 'List memories, oldest first, a page at a time (#id  [tags]  text), then the cursor of the next page',
  arguments: [],
  options: {
    namespace: { type: 'string', valueName: 'NS', description: 'Only memories in this namespace' },
    tag: { type: 'string', multiple: true, valueName: 'T', description: 'Only memories that carry this tag' },
    limit: { type: 'string', valueName: 'N', description: `At most N memories on the page (1 to 1000). Default: ${defaultListLimit}` },
    cursor: { type: 'string', valueName: 'C', description: 'Go on from the page before: its "next: --cursor C" line (same filters)' },
  },
  examples: [
    'memmapfs list --limit 50',
    'memmapfs list --namespace team --tag todo',
    'memmapfs list --cursor eyJ2IjoxLCJhZnRlciI6MjB9        # the next page',
    'memmapfs list --json | jq -r .nextCursor',
  ],
  store: 'read',
  prepare(args) {
    const { tags, namespace } = labelOptions(args);
    const limit = stringOption(args, 'limit');
    const cursor = stringOption(args, 'cursor');
    const options: ListMemoriesOptions = {
      limit: limit === undefined ? defaultListLimit : positiveInteger(limit, '--limit', 1000),
      ...(tags.length > 0 ? { tags } : {}),
      ...(namespace !== undefined ? { namespace } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
    };
    return async (store, output) => {
      const page = await store.listMemories(options);
      const lines = await output.listingLines(page.memories.map((memory) => [`#${memory.id}  [${memory.tags.join(', ')}]  `, memory.text] as const));
      output.result({ memories: page.memories.map(memoryJson), nextCursor: page.nextCursor ?? null }, () => [
        ...lines,
        ...(page.nextCursor !== undefined ? [`next: --cursor ${page.nextCursor}`] : []),
      ]);
    };
  },
};
