import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const child = fileURLToPath(new URL('./lease-child.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** Another process that takes leases through `tryLeaseFile`, one command at a time. */
export interface LeaseProcess {
  /** `tryLeaseFile(path, mode)`, kept as `name` when granted: `'held'`, `'busy'` or `'removed'`. */
  lease(name: string, mode: 'shared' | 'exclusive', path: string): Promise<'held' | 'busy' | 'removed'>;
  release(name: string): Promise<void>;
  /** SIGKILL; resolves once the process is gone (its leases with it). */
  kill(): Promise<void>;
}

/** Starts a process running `lease-child.ts`. */
export async function startLeaseProcess(): Promise<LeaseProcess> {
  const holder = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, child], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  holder.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => holder.on('exit', () => resolve()));
  const lines = createInterface({ input: holder.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<unknown> => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`the lease process ended: ${stderr}`);
    const reply = JSON.parse(value as string) as { ok?: unknown; error?: string };
    if (reply.error) throw new Error(`the lease process failed: ${reply.error}`);
    return reply.ok;
  };
  let queue: Promise<unknown> = next();
  if ((await queue) !== 'ready') throw new Error(`the lease process did not start: ${stderr}`);
  const send = (command: string): Promise<unknown> => {
    const reply = queue.then(() => {
      holder.stdin.write(`${command}\n`);
      return next();
    });
    queue = reply.catch(() => undefined);
    return reply;
  };
  return {
    lease: async (name, mode, path) => (await send(`lease ${name} ${mode} ${path}`)) as 'held' | 'busy' | 'removed',
    release: async (name) => void (await send(`release ${name}`)),
    kill: async () => {
      if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
      await exited;
    },
  };
}
