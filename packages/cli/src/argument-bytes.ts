import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { CommandFailure } from './failures.js';
import { firstInvalidByte } from './input-source.js';

/**
 * The bytes the arguments `args` (`process.argv.slice(2)`) were passed as, where the system says
 * (`/proc/self/cmdline`, on Linux): Node decodes them as UTF-8, and bytes that are not become U+FFFD
 * without a word. `undefined` where they cannot be read, or do not match `args` one for one.
 */
export function argumentBytes(args: readonly string[]): Buffer[] | undefined {
  let cmdline: Buffer;
  try {
    cmdline = readFileSync('/proc/self/cmdline');
  } catch {
    return undefined;
  }
  const all: Buffer[] = [];
  for (let start = 0; start < cmdline.length; ) {
    const end = cmdline.indexOf(0, start);
    all.push(cmdline.subarray(start, end < 0 ? cmdline.length : end));
    start = end < 0 ? cmdline.length : end + 1;
  }
  const tail = all.slice(all.length - args.length);
  if (tail.length !== args.length || tail.some((bytes, i) => bytes.toString('utf8') !== args[i])) return undefined;
  return tail;
}

/**
 * Refuses an argument whose bytes are not valid UTF-8 (a terminal or script in another encoding), as
 * text read from stdin or a file is refused, rather than store the replacement characters Node made.
 */
export function checkArgumentBytes(bytes: readonly Uint8Array[]): void {
  bytes.forEach((argument, i) => {
    if (!isUtf8(argument)) {
      throw new CommandFailure('INVALID_INPUT', `argument ${i + 1} is not valid UTF-8 (${firstInvalidByte(argument)}): the shell passed text in another encoding. Use a UTF-8 locale, or convert the text first, e.g. with iconv -f latin1 -t utf-8`);
    }
  });
}
