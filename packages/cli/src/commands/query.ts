import type { QueryMemoryOptions } from '@memmapfs/core';
import { labelOptions, positiveInteger, stringOption } from '../arguments.js';
import type { Command } from '../command.js';
import { memoryJson } from '../json-value.js';

/** `memmapfs query Q`: full-text search, best first, one line per hit. */
export const queryCommand: Command = {
  path: ['query'],
  summary: 'Search memories, best first: one line per hit (#id  score  [tags]  text)',
  arguments: [{ name: 'Q', description: 'Search text; "" lists the newest memories' }],
  options: {
    tag: { type: 'string', multiple: true, valueName: 'T', description: 'Only memories that carry this tag' },
    namespace: { type: 'string', valueName: 'NS', description: 'Only memories in this namespace' },
    limit: { type: 'string', valueName: 'N', description: 'At most N hits (1 to 1000). Default: 10' },
    'whole-words': { type: 'boolean', description: "Match the last word as a whole word only (by default it also matches the words it begins: 'cat' finds 'catalog')" },
  },
  examples: [
    'memmapfs query "dark mode" --tag preference',
    'memmapfs query "" --namespace team --limit 5      # the newest memories',
    'memmapfs query deploy --json | jq -r \'.[].text\'',
    'memmapfs query cat --whole-words                 # cat, not catalog',
  ],
  store: 'read',
  prepare(args) {
    const text = args.positionals[0]!;
    const { tags, namespace } = labelOptions(args);
    const limit = stringOption(args, 'limit');
    const options: QueryMemoryOptions = {
      ...(tags.length > 0 ? { tags } : {}),
      ...(namespace !== undefined ? { namespace } : {}),
      ...(limit !== undefined ? { limit: positiveInteger(limit, '--limit', 1000) } : {}),
      ...(args.options['whole-words'] === true ? { prefix: false } : {}),
    };
    return async (store, output) => {
      const hits = await store.queryMemory(text, options);
      const lines = await output.listingLines(hits.map((hit) => [`#${hit.id}  ${hit.score.toFixed(3)}  [${hit.tags.join(', ')}]  `, hit.text] as const));
      output.result(hits.map(memoryJson), () => lines);
    };
  },
};
