import type { SearchProvider } from '@memmapfs/core';
import { searchProviderSuite, seededRandom } from '@memmapfs/testkit';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { create, insert, search } from '@orama/orama';
import { wordsWithin, type WordNode } from '../src/radix-words.js';
import oramaDefault, { orama } from '../src/index.js';
import { ORAMA_VERSION } from '../src/snapshot.js';
import { WordSearchIndex } from '../src/word-search.js';
import { createWordTokenizer } from '../src/word-tokenizer.js';

describe('orama options', () => {
  it('refuses one it does not take (misspelt), or one out of range, as INVALID_ARGUMENT naming the options it takes', () => {
    const refused = (message: RegExp) => expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) });
    expect(() => orama({ tolerence: 1 } as never)).toThrow(refused(/orama: "tolerence" is not one of the options it takes \(tolerance, relevance, vectors\)/));
    expect(() => orama({ tolerance: -1 })).toThrow(refused(/must be/));
    expect(() => orama([] as never)).toThrow(refused(/options must be an object/));
  });
});

searchProviderSuite('orama', () => orama());
searchProviderSuite('orama (typo tolerance 1)', () => orama({ tolerance: 1, relevance: { k: 1.5 } }));
searchProviderSuite('orama (vectors of 24)', () => orama({ vectors: { dimensions: 24 } }));
searchProviderSuite('orama (vectors of 1)', () => orama({ vectors: { dimensions: 1 } }), { skip: ['contract', 'ranking', 'hostile', 'unicode', 'scale', 'model', 'prefix', 'snapshot'] });

async function idsOf(provider: SearchProvider, text: string, limit = 50): Promise<number[]> {
  return (await provider.search({ text, limit })).map((hit) => hit.id);
}

describe('orama provider', () => {
  it('is the default export and is named orama', () => {
    expect(oramaDefault).toBe(orama);
    expect(orama().name).toBe('orama');
    expect(orama().supports).toEqual({ snapshot: true, prefix: true, wholeWords: true, comparableScores: true });
  });

  it('declares vector search only with the vectors option, and checks it', () => {
    expect(orama({ vectors: { dimensions: 384 } }).supports).toEqual({ snapshot: true, prefix: true, wholeWords: true, comparableScores: true, vectors: { dimensions: 384 } });
    for (const dimensions of [0, -1, 1.5, Number.NaN, 70_000, '384', undefined]) {
      expect(() => orama({ vectors: { dimensions } as never }), String(dimensions)).toThrow(/orama: vectors\.dimensions must be an integer from 1 to 65536, the length of your model's embeddings/);
    }
    for (const vectors of [384, null, [384], 'yes']) {
      expect(() => orama({ vectors } as never), String(vectors)).toThrow(/orama: vectors must be \{ dimensions \}/);
    }
  });

  it('finds by cosine similarity however dissimilar, with its sign, and a query of another length finds nothing', async () => {
    const provider = orama({ vectors: { dimensions: 2 } });
    await provider.add({ id: 1, text: 'east', tags: [], namespace: 'default', embedding: new Float32Array([1, 0]) });
    await provider.add({ id: 2, text: 'west', tags: [], namespace: 'default', embedding: new Float32Array([-1, 0]) });
    await provider.add({ id: 3, text: 'north', tags: [], namespace: 'default', embedding: new Float32Array([0, 2]) });
    const hits = await provider.search({ text: '', limit: 10, embedding: new Float32Array([1, 1]) });
    // (1 and 3 are as similar: the newer first.)
    expect(hits.map((hit) => hit.id)).toEqual([3, 1, 2]);
    hits.forEach((hit, i) => expect(hit.score).toBeCloseTo([Math.SQRT1_2, Math.SQRT1_2, -Math.SQRT1_2][i]!, 6));
    expect(await provider.search({ text: '', limit: 10, embedding: new Float32Array([1, 1, 1]) })).toEqual([]);
    expect(await idsOf(provider, 'west')).toEqual([2]);
  });

  it('scores a hybrid hit as textWeight × BM25 relative to the best text hit + (1 − textWeight) × similarity', async () => {
    const provider = orama({ vectors: { dimensions: 2 } });
    await provider.add({ id: 1, text: 'walrus', tags: [], namespace: 'default', embedding: new Float32Array([0, 1]) });
    await provider.add({ id: 2, text: 'walrus tusk ivory', tags: [], namespace: 'default' });
    await provider.add({ id: 3, text: 'pelican', tags: [], namespace: 'default', embedding: new Float32Array([1, 0]) });
    const text = await provider.search({ text: 'walrus', limit: 10 });
    expect(text.map((hit) => hit.id)).toEqual([1, 2]);
    const hits = await provider.search({ text: 'walrus', limit: 10, embedding: new Float32Array([1, 0]), textWeight: 0.25 });
    const score = new Map(hits.map((hit) => [hit.id, hit.score]));
    expect(score.get(1)).toBeCloseTo(0.25 * 1 + 0.75 * 0, 9);
    expect(score.get(2)).toBeCloseTo((0.25 * text[1]!.score) / text[0]!.score, 9);
    expect(score.get(3)).toBeCloseTo(0.75, 9);
    expect(hits.map((hit) => hit.id)).toEqual([3, 1, 2]);
  });

  it('keeps each embedding once in its snapshot, and refuses one made with other dimensions, keeping its index', async () => {
    const vectors = orama({ vectors: { dimensions: 3 } });
    await vectors.add({ id: 1, text: 'alpha', tags: [], namespace: 'default', embedding: new Float32Array([0.1, 0.2, 0.3]) });
    await vectors.search({ text: '', limit: 10, embedding: new Float32Array([1, 0, 0]) });
    const snapshot = await vectors.exportSnapshot!();
    const end = snapshot.indexOf(0);
    const json = new TextDecoder().decode(snapshot.subarray(0, end));
    expect(JSON.parse(json)).toMatchObject({ format: 2, vectors: { dimensions: 3, count: 1 } });
    expect(json).not.toMatch(/0\.2000000029/);
    expect(snapshot.length - end - 1).toBe(4 + 3 * 4);
    expect(new Float32Array(new Uint8Array(snapshot.subarray(end + 5)).buffer)).toEqual(new Float32Array([0.1, 0.2, 0.3]));
    await expect(orama({ vectors: { dimensions: 3 } }).importSnapshot!(snapshot.subarray(0, snapshot.length - 1))).rejects.toThrow(/embeddings are cut short/);
    const plain = orama();
    await plain.add({ id: 2, text: 'beta', tags: [], namespace: 'default' });
    const other = orama({ vectors: { dimensions: 4 } });
    await other.add({ id: 3, text: 'gamma', tags: [], namespace: 'default', embedding: new Float32Array([1, 0, 0, 0]) });
    await expect(plain.importSnapshot!(snapshot)).rejects.toThrow(/holds embeddings of 3 numbers, and this provider has no vector search/);
    await expect(other.importSnapshot!(snapshot)).rejects.toThrow(/holds embeddings of 3 numbers, and this provider takes 4/);
    await expect(vectors.importSnapshot!(await plain.exportSnapshot!())).rejects.toThrow(/it has no vectors, and this provider takes 3/);
    expect(await idsOf(plain, 'beta')).toEqual([2]);
    expect(await other.search({ text: '', limit: 10, embedding: new Float32Array([1, 0, 0, 0]) })).toEqual([{ id: 3, score: 1 }]);
    const restored = orama({ vectors: { dimensions: 3 } });
    await restored.importSnapshot!(snapshot);
    expect((await restored.search({ text: '', limit: 10, embedding: new Float32Array([0.1, 0.2, 0.3]) }))[0]?.id).toBe(1);
  });

  it('rejects a bad tolerance', () => {
    expect(() => orama({ tolerance: -1 })).toThrow(/orama: tolerance must be a non-negative integer/);
    expect(() => orama({ tolerance: 0.5 })).toThrow(/tolerance/);
  });

  it('scores hits by BM25: positive, and higher for rarer words', async () => {
    const provider = orama();
    await provider.add({ id: 1, text: 'common rare', tags: [], namespace: 'default' });
    await provider.add({ id: 2, text: 'common other', tags: [], namespace: 'default' });
    await provider.add({ id: 3, text: 'common third', tags: [], namespace: 'default' });
    const hits = await provider.search({ text: 'common rare', limit: 10 });
    expect(hits[0]?.id).toBe(1);
    expect(hits.every((hit) => hit.score > 0)).toBe(true);
    expect(hits[0]!.score).toBeGreaterThan(2 * hits[1]!.score);
  });

  it('finds memories holding any of the query words', async () => {
    const provider = orama();
    await provider.add({ id: 1, text: 'alpha beta', tags: [], namespace: 'default' });
    await provider.add({ id: 2, text: 'gamma', tags: [], namespace: 'default' });
    expect(await idsOf(provider, 'beta gamma unknownword')).toEqual(expect.arrayContaining([1, 2]));
  });

  it('matches every query word but the last as a whole word', async () => {
    const provider = orama();
    await provider.add({ id: 1, text: 'memory notes', tags: [], namespace: 'default' });
    await provider.add({ id: 2, text: 'notes on memoirs', tags: [], namespace: 'default' });
    expect(await idsOf(provider, 'memo zebra')).toEqual([]);
    expect((await idsOf(provider, 'zebra memo')).sort()).toEqual([1, 2]);
    expect((await idsOf(provider, 'memory zebra'))).toEqual([1]);
  });

  it('with tolerance, matches whole words within it, and the last word also as a prefix', async () => {
    const provider = orama({ tolerance: 1 });
    await provider.add({ id: 1, text: 'memory notes', tags: [], namespace: 'default' });
    await provider.add({ id: 2, text: 'notes on memoirs', tags: [], namespace: 'default' });
    await provider.add({ id: 3, text: 'menu', tags: [], namespace: 'default' });
    expect(await idsOf(provider, 'menory zebra')).toEqual([1]);
    expect(await idsOf(provider, 'memo zebra')).toEqual([]);
    expect((await idsOf(provider, 'zebra memo')).sort()).toEqual([1, 2]);
    expect((await idsOf(provider, 'zebra meny')).sort()).toEqual([3]);
  });

  it('returns the best hits by Orama BM25 for a word most memories hold, with and without filters', async () => {
    const provider = orama();
    const docs = Array.from({ length: 600 }, (_, i) => ({
      id: i + 1,
      words: ['common', ...Array.from({ length: i % 37 }, (_, j) => `filler${(i * 7 + j) % 50}`), ...(i % 3 === 0 ? ['rare'] : [])],
      tag: i % 4 === 0 ? 'even' : 'odd',
    }));
    for (const doc of docs) await provider.add({ id: doc.id, text: doc.words.join(' '), tags: [doc.tag], namespace: 'default' });
    for (const [text, tag] of [['common', undefined], ['common', 'even'], ['rare common', undefined], ['common rare', 'odd']] as const) {
      const hits = await provider.search({ text, limit: 7, ...(tag ? { tags: [tag] } : {}) });
      const expected = oramaBm25(docs.map((doc) => doc.words), text.split(' '))
        .filter(({ id }) => tag === undefined || docs[id - 1]!.tag === tag)
        .slice(0, 7);
      expect(hits.map((hit) => hit.id), `${text} [${tag}]`).toEqual(expected.map(({ id }) => id));
      hits.forEach((hit, i) => expect(hit.score).toBeCloseTo(expected[i]!.score, 9));
    }
  });

  it('scores as from the term frequencies Orama keeps, since each word of a memory is indexed once', async () => {
    const databases = [true, false].map((distinctWords) =>
      create({ schema: { text: 'string' } as const, components: { tokenizer: createWordTokenizer(), index: new WordSearchIndex({ distinctWords }).component } }),
    );
    const texts = ['alpha beta beta gamma', 'beta', 'alpha alpha alpha', 'gamma delta alpha beta epsilon', 'Alpha, BETA!'];
    for (const db of databases) for (const [i, text] of texts.entries()) await insert(db, { id: String(i + 1), text });
    for (const term of ['alpha', 'beta gamma', 'al', 'delta be']) {
      const [distinct, read] = await Promise.all(databases.map((db) => search(db, { term, limit: 10 })));
      expect(distinct!.hits.map((hit) => [hit.id, hit.score])).toEqual(read!.hits.map((hit) => [hit.id, hit.score]));
      expect(distinct!.hits.length).toBeGreaterThan(0);
    }
  });

  it('finds exactly the indexed words within a number of edits (property)', async () => {
    const random = seededRandom(5);
    for (let run = 0; run < 60; run++) {
      const letters = 'abc'.slice(0, 2 + (run % 2));
      const word = (length: number): string => Array.from({ length }, () => letters[Math.floor(random() * letters.length)]).join('');
      const vocabulary = [...new Set(Array.from({ length: 1 + Math.floor(random() * 40) }, () => word(1 + Math.floor(random() * 6))))];
      const db = create({ schema: { text: 'string' } as const, components: { tokenizer: createWordTokenizer() } });
      for (const [i, text] of vocabulary.entries()) await insert(db, { id: String(i), text });
      const root = (db.data.index as unknown as { indexes: { text: { node: WordNode } } }).indexes.text.node;
      const query = word(1 + Math.floor(random() * 7));
      const tolerance = 1 + Math.floor(random() * 3);
      const found = wordsWithin(root, query, tolerance).map((node) => node.w).sort();
      expect(found, `${query} within ${tolerance} of ${vocabulary.join(' ')}`).toEqual(vocabulary.filter((w) => levenshtein(w, query) <= tolerance).sort());
    }
  });

  it('tolerates typos only when asked', async () => {
    const exact = orama();
    const tolerant = orama({ tolerance: 1 });
    for (const provider of [exact, tolerant]) await provider.add({ id: 1, text: 'memory', tags: [], namespace: 'default' });
    expect(await idsOf(exact, 'memroy')).toEqual([]);
    expect(await idsOf(tolerant, 'memroy')).toEqual([]);
    expect(await idsOf(exact, 'menory')).toEqual([]);
    expect(await idsOf(tolerant, 'menory')).toEqual([1]);
  });

  it('finds words of any script, with accents folded', async () => {
    const provider = orama();
    await provider.add({ id: 1, text: 'Ελληνικά κείμενα, Русский текст, Grüße, naïve', tags: [], namespace: 'default' });
    await provider.add({ id: 2, text: '東京タワーの夜景', tags: [], namespace: 'default' });
    for (const text of ['ελληνικα', 'κείμενα', 'русский', 'ТЕКСТ', 'grusse', 'grüße', 'naive', 'NAÏVE']) {
      expect(await idsOf(provider, text), text).toEqual(text === 'grusse' ? [] : [1]);
    }
    expect(await idsOf(provider, '東京')).toEqual([2]);
  });

  it('returns nothing for an empty query instead of every memory', async () => {
    const provider = orama();
    await provider.add({ id: 1, text: 'alpha', tags: [], namespace: 'default' });
    expect(await provider.search({ text: '', limit: 10 })).toEqual([]);
  });

  it('rejects bytes that are not one of its snapshots and keeps its index', async () => {
    const provider = orama();
    await provider.add({ id: 1, text: 'alpha', tags: [], namespace: 'default' });
    const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
    await expect(provider.importSnapshot!(new Uint8Array([0xff, 0xfe, 0x00]))).rejects.toThrow(/not UTF-8 JSON/);
    await expect(provider.importSnapshot!(encode({ provider: 'flexsearch' }))).rejects.toThrow(/not made by the orama provider/);
    await expect(provider.importSnapshot!(encode({ provider: 'orama', format: 99, library: 'x' }))).rejects.toThrow(/format 99/);
    expect(await idsOf(provider, 'alpha')).toEqual([1]);
  });

  it('records the Orama version it depends on', () => {
    const entry = createRequire(import.meta.url).resolve('@orama/orama');
    let folder = dirname(entry);
    while (!folder.endsWith(join('@orama', 'orama'))) folder = dirname(folder);
    const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { version: string };
    expect(ORAMA_VERSION).toBe(manifest.version);
  });
});

/** Orama's BM25 (each word of a memory counted once), by brute force: `[{ id, score }]`, best first, ties to the older. */
function oramaBm25(docs: string[][], words: string[]): Array<{ id: number; score: number }> {
  const distinct = docs.map((doc) => [...new Set(doc)]);
  const average = distinct.reduce((sum, doc) => sum + doc.length, 0) / distinct.length;
  const matches = (term: string, w: number): boolean => (w === words.length - 1 ? term.startsWith(words[w]!) : term === words[w]);
  return distinct
    .map((doc, i) => {
      let score = 0;
      words.forEach((_, w) => {
        for (const term of doc.filter((t) => matches(t, w))) {
          const holders = distinct.filter((other) => other.includes(term)).length;
          const idf = Math.log(1 + (distinct.length - holders + 0.5) / (holders + 0.5));
          const frequency = 1 / doc.length;
          score += (idf * (0.5 + frequency * 2.2)) / (frequency + 1.2 * (0.25 + (0.75 * doc.length) / average));
        }
      });
      return { id: i + 1, score };
    })
    .filter(({ score }) => score > 0)
    .sort((a, b) => b.score - a.score || b.id - a.id);
}

function levenshtein(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

