import { beforeEach, describe, expect, it, vi } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

/** A search provider that takes about `micros` µs of the event loop for each document it indexes. */
class SlowSearch extends WordSearch {
  constructor(private readonly micros: number) {
    super();
  }

  override add(doc: Parameters<WordSearch['add']>[0]): void {
    const until = performance.now() + this.micros / 1000;
    while (performance.now() < until);
    super.add(doc);
  }
}

describe('a bulk load ahead of the search index', () => {
  it('waits for the index once 4,096 changes wait for it: the changes held in memory for it stay bounded, and every memory is found', async () => {
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new SlowSearch(40) });
    await fs.queryMemory('nothing', { limit: 1 }); // loads its index
    const index = (fs as unknown as { engine: { index: { backlog: number } } }).engine.index;
    let most = 0;
    for (let at = 0; at < 24_576; at += 2048) {
      await fs.appendMemories(Array.from({ length: 2048 }, (_, i) => ({ text: `bulk memory number${at + i}` })));
      most = Math.max(most, index.backlog);
    }
    expect(most).toBeLessThanOrEqual(4096 + 2048);
    expect((await fs.queryMemory('number24575', { limit: 5 })).map((hit) => hit.text)).toEqual(['bulk memory number24575']);
    await fs.close();
  }, 120_000);

  it('waits for its own changes only: a process far behind another writer is not held by the changes it follows', async () => {
    // (Two instances on one folder behave as two processes.)
    const loader = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
    const slow = new SlowSearch(100);
    const behind = await MemMapFS.init(root, { codec: v8Codec(), search: slow });
    await behind.queryMemory('nothing', { limit: 1 }); // loads its index
    const backlog = () => (behind as unknown as { engine: { index: { backlog: number } } }).engine.index.backlog;
    const started = performance.now();
    let stop = false;
    let loaderDone = false;
    // (On its own, the loader stops after a minute: a commit that waited for every change it writes would wait that long.)
    const loading = (async () => {
      for (let n = 0; !stop && performance.now() - started < 60_000; ) await loader.appendMemories(Array.from({ length: 1000 }, () => ({ text: `bulk memory number${n++}` })));
      loaderDone = true;
    })();
    // The other process far behind (it applies the loader's records as it follows the log).
    while (backlog() <= 40_000 && performance.now() - started < 30_000) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(backlog()).toBeGreaterThan(40_000);
    await behind.appendMemory('heartbeat');
    // Resolved while the loader still writes, the index still far behind.
    expect(loaderDone).toBe(false);
    expect(backlog()).toBeGreaterThan(0);
    stop = true;
    await loading;
    await Promise.all([loader.close(), behind.close()]);
  }, 120_000);

  it('goes on when the provider fails, with a warning, and the changes wait without their block copies until it works again', async () => {
    class FailingSearch extends WordSearch {
      failing = false;
      override add(doc: Parameters<WordSearch['add']>[0]): void {
        if (this.failing) throw new Error('disk full');
        super.add(doc);
      }
    }
    const search = new FailingSearch();
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search });
    await fs.queryMemory('nothing', { limit: 1 });
    search.failing = true;
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      for (let at = 0; at < 40_960; at += 2048) await fs.appendMemories(Array.from({ length: 2048 }, (_, i) => ({ text: `memory m${at + i}` })));
      expect(warnings.mock.calls.filter(([, options]) => (options as { code?: string })?.code === 'MEMMAPFS_INDEX_FAILED')).toHaveLength(1);
      await expect(fs.queryMemory('m1', { limit: 1 })).rejects.toMatchObject({ code: 'PROVIDER_FAILED' });
      search.failing = false;
      expect((await fs.queryMemory('m40959', { limit: 1 })).map((hit) => hit.text)).toEqual(['memory m40959']);
    } finally {
      warnings.mockRestore();
      await fs.close();
    }
  }, 120_000);
});
