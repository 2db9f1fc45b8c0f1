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

  it('writes the in-memory segment out once it holds many words, not only after flushAfter documents: texts of words all different never make one long build', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch();
      await provider.openIndex(folder, undefined);
      // 40 texts of 20,000 words each, none repeated (hashes, code, base64): 800,000 terms, in far fewer than 4,096 documents.
      for (let i = 1; i <= 40; i++) provider.add(doc(i, Array.from({ length: 20_000 }, (_, k) => `w${i}x${k}`).join(' ')));
      let files: string[] = [];
      for (let turn = 0; turn < 200 && files.length === 0; turn++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        files = await readdir(folder);
      }
      expect(files.length).toBeGreaterThan(0);
      expect((await provider.search({ text: 'w7x19999', limit: 5 })).map((hit) => hit.id)).toEqual([7]);
      await provider.close();
    });
  });

  it('finds every term of a written segment whose terms JavaScript and UTF-8 order differently (a character above U+FFFF against one from U+E000 to U+FFFF)', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch();
      await provider.openIndex(folder, undefined);
      const tags = ['\uE000', '\u{1F600}', '\uFFFD', '\u{20000}', 'plain', '\uD7FF'];
      tags.forEach((tag, i) => provider.add({ id: i + 1, text: `text ${i}`, tags: [tag], namespace: 'default' }));
      const saved = await provider.saveIndex();
      const reopened = segmentSearch();
      await reopened.openIndex(folder, saved);
      for (const [i, tag] of tags.entries()) expect((await reopened.search({ text: 'text', limit: 10, tags: [tag] })).map((hit) => hit.id)).toEqual([i + 1]);
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
