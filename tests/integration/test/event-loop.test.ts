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
    const started = performance.now();
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 64 }, (_, i) => fs.appendMemory(`burst ${round}/${i}: the agent noted something worth keeping`, ['burst'])));
      for (let i = 0; i < 10; i++) await fs.appendMemory(`one at a time ${round}/${i}`);
    }
    const elapsed = performance.now() - started;
    histogram.disable();
    clearInterval(timer);
    const maxMs = histogram.max / 1e6;
    const p99Ms = histogram.percentile(99) / 1e6;
    console.log(`740 durable appends in ${elapsed.toFixed(0)} ms; event-loop delay p99 ${p99Ms.toFixed(2)} ms, max ${maxMs.toFixed(2)} ms; 1 ms timer fired ${ticks} times`);
    // Timers keep firing while commits are in flight: the fsyncs run on libuv's thread pool.
    expect(ticks).toBeGreaterThan(elapsed / 20);
    expect(p99Ms).toBeLessThan(25);
    expect(maxMs).toBeLessThan(150);
    expect(fs.stats().memories).toBe(741);
  } finally {
    await fs.close();
    await rm(dir, { recursive: true, force: true });
  }
});
