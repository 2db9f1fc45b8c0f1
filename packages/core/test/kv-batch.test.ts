import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = (extra: Parameters<typeof MemMapFS.init>[1] = {}) => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), ...extra });

describe('setKvs', () => {
  it('sets every entry (the later of two with one key wins), from an array of pairs or a Map, and they read back after a reopen', async () => {
    const fs = await open();
    await fs.setKv('kept', 'as it was');
    await fs.setKvs([
      ['a', 1],
      ['b', { nested: [true, null] }],
      ['a', 2],
    ]);
    await fs.setKvs(new Map<string, unknown>([['c', new Uint8Array([1, 2])]]));
    await fs.setKvs([]);
    await fs.close();
    const again = await open();
    expect(again.listKv()).toEqual(['a', 'b', 'c', 'kept']);
    expect([again.getKv('a'), again.getKv('b'), again.getKv('c'), again.getKv('kept')]).toEqual([2, { nested: [true, null] }, new Uint8Array([1, 2]), 'as it was']);
    await again.close();
  });

  it('writes none of its entries when one is refused, and names that entry', async () => {
    const fs = await open();
    for (const [entries, named] of [
      [[['ok', 1], ['when', new Date()]], /setKvs: entry 1: the value at \.?.*Date|setKvs: entry 1.*Date/],
      [[['ok', 1], ['', 2]], /setKvs: entry 1: key must be a non-empty string/],
      [[['ok', 1], ['gone', undefined]], /setKvs: entry 1: value must not be undefined/],
      [[['ok', 1], 'not a pair'], /setKvs: entry 1 must be a \[key, value\] pair/],
    ] as Array<[unknown, RegExp]>) {
      await expect(fs.setKvs(entries as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(named) });
      expect(fs.getKv('ok')).toBeUndefined();
    }
    await expect(fs.setKvs(42 as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('setKvs: entries must be an iterable of [key, value] pairs') });
    await fs.close();
    const reader = await open({ readOnly: true });
    await expect(reader.setKvs([['a', 1]])).rejects.toMatchObject({ code: 'READ_ONLY' });
    await reader.close();
  });
});

describe('KV calls of one handle not awaited one before the next', () => {
  it('take effect in the order they were called, for one key: a delete after a set removes it, a set after a delete sets it', async () => {
    const fs = await open();
    const [, removed] = await Promise.all([fs.setKv('new', 'v'), fs.deleteKv('new')]);
    expect(removed).toBe(true);
    expect(fs.getKv('new')).toBeUndefined();
    await fs.setKv('old', 'before');
    const [removedOld] = await Promise.all([fs.deleteKv('old'), fs.setKv('old', 'after')]);
    expect(removedOld).toBe(true);
    expect(fs.getKv('old')).toBe('after');
    const [, , removedBatch] = await Promise.all([fs.setKvs([['x', 1], ['y', 2]]), fs.setKv('x', 3), fs.deleteKv('y')]);
    expect(removedBatch).toBe(true);
    expect([fs.getKv('x'), fs.getKv('y')]).toEqual([3, undefined]);
    await fs.close();
    const again = await open();
    expect(again.listKv()).toEqual(['old', 'x']);
    await again.close();
  });
});
