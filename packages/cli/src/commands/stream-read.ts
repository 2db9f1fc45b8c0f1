import type { Command } from '../command.js';

/** `memmapfs stream read KEY`: writes a stream's bytes to stdout, as they were appended. */
export const streamReadCommand: Command = {
  path: ['stream', 'read'],
  summary: "Write the bytes of the stream KEY to stdout, as appended (nothing for a stream never written)",
  arguments: [{ name: 'KEY', description: 'The stream' }],
  options: {},
  examples: ['memmapfs stream read transcript', 'memmapfs stream read tool-output > output.log', 'memmapfs stream read blob --json | jq -r .base64 | base64 -d'],
  store: 'read',
  prepare(args) {
    const key = args.positionals[0]!;
    return async (store, output) => {
      if (!output.json) {
        for await (const chunk of store.openRead(key)) await output.bytes(Buffer.from(chunk));
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of store.openRead(key)) chunks.push(Buffer.from(chunk));
      const all = Buffer.concat(chunks);
      output.result({ key, bytes: all.byteLength, base64: all.toString('base64') }, () => []);
    };
  },
};
