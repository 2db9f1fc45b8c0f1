import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** The arguments of `node` that run the store worker (`store-worker.ts`) with `args`. */
export function storeWorkerArgs(...args: string[]): string[] {
  return supportScriptArgs('store-worker.ts', ...args);
}

/** The arguments of `node` that run `script`, a TypeScript file of this folder, with `args`. */
export function supportScriptArgs(script: string, ...args: string[]): string[] {
  return ['--conditions=dev-source', '--import', tsx, fileURLToPath(new URL(`./${script}`, import.meta.url)), ...args];
}

/** The next line `child` prints, as JSON, each time it is called; fails with what `child` wrote to stderr once it ended (`who` names it). */
export function printedLines(child: ChildProcess, who: string): () => Promise<Record<string, unknown>> {
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`${who} ended early: ${stderr}`);
    return JSON.parse(value as string) as Record<string, unknown>;
  };
}

/** Starts a process that appends `text` to the store at `root`, reports its id, and then waits to be killed. */
export async function appendAndHold(root: string, text: string): Promise<{ id: number; kill: () => Promise<void> }> {
  const child = spawn(process.execPath, storeWorkerArgs('hold', root, text), { stdio: 'pipe' });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const { value, done } = await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next();
  if (done) throw new Error(`the holding writer ended early: ${stderr}`);
  return {
    id: (JSON.parse(value as string) as { id: number }).id,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Starts a process that takes the writer lock of the store at `root` and holds it until killed (`hold-writer-lock.ts`). */
export async function holdWriterLock(root: string): Promise<{ child: ChildProcess; kill: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, fileURLToPath(new URL('./hold-writer-lock.ts', import.meta.url)), root], { stdio: 'pipe' });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const { value } = await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next();
  if (value !== 'locked') throw new Error(`the lock holder did not take the lock: ${stderr}`);
  return {
    child,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
