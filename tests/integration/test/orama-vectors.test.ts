import { describe, expect, it } from 'vitest';
import { MemMapFS, type MemoryHit } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { orama } from '@memmapfs/search-orama';
import { useTempStore } from './support/temp-store.js';

// Vector search end to end: MemMapFS with the Orama adapter (not a test fixture), through the log,
// a checkpoint, the saved index and a rebuild.

const store = useTempStore('orama-vectors');
const ids = (hits: readonly MemoryHit[]) => hits.map((hit) => hit.id);

describe('vector search with the Orama adapter', () => {
  it('finds memories by embedding and by text with embedding, through updates, deletes, reopens and a rebuilt index', async () => {
    const { root } = store();
    const open = () => MemMapFS.init(root, { codec: msgpack(), search: orama({ vectors: { dimensions: 4 } }) });
    const fs = await open();
    const tea = await fs.appendMemory('green tea in the morning', ['drink'], { embedding: [1, 0, 0, 0] });
    const coffee = await fs.appendMemory('black coffee at noon', ['drink'], { embedding: [0.8, 0.6, 0, 0] });
    const walk = await fs.appendMemory('a walk by the river', ['habit'], { embedding: [0, 0, 1, 0], namespace: 'user-1/habits' });
    const plain = await fs.appendMemory('tea without an embedding');

    expect(ids(await fs.queryMemory('', { embedding: [1, 0.1, 0, 0], limit: 3 }))).toEqual([tea, coffee, walk]);
    expect(ids(await fs.queryMemory('', { embedding: [0, 0, 1, 0], namespace: 'user-1' }))).toEqual([walk]);
    expect(ids(await fs.queryMemory('', { embedding: [1, 0, 0, 0], tags: ['drink'] }))).toEqual([tea, coffee]);
    // Hybrid: the text alone would rank both teas; the embedding puts the one near it first.
    const hybrid = ids(await fs.queryMemory('tea', { embedding: [0.8, 0.6, 0, 0], hybrid: { textWeight: 0.1 } }));
    expect(hybrid[0]).toBe(coffee);
    expect(hybrid).toContain(tea);
    expect(ids(await fs.queryMemory('tea'))).toEqual(expect.arrayContaining([tea, plain]));

    // A new embedding moves a memory; a delete removes it from vector answers.
    await fs.updateMemory(walk, { embedding: [1, 0, 0, 0.1] });
    await fs.deleteMemory(tea);
    const afterChanges = ids(await fs.queryMemory('', { embedding: [1, 0, 0, 0], limit: 2 }));
    expect(afterChanges).toEqual([walk, coffee]);
    await fs.checkpoint();
    await fs.close();

    // Reopened: from the saved index, then from the log alone (the index removed).
    const again = await open();
    expect(ids(await again.queryMemory('', { embedding: [1, 0, 0, 0], limit: 2 }))).toEqual(afterChanges);
    expect((await again.getMemory(walk))?.embedding).toEqual(new Float32Array([1, 0, 0, 0.1]));
    await again.close();
    const { rm } = await import('node:fs/promises');
    const { join } = await import('node:path');
    await rm(join(root, 'index'), { recursive: true, force: true });
    const rebuilt = await MemMapFS.init(root, { codec: msgpack(), search: { provider: 'orama', options: { vectors: { dimensions: 4 } } } });
    expect(ids(await rebuilt.queryMemory('', { embedding: [1, 0, 0, 0], limit: 2 }))).toEqual(afterChanges);
    await rebuilt.close();
  });

  it('embeddings of other dimensions than the provider searches are left out of vector search with a warning that says what to do', async () => {
    const { root } = store();
    const fs = await MemMapFS.init(root, { codec: msgpack(), search: orama({ vectors: { dimensions: 4 } }) });
    const four = await fs.appendMemory('four numbers', [], { embedding: [1, 0, 0, 0] });
    await fs.close();
    const warnings: string[] = [];
    const listen = (warning: Error & { code?: string }) => {
      if (warning.code === 'MEMMAPFS_EMBEDDING_DIMENSIONS') warnings.push(warning.message);
    };
    process.on('warning', listen);
    try {
      const other = await MemMapFS.init(root, { codec: msgpack(), search: orama({ vectors: { dimensions: 8 } }) });
      expect(await other.queryMemory('', { embedding: [1, 0, 0, 0, 0, 0, 0, 0] })).toEqual([]);
      expect(ids(await other.queryMemory('numbers'))).toEqual([four]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([expect.stringMatching(new RegExp(`Memory ${four} has an embedding of 4 numbers.*searches embeddings of 8.*dimensions: 4`))]);
      await other.close();
    } finally {
      process.off('warning', listen);
    }
  });
});

describe('a search over a namespace and those beneath it', () => {
  it('ranks hybrid hits as a search over every namespace does: their scores, relative to one list\'s best, are not merged across lists', async () => {
    const { root } = store();
    const fs = await MemMapFS.init(root, { codec: msgpack(), search: orama({ vectors: { dimensions: 2 } }) });
    const strong = await fs.appendMemory('kiwi kiwi kiwi kiwi', [], { namespace: 'p/a', embedding: [1, 0] });
    const weak = await fs.appendMemory('kiwi and many other unrelated words in a long sentence about fruit salads', [], { namespace: 'p/b', embedding: [1, 0] });
    for (let i = 0; i < 5; i++) await fs.appendMemory(`filler text number ${i}`, [], { namespace: 'q', embedding: [0, 1] });
    for (const hybrid of [true, { textWeight: 0.9 }] as const) {
      const everywhere = await fs.queryMemory('kiwi', { limit: 2, embedding: [1, 0], hybrid });
      expect(everywhere.map((hit) => hit.id)).toEqual([strong, weak]);
      const beneath = await fs.queryMemory('kiwi', { namespace: 'p', limit: 2, embedding: [1, 0], hybrid });
      expect(beneath.map((hit) => [hit.id, hit.score])).toEqual(everywhere.map((hit) => [hit.id, hit.score]));
    }
    await fs.close();
  });
});
