import { spawn } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { StateChannel } from '../src/engine/state-channel.js';

/** A channel, the number of watchers it has registered, and how many of them wait in `next()`, as `onWaitingChanged` reports it. */
function channel() {
  const states = new StateChannel<number>();
  const counts: number[] = [];
  states.onWaitingChanged = (count) => counts.push(count);
  return { states, counts, watching: () => states.watcherCount, waiting: () => counts.at(-1) ?? 0 };
}

describe('StateChannel.watch', () => {
  it('registers the watcher at the call and delivers the states published after it', async () => {
    const { states, watching } = channel();
    const watch = states.watch();
    expect(watching()).toBe(1);
    states.publish(1);
    states.publish(2);
    expect(await watch.next()).toEqual({ done: false, value: 1 });
    expect(await watch.next()).toEqual({ done: false, value: 2 });
    states.end();
    expect(await watch.next()).toEqual({ done: true, value: undefined });
    expect(watching()).toBe(0);
  });

  it('answers next() calls made together in order, as a generator does', async () => {
    const { states } = channel();
    const watch = states.watch();
    const first = watch.next();
    const second = watch.next();
    states.publish(1);
    states.publish(2);
    expect(await Promise.all([first, second])).toEqual([
      { done: false, value: 1 },
      { done: false, value: 2 },
    ]);
  });

  it('lets go of a watcher whose signal aborts before its first next(), and buffers nothing for it', async () => {
    const { states, watching } = channel();
    const controller = new AbortController();
    const watch = states.watch(controller.signal);
    expect(watching()).toBe(1);
    controller.abort();
    expect(watching()).toBe(0);
    for (let i = 0; i < 100; i++) states.publish(i);
    await expect(watch.next()).rejects.toMatchObject({ name: 'AbortError' });
    expect(await watch.next()).toEqual({ done: true, value: undefined });
  });

  it('never registers a watcher whose signal has already aborted', async () => {
    const { states, watching } = channel();
    const watch = states.watch(AbortSignal.abort(new Error('gave up')));
    states.publish(1);
    expect(watching()).toBe(0);
    await expect(watch.next()).rejects.toThrow('gave up');
    expect(await watch.next()).toEqual({ done: true, value: undefined });
  });

  it('lets go of a watcher returned before its first next()', async () => {
    const { states, watching } = channel();
    const controller = new AbortController();
    const watch = states.watch(controller.signal);
    expect(await watch.return()).toEqual({ done: true, value: undefined });
    expect(watching()).toBe(0);
    states.publish(1);
    expect(await watch.next()).toEqual({ done: true, value: undefined });
  });
});

describe('StateChannel.watch and what keeps a process alive', () => {
  it('counts as waiting (what keeps the process alive) only a watcher whose next() waits for a state, not one registered and never iterated', async () => {
    const { states, waiting, counts } = channel();
    const idle = states.watch();
    const looping = states.watch();
    expect(waiting()).toBe(0);
    const next = looping.next();
    await Promise.resolve();
    expect(waiting()).toBe(1);
    states.publish(7);
    expect(await next).toEqual({ done: false, value: 7 });
    expect(waiting()).toBe(0);
    // The idle one still has what was published since its call.
    expect(await idle.next()).toEqual({ done: false, value: 7 });
    expect(counts.every((count) => count <= 1)).toBe(true);
    states.end();
  });

  it('takes its abort listener off the signal when the channel ends, whether or not it was ever iterated', async () => {
    const { states } = channel();
    const signal = new AbortController().signal;
    const watches = [states.watch(signal), states.watch(signal), states.watch(signal)];
    expect(getEventListeners(signal, 'abort')).toHaveLength(3);
    states.publish(1);
    states.end();
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    // What was sent before the end is still there to drain.
    expect(await watches[0]!.next()).toEqual({ done: false, value: 1 });
    expect(await watches[0]!.next()).toEqual({ done: true, value: undefined });
  });
});

describe('watchState in a process of its own', () => {
  it('lets the process exit when it has nothing left to do and its watcher was never iterated', async () => {
    const root = await mkdtemp(join(tmpdir(), 'memmapfs-watch-exit-'));
    try {
      const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
      const script = fileURLToPath(new URL('./support/watch-never-iterated.ts', import.meta.url));
      const child = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, script, join(root, 'store')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 15_000);
        child.on('exit', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!exited) child.kill('SIGKILL');
      expect(stdout, stderr).toBe('ready\n');
      expect(exited, 'the process was still running 15 s after it had nothing left to do').toBe(true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('StateChannel.publish', () => {
  /** The warnings emitted while `body` runs, and a few turns after (a rejection is heard on a later turn). */
  async function warningsOf(body: () => void): Promise<string[]> {
    const warnings: string[] = [];
    const unhandled: unknown[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(`${warning.code}: ${warning.message}`);
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('warning', onWarning);
    process.on('unhandledRejection', onUnhandled);
    try {
      body();
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.off('warning', onWarning);
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    return warnings;
  }

  it('reports a listener whose promise rejects as a warning, as one that throws, and goes on to the others', async () => {
    const states = new StateChannel<{ n: number }>();
    const heard: number[] = [];
    states.subscribe(async () => {
      await null;
      throw new Error('the listener failed later');
    });
    states.subscribe(() => {
      throw new Error('the listener failed at once');
    });
    states.subscribe((state) => heard.push(state.n));
    const warnings = await warningsOf(() => states.publish({ n: 1 }));
    expect(warnings.sort()).toEqual(['MEMMAPFS_SUBSCRIBER_ERROR: A state subscriber threw: the listener failed at once', 'MEMMAPFS_SUBSCRIBER_ERROR: A state subscriber threw: the listener failed later']);
    expect(heard).toEqual([1]);
  });

  it('gives every listener and watcher a copy of its own: one that changes it changes no one else\'s', async () => {
    const states = new StateChannel<{ status: string; extra: { seen: string[] } }>();
    const heard: string[] = [];
    states.subscribe((state) => {
      state.status = 'changed by a listener';
      state.extra.seen.push('first listener');
    });
    states.subscribe((state) => heard.push(`${state.status} ${state.extra.seen.join(',')}`));
    const watch = states.watch();
    const other = states.watch();
    states.publish({ status: 'written', extra: { seen: [] } });
    const { value } = await watch.next();
    value!.extra.seen.push('a watcher');
    expect(heard).toEqual(['written ']);
    expect((await other.next()).value).toEqual({ status: 'written', extra: { seen: [] } });
    states.end();
  });
});

describe('StateChannel.publish, listeners added or removed by a listener', () => {
  it('calls one added during a publish from the next state on, and one removed during it no more; each with a copy of its own', () => {
    const states = new StateChannel<{ n: number }>();
    const got: Array<[string, { n: number }]> = [];
    let offSecond: () => void = () => undefined;
    states.subscribe((state) => {
      got.push(['first', state]);
      if (state.n === 1) {
        states.subscribe((later) => got.push(['added', later]));
        offSecond();
      }
    });
    offSecond = states.subscribe((state) => got.push(['second', state]));
    states.subscribe((state) => got.push(['third', state]));
    states.publish({ n: 1 });
    states.publish({ n: 2 });
    expect(got.map(([who, state]) => `${who} ${state.n}`)).toEqual(['first 1', 'third 1', 'first 2', 'third 2', 'added 2']);
    const ofSecondState = got.slice(2).map(([, state]) => state);
    expect(new Set(ofSecondState).size).toBe(3);
  });
});
