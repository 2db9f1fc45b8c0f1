import { MemMapError, type MemoryUpdate } from '@memmapfs/core';
import { positiveInteger, stringListOption, stringOption } from '../arguments.js';
import type { Command } from '../command.js';
import { CommandFailure, UsageError } from '../failures.js';
import { openInput, readWhole, textFromInput } from '../input-source.js';
import { memoryLines } from './get.js';
import { memoryJson, taggedJsonObject } from '../json-value.js';

/** `memmapfs update ID`: changes a memory's text, tags or meta, keeps the rest, and prints it. */
export const updateCommand: Command = {
  path: ['update'],
  summary: "Change a memory's text, tags or meta (what is not given is kept) and print it",
  arguments: [{ name: 'ID', description: 'The memory id' }],
  options: {
    text: { type: 'string', valueName: 'T', description: "The new text; '-' reads it from stdin, less one final line break" },
    tag: { type: 'string', multiple: true, valueName: 'T', description: 'The new tags: they replace every tag the memory has' },
    'clear-tags': { type: 'boolean', description: 'Remove every tag' },
    meta: { type: 'string', valueName: 'JSON', description: 'A JSON object that replaces the whole meta' },
  },
  examples: [
    'memmapfs update 7 --text "The user prefers light mode"',
    'memmapfs update 7 --tag preference --tag ui --meta \'{"source":"settings"}\'',
    'memmapfs update 7 --clear-tags',
    'cat note.md | memmapfs update 7 --text -',
  ],
  store: 'existing',
  prepare(args) {
    const id = positiveInteger(args.positionals[0]!, 'ID');
    const text = stringOption(args, 'text');
    const tags = stringListOption(args, 'tag');
    const clearTags = args.options['clear-tags'] === true;
    const meta = stringOption(args, 'meta');
    if (tags.some((tag) => tag === '')) throw new UsageError('--tag must not be empty');
    if (clearTags && tags.length > 0) throw new UsageError('give --tag or --clear-tags, not both');
    if (text === undefined && tags.length === 0 && !clearTags && meta === undefined) throw new UsageError('nothing to change: give --text, --tag, --clear-tags or --meta');
    if (text !== undefined && text !== '-' && text.trim() === '') throw new UsageError('--text must not be empty or only whitespace');
    const update: MemoryUpdate = {
      ...(tags.length > 0 || clearTags ? { tags } : {}),
      ...(meta !== undefined ? { meta: taggedJsonObject(meta, '--meta') } : {}),
    };
    return async (store, output, context) => {
      let newText = text;
      if (text === '-') {
        newText = textFromInput(await readWhole(await openInput('-', context.cwd, context.stdin)));
        if (newText.trim() === '') throw new UsageError('the text read from stdin must not be empty or only whitespace', 'update');
      }
      let memory;
      try {
        memory = await store.updateMemory(id, { ...update, ...(newText !== undefined ? { text: newText } : {}) });
      } catch (error) {
        if (MemMapError.is(error, 'MEMORY_NOT_FOUND')) throw new CommandFailure('MEMORY_NOT_FOUND', `no memory with id ${id}`);
        throw error;
      }
      output.result(memoryJson(memory), () => memoryLines(memory));
    };
  },
};
