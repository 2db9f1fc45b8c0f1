import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const child = fileURLToPath(new URL('./lock-child.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** Another process that opens files and locks them through this package's lock binding, one command at a time. */
export interface LockProcess {
  /** Opens `path` read-write as descriptor `name`. */
  open(name: string, path: string): Promise<void>;
  /** `tryLock` through descriptor `name`: whether it was granted. */
  tryLock(name: string, mode: 'shared' | 'exclusive'): Promise<boolean>;
  unlock(name: string): Promise<void>;
  close(name: string): Promise<void>;
  /** SIGKILL; resolves once the process is gone (its locks with it). */
  kill(): Promise<void>;
}

/** Starts a process running `lock-child.ts`. */
export async function startLockProcess(): Promise<LockProcess> {
  const holder = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, child], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  holder.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => holder.on('exit', () => resolve()));
  const lines = createInterface({ input: holder.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<unknown> => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`the lock process ended: ${stderr}`);
    const reply = JSON.parse(value as string) as { ok?: unknown; error?: string };
    if (reply.error) throw new Error(`the lock process failed: ${reply.error}`);
    return reply.ok;
  };
  let queue: Promise<unknown> = next();
  if ((await queue) !== 'ready') throw new Error(`the lock process did not start: ${stderr}`);
  const send = (command: string): Promise<unknown> => {
    const reply = queue.then(() => {
      holder.stdin!.write(`${command}\n`);
      return next();
    });
    queue = reply.catch(() => undefined);
    return reply;
  };
  return {
    open: async (name, path) => void (await send(`open ${name} ${path}`)),
    tryLock: async (name, mode) => (await send(`try ${name} ${mode}`)) as boolean,
    unlock: async (name) => void (await send(`unlock ${name}`)),
    close: async (name) => void (await send(`close ${name}`)),
    kill: async () => {
      killProcess(holder);
      await exited;
    },
  };
}

function killProcess(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
