import type { SearchProvider } from '@memmapfs/core';
import { searchProviderSuite, seededRandom } from '@memmapfs/testkit';
import { Index } from 'flexsearch';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoreFastUpdate } from '../src/fast-update.js';
import flexsearchDefault, { flexsearch } from '../src/index.js';
import { FLEXSEARCH_VERSION } from '../src/snapshot.js';
import { Vocabulary } from '../src/vocabulary.js';

describe('flexsearch options', () => {
  it('refuses one it does not take (misspelt), or one out of range, as INVALID_ARGUMENT naming the options it takes', () => {
    const refused = (message: RegExp) => expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) });
    expect(() => flexsearch({ tokenise: 'full' } as never)).toThrow(refused(/flexsearch: "tokenise" is not one of the options it takes \(tokenize, resolution, prefixWords, suggest\)/));
    expect(() => flexsearch({ tokenize: 'fulll' as never })).toThrow(refused(/must be/));
    expect(() => flexsearch('full' as never)).toThrow(refused(/options must be an object/));
  });
});

searchProviderSuite('flexsearch', () => flexsearch());
searchProviderSuite('flexsearch (every word, two levels)', () => flexsearch({ suggest: false, resolution: 2 }));
searchProviderSuite('flexsearch (no prefix words)', () => flexsearch({ prefixWords: 0 }));
searchProviderSuite('flexsearch (forward)', () => flexsearch({ tokenize: 'forward' }));
searchProviderSuite('flexsearch (full substrings, no suggest)', () => flexsearch({ tokenize: 'full', resolution: 3, suggest: false }));

async function idsOf(provider: SearchProvider, text: string, limit = 50): Promise<number[]> {
  return (await provider.search({ text, limit })).map((hit) => hit.id);
}

describe('flexsearch provider', () => {
  it('is the default export and is named flexsearch', () => {
    expect(flexsearchDefault).toBe(flexsearch);
    expect(flexsearch().name).toBe('flexsearch');
  });

  it('declares prefix matching unless prefix words are turned off', () => {
    expect(flexsearch().supports).toEqual({ snapshot: true, prefix: true, wholeWords: true, comparableScores: true });
    expect(flexsearch({ tokenize: 'strict' }).supports.prefix).toBe(true);
    expect(flexsearch({ prefixWords: 0 }).supports).toMatchObject({ prefix: false, wholeWords: true });
    expect(flexsearch({ tokenize: 'reverse' }).supports).toMatchObject({ prefix: true, wholeWords: false, comparableScores: false });
  });

  it('rejects an unknown tokenizer, a bad resolution and bad prefix words', () => {
    expect(() => flexsearch({ tokenize: 'soundex' as never })).toThrow(/flexsearch: tokenize must be one of/);
    expect(() => flexsearch({ resolution: 0 })).toThrow(/resolution must be a positive integer/);
    expect(() => flexsearch({ resolution: 2.5 })).toThrow(/resolution must be a positive integer/);
    expect(() => flexsearch({ prefixWords: -1 })).toThrow(/prefixWords must be a non-negative integer/);
    expect(() => flexsearch({ prefixWords: 1.5 })).toThrow(/prefixWords/);
  });

  it('indexes whole words by default: only the last query word matches as a prefix', async () => {
    const words = flexsearch({ suggest: false });
    const beginnings = flexsearch({ tokenize: 'forward', suggest: false });
    for (const provider of [words, beginnings]) {
      await provider.add({ id: 1, text: 'memory notes', tags: [], namespace: 'default' });
      await provider.add({ id: 2, text: 'notes on memoirs', tags: [], namespace: 'default' });
    }
    expect(await idsOf(words, 'notes memo')).toEqual(expect.arrayContaining([1, 2]));
    expect(await idsOf(words, 'memo notes')).toEqual([]);
    expect(await idsOf(beginnings, 'memo notes')).toEqual(expect.arrayContaining([1, 2]));
  });

  it('lets the last query word stand for the most common words it begins', async () => {
    const provider = flexsearch({ prefixWords: 2 });
    const texts = ['kappa', 'kappa', 'kappa', 'kale', 'kale', 'kayak', 'ka'];
    for (const [i, text] of texts.entries()) await provider.add({ id: i + 1, text, tags: [], namespace: 'default' });
    // 'kappa' and 'kale' are the most common; 'ka' is a word itself, so it is always one of them.
    expect((await idsOf(provider, 'ka')).sort()).toEqual([1, 2, 3, 7]);
    expect((await idsOf(provider, 'kap')).sort()).toEqual([1, 2, 3]);
    expect(await idsOf(provider, 'kay')).toEqual([6]);
    expect(await idsOf(flexsearch({ prefixWords: 0 }), 'ka')).toEqual([]);
  });

  it('finds words that are only indexed, removed and indexed again since the last prefix search', async () => {
    const provider = flexsearch();
    await provider.add({ id: 1, text: 'orchid', tags: [], namespace: 'default' });
    expect(await idsOf(provider, 'orc')).toEqual([1]);
    await provider.remove(1);
    expect(await idsOf(provider, 'orc')).toEqual([]);
    await provider.add({ id: 2, text: 'orchid orca', tags: [], namespace: 'default' });
    await provider.add({ id: 3, text: 'orca', tags: [], namespace: 'default' });
    expect((await idsOf(provider, 'orc')).sort()).toEqual([2, 3]);
    await provider.add({ id: 3, text: 'whale', tags: [], namespace: 'default' });
    expect(await idsOf(provider, 'orc')).toEqual([2]);
  });

  it('ranks by BM25: how often a word is in a memory, for its length, not where', async () => {
    const provider = flexsearch();
    const filler = Array.from({ length: 30 }, (_, i) => `filler${i}`).join(' ');
    await provider.add({ id: 1, text: `alpha ${filler}`, tags: [], namespace: 'default' });
    await provider.add({ id: 2, text: 'beta gamma alpha alpha alpha', tags: [], namespace: 'default' });
    await provider.add({ id: 3, text: `${filler} delta`, tags: [], namespace: 'default' });
    const hits = await provider.search({ text: 'alpha', limit: 10 });
    expect(hits.map((hit) => hit.id)).toEqual([2, 1]);
    expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score);
    expect(hits[1]!.score).toBeGreaterThan(0);
  });

  it('returns the BM25 top hits, with their scores, for common and rare words, filters and prefixes (property)', async () => {
    // Memories of one length, so that the relevance level a memory is filed at never depends on when it came.
    const vocabulary = ['ash', 'birch', 'cedar', 'elm', 'fir', 'holly', 'maple', 'oak', 'pine', 'yew'];
    const weights = [40, 20, 12, 8, 5, 4, 3, 2, 1, 1];
    const random = seededRandom(11);
    const pick = (): string => {
      let n = random() * weights.reduce((a, b) => a + b, 0);
      let i = 0;
      while (n >= weights[i]!) n -= weights[i++]!;
      return vocabulary[i]!;
    };
    for (let run = 0; run < 120; run++) {
      const docs = Array.from({ length: 1 + Math.floor(random() * 150) }, () => ({ words: Array.from({ length: 6 }, pick), tag: random() < 0.5 ? 'red' : 'blue' }));
      const every = random() < 0.3;
      const provider = flexsearch({ suggest: !every, resolution: 1 + Math.floor(random() * 12) });
      for (const [i, doc] of docs.entries()) await provider.add({ id: i + 1, text: doc.words.join(' '), tags: [doc.tag], namespace: 'default' });
      const words = [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, () => (random() < 0.5 ? pick() : vocabulary[Math.floor(random() * vocabulary.length)]!)))];
      // (Two letters begin one word of the vocabulary each.)
      if (random() < 0.5) words[words.length - 1] = words.at(-1)!.slice(0, 2);
      const limit = 1 + Math.floor(random() * 12);
      const tag = random() < 0.3 ? (random() < 0.5 ? 'red' : 'blue') : undefined;
      const hits = await provider.search({ text: words.join(' '), limit, ...(tag ? { tags: [tag] } : {}) });
      const expected = bm25(docs.map((doc) => doc.words), words, every)
        .filter(({ id }) => tag === undefined || docs[id - 1]!.tag === tag)
        .slice(0, limit);
      const context = JSON.stringify({ run, words, limit, tag, every });
      expect(hits.length, context).toBe(expected.length);
      hits.forEach((hit, i) => {
        expect(hit.score, context).toBeCloseTo(expected[i]!.score, 9);
        expect(hit.score, context).toBeCloseTo(bm25(docs.map((doc) => doc.words), words, every).find(({ id }) => id === hit.id)?.score ?? NaN, 9);
      });
    }
  });

  it('finds memories holding some of the query words, unless suggest is off', async () => {
    const suggesting = flexsearch();
    const strict = flexsearch({ suggest: false });
    for (const provider of [suggesting, strict]) {
      await provider.add({ id: 1, text: 'alpha beta', tags: [], namespace: 'default' });
      await provider.add({ id: 2, text: 'alpha gamma', tags: [], namespace: 'default' });
    }
    expect(await idsOf(suggesting, 'alpha beta')).toEqual([1, 2]);
    expect(await idsOf(suggesting, 'alpha unknownword')).toEqual(expect.arrayContaining([1, 2]));
    expect(await idsOf(strict, 'alpha beta')).toEqual([1]);
    expect(await idsOf(strict, 'alpha unknownword')).toEqual([]);
  });

  it('scores hits 1 / (1 + rank) with the tokenizers that rank in flexsearch order', async () => {
    const provider = flexsearch({ tokenize: 'forward' });
    for (let id = 1; id <= 3; id++) await provider.add({ id, text: `alpha ${id}`, tags: [], namespace: 'default' });
    expect((await provider.search({ text: 'alpha', limit: 3 })).map((hit) => hit.score)).toEqual([1, 1 / 2, 1 / 3]);
  });

  it('rejects bytes that are not one of its snapshots', async () => {
    const provider = flexsearch();
    const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
    await expect(provider.importSnapshot!(new Uint8Array([0xff, 0xfe, 0x00]))).rejects.toThrow(/not UTF-8 JSON/);
    await expect(provider.importSnapshot!(encode({ provider: 'orama' }))).rejects.toThrow(/not made by the flexsearch provider/);
    await expect(provider.importSnapshot!(encode({ provider: 'flexsearch', format: 99, library: 'flexsearch@9' }))).rejects.toThrow(/format 99/);
    const forwardSnapshot = await flexsearch({ tokenize: 'forward' }).exportSnapshot!();
    await expect(provider.importSnapshot!(forwardSnapshot)).rejects.toThrow(/tokenize 'forward'/);
    const otherLevels = await flexsearch({ resolution: 4 }).exportSnapshot!();
    await expect(provider.importSnapshot!(otherLevels)).rejects.toThrow(/resolution 4/);
  });

  it('rejects a snapshot of the earlier layout, whatever its settings', async () => {
    const provider = flexsearch();
    const settings = JSON.parse(new TextDecoder().decode(await provider.exportSnapshot!())).settings as unknown;
    const earlier = { provider: 'flexsearch', format: 1, library: `flexsearch@${FLEXSEARCH_VERSION}`, settings, parts: [], memories: [] };
    await expect(provider.importSnapshot!(new TextEncoder().encode(JSON.stringify(earlier)))).rejects.toThrow(/format 1/);
  });

  it('rejects a snapshot whose word counts are damaged, and keeps its index', async () => {
    const original = flexsearch();
    await original.add({ id: 1, text: 'alpha beta', tags: [], namespace: 'default' });
    const snapshot = JSON.parse(new TextDecoder().decode(await original.exportSnapshot!())) as { index: { terms: { words: unknown[] } } };
    snapshot.index.terms.words = [];
    const provider = flexsearch();
    await provider.add({ id: 2, text: 'gamma', tags: [], namespace: 'default' });
    await expect(provider.importSnapshot!(new TextEncoder().encode(JSON.stringify(snapshot)))).rejects.toThrow(/could not read it/);
    expect(await idsOf(provider, 'gamma')).toEqual([2]);
  });

  it('keeps its index when an import fails', async () => {
    const provider = flexsearch();
    await provider.add({ id: 1, text: 'alpha', tags: [], namespace: 'default' });
    await expect(provider.importSnapshot!(new TextEncoder().encode('{}'))).rejects.toThrow();
    expect(await idsOf(provider, 'alpha')).toEqual([1]);
  });

  it('records the flexsearch version it depends on', () => {
    const entry = createRequire(import.meta.url).resolve('flexsearch');
    let folder = dirname(entry);
    while (!folder.endsWith('flexsearch')) folder = dirname(folder);
    const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { version: string };
    expect(FLEXSEARCH_VERSION).toBe(manifest.version);
  });

  it('after an import, updates give the same results as on an index that was never exported', async () => {
    const words = ['amber', 'basil', 'cedar', 'dune', 'ember', 'fjord', 'grove', 'heath'];
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const sentence = (): string => Array.from({ length: 1 + random(5) }, () => words[random(words.length)]).join(' ');
    const original = flexsearch();
    for (let id = 1; id <= 300; id++) await original.add({ id, text: sentence(), tags: [], namespace: 'default' });
    const restored = flexsearch();
    await restored.importSnapshot!(await original.exportSnapshot!());
    for (let step = 0; step < 400; step++) {
      const id = 1 + random(350);
      if (random(3) === 0) {
        await original.remove(id);
        await restored.remove(id);
      } else {
        const text = sentence();
        await original.add({ id, text, tags: [], namespace: 'default' });
        await restored.add({ id, text, tags: [], namespace: 'default' });
      }
    }
    for (const word of words) expect(await idsOf(restored, word, 400)).toEqual(await idsOf(original, word, 400));
  });

  it('finds the most common words a prefix begins, through adds and removes (property)', () => {
    const random = seededRandom(3);
    const vocabulary = new Vocabulary();
    const model = new Map<string, number>();
    const letters = 'abcd';
    const word = (): string => Array.from({ length: 1 + Math.floor(random() * 4) }, () => letters[Math.floor(random() * letters.length)]).join('');
    for (let step = 0; step < 3_000; step++) {
      const chosen = word();
      if (random() < 0.6) {
        vocabulary.hold(chosen);
        model.set(chosen, (model.get(chosen) ?? 0) + 1);
      } else if (model.has(chosen)) {
        vocabulary.release(vocabulary.idOf(chosen));
        if (model.get(chosen) === 1) model.delete(chosen);
        else model.set(chosen, model.get(chosen)! - 1);
      }
      if (step % 7 !== 0) continue;
      const prefix = word().slice(0, 1 + Math.floor(random() * 2));
      const limit = 1 + Math.floor(random() * 6);
      const found = vocabulary.wordsWithPrefix(prefix, limit).map((id) => vocabulary.wordOf(id));
      const matching = [...model].filter(([w]) => w.startsWith(prefix));
      const context = JSON.stringify({ step, prefix, limit });
      expect(new Set(found).size, context).toBe(found.length);
      expect(found.length, context).toBe(Math.min(limit, matching.length));
      for (const w of found) expect(model.has(w) && w.startsWith(prefix), context).toBe(true);
      if (model.has(prefix)) expect(found, context).toContain(prefix);
      // The others are the commonest: none left out is held by more memories than one chosen.
      const others = found.filter((w) => w !== prefix).map((w) => model.get(w)!);
      const leftOut = matching.filter(([w]) => !found.includes(w)).map(([, count]) => count);
      if (others.length > 0 && leftOut.length > 0) expect(Math.max(...leftOut), context).toBeLessThanOrEqual(Math.min(...others));
      for (const w of found) expect(vocabulary.documentFrequency(vocabulary.idOf(w)), context).toBe(model.get(w));
    }
  });

  it('restores fast updates on an imported flexsearch Index', () => {
    const source = new Index({ tokenize: 'forward', fastupdate: true });
    source.add(1, 'alpha beta').add(2, 'alpha gamma');
    const copy = new Index({ tokenize: 'forward', fastupdate: false });
    source.export((key, data) => {
      copy.import(key, data);
    });
    expect(restoreFastUpdate(copy)).toBe(true);
    expect((copy as unknown as { fastupdate: boolean }).fastupdate).toBe(true);
    copy.remove(1);
    expect(copy.search('alpha')).toEqual([2]);
    expect(copy.search('beta') ?? []).toEqual([]);
  });
});

/** BM25 as SQLite FTS5 computes it (the last word as a prefix), by brute force: `[{ id, score }]`, best first. */
function bm25(docs: string[][], words: string[], every: boolean): Array<{ id: number; score: number }> {
  const average = docs.reduce((sum, doc) => sum + doc.length, 0) / docs.length;
  const matches = (term: string, w: number): boolean => (w === words.length - 1 ? term.startsWith(words[w]!) : term === words[w]);
  const idf = words.map((_, w) => {
    const holders = docs.filter((doc) => doc.some((term) => matches(term, w))).length;
    return Math.max(Math.log((docs.length - holders + 0.5) / (holders + 0.5)), 1e-6);
  });
  return docs
    .map((doc, i) => {
      const counts = words.map((_, w) => doc.filter((term) => matches(term, w)).length);
      const score = counts.reduce((sum, count, w) => sum + (count === 0 ? 0 : (idf[w]! * count * 2.2) / (count + 1.2 * (0.25 + (0.75 * doc.length) / average))), 0);
      return { id: i + 1, score, held: counts.filter((count) => count > 0).length };
    })
    .filter(({ held }) => (every ? held === words.length : held > 0))
    .map(({ id, score }) => ({ id, score }))
    .sort((a, b) => b.score - a.score || b.id - a.id);
}

