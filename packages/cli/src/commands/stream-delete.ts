import type { Command } from '../command.js';
import { deleteThenErase } from './deletion.js';

/** `memmapfs stream delete KEY [--erase]`: removes a stream; one that is not there is a failure (exit code 1). */
export const streamDeleteCommand: Command = {
  path: ['stream', 'delete'],
  summary: 'Delete the stream KEY and its bytes (exit code 1 when there is none; --erase: from every file)',
  arguments: [{ name: 'KEY', description: 'The stream' }],
  options: {
    erase: { type: 'boolean', description: 'Then compact with erase: its bytes are in no file of the store afterwards' },
  },
  examples: ['memmapfs stream delete tool-output', 'memmapfs stream delete transcript --erase   # and erase its bytes from every file'],
  store: 'existing',
  prepare(args) {
    const key = args.positionals[0]!;
    const erase = args.options.erase === true;
    return (store, output) => deleteThenErase(store, output, erase, () => store.deleteStream(key), { thing: `stream ${key}`, missing: `no stream ${JSON.stringify(key)}`, missingCode: 'STREAM_NOT_FOUND' });
  },
};
