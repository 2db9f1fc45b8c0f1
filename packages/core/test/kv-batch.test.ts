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

describe('setKvs with ifAbsent', () => {
  it('sets only the keys that are not set (all of them, or those ifAbsent names), in one commit, and says which it skipped', async () => {
    const fs = await open();
    await fs.setKvs([['taken', 'first'], ['other', 'old']]);
    expect(await fs.setKvs([['taken', 'second'], ['free', 'new']], { ifAbsent: true })).toEqual({ skipped: ['taken'] });
    expect([fs.getKv('taken'), fs.getKv('free')]).toEqual(['first', 'new']);
    // (Only the keys named are kept as they are; the others are set whatever they hold.)
    expect(await fs.setKvs([['taken', 'third'], ['other', 'replaced']], { ifAbsent: ['taken'] })).toEqual({ skipped: ['taken'] });
    expect([fs.getKv('taken'), fs.getKv('other')]).toEqual(['first', 'replaced']);
    expect(await fs.setKvs([['taken', 'fourth']], { ifAbsent: true })).toEqual({ skipped: ['taken'] });
    expect(await fs.setKvs([['plain', 1]])).toEqual({ skipped: [] });
    expect(await fs.setKvs([['taken', 'fifth']], { ifAbsent: false })).toEqual({ skipped: [] });
    expect(fs.getKv('taken')).toBe('fifth');
    await fs.close();
    const again = await open();
    expect([again.getKv('taken'), again.getKv('free'), again.getKv('other'), again.getKv('plain')]).toEqual(['fifth', 'new', 'replaced', 1]);
    await again.close();
  });

  it('two handles setting one key only if absent at once: one sets it, the other skips it and the value stays the first', async () => {
    const setup = await open();
    await setup.close();
    const [a, b] = [await open(), await open()];
    for (let round = 0; round < 20; round++) {
      const key = `race/${round}`;
      const [fromA, fromB] = await Promise.all([a.setKvs([[key, 'a']], { ifAbsent: true }), b.setKvs([[key, 'b']], { ifAbsent: true })]);
      const winners = [fromA.skipped.length === 0 ? 'a' : undefined, fromB.skipped.length === 0 ? 'b' : undefined].filter((name) => name !== undefined);
      expect(winners, key).toHaveLength(1);
      expect(a.getKv(key)).toBe(winners[0]);
      await b.catchUp();
      expect(b.getKv(key)).toBe(winners[0]);
    }
    await a.close();
    await b.close();
  });

  it('takes effect in call order with the same handle\'s other calls on its keys, not awaited: a later set of one of them is not undone, and one not set before it is not skipped', async () => {
    const fs = await open();
    const [first] = await Promise.all([fs.setKvs([['k', 'a'], ['j', 'from the first']], { ifAbsent: ['k'] }), fs.setKv('j', 'from the second')]);
    expect(first).toEqual({ skipped: [] });
    expect(fs.getKv('j')).toBe('from the second');
    const [absent] = await Promise.all([fs.setKvs([['m', 'a']], { ifAbsent: true }), fs.setKv('m', 'b')]);
    expect(absent).toEqual({ skipped: [] });
    expect(fs.getKv('m')).toBe('b');
    const [, set] = await Promise.all([fs.setKv('n', 'first'), fs.setKvs([['n', 'second']], { ifAbsent: true })]);
    expect(set).toEqual({ skipped: ['n'] });
    expect(fs.getKv('n')).toBe('first');
    // (Of two entries with one key, the later wins, as without ifAbsent.)
    expect(await fs.setKvs([['d', 1], ['d', 2]], { ifAbsent: true })).toEqual({ skipped: [] });
    expect(fs.getKv('d')).toBe(2);
    await fs.close();
  });

  it('ends while another handle keeps setting and removing one of its keys (it skips the key when it finds it set)', async () => {
    const setup = await open();
    await setup.close();
    const [a, b] = [await open(), await open()];
    let stop = false;
    let toggles = 0;
    const toggler = (async () => {
      for (; !stop && toggles < 4000; toggles++) {
        await b.setKv('t', toggles);
        await b.deleteKv('t');
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const from = toggles;
    const result = await a.setKvs([['t', 'a'], ['u', 'a']], { ifAbsent: true });
    const meanwhile = toggles - from;
    stop = true;
    await toggler;
    // (Each try that finds the key set ends it; one in two or so do. It took thousands of toggles when
    // it also asked the keys it skipped to be set still.)
    expect(meanwhile).toBeLessThan(200);
    expect(a.getKv('u')).toBe('a');
    expect([[], ['t']]).toContainEqual(result.skipped);
    await a.close();
    await b.close();
  });

  it('refuses an ifAbsent that is neither a boolean nor keys of its entries, and options it does not take', async () => {
    const fs = await open();
    await expect(fs.setKvs([['a', 1]], { ifAbsent: 'yes' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('setKvs: ifAbsent must be a boolean or an iterable of the keys') });
    await expect(fs.setKvs([['a', 1]], { ifAbsent: ['b'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('"b"') });
    await expect(fs.setKvs([['a', 1]], { ifabsent: true } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('"ifabsent"') });
    expect(fs.getKv('a')).toBeUndefined();
    await fs.close();
  });
});

describe('setKv with ifAbsent', () => {
  it('sets the value only when the key is unset, resolves whether it did, and is refused with options it does not take', async () => {
    const fs = await open();
    expect(await fs.setKv('owner', 'first', { ifAbsent: true })).toBe(true);
    expect(await fs.setKv('owner', 'second', { ifAbsent: true })).toBe(false);
    expect(fs.getKv('owner')).toBe('first');
    expect(await fs.setKv('owner', 'third')).toBe(true);
    expect(await fs.setKv('owner', 'fourth', { ifAbsent: false })).toBe(true);
    expect(fs.getKv('owner')).toBe('fourth');
    await fs.deleteKv('owner');
    expect(await fs.setKv('owner', 'fifth', { ifAbsent: true })).toBe(true);
    await expect(fs.setKv('x', 1, { ifAbsent: 'yes' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('setKv: ifAbsent must be true or false') });
    await expect(fs.setKv('x', 1, { ifabsent: true } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('"ifabsent"') });
    expect(fs.getKv('x')).toBeUndefined();
    await fs.close();
    const again = await open();
    expect(again.getKv('owner')).toBe('fifth');
    await again.close();
  });

  it('two handles setting one key only if absent at once: exactly one resolves true, and its value stays', async () => {
    const setup = await open();
    await setup.close();
    const [a, b] = [await open(), await open()];
    for (let round = 0; round < 20; round++) {
      const key = `race/${round}`;
      const [fromA, fromB] = await Promise.all([a.setKv(key, 'a', { ifAbsent: true }), b.setKv(key, 'b', { ifAbsent: true })]);
      expect([fromA, fromB].filter(Boolean), key).toHaveLength(1);
      await b.catchUp();
      expect([a.getKv(key), b.getKv(key)]).toEqual(fromA ? ['a', 'a'] : ['b', 'b']);
    }
    await a.close();
    await b.close();
  });
});

describe('setKv with when', () => {
  it('sets the value only when the value there (or undefined) passes, resolves whether it did, rejects with what the test throws, and refuses a test with ifAbsent', async () => {
    const fs = await open();
    expect(await fs.setKv<{ id: number }>('pointer', { id: 1 }, { when: (current) => current === undefined })).toBe(true);
    expect(await fs.setKv<{ id: number }>('pointer', { id: 2 }, { when: (current) => current?.id === 7 })).toBe(false);
    expect(fs.getKv('pointer')).toEqual({ id: 1 });
    expect(await fs.setKv<{ id: number }>('pointer', { id: 2 }, { when: (current) => current?.id === 1 })).toBe(true);
    expect(fs.getKv('pointer')).toEqual({ id: 2 });
    await expect(fs.setKv('pointer', 3, { when: () => { throw new Error('the test failed'); } })).rejects.toThrow('the test failed');
    await expect(fs.setKv('pointer', 3, { when: 'yes' } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('setKv: when must be a function') });
    await expect(fs.setKv('pointer', 3, { when: () => true, ifAbsent: true })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('setKv: give ifAbsent or when, not both') });
    expect(fs.getKv('pointer')).toEqual({ id: 2 });
    await fs.close();
  });

  it('two handles swapping one value from the one they read: exactly one sets it, and the other sees the value it set', async () => {
    const setup = await open();
    await setup.setKv('counter', 0);
    await setup.close();
    const [a, b] = [await open(), await open()];
    for (let round = 0; round < 20; round++) {
      await a.catchUp();
      await b.catchUp();
      const [seenA, seenB] = [a.getKv<number>('counter')!, b.getKv<number>('counter')!];
      expect(seenA).toBe(seenB);
      const [fromA, fromB] = await Promise.all([a.setKv<number>('counter', seenA + 1, { when: (current) => current === seenA }), b.setKv<number>('counter', seenB + 1, { when: (current) => current === seenB })]);
      expect([fromA, fromB].filter(Boolean)).toHaveLength(1);
    }
    await a.catchUp();
    expect(a.getKv('counter')).toBe(20);
    await a.close();
    await b.close();
  });
});

describe('deleteKv with when', () => {
  it('removes the key only when its value passes, resolves whether it did, rejects with what the test throws, and refuses a test that is not a function', async () => {
    const fs = await open();
    await fs.setKv('pointer', { id: 7 });
    expect(await fs.deleteKv<{ id: number }>('pointer', { when: (value) => value.id === 8 })).toBe(false);
    expect(fs.getKv('pointer')).toEqual({ id: 7 });
    const seen: unknown[] = [];
    expect(await fs.deleteKv<{ id: number }>('pointer', { when: (value) => (seen.push(value), value.id === 7) })).toBe(true);
    expect(seen).toEqual([{ id: 7 }]);
    expect(fs.getKv('pointer')).toBeUndefined();
    expect(await fs.deleteKv('pointer', { when: () => true })).toBe(false);
    await fs.setKv('pointer', 1);
    await expect(fs.deleteKv('pointer', { when: () => { throw new Error('the test failed'); } })).rejects.toThrow('the test failed');
    expect(fs.getKv('pointer')).toBe(1);
    await expect(fs.deleteKv('pointer', { when: true } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('deleteKv: when must be a function') });
    await expect(fs.deleteKv('pointer', { whn: () => true } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('"whn"') });
    expect(fs.getKv('pointer')).toBe(1);
    await fs.close();
  });

  it('tests the value as it is under the writer lock: one another handle set since this handle last read is what it sees', async () => {
    const [a, b] = [await open(), await open()];
    await a.setKv('pointer', { id: 1 });
    await b.catchUp();
    expect(b.getKv('pointer')).toEqual({ id: 1 });
    await a.setKv('pointer', { id: 2 });
    // (b has not read since: its tables still say id 1.)
    expect(await b.deleteKv<{ id: number }>('pointer', { when: (value) => value.id === 1 })).toBe(false);
    await a.catchUp();
    expect(a.getKv('pointer')).toEqual({ id: 2 });
    expect(await b.deleteKv<{ id: number }>('pointer', { when: (value) => value.id === 2 })).toBe(true);
    await a.catchUp();
    expect(a.getKv('pointer')).toBeUndefined();
    await a.close();
    await b.close();
  });
});

describe('deleteKvs', () => {
  it('removes every key given that is set, in one commit, and resolves those it removed in the order given', async () => {
    const fs = await open();
    await fs.setKvs([['a', 1], ['b', 2], ['c', 3], ['kept', 4]]);
    expect(await fs.deleteKvs(['c', 'missing', 'a', 'c'])).toEqual(['c', 'a']);
    expect(fs.listKv()).toEqual(['b', 'kept']);
    expect(await fs.deleteKvs(new Set(['b']))).toEqual(['b']);
    expect(await fs.deleteKvs([])).toEqual([]);
    expect(await fs.deleteKvs(['missing'])).toEqual([]);
    // (In call order with the handle's other calls on its keys, not awaited.)
    const [, removed, setAfter] = await Promise.all([fs.setKv('x', 1), fs.deleteKvs(['x', 'kept']), fs.setKv('kept', 'again')]);
    expect([removed, setAfter]).toEqual([['x', 'kept'], true]);
    await fs.close();
    const again = await open();
    expect(again.listKv()).toEqual(['kept']);
    expect(again.getKv('kept')).toBe('again');
    await again.close();
  });

  it('refuses keys that are not an iterable of keys, and removes none of them', async () => {
    const fs = await open();
    await fs.setKvs([['a', 1], ['b', 2]]);
    for (const keys of [undefined, 'ab', ['a', 7], ['a', '']] as unknown[]) {
      await expect(fs.deleteKvs(keys as string[])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^\[memmapfs\] (\[\w+\] )?deleteKvs: /) });
    }
    expect(fs.listKv()).toEqual(['a', 'b']);
    await fs.close();
  });

  it('with { prefix }, removes every key under the prefix (or prefixes) in one commit, as found under the writer lock, and resolves them in key order', async () => {
    const fs = await open();
    const other = await open();
    await fs.setKvs([['t/1/b', 1], ['t/1/a', 2], ['t/10', 3], ['u/1/a', 4], ['kept', 5]]);
    // (Set by another handle: found when the delete looks under the lock.)
    await other.setKv('t/1/c', 6);
    expect(await fs.deleteKvs({ prefix: 't/1/' })).toEqual(['t/1/a', 't/1/b', 't/1/c']);
    expect(fs.listKv()).toEqual(['kept', 't/10', 'u/1/a']);
    expect(await fs.deleteKvs({ prefix: ['u/', 't/', 'nothing/'] })).toEqual(['t/10', 'u/1/a']);
    expect(await fs.deleteKvs({ prefix: 'nothing/' })).toEqual([]);
    for (const keys of [{ prefix: '' }, { prefix: [] }, { prefix: 7 }, { prefix: 'a', limit: 1 }] as unknown[]) {
      await expect(fs.deleteKvs(keys as { prefix: string })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('deleteKvs: ') });
    }
    expect(fs.listKv()).toEqual(['kept']);
    // (In call order with the handle's other calls on keys under the prefix, not awaited.)
    const [, removed] = await Promise.all([fs.setKv('p/x', 1), fs.deleteKvs({ prefix: 'p/' }), fs.setKv('p/y', 2), fs.deleteKv('p/y')]);
    expect(removed).toEqual(['p/x']);
    expect(fs.listKv()).toEqual(['kept']);
    await other.close();
    await fs.close();
  });

  it('two handles removing overlapping keys at once: each key is removed by exactly one of them', async () => {
    const first = await open();
    const second = await open();
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    await first.setKvs(keys.map((key) => [key, key] as const));
    const [one, two] = await Promise.all([first.deleteKvs(keys.slice(0, 14)), second.deleteKvs(keys.slice(6))]);
    expect([...one, ...two].sort()).toEqual([...keys].sort());
    expect(first.listKv()).toEqual([]);
    await first.close();
    await second.close();
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
