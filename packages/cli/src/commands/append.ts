import type { AppendMemoryOptions } from '@memmapfs/core';
import { labelOptions, positiveInteger, stringOption } from '../arguments.js';
import type { Command } from '../command.js';
import { UsageError } from '../failures.js';
import { openInput, readWhole, textFromInput } from '../input-source.js';
import { taggedJsonObject } from '../json-value.js';

/** `memmapfs append [TEXT|-]`: appends a memory, its text given or read from stdin, and prints its id. */
export const appendCommand: Command = {
  path: ['append'],
  summary: 'Append a memory and print its id; without TEXT (or with -) the text is read from stdin',
  arguments: [{ name: 'TEXT', optional: true, description: "The memory's text (quoted; after -- when it starts with '-'). '-' or none: read stdin, less one final line break" }],
  options: {
    tag: { type: 'string', multiple: true, valueName: 'T', description: 'A tag to filter by later' },
    namespace: { type: 'string', valueName: 'NS', description: 'Namespace of the memory. Default: default' },
    meta: { type: 'string', valueName: 'JSON', description: 'A JSON object kept with the memory (not searched)' },
    ttl: { type: 'string', valueName: 'MS', description: 'Milliseconds after which the memory expires' },
  },
  examples: [
    'memmapfs append "The user prefers dark mode" --tag preference --tag ui',
    'memmapfs append "Standup moved to 10:30" --namespace team --meta \'{"source":"slack"}\' --ttl 86400000',
    'git log -1 --format=%B | memmapfs append --tag commit      # the text from stdin',
    'memmapfs append -- "-5 degrees tonight"                    # text that starts with a dash',
  ],
  store: 'existing',
  prepare(args) {
    const given = args.positionals[0];
    const fromStdin = given === undefined || given === '-';
    if (!fromStdin) checkText(given);
    const { tags, namespace } = labelOptions(args);
    const meta = stringOption(args, 'meta');
    const ttl = stringOption(args, 'ttl');
    const options: AppendMemoryOptions = {
      ...(namespace !== undefined ? { namespace } : {}),
      ...(meta !== undefined ? { meta: taggedJsonObject(meta, '--meta') } : {}),
      ...(ttl !== undefined ? { ttlMs: positiveInteger(ttl, '--ttl') } : {}),
    };
    return async (store, output, context) => {
      let text = given!;
      if (fromStdin) {
        const stdin = context.stdin();
        // Nothing piped: there is no text to wait for.
        if (given === undefined && stdin.isTTY) throw new UsageError('missing TEXT: give it, or pipe it on stdin', 'append');
        text = textFromInput(await readWhole(await openInput('-', context.cwd, () => stdin)));
        checkText(text, 'the text read from stdin');
      }
      const id = await store.appendMemory(text, tags, options);
      output.result({ id }, () => [String(id)]);
    };
  },
};

function checkText(text: string, what = 'TEXT'): void {
  if (text.trim() === '') throw new UsageError(`${what} must not be empty or only whitespace`, 'append');
}
