import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, type SearchProvider } from '@memmapfs/core';
import { eventually, useTempRoot, v8Codec } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

describe('checkpoints written in the background', () => {
  it('cover exactly the records whose changes their tables hold, records applied while one waits to begin included: nothing is replayed twice', async () => {
    const fs = await MemMapFS.init(root, { codec: v8Codec() });
    const other = await MemMapFS.init(root, { codec: v8Codec() });
    await fs.appendStream('s', 'first;');
    // Blocks of a chunk whose file is being removed are held (a host cache of a shared log): a checkpoint waits for them.
    const unwritten = (fs as unknown as { engine: { unwritten: { hold(chunk: number): void; release(chunk: number): void } } }).engine.unwritten;
    unwritten.hold(999);
    const checkpoint = fs.checkpoint();
    await new Promise((resolve) => setTimeout(resolve, 30));
    // Another process appends meanwhile, and this one applies it before the checkpoint begins.
    await other.appendStream('s', 'second;');
    await fs.catchUp();
    unwritten.release(999);
    await checkpoint;
    await other.close();
    // (Closed without a checkpoint of its own: the next open reads the one above and replays the log after it.)
    (fs as unknown as { engine: { writeCheckpoint: () => Promise<void> } }).engine.writeCheckpoint = async () => undefined;
    await fs.close();
    const again = await MemMapFS.init(root, { codec: v8Codec() });
    const parts: string[] = [];
    for await (const chunk of again.openRead('s')) parts.push(Buffer.from(chunk).toString());
    expect(parts.join('')).toBe('first;second;');
    await again.close();
  });

  it('go on while a persistent search index is saved: a save that waits does not hold the next checkpoint of the tables back, and the index is saved again after it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let saves = 0;
    const provider: SearchProvider = {
      name: 'slow-save',
      supports: { snapshot: false, prefix: false, persistent: true },
      async openIndex() {},
      async saveIndex() {
        saves++;
        await gate;
        return new Uint8Array([1]);
      },
      add: () => undefined,
      remove: () => undefined,
      search: () => [],
      clear: () => undefined,
    };
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: provider });
    const engine = (fs as unknown as { engine: { checkpointLsn: number } }).engine;
    const append = async (count: number) => {
      for (let at = 0; at < count; at += 2048) await fs.appendMemories(Array.from({ length: 2048 }, (_, i) => ({ text: `memory ${at + i}` })));
    };
    try {
      // Past the first threshold (16,384 changes): a checkpoint, then the index's save, which waits.
      await append(18_432);
      expect(await eventually(() => saves > 0 && engine.checkpointLsn > 0)).toBe(true);
      const first = engine.checkpointLsn;
      // Past the next threshold: the tables' checkpoint is written all the same.
      await append(18_432);
      expect(await eventually(() => engine.checkpointLsn > first), `checkpoint still at ${engine.checkpointLsn}`).toBe(true);
      // Once the waiting save is done, the index is saved again for the checkpoint written meanwhile.
      const before = saves;
      release();
      expect(await eventually(() => saves > before), 'no save after the second checkpoint').toBe(true);
    } finally {
      release();
      await fs.close();
    }
  }, 60_000);
});

describe('checkpoints in a burst of changes', () => {
  it('start no sooner than 2 s after the last one began until 65,536 changes wait, and one put off starts once the burst stops', async () => {
    const fs = await MemMapFS.init(root, { codec: v8Codec() });
    type Engine = { changesSinceCheckpoint: number; lastBackgroundCheckpointAt: number; queueCheckpoint: () => Promise<void> };
    const engine = (fs as unknown as { engine: Engine }).engine;
    /** The changes waiting at each start of a checkpoint. */
    const starts: number[] = [];
    const queue = engine.queueCheckpoint.bind(engine);
    engine.queueCheckpoint = () => {
      starts.push(engine.changesSinceCheckpoint);
      return queue();
    };
    // (Memories short enough that the 8 MiB of block copies that start a lighter checkpoint of their own are not reached.)
    const append = async (count: number) => {
      for (let at = 0; at < count; at += 2048) await fs.appendMemories(Array.from({ length: 2048 }, (_, i) => ({ text: `m${at + i}` })));
    };
    // Within the 2 s, however slow the machine: as if a checkpoint had just begun.
    const justBegan = () => (engine.lastBackgroundCheckpointAt = Number.MAX_SAFE_INTEGER / 2);
    try {
      justBegan();
      await append(40_960);
      expect(starts, 'a checkpoint started within 2 s of the last one with fewer than 65,536 changes waiting').toEqual([]);
      await append(24_576);
      expect(starts).toEqual([65_536]);
      expect(await eventually(() => engine.changesSinceCheckpoint === 0)).toBe(true);
      justBegan();
      await append(18_432);
      expect(starts).toHaveLength(1);
      // The 2 s have passed and no change comes: the idle catch-up (once a second) starts the checkpoint put off.
      engine.lastBackgroundCheckpointAt = 0;
      expect(await eventually(() => starts.length === 2, 10_000), 'no checkpoint once the burst stopped').toBe(true);
      expect(starts[1]).toBe(18_432);
      expect(await eventually(() => engine.changesSinceCheckpoint === 0)).toBe(true);
    } finally {
      await fs.close();
    }
  }, 60_000);
});

describe('checkpoints asked for', () => {
  it('are waited for by a close() called right after, with a search index kept in files to save too', async () => {
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: 'segments' });
    const ids = await fs.appendMemories(Array.from({ length: 100 }, (_, i) => ({ text: `memory ${i} of the project` })));
    expect(await fs.queryMemory('project', { limit: 1 })).toHaveLength(1);
    const checkpoint = fs.checkpoint();
    const closed = fs.close();
    await expect(checkpoint).resolves.toBeUndefined();
    await closed;
    const again = await MemMapFS.init(root, { codec: v8Codec(), search: 'segments' });
    expect((await again.getMemory(ids[99]!))?.text).toBe('memory 99 of the project');
    expect(await again.queryMemory('project', { limit: 200 })).toHaveLength(100);
    await again.close();
  });
});
