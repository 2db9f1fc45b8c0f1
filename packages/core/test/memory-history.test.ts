import { beforeEach, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = () => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });

it('returns each version of a memory, oldest first, in this and other instances and after a reopen', async () => {
  const fs = await open();
  const id = await fs.appendMemory('first version', ['draft'], { meta: { step: 1 } });
  const other = await fs.appendMemory('another memory');
  await fs.setKv('k', 'v');
  await fs.updateMemory(id, { text: 'second version' });
  await fs.updateMemory(other, { text: 'another memory, changed' });
  await fs.updateMemory(id, { tags: ['final'], meta: { step: 3 } });
  const before = Date.now();
  expect(await fs.deleteMemory(id)).toBe(true);
  const expected = [
    { event: 'created', memory: { id, text: 'first version', tags: ['draft'], meta: { step: 1 } } },
    { event: 'updated', memory: { id, text: 'second version', tags: ['draft'], meta: { step: 1 } } },
    { event: 'updated', memory: { id, text: 'second version', tags: ['final'], meta: { step: 3 } } },
    { event: 'deleted' },
  ];
  const history = await fs.memoryHistory(id);
  expect(history).toMatchObject(expected);
  expect(history.map((v) => v.lsn)).toEqual([...history.map((v) => v.lsn)].sort((a, b) => a - b));
  expect(history[0]!.at).toBe(history[0]!.memory!.createdAt);
  expect(history[3]!.at).toBeGreaterThanOrEqual(before);
  expect(history[3]!.memory).toBeUndefined();
  const second = await open();
  expect(await second.memoryHistory(id)).toMatchObject(expected);
  expect(await second.memoryHistory(other)).toMatchObject([{ event: 'created', memory: { text: 'another memory' } }, { event: 'updated', memory: { text: 'another memory, changed' } }]);
  await Promise.all([fs.close(), second.close()]);
  const reopened = await open();
  expect(await reopened.memoryHistory(id)).toMatchObject(expected);
  await reopened.close();
});

it('is empty for an id that never was a memory, and refuses a bad id', async () => {
  const fs = await open();
  await fs.setKv('k', 'v');
  const id = await fs.appendMemory('a memory');
  expect(await fs.memoryHistory(1)).toEqual([]);
  expect(await fs.memoryHistory(id + 100)).toEqual([]);
  await expect(fs.memoryHistory(0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  await fs.close();
});
