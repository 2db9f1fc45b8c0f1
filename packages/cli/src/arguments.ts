import { parseArgs } from 'node:util';
import type { CodecName, SearchProviderName } from '@memmapfs/core';
import { codecs, searchProviders } from './adapters.js';
import { commandName, type Command, type CommandArguments, type OptionSpec, type OptionValues } from './command.js';
import { didYouMean } from './closest-match.js';
import { UsageError } from './failures.js';

const searchNames = Object.keys(searchProviders);
const codecNames = Object.keys(codecs);

/** Options every command accepts, anywhere on the line. */
export const globalOptions: Readonly<Record<string, OptionSpec>> = {
  root: { type: 'string', valueName: 'DIR', description: 'Store folder. Default: $MEMMAPFS_ROOT, else .memmap_fs_root in the current folder' },
  search: { type: 'string', valueName: 'NAME', description: `Search provider: ${searchNames.join(' or ')}. Default: the one that saved the store's search index (with its options), else ${searchNames[0]}` },
  codec: { type: 'string', valueName: 'NAME', description: `Codec of a new store: ${codecNames.join(' or ')}. Default: an existing store's own, else ${codecNames[0]}` },
  postgres: { type: 'string', valueName: 'URL', description: "Run the store on its log in PostgreSQL, which hosts share (needs @memmapfs/wal-postgres); the store folder is then this host's cache. Default: $MEMMAPFS_POSTGRES" },
  store: { type: 'string', valueName: 'NAME', description: 'The store in PostgreSQL (with --postgres). Default: $MEMMAPFS_STORE, else memmapfs' },
  json: { type: 'boolean', description: 'Results as JSON on stdout; failures as {"error":{"code","message"}} on stderr' },
  help: { type: 'boolean', short: 'h', description: "Show help; after a command, that command's help" },
  version: { type: 'boolean', description: 'Print the version' },
};

/** The global options of one command line. */
export interface GlobalOptions {
  /** `--root` as given (not resolved). */
  readonly root?: string;
  readonly search?: SearchProviderName;
  readonly codec?: CodecName;
  /** `--postgres` as given: the PostgreSQL URL of a shared log. */
  readonly postgres?: string;
  /** `--store` as given: the store's name in PostgreSQL. */
  readonly store?: string;
  readonly json: boolean;
}

/** What a command line asks for. */
export type CliRequest =
  /** Help: general (`commands` absent), or about these commands (one, or a group such as `state`). */
  | { readonly kind: 'help'; readonly commands?: readonly Command[] }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly command: Command; readonly args: CommandArguments };

/** A parsed command line. */
export interface CommandLine {
  readonly globals: GlobalOptions;
  readonly request: CliRequest;
}

/**
 * Parses `argv` (without the node and script paths) against the global options and the commands'.
 * Throws `UsageError` for an unknown command or option, an option of another command, a missing or
 * extra argument, or a bad global value.
 */
export function parseCommandLine(argv: readonly string[], commands: readonly Command[]): CommandLine {
  const table: Record<string, OptionSpec> = { ...globalOptions };
  for (const command of commands) Object.assign(table, command.options);
  const parsed = tokenize(argv, table);
  const values = parsed.values as OptionValues;
  const globals = readGlobalOptions(values);
  const words = parsed.positionals;
  const help = values.help === true;

  if (words.length === 0) {
    if (values.version === true && !help) return { globals, request: { kind: 'version' } };
    return { globals, request: { kind: 'help' } };
  }
  const found = findCommand(words, commands, help);
  if (!('command' in found)) return { globals, request: { kind: 'help', commands: found.group } };
  const { command } = found;
  const name = commandName(command);
  for (const token of parsed.tokens) {
    if (token.kind === 'option' && !(token.name in globalOptions) && !(token.name in command.options)) {
      throw new UsageError(`option '${token.rawName}' does not apply to '${name}'`, name);
    }
  }
  if (help) return { globals, request: { kind: 'help', commands: [command] } };
  if (values.version === true) return { globals, request: { kind: 'version' } };

  const positionals = words.slice(command.path.length);
  const missing = command.arguments[positionals.length];
  if (missing && !missing.optional) throw new UsageError(`${name}: missing ${missing.name}`, name);
  const extra = positionals[command.arguments.length];
  if (extra !== undefined && !command.arguments.at(-1)?.rest) throw new UsageError(`${name}: unexpected argument '${extra}' (quote text that has spaces)`, name);
  return { globals, request: { kind: 'run', command, args: { positionals, options: values } } };
}

function tokenize(argv: readonly string[], table: Readonly<Record<string, OptionSpec>>) {
  const options = Object.fromEntries(
    Object.entries(table).map(([name, spec]) => [name, { type: spec.type, multiple: spec.multiple ?? false, ...(spec.short ? { short: spec.short } : {}) }]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    const unknown = (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'(--?[^'\s]+)'/.exec(error.message)?.[1] : undefined;
    const hint = unknown?.startsWith('--') ? didYouMean(unknown, Object.keys(table).map((name) => `--${name}`)) : '';
    throw new UsageError(hint ? `${error.message.replace(/\..*$/s, '')}${hint}` : error.message);
  }
  // (parseArgs keeps the last of an option given twice: the other value would be dropped unsaid.)
  const given = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || options[token.name]?.type !== 'string' || options[token.name]?.multiple) continue;
    if (given.has(token.name)) throw new UsageError(`--${token.name} is given twice; give it once`);
    given.add(token.name);
  }
  return parsed;
}

/**
 * The command that `words` (the positionals of a line) name, or, for a group's name alone (`state`,
 * `kv`) when help is asked for, the group's commands. Throws `UsageError` for an unknown command,
 * with the closest known one as a suggestion.
 */
export function findCommand(words: readonly string[], commands: readonly Command[], help: boolean): { command: Command } | { group: readonly Command[] } {
  const group = commands.filter((command) => command.path[0] === words[0]);
  if (group.length === 0) throw new UsageError(`unknown command '${words[0]}'${didYouMean(words[0]!, new Set(commands.map((command) => command.path[0]!)))}`);
  const command = group.find((candidate) => candidate.path.every((word, i) => words[i] === word));
  if (command) return { command };
  const groupName = words[0]!;
  const subcommands = group.map((candidate) => candidate.path.slice(1).join(' '));
  const choices = alternatives(subcommands);
  if (words.length === 1) {
    if (help) return { group };
    throw new UsageError(`'${groupName}' needs a subcommand: ${choices}`, groupName);
  }
  const suggestion = didYouMean(words[1]!, subcommands);
  throw new UsageError(`unknown command '${groupName} ${words[1]}'${suggestion ? suggestion.replace(/'([^']*)'\?$/, `'${groupName} $1'?`) : `; use ${choices}`}`, groupName);
}

/** `a`, `a or b`, `a, b or c`. */
function alternatives(words: readonly string[]): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
}

function readGlobalOptions(values: OptionValues): GlobalOptions {
  const root = values.root as string | undefined;
  if (root !== undefined && root.trim() === '') throw new UsageError('--root must not be empty');
  const search = values.search as string | undefined;
  if (search !== undefined && !searchNames.includes(search)) throw new UsageError(`--search must be ${searchNames.join(' or ')}, got '${search}'`);
  const codec = values.codec as string | undefined;
  if (codec !== undefined && !codecNames.includes(codec)) throw new UsageError(`--codec must be ${codecNames.join(' or ')}, got '${codec}'`);
  const postgres = values.postgres as string | undefined;
  const store = values.store as string | undefined;
  if (store !== undefined && store.trim() === '') throw new UsageError('--store must not be empty');
  return {
    ...(root !== undefined ? { root } : {}),
    ...(postgres !== undefined ? { postgres } : {}),
    ...(store !== undefined ? { store } : {}),
    ...(search !== undefined ? { search: search as SearchProviderName } : {}),
    ...(codec !== undefined ? { codec: codec as CodecName } : {}),
    json: values.json === true,
  };
}

function isParseArgsError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/** The value of a single-valued string option, if given. */
export function stringOption(args: CommandArguments, name: string): string | undefined {
  const value = args.options[name];
  return typeof value === 'string' ? value : undefined;
}

/** Every value of a repeatable string option, in order. */
export function stringListOption(args: CommandArguments, name: string): string[] {
  const value = args.options[name];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/** `text` as a positive integer (digits only); `what` names it in the error, e.g. `'ID'`. */
export function positiveInteger(text: string, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new UsageError(`${what} must be ${max === Number.MAX_SAFE_INTEGER ? 'a positive integer' : `an integer from 1 to ${max}`}, got '${text}'`);
  }
  return value;
}

/** The `--tag` values and the `--namespace` of a command: a usage error when one is empty. */
export function labelOptions(args: CommandArguments): { tags: string[]; namespace: string | undefined } {
  const tags = stringListOption(args, 'tag');
  if (tags.some((tag) => tag === '')) throw new UsageError('--tag must not be empty');
  const namespace = stringOption(args, 'namespace');
  if (namespace === '') throw new UsageError('--namespace must not be empty');
  return { tags, namespace };
}

/** `text` parsed as a JSON object (not an array, not null); `what` names it in the error. */
export function jsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`${what} must be a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  }
  return value as Record<string, unknown>;
}
