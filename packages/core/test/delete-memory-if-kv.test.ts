import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = () => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });

describe('deleteMemory with ifKv', () => {
  it('deletes the memory only when the KV value (or undefined) passes, resolves whether it did, rejects with what the test throws, and refuses options it does not take', async () => {
    const fs = await open();
    const id = await fs.appendMemory('a memory a pointer names');
    await fs.setKv('pointer', { id });
    const namesIt = (value: { id: number } | undefined) => value?.id === id;
    expect(await fs.deleteMemory<{ id: number }>(id, { ifKv: { key: 'pointer', when: (value) => !namesIt(value) } })).toBe(false);
    expect(await fs.hasMemory(id)).toBe(true);
    await expect(fs.deleteMemory(id, { ifKv: { key: 'pointer', when: () => { throw new Error('the test failed'); } } })).rejects.toThrow('the test failed');
    expect(await fs.hasMemory(id)).toBe(true);
    await fs.deleteKv('pointer');
    const seen: unknown[] = [];
    expect(await fs.deleteMemory(id, { ifKv: { key: 'pointer', when: (value) => (seen.push(value), value === undefined) } })).toBe(true);
    expect(seen).toEqual([undefined]);
    expect(await fs.hasMemory(id)).toBe(false);
    // (Gone: false, the test not run.)
    expect(await fs.deleteMemory(id, { ifKv: { key: 'pointer', when: () => true } })).toBe(false);
    const other = await fs.appendMemory('another');
    await expect(fs.deleteMemory(other, { ifKv: { key: 'pointer' } } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('ifKv.when must be a function') });
    await expect(fs.deleteMemory(other, { ifKv: { key: '', when: () => true } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(fs.deleteMemory(other, { ifKv: 'pointer' } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('ifKv must be an object') });
    await expect(fs.deleteMemory(other, { ifKV: {} } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('"ifKV"') });
    expect(await fs.hasMemory(other)).toBe(true);
    await fs.close();
  });

  it('tests the KV value as it is under the writer lock: a pointer another handle wrote since this handle last read keeps the memory', async () => {
    const [a, b] = [await open(), await open()];
    const id = await a.appendMemory('put by a, its pointer not written yet');
    await b.catchUp();
    expect(b.getKv('pointer')).toBeUndefined();
    await a.setKv('pointer', { id });
    // (b has not read since: its tables have no pointer.)
    expect(await b.deleteMemory<{ id: number }>(id, { ifKv: { key: 'pointer', when: (value) => value?.id !== id } })).toBe(false);
    expect(await a.hasMemory(id)).toBe(true);
    await a.close();
    await b.close();
  });
});
