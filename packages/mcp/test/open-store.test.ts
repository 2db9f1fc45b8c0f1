import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS, registerSearchProvider, type SearchDocument, type SearchHit, type SearchProvider, type SearchRequest } from '@memmapfs/core';
import { openStore } from '../src/open-store.js';

/** A provider with a snapshot, registered by a name of its own, that counts the documents it is given (a rebuild adds them all). */
class NotesSearch implements SearchProvider {
  static added = 0;
  readonly name = 'notes-test';
  readonly supports = { snapshot: true, prefix: false };
  readonly docs = new Map<number, SearchDocument>();
  add(doc: SearchDocument): void {
    NotesSearch.added++;
    this.docs.set(doc.id, doc);
  }
  remove(id: number): void {
    this.docs.delete(id);
  }
  clear(): void {
    this.docs.clear();
  }
  search(request: SearchRequest): SearchHit[] {
    return [...this.docs.values()].filter((doc) => doc.text.includes(request.text)).map((doc) => ({ id: doc.id, score: 1 })).slice(0, request.limit);
  }
  async exportSnapshot(): Promise<Uint8Array> {
    return Buffer.from(JSON.stringify([...this.docs.values()]));
  }
  async importSnapshot(bytes: Uint8Array): Promise<void> {
    for (const doc of JSON.parse(Buffer.from(bytes).toString()) as SearchDocument[]) this.docs.set(doc.id, doc);
  }
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-mcp-open-'));
  registerSearchProvider('notes-test' as never, () => new NotesSearch());
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('openStore', () => {
  it("without --search, uses the provider the store's saved index names: it never rebuilds an application's index", async () => {
    const root = join(dir, 'store');
    const app = await MemMapFS.init(root, { search: 'notes-test' as never });
    await app.appendMemory('tea at noon');
    await app.queryMemory('tea');
    await app.close();
    expect((await readFile(join(root, 'index', 'search.snapshot'))).includes(Buffer.from('notes-test'))).toBe(true);

    NotesSearch.added = 0;
    const served = await openStore(root);
    expect(served.stats().search).toBe('notes-test');
    expect((await served.queryMemory('tea')).map((hit) => hit.id)).toHaveLength(1);
    expect(NotesSearch.added).toBe(0);
    await served.close();

    const forced = await openStore(root, 'flexsearch');
    expect(forced.stats().search).toBe('flexsearch');
    await forced.close();
  });

  it("refuses to open when the provider the store's saved index names cannot be made here (its package not installed, say), rather than replace that index with its own", async () => {
    const root = join(dir, 'store');
    registerSearchProvider('notes-gone' as never, () => new NotesSearch());
    const app = await MemMapFS.init(root, { search: 'notes-gone' as never });
    await app.appendMemory('tea at noon');
    await app.queryMemory('tea');
    await app.close();
    const saved = await readFile(join(root, 'index', 'search.snapshot'));
    registerSearchProvider('notes-gone' as never, () => {
      throw new MemMapError('ADAPTER_NOT_INSTALLED', 'notes-gone needs @example/notes-gone, which is not installed.');
    });
    await expect(openStore(root)).rejects.toMatchObject({ code: 'ADAPTER_NOT_INSTALLED', message: expect.stringMatching(/notes-gone.*--search/s) });
    expect(await readFile(join(root, 'index', 'search.snapshot'))).toEqual(saved);
    // Asked for another provider, the server opens with it (which rebuilds the index at the first query).
    const forced = await openStore(root, 'segments');
    expect((await forced.queryMemory('tea')).map((hit) => hit.text)).toEqual(['tea at noon']);
    await forced.close();
  });

  it('gives a new store the segments index, which comes with this package, and opens it again with that index', async () => {
    const root = join(dir, 'new-store');
    const created = await openStore(root);
    expect(created.stats().search).toBe('segments');
    await created.appendMemory('the deploy key rotates on mondays');
    expect((await created.queryMemory('deploy')).map((hit) => hit.text)).toEqual(['the deploy key rotates on mondays']);
    await created.close();

    const again = await openStore(root);
    expect(again.stats().search).toBe('segments');
    expect((await again.queryMemory('mondays')).map((hit) => hit.text)).toEqual(['the deploy key rotates on mondays']);
    await again.close();
  });
});
