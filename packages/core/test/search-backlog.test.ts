import { beforeEach, describe, expect, it } from 'vitest';
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
  it('waits for the index once 32,768 changes wait for it: the changes held in memory for it stay bounded, and every memory is found', async () => {
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new SlowSearch(40) });
    const index = (fs as unknown as { engine: { index: { backlog: number } } }).engine.index;
    let most = 0;
    for (let at = 0; at < 61_440; at += 2048) {
      await fs.appendMemories(Array.from({ length: 2048 }, (_, i) => ({ text: `bulk memory number${at + i}` })));
      most = Math.max(most, index.backlog);
    }
    expect(most).toBeLessThanOrEqual(32_768 + 2048);
    expect((await fs.queryMemory('number61439', { limit: 5 })).map((hit) => hit.text)).toEqual(['bulk memory number61439']);
    await fs.close();
  }, 120_000);
});
