import * as nodeFileSystem from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { MemMapFS, verifyStore, type SearchProvider } from '@memmapfs/core';
import { SearchIndex, type SearchIndexHost } from '../src/engine/search-index.js';
import { MemoryTable } from '../src/engine/memory-table.js';
import { RecordType, type MemoryRecord } from '../src/engine/log-records.js';
import { storeLayout } from '../src/engine/store-layout.js';
import { MemMapError } from '../src/errors.js';
import { tempRoot, useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

/** A persistent provider that remembers what it was asked to do. */
function recordingProvider(): SearchProvider & { calls: string[] } {
  const calls: string[] = [];
  return {
    name: 'recording',
    supports: { snapshot: false, prefix: false, persistent: true },
    calls,
    async openIndex(_folder: string, saved: Uint8Array | undefined) {
      calls.push(saved ? 'open saved' : 'open empty');
    },
    async saveIndex(options?: { purge?: boolean }) {
      calls.push(options?.purge ? 'save purge' : 'save');
      return new Uint8Array([1]);
    },
    add: (doc) => void calls.push(`add ${doc.id}`),
    remove: (id) => void calls.push(`remove ${id}`),
    search: () => [],
    clear: () => void calls.push('clear'),
  };
}

/**
 * A `SearchIndex` over `provider` with a host of its own in `root`: no log records to decode, `memories`
 * as its tables (empty by default), texts read back by `readText`.
 */
async function indexOver(root: string, provider: SearchProvider, options: { closing?: () => boolean; memories?: MemoryTable; readText?: SearchIndexHost['readText'] } = {}): Promise<{ index: SearchIndex; layout: ReturnType<typeof storeLayout> }> {
  const layout = storeLayout(root);
  await nodeFileSystem.mkdir(layout.index, { recursive: true });
  const host: SearchIndexHost = {
    layout,
    files: nodeFileSystem,
    reader: 'read',
    remote: false,
    checkpointPosition: undefined,
    publishedCheckpoint: async () => undefined,
    memories: options.memories ?? new MemoryTable(v8Codec()),
    wal: { readOnly: false, lastLsn: 7, header: { logId: '00'.repeat(16) }, flush: async () => undefined, readFrom: async function* () {} } as unknown as SearchIndexHost['wal'],
    lastLsn: 7,
    lastChecksum: 0,
    get closing() {
      return options.closing?.() ?? false;
    },
    decode: () => {
      throw new Error('no records to decode here');
    },
    readText: options.readText ?? (() => ''),
  };
  return { index: new SearchIndex({ name: 'recording', load: async () => provider, created: () => provider }, host), layout };
}

describe('SearchIndex', () => {
  it('a purge asked for while the store closes, with the index let go of and changes waiting, loads it again and purges (it never spins)', async () => {
    const provider = recordingProvider();
    let closing = false;
    const { index, layout } = await indexOver(root, provider, { closing: () => closing });
    index.loadWhenNeeded();
    await index.ensureLoaded();
    // Another process's purge had this one let go of its index (as a refused save does), then a delete
    // was applied and the store began to close.
    (index as unknown as { unload(): void }).unload();
    index.note({ type: RecordType.MemoryDelete, id: 5 });
    closing = true;
    // (The purge's own save, as the erase queues it behind a save that let go of the index: white-box.)
    const purge = (index as unknown as { save(options: { purge: boolean }): Promise<void> }).save({ purge: true });
    const outcome = await Promise.race([
      purge.then(() => 'resolved'),
      new Promise((resolve) => setTimeout(() => resolve('still running after 2 s'), 2000)),
    ]);
    expect(outcome).toBe('resolved');
    expect(provider.calls.slice(-4)).toEqual(['open empty', 'clear', 'remove 5', 'save purge']);
    expect(await nodeFileSystem.stat(join(layout.searchSnapshot)).then(() => true)).toBe(true);
  });
});

describe('SearchIndex, let go of', () => {
  it('lets go of the block copies of the changes waiting for it: their texts are read back when it takes them', async () => {
    const provider = recordingProvider();
    const memories = new MemoryTable(v8Codec());
    const m: MemoryRecord = { id: 3, ref: { chunk: 1, offset: 0, length: 5, crc: 0 }, tags: [], namespace: '', meta: {}, createdAt: 1, updatedAt: 1, expiresAt: undefined, version: 3 };
    memories.set(3, m);
    const read: number[] = [];
    const { index } = await indexOver(root, provider, { memories, readText: (memory) => (read.push(memory.id), 'hello') });
    index.loadWhenNeeded();
    await index.ensureLoaded();
    index.note({ type: RecordType.MemoryPut, memory: m, copy: new TextEncoder().encode('hello') }, true);
    // Another process's purge had this one let go of its index: the change waits, maybe long.
    (index as unknown as { unload(): void }).unload();
    const waiting = (index as unknown as { pendingIndex: { length: number; at(i: number): { copy?: Uint8Array } } }).pendingIndex;
    expect(waiting.length).toBe(1);
    expect(waiting.at(0).copy).toBeUndefined();
    await index.ensureLoaded();
    await index.drain();
    expect(waiting.length).toBe(0);
    expect(read).toContain(3);
    expect(provider.calls).toContain('add 3');
  });
});

describe('SearchIndex, a block gone', () => {
  it('says nothing when the memory moved on meanwhile: its later version, read back after a refresh, is indexed by its own change', async () => {
    const provider = recordingProvider();
    const memories = new MemoryTable(v8Codec());
    const v10: MemoryRecord = { id: 5, ref: { chunk: 1, offset: 0, length: 5, crc: 0 }, tags: [], namespace: '', meta: {}, createdAt: 1, updatedAt: 1, expiresAt: undefined, version: 10 };
    memories.set(5, v10);
    const readText = (memory: MemoryRecord): string => {
      if (memory.version !== 10) return 'hello';
      // Another process updated it and compacted its old block away: the refresh that finds the block
      // gone brings version 20 in.
      memories.set(5, { ...v10, ref: { ...v10.ref, chunk: 2 }, version: 20 });
      throw new MemMapError('BLOCK_MISSING', 'chunk 1 is gone');
    };
    const { index } = await indexOver(root, provider, { memories, readText });
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      index.loadWhenNeeded();
      await index.ensureLoaded();
      index.note({ type: RecordType.MemoryPut, memory: v10 }, false);
      await index.drain();
      expect(warnings.mock.calls.filter(([, options]) => (options as { code?: string })?.code === 'MEMMAPFS_BLOCK_CORRUPT')).toEqual([]);
    } finally {
      warnings.mockRestore();
    }
  });
});

describe('onIndexRebuild', () => {
  it('tells how far a rebuild of the index got, ending at the number of memories; a saved index loads without it', async () => {
    const { root, cleanup } = await tempRoot();
    try {
      const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
      await fs.appendMemories(Array.from({ length: 300 }, (_, i) => ({ text: `note ${i}` })));
      await fs.deleteMemory(1);
      await fs.appendMemory('short lived', [], { ttlMs: 1 });
      await fs.queryMemory('note');
      await fs.checkpoint();
      await fs.close();
      const calls: Array<[number, number]> = [];
      const reopen = () => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), onIndexRebuild: (done, total) => calls.push([done, total]) });
      // The saved index is loaded: nothing rebuilt.
      const withSaved = await reopen();
      expect((await withSaved.queryMemory('note')).length).toBeGreaterThan(0);
      await withSaved.close();
      expect(calls).toEqual([]);
      // Without it, the index is rebuilt from the checkpoint's tables at the first query.
      await nodeFileSystem.rm(join(root, 'index'), { recursive: true, force: true });
      const reopened = await reopen();
      expect(calls).toEqual([]);
      await reopened.queryMemory('note');
      expect(calls.at(-1)).toEqual([300, 300]);
      for (const [done, total] of calls) expect(done).toBeLessThanOrEqual(total);
      await reopened.close();
      await expect(MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), onIndexRebuild: 5 as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/onIndexRebuild must be a function/) });
    } finally {
      await cleanup();
    }
  });
});

describe('the saved index and log retention', () => {
  it("is still used when retention dropped the record it ends with, as the checkpoint's record vouches for it", async () => {
    const { root, cleanup } = await tempRoot();
    try {
      const open = (search: WordSearch) => MemMapFS.init(root, { codec: v8Codec(), search, historyRetentionMs: 0 });
      const fs = await open(new WordSearch());
      for (let i = 0; i < 5; i++) await fs.appendMemory(`note ${i}`);
      await fs.queryMemory('note');
      // The checkpoint covers every record, and retention drops them all: the saved index ends at the
      // checkpoint's own record.
      await fs.checkpoint();
      await fs.close();
      expect((await verifyStore(root, { codec: v8Codec() })).problems).toEqual([]);
      const search = new WordSearch();
      const again = await open(search);
      expect(await again.queryMemory('note')).toHaveLength(5);
      expect({ imports: search.imports, adds: search.adds }).toEqual({ imports: 1, adds: 0 });
      // And it still takes what came after.
      await again.appendMemory('note 5');
      expect(await again.queryMemory('note')).toHaveLength(6);
      await again.close();
    } finally {
      await cleanup();
    }
  });

  it('is carried forward, not removed, when a checkpoint of a process that never searched drops the log before it and no memory changed since', async () => {
    const { root, cleanup } = await tempRoot();
    try {
      const open = (search: WordSearch) => MemMapFS.init(root, { codec: v8Codec(), search, historyRetentionMs: 0 });
      const fs = await open(new WordSearch());
      for (let i = 0; i < 5; i++) await fs.appendMemory(`note ${i}`);
      await fs.queryMemory('note');
      await fs.close();
      // Another process writes only KV, and its checkpoint drops every record before it.
      const kvOnly = await open(new WordSearch());
      await kvOnly.setKv('cursor', 1);
      await kvOnly.setKv('cursor', 2);
      await kvOnly.checkpoint();
      expect((await verifyStore(root, { codec: v8Codec() })).firstLsn).toBeGreaterThan(7);
      await kvOnly.close();
      const search = new WordSearch();
      const again = await open(search);
      expect(await again.queryMemory('note')).toHaveLength(5);
      expect({ imports: search.imports, adds: search.adds }).toEqual({ imports: 1, adds: 0 });
      await again.close();
    } finally {
      await cleanup();
    }
  });
});

describe('a search provider that fails', () => {
  it('is named with what it was asked and the memory it was given', async () => {
    class PoisonedSearch extends WordSearch {
      override add(doc: Parameters<WordSearch['add']>[0]): void {
        if (doc.text.includes('poison')) throw new Error('cannot index this');
        super.add(doc);
      }
    }
    const fs = await MemMapFS.init(rootOf(), { codec: v8Codec(), search: new PoisonedSearch() });
    await fs.appendMemory('a harmless note');
    const id = await fs.appendMemory('a poison note');
    const error = await fs.queryMemory('note').catch((e: unknown) => e);
    expect(MemMapError.is(error, 'PROVIDER_FAILED')).toBe(true);
    expect((error as Error).message).toContain(`add of memory ${id}`);
    expect((error as Error).message).toContain('cannot index this');
    await fs.deleteMemory(id);
    expect((await fs.queryMemory('note')).map((hit) => hit.text)).toEqual(['a harmless note']);
    await fs.close();
  });
});
