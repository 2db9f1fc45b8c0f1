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

  it('lists the keys as they are after every change made since an earlier listing, here and by another writer, through a checkpoint taken from it', async () => {
    const a = await open();
    const b = await open();
    const expected = new Set<string>();
    const set = async (fs: MemMapFS, key: string) => {
      await fs.setKv(key, key);
      expected.add(key);
    };
    for (let i = 0; i < 40; i++) await set(a, `t/${String(i * 7 % 40).padStart(2, '0')}`);
    expect(a.listKv({ prefix: 't/' })).toEqual([...expected].sort());
    expect(a.listStreams()).toEqual([]);
    // Listed once: from now on the listing follows each change, this handle's and the other's.
    await set(a, 't/05x');
    await set(b, 't/');
    await set(b, 'u');
    await a.setKv('t/10', 'again');
    for (const key of ['t/00', 't/39', 't/20']) {
      await (key === 't/20' ? b : a).deleteKv(key);
      expected.delete(key);
    }
    await a.appendStream('s/2', 'x');
    await b.appendStream('s/1', 'y');
    expect(a.listKv()).toEqual([...expected].sort());
    expect(a.listKv({ prefix: 't/', after: 't/05', limit: 3 })).toEqual(['t/05x', 't/06', 't/07']);
    expect(a.listStreams()).toEqual(['s/1', 's/2']);
    expect(await a.deleteKvs({ prefix: ['t/3', 't/1'] })).toEqual([...expected].filter((key) => /^t\/[13]/.test(key)).sort());
    for (const key of [...expected]) if (/^t\/[13]/.test(key)) expected.delete(key);
    await b.deleteStream('s/2');
    expect(b.listKv()).toEqual([...expected].sort());
    expect(a.listKv()).toEqual([...expected].sort());
    expect(a.listStreams()).toEqual(['s/1']);
    // Another writer's checkpoint, taken by this handle: its tables are the checkpoint's from then on.
    await b.checkpoint();
    await set(b, 't/99');
    await a.checkpoint();
    await set(a, 't/98');
    await b.deleteKv('t/02');
    expected.delete('t/02');
    expect(a.listKv()).toEqual([...expected].sort());
    expect(b.listKv()).toEqual([...expected].sort());
    await Promise.all([a.close(), b.close()]);
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
