import type { SearchProvider } from '@memmapfs/core';
import { searchProviderSuite } from '@memmapfs/testkit';
import { Index } from 'flexsearch';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoreFastUpdate } from '../src/fast-update.js';
import flexsearchDefault, { flexsearch } from '../src/index.js';
import { FLEXSEARCH_VERSION } from '../src/snapshot.js';

searchProviderSuite('flexsearch', () => flexsearch());
searchProviderSuite('flexsearch (strict words, no suggest)', () => flexsearch({ tokenize: 'strict', suggest: false }));
searchProviderSuite('flexsearch (full substrings)', () => flexsearch({ tokenize: 'full', resolution: 3 }));

async function idsOf(provider: SearchProvider, text: string, limit = 50): Promise<number[]> {
  return (await provider.search({ text, limit })).map((hit) => hit.id);
}

describe('flexsearch provider', () => {
  it('is the default export and is named flexsearch', () => {
    expect(flexsearchDefault).toBe(flexsearch);
    expect(flexsearch().name).toBe('flexsearch');
  });

  it('declares prefix matching for every tokenizer but strict', () => {
    expect(flexsearch().supports).toEqual({ snapshot: true, prefix: true });
    expect(flexsearch({ tokenize: 'strict' }).supports.prefix).toBe(false);
    expect(flexsearch({ tokenize: 'reverse' }).supports.prefix).toBe(true);
  });

  it('rejects an unknown tokenizer and a bad resolution', () => {
    expect(() => flexsearch({ tokenize: 'soundex' as never })).toThrow(/\[flexsearch\] tokenize must be one of/);
    expect(() => flexsearch({ resolution: 0 })).toThrow(/resolution must be a positive integer/);
    expect(() => flexsearch({ resolution: 2.5 })).toThrow(/resolution must be a positive integer/);
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

  it('scores hits 1 / (1 + rank)', async () => {
    const provider = flexsearch();
    for (let id = 1; id <= 3; id++) await provider.add({ id, text: `alpha ${id}`, tags: [], namespace: 'default' });
    expect((await provider.search({ text: 'alpha', limit: 3 })).map((hit) => hit.score)).toEqual([1, 1 / 2, 1 / 3]);
  });

  it('rejects bytes that are not one of its snapshots', async () => {
    const provider = flexsearch();
    const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
    await expect(provider.importSnapshot!(new Uint8Array([0xff, 0xfe, 0x00]))).rejects.toThrow(/not UTF-8 JSON/);
    await expect(provider.importSnapshot!(encode({ provider: 'orama' }))).rejects.toThrow(/not made by the flexsearch provider/);
    await expect(provider.importSnapshot!(encode({ provider: 'flexsearch', format: 99, library: 'flexsearch@9' }))).rejects.toThrow(/format 99/);
    const strictSnapshot = await flexsearch({ tokenize: 'strict' }).exportSnapshot!();
    await expect(provider.importSnapshot!(strictSnapshot)).rejects.toThrow(/tokenize 'strict'/);
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
