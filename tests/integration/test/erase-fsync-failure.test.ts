import * as nodeFileSystem from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { segmentSearch } from '@memmapfs/search-segments';
import { secretInSavedIndex } from './support/secret-in-index.js';
import { useTempStore } from './support/temp-store.js';

/**
 * While `state.failing`, every fsync of a folder named `segments` that follows an unlink in it fails with
 * EIO (as a disk error would), for every module importing node:fs/promises (the provider and core alike).
 */
const state = { failing: false, unlinkedSinceSync: new Set<string>(), failed: [] as string[] };
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof nodeFileSystem>();
  const { dirname, basename } = await import('node:path');
  const unlink = async (path: string) => {
    await real.unlink(path);
    state.unlinkedSinceSync.add(dirname(String(path)));
  };
  const open = async (path: string, flags?: string, mode?: number) => {
    const handle = await real.open(path, flags, mode);
    const folder = String(path);
    if (basename(folder) === 'segments') {
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        if (state.failing && state.unlinkedSinceSync.has(folder)) {
          state.failed.push(folder);
          throw Object.assign(new Error(`EIO: i/o error, fsync '${folder}'`), { code: 'EIO' });
        }
        await sync();
        state.unlinkedSinceSync.delete(folder);
      };
    }
    return handle;
  };
  return { ...real, unlink, open, writeSync: undefined, default: { ...real, unlink, open } };
});

const tempStore = useTempStore('erase-fsync-failure');
let root: string;
beforeEach(() => {
  ({ root } = tempStore());
  state.failing = false;
  state.failed = [];
  state.unlinkedSinceSync.clear();
});

/**
 * The report of `compact({ erase: true })` through `fs` (closed after, unless not to `close`) while
 * the fsyncs of `state` fail; that one of them failed is checked.
 */
async function erasedWhileFolderSyncsFail(fs: MemMapFS, close = true) {
  state.failing = true;
  const report = await fs.compact({ erase: true });
  state.failing = false;
  if (close) await fs.close();
  expect(state.failed.length).toBeGreaterThan(0);
  return { erased: report.erased, indexFilesLeft: report.indexFilesLeft };
}

describe('compact({ erase: true }) whose removals cannot be made durable', () => {
  it('with the segments provider, reports erased: false when the fsync of index/segments after the purge\'s removals fails', async () => {
    const { fs: before, secret } = await secretInSavedIndex(root);
    await before.close();
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 16, mergeFactor: 3 }), codec: msgpack() });
    await fs.queryMemory('note');
    await fs.deleteMemory(secret);
    // (A power loss could bring back the files holding the erased words: the erase says it is not done.)
    expect(await erasedWhileFolderSyncsFail(fs)).toEqual({ erased: false, indexFilesLeft: expect.any(Number) });
  });

  it('with FlexSearch over a segments index saved before, reports erased: false when the fsync of index/segments after their removal fails', async () => {
    const { fs: before, secret } = await secretInSavedIndex(root);
    await before.close();
    const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
    await fs.deleteMemory(secret);
    expect(await erasedWhileFolderSyncsFail(fs)).toEqual({ erased: false, indexFilesLeft: expect.any(Number) });
  });
  it('makes the removals of an earlier erase whose fsync failed durable before it reports erased: true', async () => {
    const { fs: before, secret } = await secretInSavedIndex(root);
    await before.close();
    const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
    await fs.deleteMemory(secret);
    expect(await erasedWhileFolderSyncsFail(fs, false)).toEqual({ erased: false, indexFilesLeft: expect.any(Number) });
    const segments = join(root, 'index', 'segments');
    expect(state.unlinkedSinceSync.has(segments)).toBe(true);
    expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
    expect(state.unlinkedSinceSync.has(segments)).toBe(false);
    await fs.close();
  });
});
