import type { Command } from '../command.js';
import { CommandFailure, UsageError } from '../failures.js';
import { openInput, readWhole, textFromInput } from '../input-source.js';
import { BadTaggedValue, fromTaggedJson, toTaggedJson } from '../json-value.js';

/** `memmapfs kv set KEY VALUE`: sets a KV value, given as JSON (or, with `--string`, as text). */
export const kvSetCommand: Command = {
  path: ['kv', 'set'],
  summary: 'Set a KV value, given as JSON, or as text with --string',
  arguments: [
    { name: 'KEY', description: 'The key' },
    { name: 'VALUE', description: "A JSON value ({\"$base64\":\"…\"} for bytes), or text with --string; '-' reads it from stdin" },
  ],
  options: {
    string: { type: 'boolean', description: 'Store VALUE as a string, as it is, rather than parse it as JSON' },
    'if-absent': { type: 'boolean', description: 'Set it only if the key is not set (exit code 1 when it is): of processes racing for a key, exactly one sets it' },
  },
  examples: [
    'memmapfs kv set user.theme dark --string',
    'memmapfs kv set session \'{"turn":3,"tools":["search"]}\'',
    'memmapfs kv set blob \'{"$base64":"AAEC"}\'                 # bytes',
    'cat notes.txt | memmapfs kv set notes - --string',
    'memmapfs kv set task/42/owner worker-3 --string --if-absent   # claim it, or exit 1',
  ],
  store: 'existing',
  prepare(args) {
    const [key, given] = args.positionals as [string, string];
    const asString = args.options.string === true;
    const parse = (text: string, what: string): unknown => (asString ? text : parseJsonValue(text, what));
    const value = given === '-' ? undefined : parse(given, 'VALUE');
    return async (store, output, context) => {
      const stored = given === '-' ? parse(textFromInput(await readWhole(await openInput('-', context.cwd, context.stdin))), 'the value read from stdin') : value;
      if (args.options['if-absent'] === true) {
        const { skipped } = await store.setKvs([[key, stored]], { ifAbsent: true });
        if (skipped.length > 0) {
          if (output.json) output.result({ key, set: false }, () => []);
          throw new CommandFailure('KEY_EXISTS', `KV key ${JSON.stringify(key)} is set already (--if-absent): left as it is`);
        }
      } else await store.setKv(key, stored);
      output.result({ key, value: toTaggedJson(stored) }, () => [`set ${key}`]);
    };
  },
};

function parseJsonValue(text: string, what: string): unknown {
  try {
    return fromTaggedJson(JSON.parse(text), what);
  } catch (error) {
    if (error instanceof BadTaggedValue) throw new UsageError(error.message, 'kv set');
    throw new UsageError(`${what} is not valid JSON (${(error as Error).message}); quote a string as JSON ('"dark"') or pass --string`, 'kv set');
  }
}
