import { registerBundledAdapters } from './adapters.js';
import { checkArgumentBytes } from './argument-bytes.js';
import { parseCommandLine, type CommandLine, type GlobalOptions } from './arguments.js';
import { commandName, type ClosedStoreAction, type Command, type CommandAction, type CommandArguments, type CommandContext, type InputStream } from './command.js';
import { commands } from './commands/index.js';
import { describeFailure, unwritableOutput, UsageError } from './failures.js';
import { commandHelp, generalHelp } from './help.js';
import { openStore, sharedLog, storeRoot } from './open-store.js';
import { Output, type TextSink } from './output.js';
import { cliVersion } from './version.js';

/** Where `runCli` writes, and what it reads from its environment. */
export interface CliIo {
  /** Results, help and the version. */
  readonly stdout: TextSink;
  /** Failures, one line each. */
  readonly stderr: TextSink;
  /** Variables read for `MEMMAPFS_ROOT`. Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Folder a relative root or file is resolved against. Default: `process.cwd()`. */
  readonly cwd?: string;
  /**
   * What `import` reads when it has no FILE, and where `repair` asks for confirmation (only when
   * `isTTY` is true). Default: `process.stdin`.
   */
  readonly stdin?: InputStream;
  /**
   * Stops a command that runs until interrupted (`state watch`): once aborted, it closes the store and
   * `runCli` resolves 0. Other commands ignore it. The `memmapfs` binary aborts it on SIGINT, SIGTERM
   * and a closed stdout.
   */
  readonly signal?: AbortSignal;
  /**
   * The bytes the arguments were passed as (`argumentBytes`), one per argument: one that is not valid
   * UTF-8 is refused (`INVALID_INPUT`). The `memmapfs` binary passes them where the system says.
   */
  readonly argumentBytes?: readonly Uint8Array[];
}

/**
 * Runs the `memmapfs` command line `argv` (without the node and script paths) and resolves its exit
 * code: 0 success, 1 runtime error, 2 usage error. Never rejects; failures are written to `io.stderr`.
 *
 * @example
 * const code = await runCli(['--root', dir, 'append', 'The user prefers dark mode', '--tag', 'preference']);
 */
export async function runCli(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  registerBundledAdapters();
  let commandLine: CommandLine;
  try {
    commandLine = parseCommandLine(argv, commands);
    // (After the parse: a command line that is wrong besides is a usage error first, exit code 2.)
    if (io.argumentBytes !== undefined) checkArgumentBytes(io.argumentBytes);
  } catch (error) {
    return reportFailure(new Output(io.stdout, io.stderr, asksForJson(argv)), error);
  }
  const { globals, request } = commandLine;
  const output = new Output(io.stdout, io.stderr, globals.json);
  // A stdout that fails (a full disk) says so as an event, which the command may never see: heard here,
  // until what was written is out (the failure of the last write comes after the command returned).
  let outputError: unknown;
  const onOutputError = (error: unknown): void => {
    outputError ??= error;
  };
  const events = io.stdout as Partial<Pick<NodeJS.WritableStream, 'on' | 'off'>>;
  events.on?.('error', onOutputError);
  try {
    if (request.kind === 'help') output.text(request.commands ? commandHelp(request.commands) : generalHelp(commands));
    else if (request.kind === 'version') output.text(cliVersion);
    else await runCommand(request.command, request.args, globals, io, output);
    await written(io.stdout);
    const unwritable = unwritableOutput(outputError);
    return unwritable ? reportFailure(output, unwritable) : 0;
  } catch (error) {
    // A reader that went away (`memmapfs export | head`) is no failure: the output stops there.
    if ((error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE') return 0;
    // Output that could not be written is said as such, whatever the write threw.
    return reportFailure(output, unwritableOutput(error) ?? unwritableOutput(outputError) ?? error);
  } finally {
    events.off?.('error', onOutputError);
  }
}

/**
 * Resolves once what was written to `sink` is out, or failed (then its 'error' event has been emitted),
 * when it can say so: a Node stream that is still open, through an empty write's callback. At once otherwise.
 */
function written(sink: TextSink): Promise<void> {
  const stream = sink as Partial<NodeJS.WriteStream>;
  if (typeof stream.writableLength !== 'number' || stream.destroyed === true) return Promise.resolve();
  return new Promise((resolve) => {
    stream.write!('', () => setImmediate(resolve));
  });
}

function prepareCommand<Action>(command: Command, prepare: () => Action): Action {
  try {
    return prepare();
  } catch (error) {
    if (error instanceof UsageError && error.command === undefined) throw new UsageError(error.message, commandName(command));
    throw error;
  }
}

async function runCommand(command: Command, args: CommandArguments, globals: GlobalOptions, io: CliIo, output: Output): Promise<void> {
  const cwd = io.cwd ?? process.cwd();
  const context: CommandContext = {
    root: storeRoot(globals, io.env ?? process.env, cwd),
    globals,
    cwd,
    stdin: () => io.stdin ?? process.stdin,
    signal: io.signal ?? new AbortController().signal,
  };
  const shared = prepareCommand(command, () => sharedLog(globals, io.env ?? process.env));
  if (command.store === 'closed') {
    if (shared && command.localFiles) throw new UsageError(`'${commandName(command)}' reads and mends a local store's files; with --postgres the log is in PostgreSQL, and the folder is only this host's cache (remove it to have it built again from the log)`, commandName(command));
    const action: ClosedStoreAction = prepareCommand(command, () => command.prepare(args));
    await action(output, context);
    return;
  }
  const action: CommandAction = prepareCommand(command, () => command.prepare(args));
  const store = await openStore(context.root, globals, command.store, output, shared);
  try {
    await action(store, output, context);
  } finally {
    await store.close();
  }
}

function reportFailure(output: Output, error: unknown): number {
  const report = describeFailure(error);
  output.failure(report);
  return report.exitCode;
}

function asksForJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}
