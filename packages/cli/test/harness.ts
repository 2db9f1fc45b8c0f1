import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, expect } from 'vitest';
import { runCli, type CliIo } from '../src/index.js';

/** What one in-process run of the CLI wrote, and its exit code. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Lines fed to stdin (each followed by a newline), or raw text or bytes. */
  stdin?: string | Uint8Array | readonly string[];
  /** Whether stdin claims to be a terminal. */
  stdinIsTTY?: boolean;
  /** Whether stderr claims to be a terminal (progress shows only then). */
  stderrIsTTY?: boolean;
  cwd?: string;
}

/** A temporary folder per test, and the store folder inside it. */
export const paths = { dir: '', root: '' };

/** Creates and removes the test's temporary folder. */
export function useTempStore(): void {
  beforeEach(async () => {
    paths.dir = await mkdtemp(join(tmpdir(), 'memmapfs-cli-'));
    paths.root = join(paths.dir, 'store');
  });
  afterEach(async () => {
    await rm(paths.dir, { recursive: true, force: true });
  });
}

/** A stdin stand-in holding `text`, ended. */
export function stdinOf(text: string | Uint8Array, isTTY = false): CliIo['stdin'] {
  const stream = new PassThrough();
  stream.end(text);
  return Object.assign(stream, { isTTY });
}

/** Runs the CLI in this process against the test's store, capturing what it writes. */
export async function inStore(args: string[], options: RunOptions = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const input = options.stdin === undefined ? '' : typeof options.stdin === 'string' || options.stdin instanceof Uint8Array ? options.stdin : options.stdin.map((line) => `${line}\n`).join('');
  const io: CliIo = {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk), ...(options.stderrIsTTY ? { isTTY: true } : {}) },
    env: {},
    stdin: stdinOf(input, options.stdinIsTTY ?? false),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  };
  const code = await runCli(['--root', paths.root, ...args], io);
  return { code, stdout, stderr };
}

/** Creates the test's store. */
export async function initStore(): Promise<void> {
  expect(await inStore(['init'])).toMatchObject({ code: 0, stderr: '' });
}

/** The number of live memories in the test's store. */
export async function memoryCount(): Promise<number> {
  const run = await inStore(['stats', '--json']);
  expect(run.code).toBe(0);
  return (JSON.parse(run.stdout) as { memories: number }).memories;
}
