import type { Command } from '../command.js';
import { CommandFailure } from '../failures.js';
import { openInput } from '../input-source.js';

/** Bytes gathered from the input before each append to the stream (each append is one commit). */
export const streamAppendChunkBytes = 4 * 1024 * 1024;

/** `memmapfs stream append KEY [FILE|-]`: appends a file's bytes, or stdin's, to a stream. */
export const streamAppendCommand: Command = {
  path: ['stream', 'append'],
  summary: "Append the bytes of FILE, or of stdin, to the stream KEY (created on first use)",
  arguments: [
    { name: 'KEY', description: 'The stream' },
    { name: 'FILE', optional: true, description: "The file to append; '-' or none reads stdin" },
  ],
  options: {},
  examples: [
    'memmapfs stream append transcript session.log',
    'some-tool 2>&1 | memmapfs stream append tool-output',
    'printf "user: hello\\n" | memmapfs stream append transcript -',
  ],
  store: 'existing',
  prepare(args) {
    const [key, file] = args.positionals as [string, string | undefined];
    return async (store, output, context) => {
      const input = await openInput(file, context.cwd, context.stdin);
      let bytes = 0;
      let waiting: Buffer[] = [];
      let waitingBytes = 0;
      const flush = async (): Promise<void> => {
        if (waitingBytes === 0) return;
        const chunk = Buffer.concat(waiting);
        waiting = [];
        waitingBytes = 0;
        await store.appendStream(key, chunk);
        bytes += chunk.byteLength;
      };
      try {
        for await (const piece of readPieces(input.stream, input.name)) {
          waiting.push(piece);
          waitingBytes += piece.byteLength;
          if (waitingBytes >= streamAppendChunkBytes) await flush();
        }
        await flush();
      } finally {
        input.close();
      }
      output.result({ key, bytes }, () => [`appended ${bytes} byte${bytes === 1 ? '' : 's'} to ${key}`]);
    };
  },
};

async function* readPieces(stream: NodeJS.ReadableStream, name: string): AsyncGenerator<Buffer> {
  try {
    for await (const piece of stream) yield typeof piece === 'string' ? Buffer.from(piece, 'utf8') : Buffer.from(piece as Uint8Array);
  } catch (error) {
    throw new CommandFailure('INPUT_UNREADABLE', `cannot read ${name}: ${(error as Error).message}`);
  }
}
