import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { InputStream } from './command.js';
import { CommandFailure } from './failures.js';

/** Where a command reads its input from: a file, or stdin. */
export interface InputSource {
  readonly stream: NodeJS.ReadableStream;
  /** `'stdin'`, or the file as given. */
  readonly name: string;
  /** The size in bytes when it is known (a regular file), for a progress bar's total. */
  readonly size: number | undefined;
  close(): void;
}

/** Opens `file` (resolved against `cwd`), or stdin when it is absent or `-`; `INPUT_UNREADABLE` when it cannot be opened. */
export async function openInput(file: string | undefined, cwd: string, stdin: () => InputStream): Promise<InputSource> {
  if (file === undefined || file === '-') return { stream: stdin(), name: 'stdin', size: undefined, close: () => {} };
  let handle;
  try {
    handle = await open(resolve(cwd, file), 'r');
  } catch (error) {
    throw new CommandFailure('INPUT_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`);
  }
  const info = await handle.stat();
  const stream = handle.createReadStream();
  return { stream, name: file, size: info.isFile() ? info.size : undefined, close: () => stream.destroy() };
}

/** Every byte of `input`, as one buffer; `INPUT_UNREADABLE` when reading fails. */
export async function readWhole(input: InputSource): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of input.stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk as Uint8Array));
  } catch (error) {
    throw new CommandFailure('INPUT_UNREADABLE', `cannot read ${input.name}: ${(error as Error).message}`);
  } finally {
    input.close();
  }
  return Buffer.concat(chunks);
}

/**
 * Text read from stdin for a command's TEXT argument: UTF-8, without a byte order mark, and without
 * the one line break at its end that `echo` and most editors add (as `$(…)` in a shell drops it).
 */
export function textFromInput(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8').replace(/^\uFEFF/, '').replace(/\r?\n$/, '');
}
