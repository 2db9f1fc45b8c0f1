import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** Runs a TypeScript file from the sources in a Node process of its own and resolves what it printed; rejects, with its stderr, when it fails. */
export function runScript(script: string, args: readonly string[], cwd?: string): Promise<string> {
  const child = spawn(process.execPath, [...scriptArgs(script), ...args], { stdio: 'pipe', ...(cwd ? { cwd } : {}) });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${script} ${args.join(' ')} exited with ${code}: ${stderr}`))));
  });
}

/** The arguments of `node` that run the TypeScript file `script` from the sources (its own arguments follow). */
export function scriptArgs(script: string): string[] {
  return ['--conditions=dev-source', '--import', tsx, script];
}
