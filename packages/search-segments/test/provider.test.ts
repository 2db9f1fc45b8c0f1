import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { searchProviderSuite } from '@memmapfs/testkit';
import { describe, expect, it } from 'vitest';
import segmentSearchDefault, { segmentSearch } from '../src/index.js';

searchProviderSuite('segments', () => segmentSearch());
// Tiny segments, merged often: every path from memory to file to merged file runs.
searchProviderSuite('segments (a file every 3 documents, merged by 2)', () => segmentSearch({ flushAfter: 3, mergeFactor: 2 }));

describe('segments provider', () => {
  it('is the default export, named segments, persistent, with prefixes', () => {
    expect(segmentSearchDefault).toBe(segmentSearch);
    expect(segmentSearch().name).toBe('segments');
    expect(segmentSearch().supports).toEqual({ snapshot: false, prefix: true, persistent: true });
  });

  it('refuses options that are not whole numbers in range', () => {
    expect(() => segmentSearch({ flushAfter: 0 })).toThrow('flushAfter');
    expect(() => segmentSearch({ mergeFactor: 1.5 })).toThrow('mergeFactor');
  });
});

describe('segments provider saves', () => {
  const inFolder = async (body: (folder: string) => Promise<void>) => {
    const folder = await mkdtemp(join(tmpdir(), 'memmapfs-segments-'));
    try {
      await body(folder);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  };
  const doc = (id: number, text: string) => ({ id, text, tags: [], namespace: 'default' });

  it('describes the index as it stood when the save began, whatever is added while it writes', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch({ flushAfter: 100 });
      await provider.openIndex(folder, undefined);
      for (let i = 1; i <= 10; i++) provider.add(doc(i, `apple ${i}`));
      await provider.saveIndex();
      // Replacements of written documents arrive on every turn while the next save runs.
      const saving = provider.saveIndex();
      let done = false;
      void saving.finally(() => (done = true));
      for (let turn = 0; !done; turn++) {
        provider.add(doc(1 + (turn % 10), `banana ${turn}`));
        await new Promise((resolve) => setImmediate(resolve));
      }
      const reopened = segmentSearch();
      await reopened.openIndex(folder, await saving);
      expect((await reopened.search({ text: 'apple', limit: 20 })).length + (await reopened.search({ text: 'banana', limit: 20 })).length).toBe(10);
      await reopened.close();
      await provider.close();
    });
  });

  it('returns under a steady stream of documents, without writing a file per turn', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch();
      await provider.openIndex(folder, undefined);
      let id = 1;
      let stop = false;
      const feed = () => {
        if (stop) return;
        for (let k = 0; k < 20; k++) provider.add(doc(id++, `word${id % 97} text ${id}`));
        setImmediate(feed);
      };
      feed();
      const outcome = await Promise.race([provider.saveIndex().then(() => 'saved'), new Promise((resolve) => setTimeout(() => resolve('still saving'), 3_000))]);
      stop = true;
      expect(outcome).toBe('saved');
      expect((await readdir(folder)).length).toBeLessThan(5);
      await provider.close();
    });
  });
});
