import * as nodeFileSystem from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, expect, it, vi } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { segmentSearch, type SegmentSearchProvider } from '@memmapfs/search-segments';
import { useTempStore } from './support/temp-store.js';

/** One unlink of the file named `failOnce.name` fails (EBUSY), as a scanner or backup agent holding it would make it. */
const failOnce: { name?: string } = {};
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof nodeFileSystem>();
  const unlink = async (path: string) => {
    if (failOnce.name && String(path).endsWith(failOnce.name)) {
      failOnce.name = undefined;
      throw Object.assign(new Error(`EBUSY: unlink '${path}'`), { code: 'EBUSY' });
    }
    return real.unlink(path);
  };
  return { ...real, unlink, writeSync: undefined, default: { ...real, unlink } };
});

const tempStore = useTempStore('segments');
let root: string;
beforeEach(() => ({ root } = tempStore()));

// A segment of memories appended while one erase purged is written out as holding nothing that purge
// erases, but gets index/save.lock (held by another process, say) only while the next erase purges: by
// then it holds a memory deleted before that erase, which must wait for it to go.
it('an erase watches a segment written out for an earlier erase that got the save lock only during this one, and says erased only once it is gone', async () => {
  const provider = segmentSearch({ flushAfter: 4 }) as SegmentSearchProvider;
  const fs = await MemMapFS.init(root, { search: provider, codec: msgpack(), autoCompaction: false });
  for (let i = 0; i < 3; i++) await fs.appendMemory(`an ordinary memory ${i}`);
  await fs.queryMemory('memory');
  type Inside = { seal(): void; writeNext(): Promise<void>; merge(...a: unknown[]): Promise<unknown> };
  type Index = { writeUnlessPurged(...a: [number, string, () => Promise<void>, () => Promise<void>, boolean]): Promise<boolean>; underSaveLock<T>(body: () => Promise<T>): Promise<T> };
  const inside = provider as unknown as Inside;
  const index = (fs as unknown as { engine: { index: Index } }).engine.index;
  let purges = 0, purging = false, seals = 0, delayNextLock = false, staleId: number | undefined, staleFile: string | undefined;
  let letGo!: () => void, asked!: () => void;
  const lockHeld = new Promise<void>((resolve) => (letGo = resolve));
  const staleAsked = new Promise<void>((resolve) => (asked = resolve));
  // Another process holds index/save.lock: the stale write-out's wait for it (shared) lasts until the next erase purges.
  const underSaveLock = index.underSaveLock.bind(index);
  index.underSaveLock = async (body) => {
    if (delayNextLock) (delayNextLock = false), await lockHeld;
    return underSaveLock(body);
  };
  const writeUnlessPurged = index.writeUnlessPurged.bind(index);
  index.writeUnlessPurged = (open, file, create, write, sincePurge) => {
    if (purges === 1 && purging && sincePurge && staleId !== undefined && !staleFile) (staleFile = file), (delayNextLock = true), asked();
    return writeUnlessPurged(open, file, create, write, sincePurge);
  };
  const saveIndex = provider.saveIndex.bind(provider);
  provider.saveIndex = async (options) => {
    purging = options?.purge === true;
    if (purging && ++purges === 2) letGo();
    seals = 0;
    try { return await saveIndex(options); } finally { purging = false; }
  };
  const seal = inside.seal.bind(provider);
  inside.seal = () => (seal(), purging && seals++, undefined);
  // (Memories written while the first purge merges: its description's last segment, written by its last loop.)
  const merge = inside.merge.bind(provider);
  let amid = false;
  inside.merge = async (...args) => {
    if (purges === 1 && purging && !amid) {
      amid = true;
      for (let i = 0; i < 2; i++) await fs.appendMemory(`written amid the merge ${i}`);
      await fs.queryMemory('amid');
    }
    return merge(...args);
  };
  // At the first purge's last loop: a memory written then fills a segment sealed after the description's,
  // whose write-out starts (sincePurge) while that purge still runs.
  const writeNext = inside.writeNext.bind(provider);
  let hooked = false;
  inside.writeNext = async () => {
    if (!(purges === 1 && purging && seals === 2 && !hooked)) return writeNext();
    hooked = true;
    const done = writeNext();
    staleId = await fs.appendMemory('my password is hunter2stalelock');
    for (let i = 0; i < 3; i++) await fs.appendMemory(`filler ${i}`);
    void fs.queryMemory('hunter2stalelock');
    await done;
    await staleAsked;
  };
  expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
  expect(staleFile).toBeDefined();
  await fs.deleteMemory(staleId!);
  failOnce.name = staleFile;
  const second = await fs.compact({ erase: true });
  const holds = await readFile(join(root, 'index', 'segments', staleFile!)).then((bytes) => bytes.includes('hunter2stalelock'), () => false);
  // The promise: erased: true only if the deleted memory's words are in no file of the store.
  // (Its first removal fails: the erase removes it again as it waits, or says it is not done.)
  expect({ erased: second.erased, holds }).not.toEqual({ erased: true, holds: true });
  await fs.close();
}, 60_000);
