import { describe, expect, it } from 'vitest';
import { COMMIT_WRITE_LIMITS, CommitWrites, type WriteSync } from '../src/commit-writes.js';

const writeSync: WriteSync = () => 0;
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** A `CommitWrites` on a clock the test moves. */
function withClock() {
  let now = 0;
  const writes = new CommitWrites(writeSync, COMMIT_WRITE_LIMITS, () => now);
  return { writes, advance: (ms: number) => (now += ms) };
}

/** How many of the next `n` lone commits are written from the event loop, each taking `ms`. */
function run(writes: CommitWrites, n: number, ms: number): number {
  let synchronous = 0;
  for (let i = 0; i < n; i++) {
    const chosen = writes.choose(1, 100);
    if (chosen) synchronous++;
    writes.took(ms, chosen !== undefined);
  }
  return synchronous;
}

describe('CommitWrites: when a commit writes from the event loop', () => {
  it('after the first firstAfter lone commits, every lone commit of at most maxBytes; never a batch or a larger one', () => {
    const { writes } = withClock();
    expect(run(writes, COMMIT_WRITE_LIMITS.firstAfter, 0.2)).toBe(0);
    expect(run(writes, 50, 0.2)).toBe(50);
    expect(writes.choose(2, 100)).toBeUndefined();
    expect(writes.choose(1, COMMIT_WRITE_LIMITS.maxBytes + 1)).toBeUndefined();
  });

  it('a slow write sends the next lone commits through the thread pool, twice as many after each slow one, halved after quickStreak quick ones in a row', () => {
    const { writes } = withClock();
    run(writes, 8, 0.2);
    expect(run(writes, 1, 5)).toBe(1);
    expect(run(writes, 16, 0.2)).toBe(0);
    // The next try is slow again: 32 through the pool.
    expect(run(writes, 1, 5)).toBe(1);
    expect(run(writes, 32, 0.2)).toBe(0);
    // A few quick ones do not undo it: the next slow one costs 64.
    expect(run(writes, 3, 0.2)).toBe(3);
    run(writes, 1, 5);
    expect(run(writes, 64, 0.2)).toBe(0);
    // 64 quick ones in a row halve it (64 to 32): the next slow one costs 64, not 128.
    expect(run(writes, 64, 0.2)).toBe(64);
    run(writes, 1, 5);
    expect(run(writes, 64, 0.2)).toBe(0);
    expect(run(writes, 1, 0.2)).toBe(1);
  });

  it('a disk that stalls one write in twenty costs the event loop about one stall in every maxAfter commits', () => {
    const { writes } = withClock();
    let synchronous = 0;
    let stalls = 0;
    for (let i = 0; i < 20_000; i++) {
      const chosen = writes.choose(1, 100);
      const slow = chosen !== undefined && ++synchronous % 20 === 0;
      if (slow) stalls++;
      writes.took(slow ? 20 : 0.2, chosen !== undefined);
    }
    expect(stalls).toBeGreaterThan(0);
    expect(stalls).toBeLessThan(20_000 / COMMIT_WRITE_LIMITS.maxAfter + 10);
  });

  it('a lone commit after a pause is written from the event loop: the run starts anew after each turn', async () => {
    const { writes, advance } = withClock();
    run(writes, 8, 0.2);
    for (let i = 0; i < 3; i++) {
      expect(writes.choose(1, 100)).toBe(writeSync);
      writes.took(0.2, true);
      await turn();
      advance(10);
    }
  });

  it('at most runMs of writes from the event loop between two turns of it', async () => {
    const { writes, advance } = withClock();
    run(writes, 8, 0.2);
    expect(writes.choose(1, 100)).toBe(writeSync);
    advance(COMMIT_WRITE_LIMITS.runMs + 0.5);
    // (No turn since: this one goes through the thread pool, which gives the event loop one.)
    expect(writes.choose(1, 100)).toBeUndefined();
    await turn();
    expect(writes.choose(1, 100)).toBe(writeSync);
  });

  it('never without a synchronous write to use', () => {
    const writes = new CommitWrites(undefined);
    expect(run(writes, 100, 0.1)).toBe(0);
  });
});
