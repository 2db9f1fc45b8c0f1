import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS, type Memory } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = () => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });

/** Every page of `listMemories` with `options`, followed by its cursors. */
async function allPages(fs: MemMapFS, options: Parameters<MemMapFS['listMemories']>[0] = {}): Promise<Memory[][]> {
  const pages: Memory[][] = [];
  let cursor: string | undefined;
  do {
    const page = await fs.listMemories({ ...options, ...(cursor ? { cursor } : {}) });
    pages.push(page.memories);
    cursor = page.nextCursor;
    expect(pages.length).toBeLessThan(1000);
  } while (cursor);
  return pages;
}

describe('listMemories', () => {
  it('pages through every live memory in id order, across a checkpoint and the changes after it', async () => {
    const fs = await open();
    const ids: number[] = [];
    for (let i = 0; i < 25; i++) ids.push(await fs.appendMemory(`early ${i}`, [i % 2 ? 'odd' : 'even'], { namespace: i % 3 ? 'a' : 'b' }));
    await fs.checkpoint();
    await fs.updateMemory(ids[4]!, { text: 'early 4, changed' });
    await fs.deleteMemory(ids[5]!);
    for (let i = 25; i < 40; i++) ids.push(await fs.appendMemory(`late ${i}`, [i % 2 ? 'odd' : 'even'], { namespace: i % 3 ? 'a' : 'b' }));
    await fs.deleteMemory(ids[30]!);
    const expired = await fs.appendMemory('gone soon', ['odd'], { namespace: 'a', ttlMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const live = ids.filter((id) => id !== ids[5] && id !== ids[30]);

    const pages = await allPages(fs, { limit: 7 });
    expect(pages.map((page) => page.length)).toEqual([7, 7, 7, 7, 7, 3]);
    const listed = pages.flat();
    expect(listed.map((m) => m.id)).toEqual(live);
    expect(listed.map((m) => m.id)).not.toContain(expired);
    expect(listed.find((m) => m.id === ids[4])!.text).toBe('early 4, changed');
    expect(listed.find((m) => m.id === ids[33])).toMatchObject({ text: 'late 33', tags: ['odd'], namespace: 'b' });

    const filtered = (await allPages(fs, { limit: 4, namespace: 'a', tags: ['odd'] })).flat();
    expect(filtered.map((m) => m.id)).toEqual(live.filter((id) => { const i = ids.indexOf(id); return i % 2 === 1 && i % 3 !== 0; }));
    expect(filtered.every((m) => m.namespace === 'a' && m.tags.includes('odd'))).toBe(true);
    await fs.close();
  });

  it('says there is no next page when the last one is full and nothing follows, and an empty store lists nothing', async () => {
    const fs = await open();
    expect(await fs.listMemories()).toEqual({ memories: [], nextCursor: undefined });
    for (let i = 0; i < 4; i++) await fs.appendMemory(`m ${i}`);
    const page = await fs.listMemories({ limit: 4 });
    expect(page.memories).toHaveLength(4);
    expect(page.nextCursor).toBeUndefined();
    const first = await fs.listMemories({ limit: 3 });
    expect(first.nextCursor).toEqual(expect.any(String));
    // Memories appended after a page was read come on the pages after it.
    const added = await fs.appendMemory('m 4');
    const rest = await fs.listMemories({ limit: 3, cursor: first.nextCursor! });
    expect(rest.memories.map((m) => m.text)).toEqual(['m 3', 'm 4']);
    expect(rest.memories.at(-1)!.id).toBe(added);
    await fs.close();
  });

  it('sees what another handle on the folder wrote', async () => {
    const fs = await open();
    const other = await open();
    const id = await other.appendMemory('from the other handle');
    expect((await fs.listMemories()).memories.map((m) => m.id)).toEqual([id]);
    await other.close();
    await fs.close();
  });

  it('refuses a cursor it did not make and bad options, saying what to pass', async () => {
    const fs = await open();
    for (const cursor of ['nonsense', '', Buffer.from('{"v":1,"after":-3}').toString('base64url'), 42]) {
      const error = await fs.listMemories({ cursor: cursor as string }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MemMapError);
      expect((error as MemMapError).code).toBe('INVALID_ARGUMENT');
      expect((error as MemMapError).message).toMatch(/listMemories: cursor/);
    }
    await expect(fs.listMemories({ limit: 0 })).rejects.toThrow(/listMemories: limit/);
    await expect(fs.listMemories({ tags: 'x' as unknown as string[] })).rejects.toThrow(/listMemories: tags/);
    await fs.close();
  });
});

describe('hasMemory', () => {
  it('is true for a live memory only', async () => {
    const fs = await open();
    const id = await fs.appendMemory('here');
    const short = await fs.appendMemory('brief', [], { ttlMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await fs.hasMemory(id)).toBe(true);
    expect(await fs.hasMemory(short)).toBe(false);
    expect(await fs.hasMemory(id + 100)).toBe(false);
    await fs.deleteMemory(id);
    expect(await fs.hasMemory(id)).toBe(false);
    await expect(fs.hasMemory(-1)).rejects.toThrow(/hasMemory/);
    await fs.close();
  });
});

describe('queryMemory offset', () => {
  it('skips the first hits: pages of one query are disjoint and together are the whole list', async () => {
    const fs = await open();
    for (let i = 0; i < 12; i++) await fs.appendMemory(`walrus number ${i}`);
    const whole = (await fs.queryMemory('walrus', { limit: 12 })).map((hit) => hit.id);
    expect(whole).toHaveLength(12);
    const paged = [];
    for (let offset = 0; offset < 12; offset += 5) paged.push(...(await fs.queryMemory('walrus', { limit: 5, offset })).map((hit) => hit.id));
    expect(paged).toEqual(whole);
    expect(await fs.queryMemory('walrus', { limit: 5, offset: 12 })).toEqual([]);
    const newest = (await fs.queryMemory('', { limit: 3, offset: 2 })).map((hit) => hit.id);
    expect(newest).toEqual([...whole].sort((a, b) => b - a).slice(2, 5));
    await expect(fs.queryMemory('walrus', { offset: -1 })).rejects.toThrow(/queryMemory: offset/);
    await fs.close();
  });
});

describe('filters on meta and times', () => {
  it('keeps the memories whose meta and times pass, in queries and lists alike, with every operator', async () => {
    const fs = await open();
    const ids: number[] = [];
    for (let turn = 0; turn < 30; turn++) {
      ids.push(await fs.appendMemory(`walrus note ${turn}`, [], { meta: { turn, source: turn % 3 === 0 ? 'chat' : 'tool', nested: { lang: turn % 2 ? 'en' : 'de' }, ...(turn % 5 === 0 ? { flagged: true } : {}) } }));
    }
    await fs.checkpoint();
    const later = Date.now() + 1;
    await new Promise((resolve) => setTimeout(resolve, 3));
    const last = await fs.appendMemory('walrus note late', [], { meta: { turn: 30, source: 'chat', nested: { lang: 'en' } } });
    const byTurn = (test: (turn: number) => boolean) => [...ids, last].filter((_, turn) => test(turn));
    const cases: Array<[Parameters<MemMapFS['listMemories']>[0], number[]]> = [
      [{ filter: { source: 'chat' } }, byTurn((t) => t % 3 === 0)],
      [{ filter: { turn: { $gte: 10, $lt: 14 } } }, byTurn((t) => t >= 10 && t < 14)],
      [{ filter: { turn: { $gt: 27 } } }, byTurn((t) => t > 27)],
      [{ filter: { turn: { $lte: 2 } } }, byTurn((t) => t <= 2)],
      [{ filter: { 'nested.lang': 'en', source: { $ne: 'chat' } } }, byTurn((t) => t % 2 === 1 && t % 3 !== 0)],
      [{ filter: { turn: { $in: [1, 2, 99] } } }, byTurn((t) => t === 1 || t === 2)],
      [{ filter: { source: { $nin: ['tool'] }, turn: { $lt: 10 } } }, byTurn((t) => t % 3 === 0 && t < 10)],
      [{ filter: { flagged: true } }, byTurn((t) => t % 5 === 0 && t < 30)],
      [{ filter: { flagged: { $ne: true }, turn: { $lt: 6 } } }, byTurn((t) => t % 5 !== 0 && t < 6)],
      [{ filter: { $or: [{ turn: 3 }, { $and: [{ source: 'chat' }, { turn: { $gt: 25 } }] }] } }, byTurn((t) => t === 3 || (t % 3 === 0 && t > 25))],
      [{ filter: { nested: { lang: 'de' }, turn: { $lt: 5 } } }, byTurn((t) => t % 2 === 0 && t < 5)],
      [{ filter: { turn: { $gt: 'a' } } }, []],
      [{ createdAt: { $gte: later } }, [last]],
      [{ updatedAt: { $lt: later }, filter: { turn: { $gte: 28 } } }, byTurn((t) => t >= 28 && t < 30)],
    ];
    for (const [options, expected] of cases) {
      expect((await allPages(fs, { ...options, limit: 4 })).flat().map((m) => m.id), JSON.stringify(options)).toEqual(expected);
      // A text query every memory matches: the same memories, best first.
      const hits = await fs.queryMemory('walrus', { ...options, limit: 40 });
      expect(hits.map((hit) => hit.id).sort((a, b) => a - b), JSON.stringify(options)).toEqual(expected);
    }
    // A filter that few of many text matches pass still fills the limit.
    expect((await fs.queryMemory('walrus', { filter: { turn: { $gte: 25 } }, limit: 3 })).every((hit) => (hit.meta as { turn: number }).turn >= 25)).toBe(true);
    expect(await fs.queryMemory('walrus', { filter: { turn: { $gte: 25 } }, limit: 3 })).toHaveLength(3);
    expect((await fs.queryMemory('', { filter: { source: 'chat' }, limit: 2 })).map((hit) => hit.id)).toEqual([last, ids[27]]);
    await fs.close();
  });

  it('refuses a malformed filter, saying what to pass', async () => {
    const fs = await open();
    const bad: Array<[unknown, RegExp]> = [
      ['source', /filter must be an object/],
      [{ turn: { $regex: 'x' } }, /\$regex is not a field operator; use \$eq/],
      [{ $not: {} }, /\$not is not a filter operator here/],
      [{ $or: [] }, /\$or must be a non-empty array/],
      [{ turn: { $in: 3 } }, /\$in takes an array/],
      [{ turn: { $gt: null } }, /\$gt takes a number or a string/],
      [{ 'a..b': 1 }, /is not a field name/],
    ];
    for (const [filter, message] of bad) {
      await expect(fs.listMemories({ filter: filter as never }), JSON.stringify(filter)).rejects.toThrow(message);
      await expect(fs.queryMemory('x', { filter: filter as never }), JSON.stringify(filter)).rejects.toThrow(message);
    }
    await expect(fs.listMemories({ createdAt: { $after: 3 } as never })).rejects.toThrow(/createdAt: \$after is not a range operator/);
    await expect(fs.listMemories({ updatedAt: { $gt: 'yesterday' } as never })).rejects.toThrow(/updatedAt: \$gt takes a time in ms/);
    await fs.close();
  });
});

describe('mergeState', () => {
  it('changes only the fields given, on the latest state: handles merging different fields at once lose none', async () => {
    const a = await open();
    const b = await open();
    await a.updateState({ status: 'idle', activeMemoryCount: 0, lastUpdatedId: 0, extra: {} });
    const rounds = 25;
    await Promise.all([
      (async () => {
        for (let i = 1; i <= rounds; i++) await a.mergeState({ activeMemoryCount: i });
      })(),
      (async () => {
        for (let i = 1; i <= rounds; i++) await b.mergeState({ lastUpdatedId: 100 + i, extra: { from: 'b', round: i } });
      })(),
    ]);
    for (const fs of [a, b]) expect(fs.getState()).toEqual({ status: 'idle', activeMemoryCount: rounds, lastUpdatedId: 100 + rounds, extra: { from: 'b', round: rounds } });
    expect(await a.mergeState({ status: 'busy' })).toEqual({ status: 'busy', activeMemoryCount: rounds, lastUpdatedId: 100 + rounds, extra: { from: 'b', round: rounds } });
    await expect(a.mergeState({ activeMemoryCount: 'many' as unknown as number })).rejects.toThrow(/mergeState: state.activeMemoryCount must be a finite number/);
    await expect(a.mergeState(null as never)).rejects.toThrow(/mergeState/);
    await b.close();
    await a.close();
  });

  it('takes the changes as they are at the call: changing the object afterwards changes nothing stored', async () => {
    const fs = await open();
    const changes = { status: 'planning', extra: { step: 1 } };
    const merging = fs.mergeState(changes);
    changes.status = 'changed after the call';
    changes.extra.step = 2;
    expect(await merging).toMatchObject({ status: 'planning', extra: { step: 1 } });
    expect(fs.getState()).toMatchObject({ status: 'planning', extra: { step: 1 } });
    await expect(fs.mergeState({ extra: { when: new Date() } } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/mergeState: .*Date/) });
    await fs.close();
  });
});
