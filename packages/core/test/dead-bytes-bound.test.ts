import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { DeadBytesBound } from '../src/engine/dead-bytes-bound.js';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const ref = (chunk: number, length: number) => ({ chunk, offset: 0, length, crc: 0 });

const KiB = 1024;

describe('DeadBytesBound', () => {
  it('knows nothing before a count, after a block was let go of, or once the tables were replaced', () => {
    const bound = new DeadBytesBound();
    expect(bound.deadAtMost([{ chunk: 0, bytes: 200 * KiB }])).toBeUndefined();
    bound.counting();
    bound.counted(new Map([[0, 60 * KiB]]));
    expect(bound.deadAtMost([{ chunk: 0, bytes: 200 * KiB }])).toBe(140 * KiB);
    bound.letGo();
    expect(bound.deadAtMost([{ chunk: 0, bytes: 200 * KiB }])).toBeUndefined();
    bound.counting();
    bound.counted(new Map([[0, 60 * KiB]]));
    bound.forget();
    expect(bound.deadAtMost([{ chunk: 0, bytes: 200 * KiB }])).toBeUndefined();
  });

  it('takes what chunks grew by for dead, but for the blocks records reference', () => {
    const bound = new DeadBytesBound();
    bound.counting();
    bound.counted(new Map([[0, 100 * KiB], [1, 10 * KiB]]));
    // Chunk 0 grew by 500 KiB that records reference, chunk 1 by 90 KiB no record does (a failed
    // append's), and chunk 2 is new, with 20 referenced KiB of its 100.
    bound.referenced(ref(0, 500 * KiB));
    bound.referenced(ref(2, 20 * KiB));
    expect(bound.deadAtMost([{ chunk: 0, bytes: 600 * KiB }, { chunk: 1, bytes: 100 * KiB }, { chunk: 2, bytes: 100 * KiB }])).toBe(90 * KiB + 80 * KiB);
    // Only the chunks asked about.
    expect(bound.deadAtMost([{ chunk: 1, bytes: 100 * KiB }])).toBe(90 * KiB);
  });

  it('leaves out the chunks compaction would not take: less than half dead, or less than 64 KiB', () => {
    const bound = new DeadBytesBound();
    bound.counting();
    bound.counted(new Map([[0, 600 * KiB], [1, 0], [2, 100 * KiB]]));
    // 400 of 1,000 KiB dead at most (less than half), 60 KiB of 60 (less than 64 KiB), 100 of 200 (half: taken).
    expect(bound.deadAtMost([{ chunk: 0, bytes: 1000 * KiB }, { chunk: 1, bytes: 60 * KiB }, { chunk: 2, bytes: 200 * KiB }])).toBe(100 * KiB);
  });

  it('knows nothing after a count during which a block was let go of (the count may hold it as live)', () => {
    const bound = new DeadBytesBound();
    bound.counting();
    bound.letGo();
    bound.counted(new Map([[0, 100 * KiB]]));
    expect(bound.deadAtMost([{ chunk: 0, bytes: 100 * KiB }])).toBeUndefined();
    bound.counting();
    bound.counted(new Map([[0, 100 * KiB]]));
    expect(bound.deadAtMost([{ chunk: 0, bytes: 100 * KiB }])).toBe(0);
  });

  it('counts blocks referenced during a count from its end on only (one it missed is taken for dead)', () => {
    const bound = new DeadBytesBound();
    bound.counting();
    bound.counted(new Map([[0, 10 * KiB]]));
    bound.counting();
    bound.referenced(ref(0, 100 * KiB));
    bound.counted(new Map([[0, 10 * KiB]]));
    expect(bound.deadAtMost([{ chunk: 0, bytes: 110 * KiB }])).toBe(100 * KiB);
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
    const root = rootOf();
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), durability: 'none', chunkSizeBytes: 128 * 1024, autoCompaction: { minDeadBytes: 1024 * 1024 } });
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
    // Then most of the first memories go: the next checkpoint counts, and compaction by policy takes
    // the chunk files they filled.
    const chunkFiles = async () => (await readdir(join(root, 'blocks'))).filter((name) => name.endsWith('.bin'));
    const before = await chunkFiles();
    for (let i = 1; i < 15_000; i += 500) await Promise.all(ids.slice(i, i + 500).map((id) => fs.deleteMemory(id)));
    await appendMany(fs, 17_000);
    await considerations(4);
    expect(counts).toHaveBeenCalledTimes(3);
    await vi.waitFor(async () => expect((await chunkFiles()).filter((name) => before.includes(name)).length).toBeLessThan(before.length - 5), { timeout: 20_000, interval: 100 });
    expect((await fs.getMemory(ids[16_000]!))?.text).toMatch(/^memory 16000 /);
    await fs.close();
  }, 90_000);
});
