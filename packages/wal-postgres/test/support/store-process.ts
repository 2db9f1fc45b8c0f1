import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const script = fileURLToPath(new URL('./store-child.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export type Line = Record<string, unknown>;

/** A running `store-child.ts` (a host of its own): the JSON lines it printed so far, and ways to wait on them. */
export interface StoreChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly lines: Line[];
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** Resolves once `condition` holds (checked now and at each new line); rejects after `timeoutMs` or when the child ends first. */
  until(condition: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Resolves with the first line (printed so far or later) that `match` accepts. */
  line<T = Line>(match: (line: Line) => boolean, what: string, timeoutMs?: number): Promise<T>;
  /** Sends a command line to the child's stdin. */
  send(command: string): void;
  stderr(): string;
}

export function startStoreChild(task: { readonly name: string } & Record<string, unknown>): StoreChild {
  const child = spawn(process.execPath, ['--expose-gc', '--conditions=dev-source', '--import', tsx, script, JSON.stringify(task)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: Line[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let gone = false;
  child.stderr!.setEncoding('utf8').on('data', (data: string) => (stderr += data));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {
      lines.push({ unparsed: text.slice(0, 500) });
    }
    for (const wake of [...waiters]) wake();
  });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => {
    gone = true;
    resolve(code ?? signal ?? -1);
    for (const wake of [...waiters]) wake();
  }));
  const until = (condition: () => boolean, what: string, timeoutMs = 20_000) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`child ${task.name}: still not ${what} after ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs);
    const look = () => {
      if (condition()) finish();
      else if (gone) finish(new Error(`child ${task.name} ended before ${what}; stderr:\n${stderr}`));
    };
    const finish = (error?: Error) => {
      clearTimeout(timer);
      waiters.delete(look);
      if (error) reject(error);
      else resolve();
    };
    waiters.add(look);
    look();
  });
  return {
    name: task.name,
    process: child,
    lines,
    exited,
    until,
    async line<T>(match: (line: Line) => boolean, what: string, timeoutMs?: number): Promise<T> {
      await until(() => lines.some(match), what, timeoutMs);
      return lines.find(match) as T;
    },
    send: (command) => {
      child.stdin!.write(`${command}\n`);
    },
    stderr: () => stderr,
  };
}
