import { globalOptions } from './arguments.js';
import { commandName, type ArgumentSpec, type Command, type OptionSpec } from './command.js';

const column = 24;

const row = (label: string, description: string): string =>
  `  ${label.length + 2 < column ? label.padEnd(column - 2) : `${label}  `}${description}`;

function optionLabel(name: string, spec: OptionSpec): string {
  const flag = spec.short ? `-${spec.short}, --${name}` : `--${name}`;
  return spec.type === 'string' ? `${flag} ${spec.valueName ?? 'VALUE'}` : flag;
}

function optionSynopsis(name: string, spec: OptionSpec): string {
  const value = spec.type === 'string' ? ` ${spec.valueName ?? 'VALUE'}` : '';
  return `[--${name}${value}]${spec.multiple ? '...' : ''}`;
}

function optionRows(options: Readonly<Record<string, OptionSpec>>): string[] {
  return Object.entries(options).map(([name, spec]) => row(optionLabel(name, spec), spec.description + (spec.multiple ? '; repeat for more' : '')));
}

const globalSynopsis = Object.entries(globalOptions)
  .filter(([name]) => name !== 'help' && name !== 'version')
  .map(([name, spec]) => optionSynopsis(name, spec))
  .join(' ');

const argumentLabel = (argument: ArgumentSpec): string => {
  const name = argument.rest ? `${argument.name}...` : argument.name;
  return argument.optional ? `[${name}]` : name;
};

/** `memmapfs append TEXT [--tag T]... …`: a command's synopsis. */
export function commandSynopsis(command: Command): string {
  const parts = [commandName(command), ...command.arguments.map(argumentLabel)];
  parts.push(...Object.entries(command.options).map(([name, spec]) => optionSynopsis(name, spec)));
  return `memmapfs ${parts.join(' ')}`;
}

/** The help of `memmapfs --help`: every command and the global options. */
export function generalHelp(commands: readonly Command[]): string {
  return [
    'memmapfs: create, inspect and query a MemMapFS memory store from the shell.',
    '',
    `Usage: memmapfs ${globalSynopsis} <command> [arguments]`,
    '',
    'Commands:',
    ...commands.map((command) => row([commandName(command), ...command.arguments.map(argumentLabel)].join(' '), command.summary)),
    '',
    'Global options (anywhere on the line):',
    ...optionRows(globalOptions),
    '',
    'Exit codes: 0 success, 1 runtime error (not found, store error), 2 usage error.',
    "Run 'memmapfs help <command>' or 'memmapfs <command> --help' for a command's arguments, options and examples.",
  ].join('\n');
}

/** The help of `memmapfs <command> --help`, or of a group such as `state`: usage, arguments, options, examples. */
export function commandHelp(commands: readonly Command[]): string {
  const lines: string[] = [];
  for (const command of commands) {
    lines.push(`Usage: ${commandSynopsis(command)}`, '', `${command.summary}.`, '');
    if (command.arguments.length > 0) lines.push('Arguments:', ...command.arguments.map((argument) => row(argumentLabel(argument), argument.description)), '');
    if (Object.keys(command.options).length > 0) lines.push('Options:', ...optionRows(command.options), '');
    if (command.examples.length > 0) lines.push('Examples:', ...command.examples.map((example) => `  ${example}`), '');
  }
  lines.push('Global options (anywhere on the line):', ...optionRows(globalOptions));
  return lines.join('\n');
}
