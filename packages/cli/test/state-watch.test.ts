import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MemMapFS, type AgentState } from '@memmapfs/core';
import msgpack from '@memmapfs/codec-msgpack';
import flexsearch from '@memmapfs/search-flexsearch';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli, type CliIo } from '../src/index.js';
import { initStore, inStore, paths, useTempStore, type Run } from './harness.js';

useTempStore();

/** Stores the test opened itself, closed after each test (before its folder is removed). */
const opened: MemMapFS[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

/** Opens the test's store with core, as another writer would. */
async function openWriter(): Promise<MemMapFS> {
  const store = await MemMapFS.init(paths.root, { search: flexsearch(), codec: msgpack() });
  opened.push(store);
  return store;
}

const state = (status: string, lastUpdatedId: number, extra: Record<string, unknown> = {}): AgentState => ({ status, activeMemoryCount: 1, lastUpdatedId, extra });

/** The JSON lines of `stdout`, each checked to be compact and newline-terminated. */
function jsonLines(stdout: string): unknown[] {
  expect(stdout.endsWith('\n') || stdout === '').toBe(true);
  return stdout.split('\n').slice(0, -1).map((line) => {
    const value: unknown = JSON.parse(line);
    expect(line).toBe(JSON.stringify(value));
    return value;
  });
}

interface Watch {
  /** The run, once the watch ends. */
  done: Promise<Run>;
  /** The CLI's store, once it watches: a change committed after this is printed. */
  watching: Promise<MemMapFS>;
}

/** Runs `state watch ARGS` in this process against the test's store. */
function watch(args: string[], signal?: AbortSignal): Watch {
  let started!: (store: MemMapFS) => void;
  const watching = new Promise<MemMapFS>((resolve) => (started = resolve));
  const watchState = MemMapFS.prototype.watchState;
  // The command calls `next()` in the same tick as `watchState()`, so by the time `watching`
  // settles for the test, the iterator is registered.
  vi.spyOn(MemMapFS.prototype, 'watchState').mockImplementation(function (this: MemMapFS) {
    const states = watchState.call(this);
    started(this);
    return states;
  });
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    env: {},
    ...(signal ? { signal } : {}),
  };
  const done = runCli(['--root', paths.root, 'state', 'watch', ...args], io).then((code) => ({ code, stdout, stderr }));
  return { done, watching };
}

describe('state watch, in process', () => {
  it('prints each change another writer makes, as JSON lines, and exits 0 after --count changes', async () => {
    await initStore();
    const { done, watching } = watch(['--json', '--count', '2']);
    const cliStore = await watching;
    const writer = await openWriter();
    const first = state('running', 7, { step: 1 });
    const second = state('done', 8, { step: 2, notes: ['a b'] });
    await writer.updateState(first);
    await writer.updateState(second);

    const run = await done;
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(jsonLines(run.stdout)).toEqual([first, second]);
    expect(() => cliStore.getState()).toThrow(expect.objectContaining({ code: 'STORE_CLOSED' }));
  });

  it('prints the current state first with --initial, not counting it, and one line per change for people', async () => {
    await initStore();
    const { done, watching } = watch(['--initial', '--count', '1']);
    await watching;
    await (await openWriter()).updateState(state('waiting for user', 3, { k: 1 }));

    const run = await done;
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const time = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;
    expect(run.stdout).toMatch(
      new RegExp(`^${time}  status=idle  activeMemoryCount=0  lastUpdatedId=0  extra=\\{\\}\n${time}  status="waiting for user"  activeMemoryCount=1  lastUpdatedId=3  extra=\\{"k":1\\}\n$`),
    );
  });

  it('stops when its signal aborts: exit 0, the changes seen so far printed, the store closed', async () => {
    await initStore();
    const controller = new AbortController();
    const { done, watching } = watch(['--json'], controller.signal);
    const cliStore = await watching;
    const changed = new Promise<void>((resolve) => {
      const off = cliStore.subscribeState(() => {
        off();
        resolve();
      });
    });
    const writer = await openWriter();
    await writer.updateState(state('running', 1));
    await changed;
    controller.abort();

    const run = await done;
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(jsonLines(run.stdout)).toEqual([state('running', 1)]);
    expect(() => cliStore.getState()).toThrow(expect.objectContaining({ code: 'STORE_CLOSED' }));
  });

  it('ends at once, exit 0, when its signal is already aborted', async () => {
    await initStore();
    expect(await watch(['--initial'], AbortSignal.abort()).done).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it.each([['0'], ['-1'], ['x'], ['1.5'], ['']])('refuses --count %j as a usage error (exit 2), before opening the store', async (count) => {
    const run = await inStore(['state', 'watch', `--count=${count}`]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain("run 'memmapfs state watch --help'");
  });

  it('fails with STORE_NOT_FOUND when there is no store', async () => {
    const run = await inStore(['--json', 'state', 'watch']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { code: 'STORE_NOT_FOUND' } });
  });

  it('is listed in help, with --initial and --count', async () => {
    expect((await inStore(['state', '--help'])).stdout).toContain('Usage: memmapfs state watch [--initial] [--count N]');
    const help = await inStore(['state', 'watch', '--help']);
    expect(help.stdout).toMatch(/--initial +Print the current state first/);
    expect(help.stdout).toMatch(/--count N +Exit after N changes/);
  });
});

describe('state watch, in a child process', () => {
  const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const children: ChildProcess[] = [];

  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  /** Node running `src/bin.ts` from source, like the tests of the binary in cli.test.ts, without vitest's NODE_PATH. */
  function nodeArgs(args: string[]): [string[], { env: NodeJS.ProcessEnv }] {
    const env = { ...process.env };
    delete env.MEMMAPFS_ROOT;
    delete env.NODE_PATH;
    return [['--conditions=dev-source', '--import', tsx, bin, '--root', paths.root, ...args], { env }];
  }

  function memmapfs(args: string[]): Promise<Run> {
    const [argv, options] = nodeArgs(args);
    return new Promise((resolve) => {
      execFile(process.execPath, argv, options, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      });
    });
  }

  it("prints another process's changes as they happen, and exits 0 on SIGINT", async () => {
    await initStore();
    const [argv, options] = nodeArgs(['state', 'watch', '--json', '--initial']);
    const watcher = spawn(process.execPath, argv, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(watcher);
    let stderr = '';
    watcher.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => watcher.on('exit', (code, signal) => resolve([code, signal])));
    const lines = createInterface({ input: watcher.stdout })[Symbol.asyncIterator]();
    const nextLine = async (): Promise<unknown> => {
      const next = await lines.next();
      expect(next.done, `the watcher ended early; stderr: ${stderr}`).toBe(false);
      return JSON.parse(next.value as string);
    };

    // The first line is the current state: from then on, the watcher sees every change.
    expect(await nextLine()).toEqual({ status: 'idle', activeMemoryCount: 0, lastUpdatedId: 0, extra: {} });
    expect(await memmapfs(['state', 'set', '{"status":"running","lastUpdatedId":4,"extra":{"task":"triage"}}'])).toMatchObject({ code: 0, stderr: '' });
    expect(await memmapfs(['state', 'set', '{"status":"done","activeMemoryCount":2}'])).toMatchObject({ code: 0, stderr: '' });
    expect(await nextLine()).toEqual({ status: 'running', activeMemoryCount: 0, lastUpdatedId: 4, extra: { task: 'triage' } });
    expect(await nextLine()).toEqual({ status: 'done', activeMemoryCount: 2, lastUpdatedId: 4, extra: { task: 'triage' } });

    watcher.kill('SIGINT');
    expect(await exited).toEqual([0, null]);
    expect((await lines.next()).done).toBe(true);
    expect(stderr).toBe('');
  });

  it('exits 0 at the next change once its stdout is closed', async () => {
    await initStore();
    const [argv, options] = nodeArgs(['state', 'watch', '--initial']);
    const watcher = spawn(process.execPath, argv, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(watcher);
    let stderr = '';
    watcher.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => watcher.on('exit', (code, signal) => resolve([code, signal])));
    await new Promise((resolve) => watcher.stdout.once('data', resolve));
    watcher.stdout.destroy();

    expect((await memmapfs(['state', 'set', '{"status":"running"}'])).code).toBe(0);
    expect(await exited).toEqual([0, null]);
    expect(stderr).toBe('');
  });
});

describe('state set beside another writer', () => {
  it('changes only the fields it names: a field another process changes meanwhile is never set back, and it prints the state it made', async () => {
    await initStore();
    const writer = await openWriter();
    const counts: number[] = [];
    const unsubscribe = writer.subscribeState((next) => counts.push(Number((next.extra as { n?: number }).n ?? 0)));
    let n = 0;
    let stop = false;
    const merging = (async () => {
      // (As an agent would, it lets other work in between: two handles of one process, each merging in
      // a loop that never yields, would take turns at the writer lock unfairly.)
      while (!stop) {
        await writer.mergeState({ extra: { n: ++n } });
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    const printed: unknown[] = [];
    try {
      for (let i = 0; i < 15; i++) {
        const run = await inStore(['--json', 'state', 'set', JSON.stringify({ status: `cli-${i}` })]);
        expect(run.code, run.stderr).toBe(0);
        printed.push((JSON.parse(run.stdout) as { status: string }).status);
      }
    } finally {
      stop = true;
      await merging;
      unsubscribe();
    }
    // What each run printed is the state it wrote (its status), not a later one of the other writer's.
    expect(printed).toEqual(Array.from({ length: 15 }, (_, i) => `cli-${i}`));
    await writer.catchUp();
    expect((writer.getState().extra as { n: number }).n).toBe(n);
    expect(writer.getState().status).toBe('cli-14');
    // (Every state either process committed, in order: the counter never goes back.)
    expect(counts.length).toBeGreaterThan(15);
    for (let i = 1; i < counts.length; i++) expect(counts[i], `state ${i} of ${counts.length}`).toBeGreaterThanOrEqual(counts[i - 1]!);
  });
});
