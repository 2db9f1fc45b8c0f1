import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemMapFS, type MemoryHit } from '@memmapfs/core';
import { orama } from '@memmapfs/search-orama';
import { inStore, paths, useTempStore } from './harness.js';
import { memmapfs } from './binary.js';

useTempStore();

/** The provider named by the saved search index (`index/search.snapshot`: its name follows the fixed header). */
async function savedProvider(): Promise<string> {
  const bytes = await readFile(join(paths.root, 'index', 'search.snapshot'));
  const start = bytes.readUInt32LE(8) >= 4 ? 65 : 57;
  return bytes.toString('utf8', start, start + bytes.readUInt8(56));
}

/** The application's way of opening the store: orama with vector search over 3 numbers; counts its rebuilds. */
async function openAsApplication(rebuilds: number[] = []): Promise<MemMapFS> {
  return MemMapFS.init(paths.root, { search: orama({ vectors: { dimensions: 3 } }), onIndexRebuild: (done) => rebuilds.push(done) });
}

/** A store the application wrote and queried (so that its index is saved), with orama and embeddings. */
async function storeIndexedByApplication(): Promise<void> {
  const app = await openAsApplication();
  await app.appendMemory('green tea in the morning', ['drink'], { embedding: [1, 0, 0] });
  await app.appendMemory('black coffee at noon', ['drink'], { embedding: [0, 1, 0] });
  expect((await app.queryMemory('tea')).length).toBe(1);
  await app.close();
  expect(await savedProvider()).toBe('orama');
}

describe('a store indexed by an application with orama', () => {
  it('is queried by the CLI with orama and its options, without --search, and the application then loads the index the CLI saved', async () => {
    await storeIndexedByApplication();
    expect(JSON.parse((await inStore(['stats', '--json'])).stdout)).toMatchObject({ search: 'orama', memories: 2 });
    expect(await inStore(['append', 'jasmine tea after dinner', '--tag', 'drink'])).toMatchObject({ code: 0, stderr: '' });
    const query = await inStore(['query', 'tea', '--json'], { stderrIsTTY: true });
    expect(query.code).toBe(0);
    expect((JSON.parse(query.stdout) as MemoryHit[]).map((hit) => hit.text).sort()).toEqual(['green tea in the morning', 'jasmine tea after dinner']);
    // No rebuild (which a terminal would have seen as a progress bar), and the index saved names orama still.
    expect(query.stderr).toBe('');
    expect(await savedProvider()).toBe('orama');
    expect((await inStore(['stats'])).stdout).toMatch(/^search: orama$/m);

    // The application loads what the CLI saved: nothing rebuilt, vector search intact.
    const rebuilds: number[] = [];
    const app = await openAsApplication(rebuilds);
    expect((await app.queryMemory('', { embedding: [0.1, 1, 0], limit: 1 })).map((hit) => hit.text)).toEqual(['black coffee at noon']);
    expect((await app.queryMemory('jasmine')).length).toBe(1);
    expect(rebuilds).toEqual([]);
    await app.close();
  });

  it('--search still chooses another provider, which then indexes the store', async () => {
    await storeIndexedByApplication();
    expect(JSON.parse((await inStore(['--search', 'flexsearch', 'stats', '--json'])).stdout)).toMatchObject({ search: 'flexsearch' });
    await inStore(['--search', 'flexsearch', 'append', 'oolong tea']);
    const query = await inStore(['--search', 'flexsearch', 'query', 'tea', '--json']);
    expect((JSON.parse(query.stdout) as MemoryHit[]).length).toBe(2);
    expect(await savedProvider()).toBe('flexsearch');
    // And it is the store's provider from then on.
    expect(JSON.parse((await inStore(['stats', '--json'])).stdout)).toMatchObject({ search: 'flexsearch' });
  });

  it('the memmapfs binary says so too', async () => {
    await storeIndexedByApplication();
    const run = await memmapfs(['--root', paths.root, 'stats', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ search: 'orama', memories: 2 });
  }, 60_000);
});
