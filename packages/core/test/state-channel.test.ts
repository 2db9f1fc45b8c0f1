import { describe, expect, it } from 'vitest';
import { StateChannel } from '../src/engine/state-channel.js';

/** A channel and the number of watchers it has registered, as its `onWatchersChanged` reports it. */
function channel() {
  const states = new StateChannel<number>();
  const counts: number[] = [];
  states.onWatchersChanged = (count) => counts.push(count);
  return { states, counts, watching: () => counts.at(-1) ?? 0 };
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
    const { states, counts } = channel();
    const watch = states.watch(AbortSignal.abort(new Error('gave up')));
    states.publish(1);
    expect(counts).toEqual([]);
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
