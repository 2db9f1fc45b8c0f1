import * as files from 'node:fs/promises';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkStore, type BlockStore } from '@memmapfs/blocks';
import { afterEach, describe, expect, it } from 'vitest';
import { tryFileLock, withFileLock } from '../src/engine/file-lock.js';
import { ChunkClaims } from '../src/engine/chunk-claims.js';
import { RetiredChunks, type RetiredChunksSite } from '../src/engine/retired-chunks.js';

describe('RetiredChunks (a shared log: removing the files of retired chunks)', () => {
  let dir: string | undefined;
  let blocks: BlockStore | undefined;
  afterEach(async () => {
    await blocks?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A block store with three chunk files (one block each), and a site whose tables reference chunk 1. */
  const setUp = async () => {
    dir = await mkdtemp(join(tmpdir(), 'memmapfs-retired-'));
    blocks = await chunkStore(join(dir, 'blocks'), { chunkSize: 4096 })({ reader: 'read' });
    for (let i = 0; i < 3; i++) await blocks.append(new Uint8Array(3000).fill(i + 1));
    await blocks.seal();
    const lockPath = join(dir, 'blocks.lock');
    const events: string[] = [];
    const site: RetiredChunksSite = {
      busy: () => false,
      catchUp: async () => void events.push('catch up'),
      removable: (chunks) => chunks.filter((chunk) => chunk !== 1),
      lockRemovals: (waitMs) => tryFileLock(lockPath, files, waitMs),
      hold: (chunk) => void events.push(`hold ${chunk}`),
      release: (chunk) => void events.push(`release ${chunk}`),
    };
    const chunks = async () => (await readdir(join(dir!, 'blocks'))).filter((name) => name.startsWith('chunk_')).sort();
    return { site, lockPath, events, chunks };
  };

  it('removes the retired chunks the tables do not reference, after catching up, holding their blocks meanwhile', async () => {
    const { site, events, chunks } = await setUp();
    const before = await chunks();
    expect(before).toHaveLength(3);
    const retired = new RetiredChunks(new ChunkClaims(blocks!), 60_000, site);
    retired.add([0, 1]);
    await retired.removeNow();
    expect(await chunks()).toEqual(before.slice(1));
    expect(events.slice(0, 3)).toEqual(['catch up', 'hold 0', 'hold 1']);
    expect(events).toContain('release 0');
    expect(events).toContain('release 1');
  });

  it('lets go of a chunk it claimed and keeps (live again, or not removed): another store may take it up', async () => {
    const { site, chunks } = await setUp();
    const before = await chunks();
    const retired = new RetiredChunks(new ChunkClaims(blocks!), 60_000, site);
    // Chunk 1 is referenced (live again); chunk 2's removal fails.
    const retire = blocks!.retire.bind(blocks!);
    blocks!.retire = async (chunk) => {
      if (chunk === 2) throw new Error('EIO: the disk failed');
      return retire(chunk);
    };
    retired.add([0, 1, 2]);
    await expect(retired.removeNow()).rejects.toThrow(/EIO/);
    expect(await chunks()).toEqual(before.slice(1));
    const other = await chunkStore(join(dir!, 'blocks'), { chunkSize: 4096 })({ reader: 'read' });
    try {
      expect(await other.claim(1)).toBe(true);
      expect(await other.claim(2)).toBe(true);
    } finally {
      await other.close();
    }
    // Chunk 2 still waits, and the next removal takes it; chunk 1 stays (referenced).
    blocks!.retire = retire;
    await retired.removeNow();
    expect(await chunks()).toEqual([before[1]]);
  });

  it("keeps a compaction's claim of a chunk it finds live again, whichever claimed first: only its own claim ends", async () => {
    const { site, chunks } = await setUp();
    const before = await chunks();
    const claims = new ChunkClaims(blocks!);
    const other = await chunkStore(join(dir!, 'blocks'), { chunkSize: 4096 })({ reader: 'read' });
    try {
      // A compaction of this store holds chunk 1 before the removal claims it…
      expect(await claims.claim(1)).toBe(true);
      const retired = new RetiredChunks(claims, 60_000, site);
      retired.add([1]);
      await retired.removeNow();
      expect(await other.claim(1)).toBe(false);
      // …or claims chunk 2 while the removal, which claimed it first, catches up.
      const catchUp = site.catchUp;
      const compactionClaimed: boolean[] = [];
      const racing = new RetiredChunks(claims, 60_000, {
        ...site,
        removable: () => [],
        catchUp: async () => {
          compactionClaimed.push(await claims.claim(2));
          await catchUp();
        },
      });
      racing.add([2]);
      await racing.removeNow();
      expect(compactionClaimed).toEqual([true]);
      expect(await other.claim(2)).toBe(false);
      expect(await chunks()).toEqual(before);
      // The compaction lets go: the chunks are free.
      await claims.unclaim([1, 2]);
      expect(await other.claim(1)).toBe(true);
      expect(await other.claim(2)).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('at open or close (no wait), leaves the files while a snapshot of another process reads blocks, and removes them once it is done', async () => {
    const { site, lockPath, chunks } = await setUp();
    const before = await chunks();
    const retired = new RetiredChunks(new ChunkClaims(blocks!), 60_000, site);
    let release!: () => void;
    const reading = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const snapshot = withFileLock(lockPath, files, async () => {
      entered();
      await reading;
    }, 1000, 'shared');
    await inside;
    retired.add([0, 2]);
    const started = performance.now();
    await retired.removeNow(0);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await chunks()).toEqual(before);
    release();
    await snapshot;
    await retired.removeNow(0);
    expect(await chunks()).toEqual([before[1]]);
  });

  it('chunks retired while the store opens (records replayed) wait for start: no removal runs before, whatever the grace', async () => {
    const { site, events, chunks } = await setUp();
    const before = await chunks();
    const retired = new RetiredChunks(new ChunkClaims(blocks!), 10, site);
    retired.add([0]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toEqual([]);
    expect(await chunks()).toEqual(before);
    retired.start();
    for (const until = performance.now() + 5_000; (await chunks()).length === before.length && performance.now() < until;) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events[0]).toBe('catch up');
    expect(await chunks()).toEqual(before.slice(1));
  });

  it('once stopped (the store closing), arms no removal: what is retired later waits for the next open', async () => {
    const { site, events, chunks } = await setUp();
    const before = await chunks();
    const retired = new RetiredChunks(new ChunkClaims(blocks!), 10, site);
    retired.start();
    retired.stop();
    retired.add([0]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toEqual([]);
    expect(await chunks()).toEqual(before);
  });
});
