import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = (extra: Parameters<typeof MemMapFS.init>[1] = {}) => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), ...extra });

describe('listKv', () => {
  it('lists the keys that are set in ascending order, by prefix, after a key, and up to a limit', async () => {
    const fs = await open();
    for (const key of ['thread/b/2', 'thread/a/1', 'other', 'thread/a/10', 'thread/a/2', 'thread/ab/1', 'é', 'Z']) await fs.setKv(key, key);
    await fs.deleteKv('thread/a/2');
    expect(fs.listKv()).toEqual(['Z', 'other', 'thread/a/1', 'thread/a/10', 'thread/ab/1', 'thread/b/2', 'é']);
    expect(fs.listKv({ prefix: 'thread/a/' })).toEqual(['thread/a/1', 'thread/a/10']);
    expect(fs.listKv({ prefix: 'thread/', after: 'thread/a/1' })).toEqual(['thread/a/10', 'thread/ab/1', 'thread/b/2']);
    expect(fs.listKv({ prefix: 'thread/', after: 'thread/a/5', limit: 2 })).toEqual(['thread/ab/1', 'thread/b/2']);
    expect(fs.listKv({ prefix: 'nothing' })).toEqual([]);
    expect(fs.listKv({ prefix: '' })).toHaveLength(7);
    await fs.close();
  });

  it('sorts by UTF-16 code units, as < does', async () => {
    const fs = await open();
    const keys = ['\u{1F600}', '\uFF5E', 'a', 'A', '\u00E9'];
    for (const key of keys) await fs.setKv(key, 1);
    expect(fs.listKv()).toEqual([...keys].sort());
    expect(fs.listKv()).toEqual(['A', 'a', '\u00E9', '\u{1F600}', '\uFF5E']);
    await fs.close();
  });

  it('pages through every key: each page starts after the last key of the one before', async () => {
    const fs = await open();
    const keys = Array.from({ length: 23 }, (_, i) => `k/${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((key) => fs.setKv(key, key)));
    const pages: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = fs.listKv({ prefix: 'k/', limit: 5, ...(after === undefined ? {} : { after }) });
      if (page.length === 0) break;
      pages.push(page);
      after = page.at(-1);
    }
    expect(pages.map((page) => page.length)).toEqual([5, 5, 5, 5, 3]);
    expect(pages.flat()).toEqual(keys);
    await fs.close();
  });

  it('sees the keys another writer on the same folder set and deleted, and the same keys after a checkpoint and reopen', async () => {
    const a = await open();
    const b = await open();
    await a.setKv('shared/1', 1);
    await b.setKv('shared/2', 2);
    expect(a.listKv({ prefix: 'shared/' })).toEqual(['shared/1', 'shared/2']);
    await a.checkpoint();
    await b.setKv('shared/3', 3);
    await a.deleteKv('shared/1');
    expect(b.listKv({ prefix: 'shared/' })).toEqual(['shared/2', 'shared/3']);
    await Promise.all([a.close(), b.close()]);
    const again = await open();
    expect(again.listKv({ prefix: 'shared/' })).toEqual(['shared/2', 'shared/3']);
    await again.close();
    const reader = await open({ readOnly: true });
    expect(reader.listKv()).toEqual(['shared/2', 'shared/3']);
    await reader.close();
  });

  it('refuses bad options with INVALID_ARGUMENT, and any call after close with STORE_CLOSED', async () => {
    const fs = await open();
    const bad = fs as unknown as { listKv(options: unknown): string[] };
    for (const options of [5, null, [], { prefix: 1 }, { after: null }, { prefix: 'a\uD800' }, { limit: 0 }, { limit: 1.5 }, { limit: -1 }, { limit: '3' }]) {
      expect(() => bad.listKv(options), JSON.stringify(options)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
    await fs.close();
    let caught: unknown;
    try {
      fs.listKv();
    } catch (error) {
      caught = error;
    }
    expect(MemMapError.is(caught, 'STORE_CLOSED')).toBe(true);
  });
});
