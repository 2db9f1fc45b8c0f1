import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';

it('keeps the event loop free during a burst of durable appends', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'memmapfs-loop-'));
  const fs = await MemMapFS.init(join(dir, 'store'), { search: flexsearch(), codec: msgpack() });
  try {
    await fs.appendMemory('warm-up memory so the first commit does not count');
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    histogram.enable();
    // Turns of the event loop while each burst's commits are in flight. (A burst may have none: lone
    // commits are written from the event loop for up to CommitWrites' runMs after its last turn, and a
    // quick burst can be all lone commits within that. Over all ten, the bound gives turns.)
    let turns = 0;
    let counting = true;
    const countTurns = (): void => {
      turns++;
      if (counting) setImmediate(countTurns);
    };
    const turnsInBurst: number[] = [];
    const started = performance.now();
    for (let round = 0; round < 10; round++) {
      const before = turns;
      setImmediate(countTurns);
      await Promise.all(Array.from({ length: 64 }, (_, i) => fs.appendMemory(`burst ${round}/${i}: the agent noted something worth keeping`, ['burst'])));
      turnsInBurst.push(turns - before);
      counting = false;
      await new Promise((resolve) => setImmediate(resolve));
      counting = true;
      for (let i = 0; i < 10; i++) await fs.appendMemory(`one at a time ${round}/${i}`);
    }
    counting = false;
    const elapsed = performance.now() - started;
    histogram.disable();
    clearInterval(timer);
    const maxMs = histogram.max / 1e6;
    const p99Ms = histogram.percentile(99) / 1e6;
    // (The delays are reported, not asserted: they measure the machine as much as the store.)
    console.log(`740 durable appends in ${elapsed.toFixed(0)} ms; event-loop delay p99 ${p99Ms.toFixed(2)} ms, max ${maxMs.toFixed(2)} ms; 1 ms timer fired ${ticks} times; turns during each burst ${turnsInBurst.join(', ')}`);
    // Timers keep firing while commits are in flight: the fsyncs run on libuv's thread pool.
    expect(turnsInBurst.reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0);
    expect(ticks).toBeGreaterThan(elapsed / 20);
    expect(fs.stats().memories).toBe(741);
  } finally {
    await fs.close();
    await rm(dir, { recursive: true, force: true });
  }
});

it('keeps timers firing during a long run of durable appends awaited one at a time', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'memmapfs-loop-'));
  const fs = await MemMapFS.init(join(dir, 'store'), { search: flexsearch(), codec: msgpack() });
  try {
    // (Enough quick commits first that lone ones may be written from the event loop: see CommitWrites.)
    for (let i = 0; i < 20; i++) await fs.appendMemory(`warm-up ${i}`);
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    histogram.enable();
    const started = performance.now();
    for (let i = 0; i < 2000; i++) await fs.appendMemory(`one at a time ${i}: the agent noted something`);
    const elapsed = performance.now() - started;
    histogram.disable();
    clearInterval(timer);
    const p99Ms = histogram.percentile(99) / 1e6;
    const synchronous = (fs as unknown as { engine: { wal: { commitWrites: { synchronous: number } } } }).engine.wal.commitWrites.synchronous;
    console.log(`2,000 awaited durable appends in ${elapsed.toFixed(0)} ms (${synchronous} commits written from the event loop); event-loop delay p99 ${p99Ms.toFixed(2)} ms, max ${(histogram.max / 1e6).toFixed(2)} ms; 1 ms timer fired ${ticks} times`);
    // (Not vacuous: commits were written from the event loop, however slow the disk was at times.)
    expect(synchronous).toBeGreaterThan(0);
    // A chain of awaited appends gives the event loop a turn every few milliseconds, however it writes.
    expect(ticks).toBeGreaterThan(elapsed / 20);
    expect(fs.stats().memories).toBe(2020);
  } finally {
    await fs.close();
    await rm(dir, { recursive: true, force: true });
  }
});
