import { MemMapError } from '@memmapfs/core';

/** A command line the CLI cannot run: unknown command or option, missing argument, bad value. Exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';

  /** `command` names the command whose `--help` the hint points to. */
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

/** A failure the CLI itself detects while running a command, with a stable code. Exit code 1. */
export class CommandFailure extends Error {
  override readonly name = 'CommandFailure';

  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Where a failure comes from, which decides how it is shown. */
export type FailureOrigin = 'usage' | 'store' | 'command' | 'unexpected';

/** A failure as the CLI reports it. */
export interface FailureReport {
  readonly origin: FailureOrigin;
  /** `USAGE_ERROR`, a `MemMapError` code, a `CommandFailure` code, or `UNEXPECTED_ERROR`. */
  readonly code: string;
  /** One line, without the `memmapfs: ` prefix. */
  readonly message: string;
  /** `memmapfs --help` or `memmapfs <command> --help`, for usage errors. */
  readonly helpCommand?: string;
  readonly exitCode: 1 | 2;
}

/** What a `WAL_CORRUPT` failure tells the user to do. */
export const walCorruptAdvice = "Run 'memmapfs verify' to see the damage, then 'memmapfs repair' (with no process using the store) to make it open again.";

/** What a damaged block (`BLOCK_CORRUPT`) tells the user to do. */
const blockCorruptAdvice = "Run 'memmapfs verify' to see the damage, then 'memmapfs repair' (with no process using the store): it puts back blocks whose copies the log holds.";

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, ' ').trim();

/** A store error's advice in the terms of this command line: its commands and options, not the library's. */
function inCommandTerms(code: string, message: string): string {
  // (Damage in a sealed segment says what to do itself: repair cannot mend it.)
  if (code === 'WAL_CORRUPT') return /cannot mend a sealed segment/.test(message) ? message : `${message} ${walCorruptAdvice}`;
  if (code === 'BLOCK_CORRUPT') return `${message} ${blockCorruptAdvice}`;
  // ("Open it with codec: 'cbor' (or leave the codec option out).")
  if (code === 'CODEC_MISMATCH') return message.replace(/(Open|Check) it with codec: '([^']+)' \(or leave the codec option out\)/, "Give --codec $2, or leave --codec out");
  // (The library's options and methods, which a command line does not have: its own in their place.)
  return message
    .replace(/, or raise lockTimeoutMs\./, ', or try again once it is done.')
    .replace(/\bttlMs (\d+) puts the expiry/, '--ttl $1 puts the expiry')
    .replace(/leave ttlMs out for a memory that never expires/, 'leave --ttl out for a memory that never expires')
    .replace(/use deleteKv to remove a key/, "use 'memmapfs kv delete KEY' to remove a key");
}

/** Classifies anything thrown while running the CLI. */
export function describeFailure(error: unknown): FailureReport {
  if (error instanceof UsageError) {
    const helpCommand = error.command === undefined ? 'memmapfs --help' : `memmapfs ${error.command} --help`;
    return { origin: 'usage', code: 'USAGE_ERROR', message: oneLine(error.message), helpCommand, exitCode: 2 };
  }
  if (MemMapError.is(error)) {
    const message = oneLine(error.message.replace(/^\[memmapfs\] /, ''));
    return { origin: 'store', code: error.code, message: inCommandTerms(error.code, message), exitCode: 1 };
  }
  if (error instanceof CommandFailure) {
    return { origin: 'command', code: error.code, message: oneLine(error.message), exitCode: 1 };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { origin: 'unexpected', code: 'UNEXPECTED_ERROR', message: oneLine(message), exitCode: 1 };
}

/**
 * The failure of a command whose standard output could not be written (a full disk, say), when `error`
 * is one: `OUTPUT_UNWRITABLE`. A failed write of the system comes here only from the command's output
 * (the store's own I/O fails as a `MemMapError`, and a file `export` writes as `OUTPUT_UNWRITABLE`);
 * `EPIPE`, a reader that went away, is no failure and is not one of them.
 */
export function unwritableOutput(error: unknown): CommandFailure | undefined {
  const failed = error as NodeJS.ErrnoException | undefined;
  if (!(failed instanceof Error) || failed instanceof MemMapError || failed.syscall !== 'write' || failed.code === 'EPIPE') return undefined;
  return new CommandFailure('OUTPUT_UNWRITABLE', `cannot write to stdout: ${failed.message}`);
}
