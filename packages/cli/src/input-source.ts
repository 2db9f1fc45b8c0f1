import { isUtf8 } from 'node:buffer';
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
  // (Decoded as it is, invalid bytes would become U+FFFD: text nobody wrote, stored without a word.)
  if (!isUtf8(bytes)) throw new CommandFailure('INVALID_INPUT', `stdin is not valid UTF-8 (${firstInvalidByte(bytes)}): convert it first, e.g. with iconv -f latin1 -t utf-8`);
  return Buffer.from(bytes).toString('utf8').replace(/^\uFEFF/, '').replace(/\r?\n$/, '');
}

/** A line of the input that is not valid UTF-8 (see `utf8Lines`). */
export class NotUtf8Line extends Error {
  constructor(readonly line: number, bytes: Uint8Array) {
    super(`not valid UTF-8 (${firstInvalidByte(bytes)}): convert the file first, e.g. with iconv -f latin1 -t utf-8`);
  }
}

/**
 * The lines of `stream`: each ends at a newline (`\n`; one `\r` before it is dropped, so that CRLF files
 * read alike), and only there: a lone `\r` is part of its line, as of the text it may hold. The last
 * line needs no newline. Each is checked as it is read: one that is not valid UTF-8 throws
 * `NotUtf8Line`, naming it (lines are counted by newlines, as `tail -n +N` counts them).
 */
export async function* utf8Lines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<string, void, void> {
  let line = 1;
  let pending = Buffer.alloc(0);
  /** The line `bytes`, less the carriage return of a CRLF when `beforeNewline` (the last line has none). */
  const text = (bytes: Buffer, beforeNewline: boolean): string => {
    if (!isUtf8(bytes)) throw new NotUtf8Line(line, bytes);
    line++;
    const end = beforeNewline && bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.length - 1 : bytes.length;
    return bytes.toString('utf8', 0, end);
  };
  for await (const chunk of stream) {
    const bytes = pending.length > 0 ? Buffer.concat([pending, Buffer.from(chunk)]) : Buffer.from(chunk);
    let start = 0;
    for (let end = bytes.indexOf(10); end !== -1; end = bytes.indexOf(10, start)) {
      yield text(bytes.subarray(start, end), true);
      start = end + 1;
    }
    pending = Buffer.from(bytes.subarray(start));
  }
  if (pending.length > 0) yield text(pending, false);
}

/** Where the first byte that is not part of valid UTF-8 is in `bytes`, in words (for the error message only). */
export function firstInvalidByte(bytes: Uint8Array): string {
  let at = 0;
  while (at < bytes.length) {
    const lead = bytes[at]!;
    const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    // (Each character checked on its own: overlong forms and surrogates are refused by isUtf8.)
    if (length === 0 || at + length > bytes.length || !isUtf8(bytes.subarray(at, at + length))) break;
    at += length;
  }
  return `byte 0x${(bytes[at] ?? 0).toString(16).padStart(2, '0')} at offset ${at}`;
}
