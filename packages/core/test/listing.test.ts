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
