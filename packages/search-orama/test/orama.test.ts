import type { SearchProvider } from '@memmapfs/core';
import { searchProviderSuite } from '@memmapfs/testkit';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import oramaDefault, { orama } from '../src/index.js';
import { ORAMA_VERSION } from '../src/snapshot.js';

searchProviderSuite('orama', () => orama());
searchProviderSuite('orama (typo tolerance 1)', () => orama({ tolerance: 1, relevance: { k: 1.5 } }));

async function idsOf(provider: SearchProvider, text: string, limit = 50): Promise<number[]> {
  return (await provider.search({ text, limit })).map((hit) => hit.id);
}

describe('orama provider', () => {
  it('is the default export and is named orama', () => {
    expect(oramaDefault).toBe(orama);
    expect(orama().name).toBe('orama');
    expect(orama().supports).toEqual({ snapshot: true, prefix: true });
  });

  it('rejects a bad tolerance', () => {
    expect(() => orama({ tolerance: -1 })).toThrow(/\[orama\] tolerance must be a non-negative integer/);
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
