import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = () => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });

const expectInvalid = async (call: () => Promise<unknown>, message: RegExp) => {
  const error = await call().then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(MemMapError);
  expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) });
};

describe('namespaces as paths', () => {
  it('spells a path as an array or as a string joined by /, and returns the string form', async () => {
    const fs = await open();
    const a = await fs.appendMemory('likes tea', [], { namespace: ['user-42', 'preferences'] });
    const b = await fs.appendMemory('likes green tea', [], { namespace: 'user-42/preferences' });
    const [c] = await fs.appendMemories([{ text: 'tea in the morning', namespace: ['user-42', 'habits'] }]);
    expect((await fs.getMemory(a))?.namespace).toBe('user-42/preferences');
    expect((await fs.getMemory(b))?.namespace).toBe('user-42/preferences');
    expect((await fs.getMemory(c!))?.namespace).toBe('user-42/habits');
    expect((await fs.queryMemory('tea', { namespace: ['user-42', 'preferences'] })).map((h) => h.id).sort()).toEqual([a, b]);
    await fs.close();
  });

  it('a namespace takes in those beneath it, by whole segments, in queries and lists', async () => {
    const fs = await open();
    const top = await fs.appendMemory('coffee at noon', [], { namespace: 'user-42' });
    const deep = await fs.appendMemory('coffee beans', [], { namespace: ['user-42', 'preferences', 'drinks'] });
    const sibling = await fs.appendMemory('coffee for user 420', [], { namespace: 'user-420' });
    const other = await fs.appendMemory('coffee elsewhere', [], { namespace: 'default' });
    const ids = (hits: Array<{ id: number }>) => hits.map((h) => h.id).sort((x, y) => x - y);
    expect(ids(await fs.queryMemory('coffee', { namespace: 'user-42' }))).toEqual([top, deep]);
    expect(ids(await fs.queryMemory('', { namespace: ['user-42'] }))).toEqual([top, deep]);
    expect(ids((await fs.listMemories({ namespace: 'user-42' })).memories)).toEqual([top, deep]);
    expect(ids(await fs.queryMemory('coffee', { namespace: 'user-42/preferences' }))).toEqual([deep]);
    expect(ids(await fs.queryMemory('coffee', { namespace: 'user-4' }))).toEqual([]);
    expect(ids(await fs.queryMemory('coffee'))).toEqual([top, deep, sibling, other]);
    await fs.close();
  });

  it('finds the best hits across many namespaces beneath one, ranked together, with offset and filters', async () => {
    const fs = await open();
    const ids: number[] = [];
    // More namespaces beneath 'team' than are searched one by one.
    for (let i = 0; i < 30; i++) ids.push(await fs.appendMemory(i % 3 === 0 ? 'alpha' : 'alpha beta gamma', [], { namespace: ['team', `agent-${i}`], meta: { i } }));
    await fs.appendMemory('alpha', [], { namespace: 'outsider' });
    const all = await fs.queryMemory('alpha', { namespace: 'team', limit: 100 });
    expect(all).toHaveLength(30);
    expect(all.every((h) => h.namespace.startsWith('team/'))).toBe(true);
    expect(all.slice(0, 10).every((h) => h.text === 'alpha')).toBe(true);
    const page = await fs.queryMemory('alpha', { namespace: 'team', limit: 5, offset: 5, filter: { i: { $lt: 15 } } });
    expect(page.every((h) => (h.meta.i as number) < 15 && h.namespace.startsWith('team/'))).toBe(true);
    expect(page).toHaveLength(5);
    // A few namespaces beneath: each searched in the index, the results merged by score.
    const few = await fs.queryMemory('alpha', { namespace: 'team/agent-1', limit: 10 });
    expect(few.map((h) => h.id)).toEqual([ids[1]]);
    for (let i = 0; i < 3; i++) await fs.appendMemory('alpha beta gamma', [], { namespace: ['squad', `s-${i}`] });
    await fs.appendMemory('alpha', [], { namespace: ['squad', 's-9'] });
    const merged = await fs.queryMemory('alpha', { namespace: 'squad' });
    expect(merged).toHaveLength(4);
    expect(merged[0]!.namespace).toBe('squad/s-9');
    expect(merged.map((h) => h.score)).toEqual([...merged.map((h) => h.score)].sort((x, y) => y - x));
    await fs.close();
  });

  it('refuses malformed paths with a message that says how to write one', async () => {
    const fs = await open();
    for (const namespace of ['', '/a', 'a/', 'a//b'] as const) await expectInvalid(() => fs.appendMemory('x', [], { namespace }), /namespace .*(empty)/);
    await expectInvalid(() => fs.appendMemory('x', [], { namespace: [] }), /empty array/);
    await expectInvalid(() => fs.appendMemory('x', [], { namespace: ['a', ''] }), /segment 1/);
    await expectInvalid(() => fs.appendMemory('x', [], { namespace: ['a/b'] }), /'\/'/);
    await expectInvalid(() => fs.appendMemory('x', [], { namespace: ['a', 3 as never] }), /segment 1/);
    // (An array with a hole: its segment is not a string, though forEach never visits it.)
    const holed: string[] = ['a', 'b'];
    delete holed[0];
    await expectInvalid(() => fs.appendMemory('x', [], { namespace: holed }), /segment 0.*undefined/);
    await expectInvalid(() => fs.restoreMemories([{ id: 1, text: 'x', createdAt: 1, updatedAt: 1, namespace: holed }]), /segment 0/);
    await expectInvalid(() => fs.queryMemory('x', { namespace: 5 as never }), /string or an array/);
    await expectInvalid(() => fs.listMemories({ namespace: ['a', 'x'.repeat(300)] }), /at most 256/);
    expect(await fs.listNamespaces()).toEqual([]);
    await fs.close();
  });
});

describe('listNamespaces', () => {
  it('lists each namespace once, sorted by segments, with prefix, suffix, maxDepth, limit and offset', async () => {
    const fs = await open();
    for (const namespace of ['user-1/prefs', 'user-1/habits', 'user-1', 'user-2/prefs', 'user-1/prefs', 'user-1-b', 'team/user-1/prefs']) await fs.appendMemory('m', [], { namespace });
    expect(await fs.listNamespaces()).toEqual(['team/user-1/prefs', 'user-1', 'user-1/habits', 'user-1/prefs', 'user-1-b', 'user-2/prefs']);
    expect(await fs.listNamespaces({ prefix: 'user-1' })).toEqual(['user-1', 'user-1/habits', 'user-1/prefs']);
    expect(await fs.listNamespaces({ suffix: ['prefs'] })).toEqual(['team/user-1/prefs', 'user-1/prefs', 'user-2/prefs']);
    expect(await fs.listNamespaces({ suffix: 'user-1/prefs' })).toEqual(['team/user-1/prefs', 'user-1/prefs']);
    expect(await fs.listNamespaces({ maxDepth: 1 })).toEqual(['team', 'user-1', 'user-1-b', 'user-2']);
    expect(await fs.listNamespaces({ limit: 2, offset: 1 })).toEqual(['user-1', 'user-1/habits']);
    await expectInvalid(() => fs.listNamespaces({ maxDepth: 0 }), /maxDepth/);
    await expectInvalid(() => fs.listNamespaces({ limit: 20_000 }), /limit/);
    await expectInvalid(() => fs.listNamespaces({ prefix: 'a//b' }), /prefix/);
    await fs.close();
  });

  it('follows deletes and updates, across checkpoints, reopens and another writer', async () => {
    const fs = await open();
    const first = await fs.appendMemory('one', [], { namespace: 'a' });
    const second = await fs.appendMemory('two', [], { namespace: 'a' });
    await fs.appendMemory('three', [], { namespace: 'b/c' });
    await fs.checkpoint();
    expect(await fs.listNamespaces()).toEqual(['a', 'b/c']);
    await fs.deleteMemory(first);
    expect(await fs.listNamespaces()).toEqual(['a', 'b/c']);
    await fs.updateMemory(second, { text: 'two again' });
    await fs.deleteMemory(second);
    expect(await fs.listNamespaces()).toEqual(['b/c']);
    const other = await open();
    await other.appendMemory('four', [], { namespace: ['d'] });
    expect(await fs.listNamespaces()).toEqual(['b/c', 'd']);
    await fs.checkpoint();
    await other.appendMemory('five', [], { namespace: 'e' });
    await Promise.all([fs.close(), other.close()]);
    const again = await open();
    expect(await again.listNamespaces()).toEqual(['b/c', 'd', 'e']);
    await again.close();
  });
});

describe('deleteNamespace', () => {
  it('deletes every memory in a namespace and beneath it, and nothing else; another writer sees it', async () => {
    const fs = await open();
    const other = await open();
    const kept = [await fs.appendMemory('keep me', [], { namespace: 'user-420' }), await fs.appendMemory('keep me too', [], { namespace: 'user' })];
    const gone: number[] = [];
    for (let i = 0; i < 1200; i++) gone.push(await fs.appendMemory(`forget ${i}`, [], { namespace: i % 2 ? ['user-42'] : ['user-42', 'sessions', `s${i % 7}`] }));
    await fs.checkpoint();
    gone.push(await fs.appendMemory('after the checkpoint', [], { namespace: 'user-42/late' }));
    await other.deleteMemory(gone[0]!);
    expect(await fs.deleteNamespace(['user-42'])).toBe(gone.length - 1);
    expect(await fs.deleteNamespace('user-42')).toBe(0);
    expect(await other.listNamespaces()).toEqual(['user', 'user-420']);
    for (const id of [gone[1]!, gone[600]!, gone.at(-1)!]) expect(await other.getMemory(id)).toBeUndefined();
    for (const id of kept) expect(await other.hasMemory(id)).toBe(true);
    expect(await other.queryMemory('forget', { limit: 100 })).toEqual([]);
    await expectInvalid(() => fs.deleteNamespace('' as never), /empty/);
    await Promise.all([fs.close(), other.close()]);
    const readOnly = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), readOnly: true });
    await expect(readOnly.deleteNamespace('user')).rejects.toMatchObject({ code: 'READ_ONLY' });
    await readOnly.close();
  });
});

describe('namespaces written before they were paths', () => {
  /** Appends as a release that took any string as a namespace did (no path check). */
  async function appendLegacy(fs: MemMapFS, text: string, namespace: string): Promise<number> {
    const internals = fs as unknown as { prepareAppend: (...args: unknown[]) => { namespace: string } };
    const check = internals.prepareAppend;
    internals.prepareAppend = (...args) => ({ ...check.apply(fs, args), namespace });
    try {
      return await fs.appendMemory(text);
    } finally {
      internals.prepareAppend = check;
    }
  }

  it('a namespace with an empty segment that the store holds can still be queried, listed and deleted by its string', async () => {
    const fs = await open();
    const legacy = await appendLegacy(fs, 'old tea', 'team//notes');
    const kept = await fs.appendMemory('new tea', [], { namespace: 'team' });
    expect(await fs.listNamespaces()).toEqual(['team', 'team//notes']);
    expect((await fs.queryMemory('tea', { namespace: 'team//notes' })).map((h) => h.id)).toEqual([legacy]);
    expect((await fs.listMemories({ namespace: 'team//notes' })).memories.map((m) => m.id)).toEqual([legacy]);
    // A typo that names nothing the store holds is still refused.
    await expectInvalid(() => fs.queryMemory('tea', { namespace: 'team//other' }), /empty segment/);
    await expectInvalid(() => fs.queryMemory('tea', { namespace: 'other/' }), /empty segment/);
    expect(await fs.deleteNamespace('team//notes')).toBe(1);
    expect(await fs.hasMemory(legacy)).toBe(false);
    expect(await fs.hasMemory(kept)).toBe(true);
    await fs.close();
  });
});
