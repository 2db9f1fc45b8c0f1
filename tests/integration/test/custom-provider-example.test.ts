import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { searchProviderSuite } from '@memmapfs/testkit';
import { registerWordIndex, WordIndexProvider } from '../../../examples/custom-search-provider.js';
import { useTempStore } from './support/temp-store.js';

// The example in examples/ is a provider a user could publish: it must pass the whole suite, as ours do.
searchProviderSuite('the custom provider of examples/', () => new WordIndexProvider());

const storeOf = useTempStore('custom-provider');

describe('the custom provider of examples/, chosen by name', () => {
  it('indexes, ranks, survives a reopen through its snapshot, and refuses bad options', async () => {
    registerWordIndex();
    const { root, dir } = storeOf();
    const open = () => MemMapFS.init(root, { search: { provider: 'word-index', options: { k1: 1.5 } } });
    const fs = await open();
    await fs.appendMemories([{ text: 'The user prefers dark mode' }, { text: 'The user lives in Lyon' }, { text: 'Preferences were saved' }]);
    const first = (await fs.queryMemory('dark pref')).map((h) => h.text);
    expect(first).toEqual(['The user prefers dark mode', 'Preferences were saved']);
    expect(fs.stats().search).toBe('word-index');
    await fs.close();
    const again = await open();
    expect((await again.queryMemory('dark pref')).map((h) => h.text)).toEqual(first);
    await again.close();
    await expect(MemMapFS.init(join(dir, 'another'), { search: { provider: 'word-index', options: { b: 2 } } })).rejects.toThrow(/b from 0 to 1/);
  });
});
