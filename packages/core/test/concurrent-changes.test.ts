import * as nodeFileSystem from 'node:fs/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

// Two instances on one folder behave as two processes do: each has its own log descriptor and view.
const open = () => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });

describe('changes made at the same time by two writers', () => {
  it('keeps both of two updates of different fields of one memory', async () => {
    const a = await open();
    const b = await open();
    const id = await a.appendMemory('shared memory', ['start'], { meta: { step: 0 } });
    for (let round = 1; round <= 20; round++) {
      // Each writer read the memory before the other's update landed.
      await Promise.all([a.updateMemory(id, { tags: [`tag-${round}`] }), b.updateMemory(id, { meta: { step: round } })]);
      for (const fs of [a, b]) expect(await fs.getMemory(id)).toMatchObject({ tags: [`tag-${round}`], meta: { step: round } });
    }
    await Promise.all([a.close(), b.close()]);
    const again = await open();
    expect(await again.getMemory(id)).toMatchObject({ text: 'shared memory', tags: ['tag-20'], meta: { step: 20 } });
    await again.close();
  });

  it('says true to exactly one of several deletes of one memory or KV key, wherever they come from', async () => {
    const a = await open();
    const b = await open();
    for (let round = 0; round < 10; round++) {
      const id = await a.appendMemory(`doomed ${round}`);
      await a.setKv(`key-${round}`, round);
      const deleted = await Promise.all([a.deleteMemory(id), b.deleteMemory(id), a.deleteMemory(id), b.deleteMemory(id)]);
      expect(deleted.filter(Boolean)).toHaveLength(1);
      const removed = await Promise.all([b.deleteKv(`key-${round}`), a.deleteKv(`key-${round}`), b.deleteKv(`key-${round}`)]);
      expect(removed.filter(Boolean)).toHaveLength(1);
    }
    await Promise.all([a.close(), b.close()]);
  });

  it('updates and deletes a memory another writer appended just before, which this one has not read yet', async () => {
    const a = await open();
    const b = await open();
    for (let round = 0; round < 5; round++) {
      const kept = await a.appendMemory(`kept ${round}`, ['a']);
      const doomed = await a.appendMemory(`doomed ${round}`);
      expect(await b.updateMemory(kept, { tags: ['b'] })).toMatchObject({ id: kept, text: `kept ${round}`, tags: ['b'] });
      expect(await b.deleteMemory(doomed)).toBe(true);
      expect(await a.getMemory(kept)).toMatchObject({ tags: ['b'] });
      expect(await a.getMemory(doomed)).toBeUndefined();
    }
    await Promise.all([a.close(), b.close()]);
  });

  it('deletes a KV key another writer set just before, which this one has not read yet, and writes nothing for one another writer deleted first', async () => {
    const a = await open();
    const b = await open();
    await a.setKv('fresh', 1);
    expect(await b.deleteKv('fresh')).toBe(true);
    expect(a.getKv('fresh')).toBeUndefined();
    await a.setKv('stale', 2);
    expect(b.getKv('stale')).toBe(2);
    await a.deleteKv('stale');
    const lsn = a.stats().lastLsn;
    expect(await b.deleteKv('stale')).toBe(false);
    expect(b.stats().lastLsn).toBe(lsn);
    await Promise.all([a.close(), b.close()]);
  });

  it('writes nothing for an update of a memory another writer deleted first', async () => {
    const a = await open();
    const b = await open();
    const id = await a.appendMemory('soon gone');
    expect(await b.getMemory(id)).toBeDefined();
    const lsn = a.stats().lastLsn;
    await a.deleteMemory(id);
    await expect(b.updateMemory(id, { text: 'too late' })).rejects.toMatchObject({ code: 'MEMORY_NOT_FOUND' });
    expect(b.stats().lastLsn).toBe(lsn + 1);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('calls that are refused', () => {
  it('refuses an update of a field that cannot change, writing nothing', async () => {
    const fs = await open();
    const id = await fs.appendMemory('in the default namespace');
    const lsn = fs.stats().lastLsn;
    await expect(fs.updateMemory(id, { namespace: 'other' } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('namespace') });
    await expect(fs.updateMemory(id, { text: 'x', colour: 'red' } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('"colour"') });
    expect(fs.stats().lastLsn).toBe(lsn);
    await fs.close();
  });

  it('refuses a root with a NUL character and a bad lockTimeoutMs', async () => {
    await expect(MemMapFS.init(`${root}\0evil`)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(MemMapFS.init(root, { lockTimeoutMs: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('closes twice without a second rejection, also after the log failed', async () => {
    let failing = false;
    const files = {
      ...nodeFileSystem,
      open: (async (...args: Parameters<typeof nodeFileSystem.open>) => {
        const handle = await nodeFileSystem.open(...args);
        const write = handle.write.bind(handle) as (...a: unknown[]) => Promise<unknown>;
        (handle as { write: unknown }).write = (...a: unknown[]) => (failing ? Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })) : write(...a));
        return handle;
      }) as typeof nodeFileSystem.open,
    };
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), fileSystem: files });
    await fs.appendMemory('before the disk failed');
    failing = true;
    await expect(fs.appendMemory('after')).rejects.toMatchObject({ code: expect.stringMatching(/^(WAL_FAILED|IO_ERROR)$/) });
    const first = await fs.close().then(() => 'resolved', (error: unknown) => error);
    expect(first).toMatchObject({ code: expect.stringMatching(/^(WAL_FAILED|IO_ERROR)$/) });
    await expect(fs.close()).resolves.toBeUndefined();
    await expect(fs.close()).resolves.toBeUndefined();
  });
});

it('returns the text it stored, whatever the caller does to its update object meanwhile', async () => {
  const fs = await open();
  const id = await fs.appendMemory('first text');
  let reads = 0;
  const update = { get text() { return reads++ === 0 ? 'second text' : 'changed after the call'; } };
  const returned = await fs.updateMemory(id, update);
  expect(returned.text).toBe((await fs.getMemory(id))!.text);
  expect(returned.text).toBe('second text');
  await fs.close();
});
