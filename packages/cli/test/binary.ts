import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const packagesDir = fileURLToPath(new URL('../..', import.meta.url));
const builtBin = join(packagesDir, 'cli', 'dist', 'bin.js');
const sourceBin = join(packagesDir, 'cli', 'src', 'bin.ts');
/** The workspace packages the built binary runs from their `dist`. */
const builtPackages = ['cli', 'core', 'wal', 'blocks', 'codec-msgpack', 'codec-cbor', 'search-flexsearch', 'search-orama', 'search-segments', 'mcp'];

function newestChange(folder: string): number {
  let newest = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestChange(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether every package's `dist` was built after the last change to its `src`. */
function distIsFresh(): boolean {
  if (!existsSync(builtBin)) return false;
  return builtPackages.every((name) => {
    const dist = join(packagesDir, name, 'dist');
    return existsSync(dist) && newestChange(dist) >= newestChange(join(packagesDir, name, 'src'));
  });
}

/**
 * Which `memmapfs` the tests run: the built `dist/bin.js` when it and the packages it runs are built
 * and newer than their sources (after `pnpm --filter "@memmapfs/*" build`), else `src/bin.ts` through
 * tsx (slower to start), so that the tests also run on a fresh clone. `MEMMAPFS_CLI_BIN=dist|source`
 * forces one.
 */
export const binaryKind: 'dist' | 'source' = (() => {
  const forced = process.env.MEMMAPFS_CLI_BIN;
  if (forced === 'dist' || forced === 'source') return forced;
  return distIsFresh() ? 'dist' : 'source';
})();

/** What one run of the binary wrote, and its exit code. */
export interface ProcessRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as bytes, for output that need not be text. */
  stdoutBytes: Buffer;
}

/** How to run the binary. */
export interface ProcessOptions {
  /** What stdin holds (then it ends). Default: nothing. */
  stdin?: string | Uint8Array;
  cwd?: string;
  /** Variables added to the environment (which has no MEMMAPFS_ROOT, NODE_PATH or NODE_OPTIONS). */
  env?: Record<string, string>;
}

/** The node arguments that start `memmapfs`. */
export function binaryCommand(): string[] {
  if (binaryKind === 'dist') return [builtBin];
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return ['--conditions=dev-source', '--import', tsx, sourceBin];
}

/** The environment of a run: the test's, less what would change how the binary resolves or finds its store. */
export function binaryEnvironment(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && name !== 'MEMMAPFS_ROOT' && name !== 'NODE_PATH' && name !== 'NODE_OPTIONS') env[name] = value;
  return { ...env, ...extra };
}

/** Runs `memmapfs ARGS` in a process of its own, as a user would from a shell, with stdout and stderr piped. */
export function memmapfs(args: readonly string[], options: ProcessOptions = {}): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...binaryCommand(), ...args], { cwd: options.cwd, env: binaryEnvironment(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin ?? '');
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code: code ?? (signal ? -1 : 0), stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
  });
}
