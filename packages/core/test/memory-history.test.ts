import { beforeEach, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { WalError } from '@memmapfs/wal';
import { useTempRoot, v8Codec, VectorWordSearch, WordSearch } from './fixtures.js';

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

it('holds the updates and the deletion the log still has after a compaction dropped the creation, and each version\'s embedding', async () => {
  const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new VectorWordSearch() });
  const id = await fs.appendMemory('v1', [], { embedding: [1, 0, 0] });
  const { logFirstLsn } = await fs.compact();
  expect(logFirstLsn).toBeGreaterThan(id);
  await fs.updateMemory(id, { text: 'v2' });
  await fs.updateMemory(id, { text: 'v3', embedding: [0, 1, 0] });
  expect(await fs.memoryHistory(id)).toMatchObject([
    { event: 'updated', memory: { text: 'v2', embedding: new Float32Array([1, 0, 0]) } },
    { event: 'updated', memory: { text: 'v3', embedding: new Float32Array([0, 1, 0]) } },
  ]);
  await fs.deleteMemory(id);
  // An update written after the deletion (ignored by every process) is no version.
  expect((await fs.memoryHistory(id)).map((version) => version.event)).toEqual(['updated', 'updated', 'deleted']);
  // Another memory whose creation is gone and that never changed since: nothing the log holds.
  const quiet = await fs.appendMemory('quiet');
  await fs.compact();
  expect(await fs.memoryHistory(quiet)).toEqual([]);
  await fs.close();
});

it('reads the log again when retention cut it while it was read (WAL_TRUNCATED), rather than fail', async () => {
  const fs = await open();
  const id = await fs.appendMemory('kept version');
  await fs.updateMemory(id, { text: 'newer version' });
  const wal = (fs as unknown as { engine: { wal: { readFrom: (lsn: number) => AsyncIterable<unknown> } } }).engine.wal;
  const readFrom = wal.readFrom.bind(wal);
  let cuts = 1;
  wal.readFrom = (lsn: number) => {
    if (cuts-- > 0) {
      return (async function* () {
        throw new WalError('WAL_TRUNCATED', `records before ${lsn + 1} were dropped while they were read`);
      })();
    }
    return readFrom(lsn);
  };
  expect(await fs.memoryHistory(id)).toMatchObject([{ event: 'created', memory: { text: 'kept version' } }, { event: 'updated', memory: { text: 'newer version' } }]);
  expect(cuts).toBe(-1);
  await fs.close();
});
