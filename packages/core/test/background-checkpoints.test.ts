import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, type SearchProvider } from '@memmapfs/core';
import { eventually, useTempRoot, v8Codec } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

describe('checkpoints written in the background', () => {
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
