import type { ListKeysOptions } from '@memmapfs/core';
import { positiveInteger, stringOption } from '../arguments.js';
import type { CommandArguments, OptionSpec } from '../command.js';

/** The options of `kv list` and `stream list`. */
export const listingOptions: Readonly<Record<string, OptionSpec>> = {
  prefix: { type: 'string', valueName: 'P', description: 'Only keys that start with P' },
  after: { type: 'string', valueName: 'K', description: 'Only keys that sort after K: the last key of one page gives the next' },
  limit: { type: 'string', valueName: 'N', description: 'At most N keys. Default: all' },
};

/** `--prefix`, `--after` and `--limit` as `listKv` and `listStreams` take them. */
export function listingFrom(args: CommandArguments): ListKeysOptions {
  const prefix = stringOption(args, 'prefix');
  const after = stringOption(args, 'after');
  const limit = stringOption(args, 'limit');
  return {
    ...(prefix !== undefined ? { prefix } : {}),
    ...(after !== undefined ? { after } : {}),
    ...(limit !== undefined ? { limit: positiveInteger(limit, '--limit') } : {}),
  };
}
