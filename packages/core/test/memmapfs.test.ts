import { beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemMapError, MemMapFS, type AgentState, type MemMapErrorCode } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = (search = new WordSearch(), extra: Parameters<typeof MemMapFS.init>[1] = {}) => MemMapFS.init(root, { codec: v8Codec(), search, ...extra });

async function expectCode(action: () => unknown, code: MemMapErrorCode): Promise<MemMapError> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a MemMapError ${code}`).toBeInstanceOf(MemMapError);
  expect((caught as MemMapError).code).toBe(code);
  return caught as MemMapError;
}

describe('memories', () => {
  it('appends, reads, finds, updates and deletes', async () => {
    const fs = await open();
    const a = await fs.appendMemory('The user prefers dark mode', ['pref', 'ui'], { meta: { source: 'chat' } });
    const b = await fs.appendMemory('Deploys happen on Fridays', ['ops']);
    expect(b).toBeGreaterThan(a);
    const got = await fs.getMemory(a);
    expect(got).toMatchObject({ id: a, text: 'The user prefers dark mode', tags: ['pref', 'ui'], namespace: 'default', meta: { source: 'chat' } });
    expect(got!.createdAt).toBeGreaterThan(Date.now() - 60_000);
    expect((await fs.queryMemory('dark mode')).map((h) => h.id)).toEqual([a]);
    const updated = await fs.updateMemory(a, { text: 'The user prefers light mode', tags: ['pref'] });
    expect(updated).toMatchObject({ id: a, text: 'The user prefers light mode', tags: ['pref'], meta: { source: 'chat' } });
    expect(updated.updatedAt).toBeGreaterThanOrEqual(updated.createdAt);
    expect(await fs.queryMemory('dark')).toEqual([]);
    expect((await fs.queryMemory('light mode'))[0]?.id).toBe(a);
    expect(await fs.deleteMemory(a)).toBe(true);
    expect(await fs.deleteMemory(a)).toBe(false);
    expect(await fs.getMemory(a)).toBeUndefined();
    expect(await fs.queryMemory('light')).toEqual([]);
    expect(fs.stats().memories).toBe(1);
    await fs.close();
  });

  it('keeps each tag once, in the order first given, for a few tags as for many', async () => {
    const fs = await open();
    const few = await fs.appendMemory('few tags', ['b', 'a', 'b', 'c', 'a']);
    const many = Array.from({ length: 12 }, (_, i) => `t${i % 9}`);
    const [batched] = await fs.appendMemories([{ text: 'many tags', tags: many }]);
    expect((await fs.getMemory(few))!.tags).toEqual(['b', 'a', 'c']);
    expect((await fs.getMemory(batched!))!.tags).toEqual(['t0', 't1', 't2', 't3', 't4', 't5', 't6', 't7', 't8']);
    expect((await fs.updateMemory(few, { tags: ['x', 'x'] })).tags).toEqual(['x']);
    await fs.close();
  });

  it('appends a batch of texts in any script, each read back and found as written', async () => {
    const fs = await open();
    // Short ones, one larger than a block that travels in its record (70,000 two-byte characters), and
    // enough of some kilobytes to fill more than one of the buffers a call packs its texts into.
    const texts = ['plain ascii', 'café crème brûlée', '日本語のテキスト', 'emoji 🦊 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'x', 'Ελληνικά γράμματα', `long ${'é'.repeat(70_000)} end`];
    for (let i = 0; i < 300; i++) texts.push(`${i} ${'ü'.repeat(i % 7)}${String(i).repeat(1500 + i)}`);
    const ids = await fs.appendMemories(texts.map((text) => ({ text })));
    for (const [i, id] of ids.entries()) expect((await fs.getMemory(id))!.text).toBe(texts[i]);
    expect((await fs.queryMemory('brûlée')).map((hit) => hit.id)).toEqual([ids[1]]);
    expect((await fs.queryMemory('emoji')).map((hit) => hit.id)).toEqual([ids[3]]);
    await fs.close();
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))!.text).toBe(texts[i]);
    await again.close();
  });

  it('filters by every tag given (AND) and by namespace', async () => {
    const fs = await open();
    const both = await fs.appendMemory('alpha report', ['x', 'y']);
    await fs.appendMemory('alpha notes', ['x']);
    const other = await fs.appendMemory('alpha elsewhere', ['x', 'y'], { namespace: 'agent-2' });
    expect((await fs.queryMemory('alpha', { tags: ['x', 'y'] })).map((h) => h.id).sort()).toEqual([both, other]);
    expect((await fs.queryMemory('alpha', { tags: ['x', 'y'], namespace: 'default' })).map((h) => h.id)).toEqual([both]);
    expect((await fs.queryMemory('alpha', { tags: ['x', 'z'] }))).toEqual([]);
    expect((await fs.queryMemory('alpha', { limit: 2 }))).toHaveLength(2);
    await fs.close();
  });

  it('lists the newest memories for an empty query', async () => {
    const fs = await open();
    const ids = [];
    for (const text of ['one', 'two', 'three']) ids.push(await fs.appendMemory(text, ['t']));
    const hits = await fs.queryMemory('   ', { limit: 2 });
    expect(hits.map((h) => h.id)).toEqual([ids[2], ids[1]]);
    expect(hits.every((h) => h.score === 0)).toBe(true);
    await fs.close();
  });

  it('hides memories once their TTL has passed', async () => {
    const fs = await open();
    // The clock is moved by hand: a slow commit on a busy machine must not expire the memory early.
    vi.useFakeTimers({ toFake: ['Date'] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const id = await fs.appendMemory('short-lived fact', [], { ttlMs: 30 });
    const stored = await fs.getMemory(id);
    expect(stored?.expiresAt).toBe(stored!.createdAt + 30);
    vi.setSystemTime(Date.now() + 31);
    expect(await fs.getMemory(id)).toBeUndefined();
    expect(await fs.queryMemory('short-lived')).toEqual([]);
    await expectCode(() => fs.updateMemory(id, { text: 'x' }), 'MEMORY_NOT_FOUND');
    await fs.close();
  });

  it('drops expired memories from listings and the index, updated ones included, and only those', async () => {
    const search = new WordSearch();
    const fs = await open(search);
    vi.useFakeTimers({ toFake: ['Date'] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const soon = await fs.appendMemory('expires soon', ['t'], { ttlMs: 40 });
    const later = await fs.appendMemory('expires later', ['t'], { ttlMs: 60_000 });
    const deleted = await fs.appendMemory('deleted before it expires', ['t'], { ttlMs: 20 });
    const kept = await fs.appendMemory('never expires', ['t']);
    await fs.updateMemory(soon, { text: 'expires soon, updated' });
    await fs.deleteMemory(deleted);
    vi.setSystemTime(Date.now() + 41);
    expect((await fs.queryMemory('', { tags: ['t'] })).map((hit) => hit.id)).toEqual([kept, later]);
    expect([...search.docs.keys()].sort((a, b) => a - b)).toEqual([later, kept]);
    expect(fs.stats().memories).toBe(2);
    await fs.close();
  });

  it('resolves two concurrent updates of one memory, the later one winning', async () => {
    const fs = await open();
    const id = await fs.appendMemory('first version');
    // The first append holds the log while both updates queue up, so they share the next commit.
    const [, a, b] = await Promise.all([fs.appendMemory('another memory'), fs.updateMemory(id, { text: 'second version' }), fs.updateMemory(id, { text: 'third version' })]);
    expect([a.text, b.text]).toEqual(['second version', 'third version']);
    expect((await fs.getMemory(id))?.text).toBe('third version');
    await fs.close();
  });

  it('does not bring back a memory deleted while an update of it was on its way', async () => {
    const fs = await open();
    const id = await fs.appendMemory('soon deleted');
    const [deleted, updated] = await Promise.allSettled([fs.deleteMemory(id), fs.updateMemory(id, { text: 'too late' })]);
    expect(deleted).toEqual({ status: 'fulfilled', value: true });
    expect(updated.status).toBe('rejected');
    expect((updated as PromiseRejectedResult).reason).toMatchObject({ code: 'MEMORY_NOT_FOUND' });
    expect(await fs.getMemory(id)).toBeUndefined();
    await fs.close();
    const again = await open();
    expect(await again.getMemory(id)).toBeUndefined();
    await again.close();
  });

  it('gives concurrent appends distinct, increasing ids', async () => {
    const fs = await open();
    const ids = await Promise.all(Array.from({ length: 100 }, (_, i) => fs.appendMemory(`memory number ${i}`)));
    expect(new Set(ids).size).toBe(100);
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);
    await fs.close();
  });
});

describe('search index upkeep', () => {
  /** A provider that logs every change it is given, in order. */
  class LoggingSearch extends WordSearch {
    readonly calls: string[] = [];
    override add(doc: Parameters<WordSearch['add']>[0]): void {
      this.calls.push(`add ${doc.id}`);
      super.add(doc);
    }
    override remove(id: number): void {
      this.calls.push(`remove ${id}`);
      super.remove(id);
    }
  }

  it('indexes a change shortly after it commits, without waiting for a search', async () => {
    const search = new LoggingSearch();
    const fs = await open(search);
    const id = await fs.appendMemory('indexed in the background');
    // Handed over in a batch a moment later, not on the commit path.
    expect(search.calls).toEqual([]);
    await vi.waitFor(() => expect(search.calls).toEqual([`add ${id}`]), { timeout: 2000, interval: 5 });
    await fs.close();
  });

  it('on close, indexes what it caught up with from another store, saves the index, and calls the provider no more', async () => {
    const search = new LoggingSearch();
    const a = await open(search);
    const b = await open();
    const own = await a.appendMemory('written by a');
    const other = await b.appendMemory('written by b');
    await a.close();
    expect(search.calls).toEqual([`add ${own}`, `add ${other}`]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(search.calls).toHaveLength(2);
    await b.close();
    const reopened = new LoggingSearch();
    const c = await open(reopened);
    // Loaded when a query first needs it, from the snapshot a saved (b's close saved it again), not
    // rebuilt memory by memory.
    expect(reopened.imports).toBe(0);
    expect((await c.getMemory(own))?.text).toBe('written by a');
    expect(reopened.imports).toBe(0);
    expect((await c.queryMemory('written')).map((hit) => hit.id).sort((x, y) => x - y)).toEqual([own, other]);
    expect(reopened.imports).toBe(1);
    expect(reopened.calls).toEqual([]);
    await c.close();
  });

  it('hands a large backlog to the provider in log order, and a search sees all of it', async () => {
    const search = new LoggingSearch();
    const fs = await open(search);
    const ids = await fs.appendMemories(Array.from({ length: 600 }, (_, i) => ({ text: `backlog item ${i}` })));
    expect(await fs.queryMemory('backlog', { limit: 1000 })).toHaveLength(600);
    const deleted = [ids[5]!, ids[599]!, ids[300]!];
    for (const id of deleted) await fs.deleteMemory(id);
    expect(await fs.queryMemory('backlog', { limit: 1000 })).toHaveLength(597);
    expect(search.calls).toEqual([...ids.map((id) => `add ${id}`), ...deleted.map((id) => `remove ${id}`)]);
    await fs.close();
  });
});

describe('persistence', () => {
  it('runs to its end a compaction asked for while writes were in flight, when close() follows at once', async () => {
    const fs = await open(new WordSearch(), { chunkSizeBytes: 4096 });
    const ids = await fs.appendMemories(Array.from({ length: 200 }, (_, i) => ({ text: `memory ${i} ${'x'.repeat(100)}` })));
    for (const id of ids.slice(0, 150)) await fs.deleteMemory(id);
    const appending = fs.appendMemory('written while the compaction waits');
    const compacting = fs.compact();
    const closing = fs.close();
    const appended = await appending;
    const report = await compacting;
    await closing;
    expect(report.logFirstLsn).toBeGreaterThan(150);

    const again = await open();
    expect((await again.getMemory(appended))?.text).toBe('written while the compaction waits');
    expect(await Promise.all(ids.slice(150).map(async (id) => (await again.getMemory(id))?.text))).toEqual(ids.slice(150).map((_, i) => `memory ${150 + i} ${'x'.repeat(100)}`));
    expect(again.stats().memories).toBe(51);
    await again.close();
  });

  it('keeps memories, state, KV and streams across a reopen', async () => {
    const fs = await open();
    const id = await fs.appendMemory('remember the milk', ['todo'], { namespace: 'home', meta: { n: 1 } });
    const gone = await fs.appendMemory('gone soon');
    await fs.deleteMemory(gone);
    await fs.updateState({ status: 'working', activeMemoryCount: 1, lastUpdatedId: id, extra: { step: 3 } });
    await fs.setKv('config', { model: 'x', temperature: 0.2, bytes: new Uint8Array([1, 2, 3]) });
    await fs.setKv('doomed', 1);
    await fs.deleteKv('doomed');
    await fs.appendStream('transcript', 'hello ');
    await fs.appendStream('transcript', Buffer.from('world'));
    await fs.close();

    const search = new WordSearch();
    const again = await open(search);
    expect(await again.getMemory(id)).toMatchObject({ text: 'remember the milk', tags: ['todo'], namespace: 'home', meta: { n: 1 } });
    expect(await again.getMemory(gone)).toBeUndefined();
    expect(again.getState()).toEqual({ status: 'working', activeMemoryCount: 1, lastUpdatedId: id, extra: { step: 3 } });
    expect(again.getKv('config')).toEqual({ model: 'x', temperature: 0.2, bytes: new Uint8Array([1, 2, 3]) });
    expect(again.getKv('doomed')).toBeUndefined();
    const chunks: string[] = [];
    for await (const chunk of again.openRead('transcript')) chunks.push(Buffer.from(chunk).toString());
    expect(chunks.join('')).toBe('hello world');
    expect((await again.queryMemory('milk')).map((h) => h.id)).toEqual([id]);
    expect(search.imports).toBe(1);
    expect(search.adds).toBe(0);
    const next = await again.appendMemory('after reopen');
    expect(next).toBeGreaterThan(gone);
    await again.close();
  });

  it('rebuilds the search index from the WAL when the snapshot is missing or damaged', async () => {
    const fs = await open();
    await fs.appendMemory('the index is derived data');
    await fs.close();
    const { rm, writeFile } = await import('node:fs/promises');
    await rm(`${root}/index/search.snapshot`);
    let search = new WordSearch();
    let again = await open(search);
    expect(search.imports).toBe(0);
    expect(await again.queryMemory('derived')).toHaveLength(1);
    await again.appendMemory('second memory is derived too');
    await again.close();
    await writeFile(`${root}/index/search.snapshot`, 'garbage');
    search = new WordSearch();
    again = await open(search);
    expect(search.imports).toBe(0);
    expect(await again.queryMemory('derived')).toHaveLength(2);
    await again.close();
  });

  it('catches the index up when the snapshot is behind the WAL', async () => {
    const fs = await open();
    await fs.appendMemory('before the snapshot');
    await fs.close();
    const { copyFile } = await import('node:fs/promises');
    await copyFile(`${root}/index/search.snapshot`, `${root}/old.snapshot`);
    const second = await open();
    const later = await second.appendMemory('after the snapshot');
    await second.close();
    await copyFile(`${root}/old.snapshot`, `${root}/index/search.snapshot`);
    const search = new WordSearch();
    const third = await open(search);
    expect((await third.queryMemory('after')).map((h) => h.id)).toEqual([later]);
    expect(search.imports).toBe(1);
    await third.close();
  });

  it('refuses to open a store under a different codec', async () => {
    const fs = await open();
    await fs.close();
    const error = await expectCode(() => MemMapFS.init(root, { codec: v8Codec('other'), search: new WordSearch() }), 'CODEC_MISMATCH');
    expect(error.message).toContain("'v8-test'");
  });

  it('refuses another codec without first taking its checkpoint for damaged (which it cannot decode)', async () => {
    const fs = await open();
    await fs.appendMemory('kept in a checkpoint');
    await fs.checkpoint();
    await fs.close();
    const unreadable = { ...v8Codec('other'), decode: () => { throw new Error('not bytes of this codec'); } };
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(`${warning.code}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      await expectCode(() => MemMapFS.init(root, { codec: unreadable, search: new WordSearch() }), 'CODEC_MISMATCH');
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it('refuses to create a store when create is false', async () => {
    await expectCode(() => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), create: false }), 'STORE_NOT_FOUND');
  });
});

describe('state', () => {
  interface MyState extends AgentState { extra: { plan: string[] } }

  it('asks for initialState, by its types, for a state whose fields the default state lacks', async () => {
    const typed = async () => {
      // @ts-expect-error: getState().extra.plan would be undefined before any update
      await MemMapFS.init<MyState>(root);
      // @ts-expect-error: options without initialState are not enough
      await MemMapFS.init<MyState>(root, { durability: 'none' });
      interface Optional extends AgentState { plan?: string[] }
      return MemMapFS.init<Optional>(root, { codec: v8Codec(), search: new WordSearch() });
    };
    // (Never called: the check is the type checker's, which the test command runs.)
    void typed;
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), initialState: { status: 'idle', activeMemoryCount: 0, lastUpdatedId: 0, extra: {}, plan: ['first'] } });
    const plan: string[] = fs.getState().plan;
    expect(plan).toEqual(['first']);
    await fs.close();
  });

  it('tells subscribers and watchers of each update, typed by the state parameter', async () => {
    const fs = await MemMapFS.init<MyState>(root, { codec: v8Codec(), search: new WordSearch(), initialState: { status: 'idle', activeMemoryCount: 0, lastUpdatedId: 0, extra: { plan: [] } } });
    expect(fs.getState().extra.plan).toEqual([]);
    const seen: string[] = [];
    const off = fs.subscribeState((s) => seen.push(s.status));
    const watched: string[] = [];
    const watching = (async () => {
      for await (const s of fs.watchState()) watched.push(`${s.status}:${s.extra.plan.length}`);
    })();
    await fs.updateState({ status: 'planning', activeMemoryCount: 0, lastUpdatedId: 0, extra: { plan: ['a'] } });
    await fs.updateState({ status: 'acting', activeMemoryCount: 0, lastUpdatedId: 0, extra: { plan: ['a', 'b'] } });
    off();
    await fs.updateState({ status: 'done', activeMemoryCount: 0, lastUpdatedId: 0, extra: { plan: [] } });
    await fs.close();
    await watching;
    expect(seen).toEqual(['planning', 'acting']);
    expect(watched).toEqual(['planning:1', 'acting:2', 'done:0']);
  });

  it('a subscriber that throws what is not an Error (a Symbol, an object without a prototype) is a warning: the update holds and the store writes on', async () => {
    const fs = await open();
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warning.code === 'MEMMAPFS_SUBSCRIBER_ERROR' && warnings.push(warning.message);
    process.on('warning', onWarning);
    onTestFinished(() => void process.off('warning', onWarning));
    fs.subscribeState(() => {
      throw Symbol('the display broke');
    });
    fs.subscribeState(() => {
      throw Object.create(null);
    });
    await fs.updateState({ status: 'planning', activeMemoryCount: 0, lastUpdatedId: 0, extra: {} });
    const id = await fs.appendMemory('written after the subscribers threw');
    expect((await fs.getMemory(id))?.text).toBe('written after the subscribers threw');
    expect(fs.getState().status).toBe('planning');
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('Symbol(the display broke)');
    await fs.close();
  });

  it('returns copies: mutating what getState returned changes nothing', async () => {
    const fs = await open();
    const state = fs.getState();
    state.status = 'mutated';
    expect(fs.getState().status).toBe('idle');
    await fs.close();
  });
});

describe('streams and KV', () => {
  it('streams bytes back in order, large chunks included', async () => {
    const fs = await open(new WordSearch(), { chunkSizeBytes: 64 * 1024 });
    const parts = Array.from({ length: 20 }, (_, i) => Buffer.alloc(10_000 + i, i));
    for (const part of parts) await fs.appendStream('tool-output', part);
    const read: Buffer[] = [];
    for await (const chunk of fs.openRead('tool-output')) read.push(Buffer.from(chunk));
    expect(Buffer.concat(read).equals(Buffer.concat(parts))).toBe(true);
    expect(fs.stats().chunkFiles).toBeGreaterThan(1);
    const none: Uint8Array[] = [];
    for await (const chunk of fs.openRead('never-written')) none.push(chunk);
    expect(none).toEqual([]);
    await fs.close();
  });

  it('keeps stream chunks in call order, a large chunk followed by a small one included', async () => {
    const fs = await open();
    const large = Buffer.alloc(100 * 1024, 7);
    await Promise.all([fs.appendStream('s', large), fs.appendStream('s', 'small')]);
    const lengths: number[] = [];
    for await (const chunk of fs.openRead('s')) lengths.push(chunk.byteLength);
    expect(lengths).toEqual([large.length, 5]);
    await fs.close();
  });

  it('returns fresh copies of KV values', async () => {
    const fs = await open();
    await fs.setKv('obj', { list: [1] });
    (fs.getKv<{ list: number[] }>('obj')!).list.push(2);
    expect(fs.getKv('obj')).toEqual({ list: [1] });
    expect(await fs.deleteKv('obj')).toBe(true);
    expect(await fs.deleteKv('obj')).toBe(false);
    await fs.close();
  });
});

describe('bad input', () => {
  it('refuses a tag of whitespace alone in a new memory or an update, naming it; a restore keeps one, and filters find it', async () => {
    const fs = await open(new WordSearch());
    await expect(fs.appendMemory('ok', [' '])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('appendMemory: a tag must hold more than whitespace, got " "') });
    await expect(fs.appendMemories([{ text: 'ok', tags: ['work', '\t\n'] }])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('appendMemories') });
    const id = await fs.appendMemory('kept', ['work']);
    await expect(fs.updateMemory(id, { tags: ['\u00a0'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('updateMemory') });
    expect((await fs.getMemory(id))?.tags).toEqual(['work']);
    expect(fs.stats().memories).toBe(1);
    // (Stores written before this check may hold such tags: their exports restore, and filters reach them.)
    const [restored] = await fs.restoreMemories([{ text: 'from an old export', tags: [' '], createdAt: 1, updatedAt: 1 }]);
    expect((await fs.getMemory(restored!))?.tags).toEqual([' ']);
    expect((await fs.listMemories({ tags: [' '] })).memories.map((memory) => memory.id)).toEqual([restored]);
    await fs.close();
  });

  it('rejects wrong types, empty or huge text and unknown ids with INVALID_ARGUMENT, TEXT_TOO_LARGE or MEMORY_NOT_FOUND', async () => {
    const fs = await open(new WordSearch(), { maxTextBytes: 1024 });
    expect(fs.maxTextBytes).toBe(1024);
    const bad = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
    await expectCode(() => bad.appendMemory!(42), 'INVALID_ARGUMENT');
    await expectCode(() => fs.appendMemory(''), 'INVALID_ARGUMENT');
    await expectCode(() => fs.appendMemory(' \n\t '), 'INVALID_ARGUMENT');
    await expectCode(() => fs.appendMemory('x'.repeat(1025)), 'TEXT_TOO_LARGE');
    await expectCode(() => fs.appendMemory('é'.repeat(600)), 'TEXT_TOO_LARGE');
    await expectCode(() => bad.appendMemory!('ok', 'not-an-array'), 'INVALID_ARGUMENT');
    await expectCode(() => bad.appendMemory!('ok', [1]), 'INVALID_ARGUMENT');
    await expectCode(() => bad.appendMemory!('ok', [''], undefined), 'INVALID_ARGUMENT');
    await expectCode(() => fs.appendMemory('ok', [], { ttlMs: -5 }), 'INVALID_ARGUMENT');
    await expectCode(() => fs.appendMemory('ok', [], { namespace: '' }), 'INVALID_ARGUMENT');
    await expectCode(() => bad.appendMemory!('ok', [], { meta: [1] }), 'INVALID_ARGUMENT');
    await expectCode(() => bad.queryMemory!(undefined), 'INVALID_ARGUMENT');
    await expectCode(() => fs.queryMemory('x', { limit: 0 }), 'INVALID_ARGUMENT');
    await expectCode(() => fs.queryMemory('x', { limit: 1.5 }), 'INVALID_ARGUMENT');
    await expectCode(() => bad.getMemory!('1'), 'INVALID_ARGUMENT');
    await expectCode(() => fs.getMemory(-1), 'INVALID_ARGUMENT');
    await expectCode(() => fs.updateMemory(999, { text: 'x' }), 'MEMORY_NOT_FOUND');
    await expectCode(() => bad.updateMemory!(1, null), 'INVALID_ARGUMENT');
    await expectCode(() => bad.deleteMemory!(Number.NaN), 'INVALID_ARGUMENT');
    await expectCode(() => bad.updateState!({ status: 1 }), 'INVALID_ARGUMENT');
    await expectCode(() => bad.updateState!({ status: 'x', activeMemoryCount: 0, lastUpdatedId: 0, extra: null }), 'INVALID_ARGUMENT');
    await expectCode(() => bad.setKv!('', 1), 'INVALID_ARGUMENT');
    await expectCode(() => fs.setKv('k', undefined), 'INVALID_ARGUMENT');
    await expectCode(() => fs.setKv('k', () => 1), 'INVALID_ARGUMENT');
    await expectCode(() => bad.getKv!(5), 'INVALID_ARGUMENT');
    await expectCode(() => bad.appendStream!('s', 42), 'INVALID_ARGUMENT');
    await expectCode(() => fs.appendStream('s', ''), 'INVALID_ARGUMENT');
    await expectCode(() => bad.subscribeState!('not a function'), 'INVALID_ARGUMENT');
    expect(await fs.deleteMemory(12345)).toBe(false);
    expect(await fs.getMemory(12345)).toBeUndefined();
    expect(fs.stats().memories).toBe(0);
    await fs.close();
  });

  it('refuses options it does not know, naming them and the ones it takes, before anything is written', async () => {
    const fs = await open();
    const bad = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
    const misspelt = await expectCode(() => bad.appendMemory!('fact', [], { namepsace: 'tenant-a' }), 'INVALID_ARGUMENT');
    expect(misspelt.message).toContain('"namepsace"');
    expect(misspelt.message).toContain('namespace');
    await expectCode(() => bad.appendMemory!('fact', [], { expiresAt: Date.now() + 1000 }), 'INVALID_ARGUMENT');
    await expectCode(() => bad.appendMemories!([{ text: 'fact', tag: ['x'] }]), 'INVALID_ARGUMENT');
    // A memory read back is not a new one: its id and times would be dropped without a word.
    const copied = await expectCode(() => bad.appendMemories!([{ id: 3, text: 'fact', tags: [], namespace: 'default', meta: {}, createdAt: 1, updatedAt: 1 }]), 'INVALID_ARGUMENT');
    expect(copied.message).toContain('restoreMemories');
    await expectCode(() => bad.queryMemory!('fact', { limt: 1 }), 'INVALID_ARGUMENT');
    await expectCode(() => bad.listMemories!({ namepsace: 'x' }), 'INVALID_ARGUMENT');
    await expectCode(() => bad.compact!({ eras: true }), 'INVALID_ARGUMENT');
    expect(fs.stats().memories).toBe(0);
    expect(fs.stats().blockBytes).toBe(0);
    await fs.close();
    const readonly = await expectCode(() => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), readonly: true } as never), 'INVALID_ARGUMENT');
    expect(readonly.message).toContain('readOnly');
  });

  it('restoreMemories refuses fields it does not know (a misspelt namespace would land the memory in the default one), and takes a query hit as it is', async () => {
    const fs = await open();
    const bad = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
    const misspelt = await expectCode(() => bad.restoreMemories!([{ text: 'restored', createdAt: 1, namepsace: 'tenant-a' }]), 'INVALID_ARGUMENT');
    expect(misspelt.message).toContain('"namepsace"');
    expect(misspelt.message).toContain('item 0');
    const ttl = await expectCode(() => bad.restoreMemories!([{ text: 'restored', createdAt: 1, ttlMs: 1000 }]), 'INVALID_ARGUMENT');
    expect(ttl.message).toContain('expiresAt');
    expect(fs.stats().memories).toBe(0);
    const id = await fs.appendMemory('found by a query', ['t'], { namespace: 'tenant-a' });
    const [hit] = await fs.queryMemory('found');
    const [restored] = await fs.restoreMemories([{ ...hit!, id: undefined } as never]);
    expect(await fs.getMemory(restored!)).toMatchObject({ text: 'found by a query', tags: ['t'], namespace: 'tenant-a' });
    expect(restored).toBeGreaterThan(id);
    await fs.close();
  });

  it('updateMemory with nothing to change writes nothing: no new version, the same updatedAt', async () => {
    const fs = await open();
    const id = await fs.appendMemory('as it was', ['t']);
    const before = await fs.getMemory(id);
    const lastLsn = fs.stats().lastLsn;
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await fs.updateMemory(id, {})).toEqual(before);
    expect(fs.stats().lastLsn).toBe(lastLsn);
    expect((await fs.memoryHistory(id)).map((version) => version.event)).toEqual(['created']);
    await expectCode(() => fs.updateMemory(id + 1, {}), 'MEMORY_NOT_FOUND');
    await fs.close();
  });

  it('takes readonly arrays of tags wherever it takes tags', async () => {
    const fs = await open();
    const tags = ['pref', 'ui'] as const;
    const id = await fs.appendMemory('tagged from a constant', tags);
    const [other] = await fs.appendMemories([{ text: 'also tagged from a constant', tags }]);
    expect((await fs.queryMemory('constant', { tags })).map((hit) => hit.id).sort()).toEqual([id, other].sort());
    expect((await fs.listMemories({ tags })).memories).toHaveLength(2);
    expect((await fs.updateMemory(id, { tags })).tags).toEqual(['pref', 'ui']);
    await fs.close();
  });

  it('refuses an array with an empty slot as it refuses an undefined item, before anything is written', async () => {
    const fs = await open();
    const bad = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
    // eslint-disable-next-line no-sparse-arrays
    const holed = await expectCode(() => bad.appendMemories!([, { text: 'kept out' }]), 'INVALID_ARGUMENT');
    expect(holed.message).toContain('item 0');
    await expectCode(() => bad.appendMemories!(new Array(2)), 'INVALID_ARGUMENT');
    // eslint-disable-next-line no-sparse-arrays
    await expectCode(() => bad.restoreMemories!([, { text: 'kept out', createdAt: 1 }]), 'INVALID_ARGUMENT');
    expect(fs.stats().memories).toBe(0);
    expect(fs.stats().blockBytes).toBe(0);
    await fs.close();
  });

  it('refuses a ttlMs that puts the expiry past what a Date holds, so that every memory can be exported and restored', async () => {
    const fs = await open();
    const error = await expectCode(() => fs.appendMemory('never expires', [], { ttlMs: Number.MAX_SAFE_INTEGER }), 'INVALID_ARGUMENT');
    expect(error.message).toContain('ttlMs');
    await expectCode(() => fs.appendMemories([{ text: 'never expires', ttlMs: 8.64e15 }]), 'INVALID_ARGUMENT');
    const id = await fs.appendMemory('expires in a century', [], { ttlMs: 100 * 365 * 24 * 3600 * 1000 });
    const { memories } = await fs.listMemories();
    expect(await fs.restoreMemories(memories.map(({ id: _id, ...memory }) => memory))).toEqual([id + 1]);
    await fs.close();
  });

  it('says which number it refused (NaN, Infinity), and refuses NaN in a meta filter', async () => {
    const fs = await open();
    const bad = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
    expect((await expectCode(() => bad.queryMemory!('x', { createdAt: { $gt: Number.NaN } }), 'INVALID_ARGUMENT')).message).toContain('NaN');
    expect((await expectCode(() => bad.listMemories!({ updatedAt: { $lt: Number.POSITIVE_INFINITY } }), 'INVALID_ARGUMENT')).message).toContain('Infinity');
    expect((await expectCode(() => bad.restoreMemories!([{ text: 'x', createdAt: Number.NaN }]), 'INVALID_ARGUMENT')).message).toContain('NaN');
    expect((await expectCode(() => bad.listMemories!({ filter: { n: { $gt: Number.NaN } } }), 'INVALID_ARGUMENT')).message).toContain('NaN');
    expect((await expectCode(() => bad.getMemory!(), 'INVALID_ARGUMENT')).message).not.toContain('undefined undefined');
    await fs.close();
  });

  it('passes prefix: false to a provider that matches whole words, and refuses it with NOT_SUPPORTED where the provider indexes word beginnings', async () => {
    const asked: unknown[] = [];
    class WholeWords extends WordSearch {
      override readonly supports = { snapshot: true, prefix: true, wholeWords: true };
      override search(request: Parameters<WordSearch['search']>[0]) {
        asked.push(request.prefix);
        return super.search(request);
      }
    }
    const fs = await open(new WholeWords());
    await fs.appendMemory('the team memo');
    expect(await fs.queryMemory('memo', { prefix: false })).toHaveLength(1);
    await fs.queryMemory('memo');
    expect(asked).toEqual([false, undefined]);
    await expectCode(() => fs.queryMemory('memo', { prefix: 'no' as never }), 'INVALID_ARGUMENT');
    await fs.close();
    class Beginnings extends WordSearch {
      override readonly supports = { snapshot: true, prefix: true };
    }
    const other = await open(new Beginnings());
    const refused = await expectCode(() => other.queryMemory('memo', { prefix: false }), 'NOT_SUPPORTED');
    expect(refused.message).toContain('prefix');
    await other.close();
  });

  it('answers any query string without throwing', async () => {
    const fs = await open();
    await fs.appendMemory('some (text) [with] *symbols* and "quotes"');
    for (const q of ['(', ')', '"', '*', '\\', 'a AND OR NOT', '\u0000', '🦄', 'x'.repeat(100_000), '%s%n', '[[[', '-']) {
      expect(Array.isArray(await fs.queryMemory(q))).toBe(true);
    }
    await fs.close();
  });

  it('fails every call after close with STORE_CLOSED, and close twice is fine', async () => {
    const fs = await open();
    await fs.close();
    await fs.close();
    await expectCode(() => fs.appendMemory('x'), 'STORE_CLOSED');
    await expectCode(() => fs.queryMemory('x'), 'STORE_CLOSED');
    await expectCode(() => fs.getMemory(1), 'STORE_CLOSED');
    await expectCode(() => fs.updateMemory(1, {}), 'STORE_CLOSED');
    await expectCode(() => fs.deleteMemory(1), 'STORE_CLOSED');
    await expectCode(() => fs.updateState(fs as never), 'STORE_CLOSED');
    await expectCode(() => fs.getState(), 'STORE_CLOSED');
    await expectCode(() => fs.subscribeState(() => undefined), 'STORE_CLOSED');
    await expectCode(() => fs.watchState(), 'STORE_CLOSED');
    await expectCode(() => fs.setKv('k', 1), 'STORE_CLOSED');
    await expectCode(() => fs.getKv('k'), 'STORE_CLOSED');
    await expectCode(() => fs.deleteKv('k'), 'STORE_CLOSED');
    await expectCode(() => fs.appendStream('k', 'x'), 'STORE_CLOSED');
    await expectCode(() => fs.openRead('k').next(), 'STORE_CLOSED');
    await expectCode(() => fs.stats(), 'STORE_CLOSED');
    await expectCode(() => fs.flush(), 'STORE_CLOSED');
  });

  it('rejects bad init arguments', async () => {
    await expectCode(() => MemMapFS.init(''), 'INVALID_ARGUMENT');
    await expectCode(() => MemMapFS.init(root, { durability: 'always' as never }), 'INVALID_ARGUMENT');
    await expectCode(() => MemMapFS.init(root, { codec: v8Codec(), search: { name: 'broken' } as never }), 'INVALID_ARGUMENT');
    await expectCode(() => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), maxTextBytes: 0 }), 'INVALID_ARGUMENT');
    for (const chunkSizeBytes of [0, -5, 1.5, 2 ** 31]) {
      await expectCode(() => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), chunkSizeBytes }), 'INVALID_ARGUMENT');
    }
  });

  it('refuses a readOnly or create that is not a boolean (a "true" read from the environment), creating nothing', async () => {
    const fs = await open();
    await fs.close();
    for (const bad of [{ readOnly: 'true' }, { readOnly: 1 }, { readOnly: null }]) {
      const error = await expectCode(() => open(new WordSearch(), bad as never), 'INVALID_ARGUMENT');
      expect(error.message).toMatch(/readOnly must be true or false/);
    }
    const elsewhere = `${root}-not-made`;
    for (const bad of [{ create: 'false' }, { create: 0 }]) {
      const error = await expectCode(() => MemMapFS.init(elsewhere, { codec: v8Codec(), search: new WordSearch(), ...bad } as never), 'INVALID_ARGUMENT');
      expect(error.message).toMatch(/create must be true or false/);
    }
    await expect(import('node:fs/promises').then(({ stat }) => stat(elsewhere))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('says a root that is a file is not a folder, and what to give instead', async () => {
    const file = join(root, 'a-file');
    await mkdir(root, { recursive: true });
    await writeFile(file, 'not a store');
    const error = await expectCode(() => MemMapFS.init(file, { codec: v8Codec(), search: new WordSearch() }), 'IO_ERROR');
    expect(error.message).toMatch(/ENOTDIR.*a file, not a folder/);
    const notFound = await expectCode(() => MemMapFS.init(file, { codec: v8Codec(), search: new WordSearch(), create: false }), 'STORE_NOT_FOUND');
    expect(notFound.message).toMatch(/it is a file, not a store's folder/);
  });

  it('refuses historyRetentionMs with a log hosts share, which keeps its records until snapshots let them go, before it opens the log', async () => {
    let opened = false;
    const wal = async () => {
      opened = true;
      throw new Error('not to be opened');
    };
    const error = await expectCode(() => open(new WordSearch(), { wal: wal as never, historyRetentionMs: 0 }), 'NOT_SUPPORTED');
    expect(error.message).toMatch(/historyRetentionMs.*snapshot/);
    expect(opened).toBe(false);
  });

  it('names NaN and Infinity as such in its messages, not as null', async () => {
    const nan = await expectCode(() => open(new WordSearch(), { lockTimeoutMs: Number.NaN }), 'INVALID_ARGUMENT');
    expect(nan.message).toContain('NaN');
    const infinite = await expectCode(() => open(new WordSearch(), { lockTimeoutMs: Number.POSITIVE_INFINITY }), 'INVALID_ARGUMENT');
    expect(infinite.message).toContain('Infinity');
    expect(infinite.message).toContain('finite');
    expect((await expectCode(() => open(new WordSearch(), { chunkSizeBytes: Number.NaN }), 'INVALID_ARGUMENT')).message).toContain('NaN');
    expect((await expectCode(() => open(new WordSearch(), { historyRetentionMs: Number.NaN }), 'INVALID_ARGUMENT')).message).toContain('NaN');
    const fs = await open();
    expect((await expectCode(() => fs.listKv({ limit: Number.NaN }), 'INVALID_ARGUMENT')).message).toContain('NaN');
    await fs.close();
  });

  it('waits for writes in flight before closing', async () => {
    const fs = await open();
    const pending = Array.from({ length: 20 }, (_, i) => fs.appendMemory(`in flight ${i}`));
    await fs.close();
    const ids = await Promise.all(pending);
    const again = await open();
    for (const id of ids) expect(await again.getMemory(id)).toBeDefined();
    await again.close();
  });
});

describe('the search index, loaded when a query needs it', () => {
  it('is not loaded for reads by id, state, KV, streams, stats or writes; a query loads it and sees every change', async () => {
    const setup = await open();
    const first = await setup.appendMemory('indexed before the reopen');
    await setup.close();
    const search = new WordSearch();
    const fs = await open(search);
    expect((await fs.getMemory(first))?.text).toBe('indexed before the reopen');
    fs.getState();
    fs.getKv('absent');
    fs.stats();
    for await (const _chunk of fs.openRead('absent')) { /* nothing */ }
    const second = await fs.appendMemory('appended before any query');
    await fs.updateMemory(first, { text: 'indexed before the reopen, then updated' });
    await fs.setKv('k', 1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(search.imports).toBe(0);
    expect(search.docs.size).toBe(0);
    expect((await fs.queryMemory('updated')).map((h) => h.id)).toEqual([first]);
    expect((await fs.queryMemory('appended')).map((h) => h.id)).toEqual([second]);
    expect(search.imports).toBe(1);
    await fs.close();
  });

  it('closing a store whose index was never loaded leaves the saved snapshot as it was, and the next query still finds everything', async () => {
    const setup = await open();
    await setup.appendMemory('in the snapshot');
    await setup.close();
    const { readFile } = await import('node:fs/promises');
    const saved = await readFile(`${root}/index/search.snapshot`);
    const writer = await open();
    const later = await writer.appendMemory('written by a process that never queried');
    await writer.close();
    expect((await readFile(`${root}/index/search.snapshot`)).equals(saved)).toBe(true);
    const reader = await open();
    expect((await reader.queryMemory('never queried')).map((h) => h.id)).toEqual([later]);
    await reader.close();
  });

  it('is loaded to take the changes of a process that writes many and never queries', async () => {
    const setup = await open();
    await setup.appendMemory('before');
    await setup.close();
    const search = new WordSearch();
    const fs = await open(search, { durability: 'none' });
    for (let i = 0; i < 9; i++) await fs.appendMemories(Array.from({ length: 500 }, (_, k) => ({ text: `bulk ${i * 500 + k}` })));
    await vi.waitFor(() => expect(search.docs.size).toBe(4501), { timeout: 5000, interval: 20 });
    expect(search.imports).toBe(1);
    await fs.close();
  });
});

describe('the search snapshot, shared by processes that open and close at different times', () => {
  it('a query finds every memory though another process saved an older or newer index after this one opened', async () => {
    const early = await open();
    const writer = await open();
    const ids = [await writer.appendMemory('shared apple one'), await writer.appendMemory('shared apple two'), await writer.appendMemory('shared apple three')];
    await writer.close();
    const reader = await open();
    // The process that opened the store empty, and never looked at it since, closes last.
    await early.close();
    expect((await reader.queryMemory('apple', { limit: 10 })).map((h) => h.id).sort((a, b) => a - b)).toEqual(ids);
    await reader.close();
    const fresh = await open();
    expect((await fresh.queryMemory('apple', { limit: 10 })).map((h) => h.id).sort((a, b) => a - b)).toEqual(ids);
    await fresh.close();
  });
});

describe('records that decode but do not add up', () => {
  it('refuses a block copy whose length is not its reference\'s', async () => {
    const { decodeRecord, encodeRecord, RecordType } = await import('../src/engine/log-records.js');
    const codec = v8Codec();
    const ref = { chunk: 0, offset: 0, length: 5, crc: 0 };
    const good = encodeRecord(codec, { type: RecordType.StreamAppend, key: 'k', ref, copy: new Uint8Array(5) });
    expect(decodeRecord(codec, RecordType.StreamAppend, good, 1)).toMatchObject({ key: 'k', ref });
    const bad = encodeRecord(codec, { type: RecordType.StreamAppend, key: 'k', ref, copy: new Uint8Array(4) });
    expect(() => decodeRecord(codec, RecordType.StreamAppend, bad, 1)).toThrow(expect.objectContaining({ code: 'WAL_RECORD_INVALID' }));
  });
});
