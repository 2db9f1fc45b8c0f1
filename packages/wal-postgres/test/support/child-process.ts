import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const script = fileURLToPath(new URL('./log-child.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** A running `log-child.ts`: the JSON lines it printed so far, and a way to wait for one. */
export interface LogChild {
  readonly process: ChildProcess;
  readonly lines: unknown[];
  /** Resolves with the first line (printed so far or later) that `match` accepts. */
  line<T = Record<string, unknown>>(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<T>;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** What the process wrote to stderr. */
  stderr(): string;
  /** Tells a child started with `waitForGo` to begin. */
  go(): void;
}

export function startLogChild(task: Record<string, unknown>): LogChild {
  const child = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, script, JSON.stringify(task)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: unknown[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (data: string) => (stderr += data));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    lines.push(JSON.parse(text));
    for (const wake of waiters) wake();
  });
  let gone = false;
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => {
    gone = true;
    resolve(code ?? signal ?? -1);
    for (const wake of waiters) wake();
  }));
  return {
    process: child,
    lines,
    exited,
    stderr: () => stderr,
    go: () => child.stdin!.write('go\n'),
    line<T>(match: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`no such line from the child after ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs);
        const look = () => {
          const found = lines.find((line) => match(line as Record<string, unknown>));
          if (found !== undefined) finish(undefined, found as T);
          else if (gone) finish(new Error(`the child ended without such a line; stderr:\n${stderr}`));
        };
        const finish = (error?: Error, value?: T) => {
          clearTimeout(timer);
          waiters.delete(look);
          if (error) reject(error);
          else resolve(value!);
        };
        waiters.add(look);
        look();
      });
    },
  };
}
