import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { DeadBytesBound } from '../src/engine/dead-bytes-bound.js';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const ref = (chunk: number, length: number) => ({ chunk, offset: 0, length, crc: 0 });

describe('DeadBytesBound', () => {
  it('knows nothing before a count, after a block was let go of, or once the tables were replaced', () => {
    const bound = new DeadBytesBound();
    expect(bound.deadAtMost([{ chunk: 0, bytes: 100 }])).toBeUndefined();
    bound.counting();
    bound.counted(new Map([[0, 60]]));
    expect(bound.deadAtMost([{ chunk: 0, bytes: 100 }])).toBe(40);
    bound.letGo();
    expect(bound.deadAtMost([{ chunk: 0, bytes: 100 }])).toBeUndefined();
    bound.counting();
    bound.counted(new Map([[0, 60]]));
    bound.forget();
    expect(bound.deadAtMost([{ chunk: 0, bytes: 100 }])).toBeUndefined();
  });

  it('takes what chunks grew by for dead, but for the blocks records reference', () => {
    const bound = new DeadBytesBound();
    bound.counting();
    bound.counted(new Map([[0, 90], [1, 10]]));
    // Chunk 0 grew by 50 bytes that a record references, chunk 1 by 30 no record does (a failed append's),
    // and chunk 2 is new, with 20 referenced bytes of its 25.
    bound.referenced(ref(0, 50));
    bound.referenced(ref(2, 20));
    expect(bound.deadAtMost([{ chunk: 0, bytes: 150 }, { chunk: 1, bytes: 40 }, { chunk: 2, bytes: 25 }])).toBe(10 + 30 + 5);
    // Only the chunks asked about.
    expect(bound.deadAtMost([{ chunk: 1, bytes: 40 }])).toBe(30);
  });

  it('knows nothing after a count during which a block was let go of (the count may hold it as live)', () => {
    const bound = new DeadBytesBound();
    bound.counting();
    bound.letGo();
    bound.counted(new Map([[0, 100]]));
    expect(bound.deadAtMost([{ chunk: 0, bytes: 100 }])).toBeUndefined();
    bound.counting();
    bound.counted(new Map([[0, 100]]));
    expect(bound.deadAtMost([{ chunk: 0, bytes: 100 }])).toBe(0);
  });

  it('counts blocks referenced during a count from its end on only (one it missed is taken for dead)', () => {
    const bound = new DeadBytesBound();
    bound.counting();
    bound.counted(new Map([[0, 10]]));
    bound.counting();
    bound.referenced(ref(0, 40));
    bound.counted(new Map([[0, 10]]));
    expect(bound.deadAtMost([{ chunk: 0, bytes: 50 }])).toBe(40);
  });
});

describe('compaction by policy', () => {
  const rootOf = useTempRoot();
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** Appends `count` memories of about 100 bytes, 1,000 a call. */
  async function appendMany(fs: MemMapFS, count: number): Promise<number[]> {
    const ids: number[] = [];
    for (let i = 0; i < count; i += 1000) ids.push(...(await fs.appendMemories(Array.from({ length: 1000 }, (_, k) => ({ text: `memory ${i + k} ${'z'.repeat(90)}` })))));
    return ids;
  }

  it('counts the live bytes after a background checkpoint only when a block may have died since the last count', async () => {
    const considered = vi.spyOn(DeadBytesBound.prototype, 'deadAtMost');
    const counts = vi.spyOn(DeadBytesBound.prototype, 'counted');
    const fs = await MemMapFS.init(rootOf(), { codec: v8Codec(), search: new WordSearch(), durability: 'none', autoCompaction: { minDeadBytes: 1024 * 1024 } });
    const considerations = async (n: number) => vi.waitFor(() => expect(considered.mock.calls.length).toBeGreaterThanOrEqual(n), { timeout: 20_000, interval: 20 });
    // Enough changes for a checkpoint in the background each time (16,384, or a quarter of the last one's memories).
    const ids = await appendMany(fs, 17_000);
    await considerations(1);
    expect(counts).toHaveBeenCalledTimes(1);
    await appendMany(fs, 17_000);
    await considerations(2);
    expect(counts).toHaveBeenCalledTimes(1);
    await fs.deleteMemory(ids[0]!);
    await appendMany(fs, 17_000);
    await considerations(3);
    expect(counts).toHaveBeenCalledTimes(2);
    await fs.close();
  }, 60_000);
});
