import type { MemMapFS } from '@memmapfs/core';
import type { GlobalOptions } from './arguments.js';
import type { Output } from './output.js';

/** An option of the command line, as `--name VALUE` or a `--name` flag. */
export interface OptionSpec {
  /** `'string'` takes a value, `'boolean'` is a flag. */
  readonly type: 'string' | 'boolean';
  /** May be given more than once; the values are collected in order. */
  readonly multiple?: boolean;
  /** One-letter alias, e.g. `'h'` for `-h`. */
  readonly short?: string;
  /** Placeholder of the value in help, e.g. `'DIR'`. */
  readonly valueName?: string;
  /** One line of help. */
  readonly description: string;
}

/** A positional argument of a command: required, unless `optional` (only the last ones may be). */
export interface ArgumentSpec {
  /** Placeholder in help, e.g. `'TEXT'`. */
  readonly name: string;
  /** One line of help. */
  readonly description: string;
  /** May be left out; help shows it as `[NAME]`. */
  readonly optional?: boolean;
  /** Takes every word left on the line (only the last argument may); help shows it as `NAME...`. */
  readonly rest?: boolean;
}

/** The option values of a parsed command line, by option name. */
export type OptionValues = Readonly<Record<string, string | boolean | Array<string | boolean> | undefined>>;

/** What a command receives from the command line: its positionals and the values of its options. */
export interface CommandArguments {
  /** Positionals after the command's words, one per `ArgumentSpec`. */
  readonly positionals: readonly string[];
  readonly options: OptionValues;
}

/** Standard input, or a stand-in for it in tests. */
export type InputStream = NodeJS.ReadableStream & {
  /** True for a terminal: someone can answer a question there. */
  readonly isTTY?: boolean;
};

/** What a command may use besides its arguments and the store. */
export interface CommandContext {
  /** The absolute store folder. */
  readonly root: string;
  readonly globals: GlobalOptions;
  /** The folder a relative file argument is resolved against. */
  readonly cwd: string;
  /** Standard input; only touched when a command reads it. */
  stdin(): InputStream;
  /**
   * Aborted when the command should stop (Ctrl-C, SIGTERM, stdout closed, or `CliIo.signal`). Only a
   * command that waits without end (`state watch`) listens to it; it then returns normally.
   */
  readonly signal: AbortSignal;
}

/** The work of a command, once its arguments are checked: it runs against the open store. */
export type CommandAction = (store: MemMapFS, output: Output, context: CommandContext) => Promise<void>;

/** The work of a command that reads or mends the store's files itself, with the store closed. */
export type ClosedStoreAction = (output: Output, context: CommandContext) => Promise<void>;

interface CommandBase {
  /** The words that name it: `['append']`, `['state', 'set']`. */
  readonly path: readonly string[];
  /** One line of help. */
  readonly summary: string;
  readonly arguments: readonly ArgumentSpec[];
  /** Its own options, besides the global ones. */
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Command lines that show how it is used, each starting with `memmapfs `; a `# comment` may follow. */
  readonly examples: readonly string[];
}

/** A command that runs against the open store. */
export interface StoreCommand extends CommandBase {
  /**
   * `'create'` opens the store or creates it; `'existing'` fails with `STORE_NOT_FOUND` when there is
   * none; `'read'` too, for a command that only reads: it opens the store read-only when it cannot take
   * the writer lock at once (another process holds it, stopped say) or may not write to the folder.
   */
  readonly store: 'create' | 'existing' | 'read';
  /** Checks the arguments, throwing `UsageError`, before the store is opened. */
  prepare(args: CommandArguments): CommandAction;
}

/** A command that works on the store's files without opening the store (`verify`, `repair`). */
export interface ClosedStoreCommand extends CommandBase {
  readonly store: 'closed';
  /** It reads or mends a local store's own files (its log): refused with `--postgres`, where the log is in PostgreSQL. */
  readonly localFiles?: true;
  /** Checks the arguments, throwing `UsageError`, before any file is read. */
  prepare(args: CommandArguments): ClosedStoreAction;
}

/** A `memmapfs` command: what it accepts, for parsing and help, and what it does. */
export type Command = StoreCommand | ClosedStoreCommand;

/** The command's name as typed: `'append'`, `'state set'`. */
export function commandName(command: Command): string {
  return command.path.join(' ');
}
