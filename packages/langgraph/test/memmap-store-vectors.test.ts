// The vector search cases of LangGraph's own store tests (libs/checkpoint/src/tests/vector.test.ts:
// InMemoryStore Vector Search; libs/checkpoint-postgres/src/tests/store.int.test.ts: the CRUD cases
// with index, Vector Search), adapted to MemMapStore over a store whose search provider has vector
// search; then what is ours (several embeddings per item, pages, batches, expiry, checks, reopen).
import type { Item, Operation, SearchItem } from '@langchain/langgraph-checkpoint';
import { MemMapError, type MemMapFS } from '@memmapfs/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemMapStore, type MemMapStoreOptions } from '../src/index.js';
import { CharacterEmbeddings, characterEmbedding, mockEmbedding } from './support/fake-embeddings.js';
import { openStore, openVectorStore, tempFolder } from './support/open-store.js';
import { replacedMeanwhile } from './support/replaced-meanwhile.js';

const DIMS = 500;
let root: string;
let remove: () => Promise<void>;
let fs: MemMapFS;
let embeddings: CharacterEmbeddings;
let store: MemMapStore;
const opened: MemMapFS[] = [];

beforeEach(async () => {
  ({ root, remove } = await tempFolder('vectors'));
  fs = await openVectorStore(root, DIMS);
  opened.push(fs);
  embeddings = new CharacterEmbeddings({ dims: DIMS });
  store = new MemMapStore(fs, { index: { dims: DIMS, embed: embeddings } });
});
afterEach(async () => {
  store.stop();
  for (const each of opened.splice(0)) await each.close();
  await remove();
});

/** A MemMapStore over another store in the test's folder, opened with vector search of `dims`. */
async function storeOf(dims: number, options: MemMapStoreOptions): Promise<MemMapStore> {
  const other = await openVectorStore(`${root}-${opened.length}`, dims);
  opened.push(other);
  return new MemMapStore(other, options);
}

/** The memories of a store's items (their own and those of their other embeddings). */
async function memoriesOf(of: MemMapFS, namespace = 'langgraph-store') {
  return (await of.listMemories({ namespace, limit: 1000 })).memories;
}

async function rejection(promise: Promise<unknown>): Promise<MemMapError> {
  return promise.then(() => expect.unreachable('expected a rejection'), (error: unknown) => error as MemMapError);
}

describe('InMemoryStore vector search (vector.test.ts)', () => {
  it('auto-embeds and searches documents', async () => {
    const docs = [
      ['doc1', { text: 'short text' }],
      ['doc2', { text: 'longer text document' }],
      ['doc3', { text: 'longest text document here' }],
      ['doc4', { description: 'text in description field' }],
      ['doc5', { content: 'text in content field' }],
      ['doc6', { body: 'text in body field' }],
    ] as const;
    for (const [key, value] of docs) await store.put(['test'], key, value);
    const results = await store.search(['test'], { query: 'long text' });
    expect(results.length).toBeGreaterThan(0);
    expect(results.map((r) => r.key)).toEqual(expect.arrayContaining(['doc2', 'doc3']));
    // Every item has an embedding (of the whole value): all ranked, most similar first.
    expect(results).toHaveLength(6);
    expect(results.every((r, i) => typeof r.score === 'number' && (i === 0 || r.score <= results[i - 1]!.score!))).toBe(true);
  });

  it('ranks an item another store replaces while the hits are read, by its new embedding', async () => {
    await store.put(['test'], 'doc1', { text: 'zany zebra Xerxes' });
    await store.put(['test'], 'doc2', { text: 'something about dogs' });
    await store.put(['test'], 'doc3', { text: 'cats and more cats' });
    const other = new MemMapStore(fs, { index: { dims: DIMS, embed: embeddings } });
    const querying = replacedMeanwhile(fs, 'queryMemory');
    querying.arm(() => other.put(['test'], 'doc1', { text: 'zany zebra Xerxes again' }));
    try {
      const results = await store.search(['test'], { query: 'zany zebra Xerxes' });
      expect(results.map((item) => item.key).sort()).toEqual(['doc1', 'doc2', 'doc3']);
      expect(results[0]).toMatchObject({ key: 'doc1', value: { text: 'zany zebra Xerxes again' } });
      expect(results.every((r, i) => typeof r.score === 'number' && (i === 0 || r.score <= results[i - 1]!.score!))).toBe(true);
    } finally {
      querying.restore();
      other.stop();
    }
  });

  it('updates embeddings when documents are updated', async () => {
    await store.put(['test'], 'doc1', { text: 'zany zebra Xerxes' });
    await store.put(['test'], 'doc2', { text: 'something about dogs' });
    await store.put(['test'], 'doc3', { text: 'text about birds' });
    const initial = await store.search(['test'], { query: 'Zany Xerxes' });
    expect(initial[0]?.key).toBe('doc1');
    const initialScore = initial[0]!.score!;
    expect(initialScore).toBeDefined();

    await store.put(['test'], 'doc1', { text: 'new text about dogs' });
    const after = await store.search(['test'], { query: 'Zany Xerxes' });
    const afterScore = after.find((r) => r.key === 'doc1')?.score ?? 0;
    expect(afterScore).toBeLessThan(initialScore);
    const newer = await store.search(['test'], { query: 'new text about dogs' });
    expect(newer.find((r) => r.key === 'doc1')?.score).toBeGreaterThan(afterScore);
    // One memory per item: the replaced one is gone.
    expect(await memoriesOf(fs)).toHaveLength(3);
  });

  it('returns items put with index: false after the ranked ones, without a score', async () => {
    await store.put(['test'], 'doc1', { text: 'new text about dogs' });
    await store.put(['test'], 'doc2', { text: 'new text about dogs' }, false);
    const results = await store.search(['test'], { query: 'new text about dogs', limit: 3 });
    expect(results.map((r) => r.key)).toEqual(['doc1', 'doc2']);
    expect(results[0]?.score).toBeGreaterThan(0.5);
    expect(results[1]?.score).toBeUndefined();
    expect(embeddings.documentCalls).toEqual([['{\n  "text": "new text about dogs"\n}']]);
  });

  it('combines vector search with filters', async () => {
    const docs = [
      ['doc1', { text: 'red apple', color: 'red', score: 4.5 }],
      ['doc2', { text: 'red car', color: 'red', score: 3.0 }],
      ['doc3', { text: 'green apple', color: 'green', score: 4.0 }],
      ['doc4', { text: 'blue car', color: 'blue', score: 3.5 }],
    ] as const;
    for (const [key, value] of docs) await store.put(['test'], key, value);

    let results = await store.search(['test'], { query: 'apple', filter: { color: 'red' } });
    expect(results).toHaveLength(2);
    expect(results[0]?.key).toBe('doc1');

    results = await store.search(['test'], { query: 'car', filter: { color: 'red' } });
    expect(results).toHaveLength(2);
    expect(results[0]?.key).toBe('doc2');

    results = await store.search(['test'], { query: 'bbbbluuu', filter: { score: { $gt: 3.2 } } });
    expect(results).toHaveLength(3);
    expect(results[0]?.key).toBe('doc4');

    results = await store.search(['test'], { query: 'apple', filter: { score: { $gte: 4.0 }, color: 'green' } });
    expect(results.map((r) => r.key)).toEqual(['doc3']);
  });

  it('embeds the store\'s fields, each text an embedding of its own; an item scores its best', async () => {
    const withFields = await storeOf(DIMS, { index: { dims: DIMS, embed: embeddings, fields: ['key0', 'key1', 'key3'] } });
    // Two embeddings (key1, key3); three (key0, key1, key3). key2 is not embedded.
    await withFields.put(['test'], 'doc1', { key1: 'xxx', key2: 'yyy', key3: 'zzz' });
    await withFields.put(['test'], 'doc2', { key0: 'uuu', key1: 'vvv', key2: 'www', key3: 'xxx' });

    // doc2.key3 and doc1.key1 are both "xxx".
    const results1 = await withFields.search(['test'], { query: 'xxx' });
    expect(results1).toHaveLength(2);
    expect(results1[0]?.key).not.toBe(results1[1]?.key);
    expect(results1[0]?.score).toBe(results1[1]?.score);
    const baseScore = results1[0]!.score!;

    const results2 = await withFields.search(['test'], { query: 'uuu' });
    expect(results2).toHaveLength(2);
    expect(results2[0]?.key).toBe('doc2');
    expect(results2[0]?.score).toBeGreaterThan(results2[1]!.score!);
    expect(results2[0]?.score).toBeCloseTo(baseScore, 5);

    // "www" is only in key2, which is not embedded.
    const results3 = await withFields.search(['test'], { query: 'www' });
    expect(results3).toHaveLength(2);
    expect(results3.every((r) => r.score! < baseScore)).toBe(true);
  });

  it('embeds the fields a put gives instead of the store\'s', async () => {
    const noDefaults = await storeOf(DIMS, { index: { dims: DIMS, embed: embeddings, fields: ['key17'] } });
    await noDefaults.put(['test'], 'doc3', { key0: 'aaa', key1: 'bbb', key2: 'ccc', key3: 'ddd' }, ['key0', 'key1']);
    await noDefaults.put(['test'], 'doc4', { key0: 'eee', key1: 'bbb', key2: 'fff', key3: 'ggg' }, ['key1', 'key3']);

    const results1 = await noDefaults.search(['test'], { query: 'aaa' });
    expect(results1).toHaveLength(2);
    expect(results1[0]?.key).toBe('doc3');
    expect(results1[0]?.score).toBeGreaterThan(results1[1]!.score!);

    const results2 = await noDefaults.search(['test'], { query: 'ggg' });
    expect(results2).toHaveLength(2);
    expect(results2[0]?.key).toBe('doc4');
    expect(results2[0]?.score).toBeGreaterThan(results2[1]!.score!);

    const results3 = await noDefaults.search(['test'], { query: 'bbb' });
    expect(results3).toHaveLength(2);
    expect(results3[0]?.key).not.toBe(results3[1]?.key);
    expect(results3[0]?.score).toBe(results3[1]?.score);

    const results4 = await noDefaults.search(['test'], { query: 'ccc' });
    expect(results4).toHaveLength(2);
    expect(results4.every((r) => r.score! < results1[0]!.score!)).toBe(true);

    await noDefaults.put(['test'], 'doc5', { key0: 'hhh', key1: 'iii' }, false);
    const results5 = await noDefaults.search(['test'], { query: 'hhh' });
    expect(results5).toHaveLength(3);
    expect(results5.at(-1)?.key).toBe('doc5');
    expect(results5.at(-1)?.score).toBeUndefined();
  });
});

describe('PostgresStore index cases (store.int.test.ts)', () => {
  it('index: false embeds nothing; the item is not ranked', async () => {
    const embed = mockEmbedding(128, { asEmpty: true });
    const withVectors = await storeOf(128, { index: { dims: 128, embed, fields: ['content', 'title'] } });
    await withVectors.put(['vectors', 'no-index'], 'doc1', { title: 'Test Document', content: 'This content should not be indexed' }, false);
    expect(embed.calls).toEqual([]);
    const results = await withVectors.search(['vectors', 'no-index'], { query: 'test document' });
    expect(results.filter((r) => r.score !== undefined)).toEqual([]);
  });

  it('embeds only the fields a put gives', async () => {
    const embed = mockEmbedding(128, { asEmpty: true });
    const withVectors = await storeOf(128, { index: { dims: 128, embed, fields: ['content', 'title'] } });
    await withVectors.put(['vectors', 'selective'], 'doc1', { title: 'Indexed Title', content: 'Not indexed content', summary: 'Indexed summary', metadata: { author: 'Test Author' } }, ['title', 'summary']);
    expect(embed.calls).toHaveLength(1);
    expect(embed.calls[0]).toContain('Indexed Title');
    expect(embed.calls[0]).toContain('Indexed summary');
    expect(embed.calls[0]).not.toContain('Not indexed content');
    // (All-zero embeddings have no direction: the item is found, without a score.)
    const results = await withVectors.search(['vectors', 'selective'], { query: 'indexed summary' });
    expect(results.map((r) => [r.key, r.score])).toEqual([['doc1', undefined]]);
  });

  it('takes a TTL and index fields together: one embedding, of the title', async () => {
    const embed = mockEmbedding(128, { asEmpty: true });
    const withVectors = await storeOf(128, { index: { dims: 128, embed, fields: ['content', 'title'] } });
    const value = { title: 'Combined Options Test', content: 'Testing both TTL and indexing options' };
    await withVectors.put(['vectors', 'combined'], 'doc1', value, ['title'], { ttl: 10 });
    expect((await withVectors.get(['vectors', 'combined'], 'doc1'))?.value).toEqual(value);
    expect(embed.calls).toEqual([['Combined Options Test']]);
    const memories = await memoriesOf(withVectors.store as MemMapFS);
    expect(memories).toHaveLength(1);
    expect(memories[0]?.embedding?.[0]).toBe(1);
    expect((await withVectors.search(['vectors'], { query: 'combined options' }))[0]).toMatchObject({ key: 'doc1', score: expect.closeTo(1, 5) });
    expect(await withVectors.search(['vectors'], { query: 'testing both' })).toMatchObject([{ key: 'doc1', score: expect.closeTo(0, 5) }]);
  });

  describe('Vector Search', () => {
    let embed: ReturnType<typeof mockEmbedding>;
    let vectors: MemMapStore;
    beforeEach(async () => {
      embed = mockEmbedding(128, { asEmpty: false });
      vectors = await storeOf(128, { index: { dims: 128, embed, fields: ['content', 'title'] } });
    });

    it('supports vector search', async () => {
      await vectors.put(['docs'], 'doc1', { title: 'Machine Learning Basics', content: 'Introduction to neural networks and deep learning' });
      await vectors.put(['docs'], 'doc2', { title: 'Data Science Guide', content: 'Statistical analysis and data visualization techniques' });
      const results = await vectors.search(['docs'], { query: 'artificial intelligence', limit: 5 });
      expect(results.map((r) => r.key).sort()).toEqual(['doc1', 'doc2']);
      expect(results.every((r) => typeof r.score === 'number' && r.score >= -1 && r.score <= 1)).toBe(true);
      expect(embed.calls.length).toBeGreaterThan(0);
    });

    it('extracts text from JSON paths', async () => {
      await vectors.put(['test'], 'doc1', {
        title: 'Test Document',
        content: { sections: [{ text: 'Section 1 content' }, { text: 'Section 2 content' }] },
        tags: ['ai', 'ml', 'nlp'],
        metadata: { author: 'Test Author', version: 1 },
      });
      // The content object is embedded as its JSON, the title as its text.
      expect(embed.calls[0]).toEqual([JSON.stringify({ sections: [{ text: 'Section 1 content' }, { text: 'Section 2 content' }] }, null, 2), 'Test Document']);
      const results = await vectors.search(['test'], { query: 'Test Document' });
      expect(results[0]?.key).toBe('doc1');
      expect(results[0]?.score).toBeDefined();
    });
  });
});

describe('semantic search over MemMapFS', () => {
  it('embeds each element of an array path; an item ranks by its best, and its other embeddings live in memories of their own', async () => {
    const chapters = await storeOf(DIMS, { index: { dims: DIMS, embed: embeddings, fields: ['title', 'chapters[*].text'] } });
    await chapters.put(['books'], 'b1', { title: 'qqqq', chapters: [{ text: 'wwww' }, { text: 'zebra zoo' }] });
    await chapters.put(['books'], 'b2', { title: 'zebras', chapters: [{ text: 'kkkk' }] });
    await chapters.put(['books'], 'b3', { title: 'mmmm' });
    expect(embeddings.documentCalls.slice(-3)).toEqual([['qqqq', 'wwww', 'zebra zoo'], ['zebras', 'kkkk'], ['mmmm']]);
    const results = await chapters.search(['books'], { query: 'zebra zoo' });
    expect(results[0]).toMatchObject({ key: 'b1', value: { title: 'qqqq' }, score: expect.closeTo(1, 5) });
    expect(results[1]?.key).toBe('b2');
    // The item, then one memory for each other text: 3 + 2 + 1.
    expect(await memoriesOf(chapters.store as MemMapFS)).toHaveLength(6);
    // A put replaces them all, a delete deletes them all.
    await chapters.put(['books'], 'b1', { title: 'qqqq' });
    expect(await memoriesOf(chapters.store as MemMapFS)).toHaveLength(4);
    expect((await chapters.search(['books'], { query: 'zebra zoo' }))[0]?.key).toBe('b2');
    await chapters.delete(['books'], 'b2');
    expect(await memoriesOf(chapters.store as MemMapFS)).toHaveLength(2);
    // Without a query, items are listed (their other embeddings are not items).
    expect((await chapters.search(['books'])).map((r) => r.key)).toEqual(['b3', 'b1']);
  });

  it('applies the namespace prefix, and pages ranked then unranked items without overlap', async () => {
    for (const [i, word] of ['alpha', 'alps', 'alto', 'beta', 'bravo'].entries()) await store.put(['docs', i % 2 === 0 ? 'even' : 'odd'], word, { text: word });
    await store.put(['docs', 'even'], 'plain1', { text: 'not embedded' }, false);
    await store.put(['docs', 'odd'], 'plain2', { text: 'not embedded either' }, false);
    await store.put(['elsewhere'], 'alpha', { text: 'alpha' });
    const all = await store.search(['docs'], { query: 'alpha', limit: 100 });
    expect(all.map((r) => r.key).sort()).toEqual(['alpha', 'alps', 'alto', 'beta', 'bravo', 'plain1', 'plain2']);
    expect(all.slice(0, 5).every((r, i) => typeof r.score === 'number' && (i === 0 || r.score <= all[i - 1]!.score!))).toBe(true);
    expect(all.slice(5).map((r) => [r.key, r.score])).toEqual([['plain1', undefined], ['plain2', undefined]]);
    expect(all[0]).toMatchObject({ key: 'alpha', namespace: ['docs', 'even'] });
    const pages = [];
    for (let offset = 0; offset < 8; offset += 3) pages.push(...(await store.search(['docs'], { query: 'alpha', limit: 3, offset })));
    expect(pages).toEqual(all);
    const odd = await store.search(['docs', 'odd'], { query: 'alpha' });
    expect(odd.map((r) => r.key)).toEqual([...all.filter((r) => r.key === 'alps' || r.key === 'beta').map((r) => r.key), 'plain2']);
    expect(await store.search(['docs'], { query: 'alpha', limit: 0 })).toEqual([]);
  });

  it('embeds the texts of a batch\'s puts in one call, each distinct text once, before any operation runs', async () => {
    const operations: Operation[] = [
      { namespace: ['b'], key: 'k1', value: { text: 'same' }, index: ['text'] },
      { namespace: ['b'], key: 'k2', value: { text: 'same', other: 'different' }, index: ['text', 'other'] },
      { namespace: ['b'], key: 'k1' },
      { namespacePrefix: ['b'], query: 'different', limit: 10 },
    ];
    const [, , seen, found] = (await store.batch(operations)) as unknown as [null, null, Item | null, SearchItem[]];
    expect(embeddings.documentCalls).toEqual([['same', 'different']]);
    expect(embeddings.queryCalls).toEqual(['different']);
    expect(seen?.value).toEqual({ text: 'same' });
    expect(found?.map((r) => r.key)).toEqual(['k2', 'k1']);
  });

  it('takes a function as embed', async () => {
    const calls: string[][] = [];
    const embed = async (texts: string[]) => {
      calls.push(texts);
      return texts.map((text) => characterEmbedding(text, DIMS));
    };
    const withFunction = await storeOf(DIMS, { index: { dims: DIMS, embed, fields: ['text'] } });
    await withFunction.put(['f'], 'a', { text: 'apples and pears' });
    await withFunction.put(['f'], 'b', { text: 'xyzzy' });
    expect((await withFunction.search(['f'], { query: 'pears and apples' })).map((r) => r.key)).toEqual(['a', 'b']);
    expect(calls).toEqual([['apples and pears'], ['xyzzy'], ['pears and apples']]);
  });

  it('leaves expired items out, and a sweep deletes every memory of theirs', async () => {
    const expiring = await storeOf(DIMS, { index: { dims: DIMS, embed: embeddings, fields: ['a', 'b'] }, ttl: { defaultTtl: 0.005 } }); // 300 ms
    await expiring.put(['t'], 'short', { a: 'gone soon', b: 'very soon' });
    await expiring.put(['t'], 'long', { a: 'stays' }, undefined, { ttl: null });
    expect(await expiring.search(['t'], { query: 'soon', refreshTtl: false })).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await expiring.search(['t'], { query: 'soon' })).map((r) => r.key)).toEqual(['long']);
    expect(await expiring.sweep()).toBe(2);
    expect(await memoriesOf(expiring.store as MemMapFS)).toHaveLength(1);
  });

  it('refreshes the TTL of the items a vector search returns', async () => {
    const expiring = await storeOf(DIMS, { index: { dims: DIMS, embed: embeddings, fields: ['a', 'b'] }, ttl: { defaultTtl: 0.01 } }); // 600 ms
    await expiring.put(['r'], 'read', { a: 'kept alive', b: 'by vector searches' });
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await expiring.search(['r'], { query: 'vector searches' })).toHaveLength(1);
    }
    expect(await expiring.get(['r'], 'read', { refreshTtl: false })).not.toBeNull();
  });

  it('fails a batch whose embeddings are wrong, with nothing written, saying what is wrong', async () => {
    const bad = (returned: (texts: string[]) => unknown) => storeOf(4, { index: { dims: 4, embed: async (texts) => returned(texts) as number[][] } });
    const cases: Array<[(texts: string[]) => unknown, RegExp]> = [
      [(texts) => texts.map(() => [1, 0, 0]), /embedding of 3 numbers for .*index\.dims is 4/],
      [() => [], /returned 0 embeddings for 1 texts/],
      [(texts) => texts.map(() => [1, Number.NaN, 0, 0]), /NaN at index 1/],
      [(texts) => texts.map(() => 'vector'), /returned string/],
    ];
    for (const [returned, message] of cases) {
      const refused = await bad(returned);
      const error = await rejection(refused.batch([{ namespace: ['ok'], key: 'first', value: { a: 1 }, index: false }, { namespace: ['x'], key: 'k', value: { text: 'hello' } }]));
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) });
      expect(error.message).toContain('MemMapStore.put');
      expect(await refused.search([])).toEqual([]);
    }
    // The model's own error passes through as it is.
    const failing = await storeOf(4, { index: { dims: 4, embed: async () => Promise.reject(new Error('rate limited')) } });
    await expect(failing.put(['x'], 'k', { text: 'hello' })).rejects.toThrow('rate limited');
    expect(await failing.search([])).toEqual([]);
  });

  it('checks the index option at construction', () => {
    const embed = embeddings;
    expect(() => new MemMapStore(fs, { index: { dims: 0, embed } })).toThrow(/index\.dims must be a positive integer/);
    expect(() => new MemMapStore(fs, { index: { dims: 3 } as never })).toThrow(/index\.embed must be LangChain Embeddings/);
    expect(() => new MemMapStore(fs, { index: { dims: 3, embeddings: embed } as never })).toThrow(/takes the embeddings model as index\.embed/);
    expect(() => new MemMapStore(fs, { index: { dims: 3, embed, fields: 'text' as never } })).toThrow(/index\.fields must be an array of paths/);
    expect(() => new MemMapStore(fs, { index: { dims: 3, embed, fields: ['ok', 4 as never] } })).toThrow(/index\.fields/);
    // No fields: only puts that name their own are embedded.
    expect(() => new MemMapStore(fs, { index: { dims: 3, embed, fields: [] } })).not.toThrow();
  });

  it('fails every operation, saying how to open the store, when its search provider cannot search embeddings of dims', async () => {
    const plain = await openStore(`${root}-plain`);
    opened.push(plain);
    const error = await rejection(new MemMapStore(plain, { index: { dims: 384, embed: embeddings } }).put(['a'], 'k', { text: 'x' }));
    expect(error).toBeInstanceOf(MemMapError);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(error.message).toContain("MemMapStore.put: index.dims is 384, and the store's search provider 'segments' has no vector search");
    expect(error.message).toContain("{ search: { provider: 'orama', options: { vectors: { dimensions: 384 } } } }");
    expect((await plain.listMemories()).memories).toEqual([]);

    const otherDims = new MemMapStore(fs, { index: { dims: 3, embed: embeddings } });
    await expect(otherDims.get(['a'], 'k')).rejects.toThrow(/MemMapStore\.get: index\.dims is 3, and the store's search provider 'cosine-test' takes embeddings of 500/);
    await expect(otherDims.search(['a'], { query: 'x' })).rejects.toThrow(/MemMapStore\.search: index\.dims is 3/);
  });

  it('keeps embeddings across a reopen, serves read-only stores, and shares items with a store without index', async () => {
    await store.put(['user'], 'tea', { text: 'drinks green tea' });
    await store.put(['user'], 'cat', { text: 'has a cat named Miso' });
    await fs.close();
    fs = await openVectorStore(root, DIMS);
    opened.push(fs);
    store = new MemMapStore(fs, { index: { dims: DIMS, embed: embeddings } });
    const [best, next] = await store.search(['user'], { query: 'a cat named Miso' });
    expect(best?.key).toBe('cat');
    expect(best!.score).toBeGreaterThan(next!.score!);

    const reader = await openVectorStore(root, DIMS, { readOnly: true });
    opened.push(reader);
    const readOnly = new MemMapStore(reader, { index: { dims: DIMS, embed: embeddings } });
    expect((await readOnly.search(['user'], { query: 'green tea' }))[0]?.key).toBe('tea');

    // Without index, the same items: full-text query, no embedding asked for.
    const textOnly = new MemMapStore(fs);
    expect((await textOnly.search(['user'], { query: 'miso' })).map((r) => r.key)).toEqual(['cat']);
    await textOnly.put(['user'], 'tea', { text: 'drinks black tea' });
    const ranked = await store.search(['user'], { query: 'drinks black tea' });
    expect(ranked.map((r) => [r.key, r.score === undefined])).toEqual([['cat', false], ['tea', true]]);
  });
});
