// A chunk file's fdatasync that fails (EIO) may have lost the pages it was to write: Linux reports a
// writeback error once, marks the pages clean, and a later fsync of the file returns 0. What was written
// since the last fsync that succeeded is then never taken for durable: no close resolves as if it were,
// and no checkpoint retires the copies of its blocks that the log holds.
import { spawnSync } from 'node:child_process';
import * as nodeFileSystem from 'node:fs/promises';
import { mkdtemp, open as openFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { supportScriptArgs } from './support/hold-writer.js';

let dir: string;
let root: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-chunk-fsync-'));
  root = join(dir, 'store');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** node:fs/promises where, once `armed`, the next fdatasync of a chunk file fails with EIO (that one alone; with `always`, every one). */
function chunkSyncFailsOnce(always = false) {
  const state = { armed: false, failed: 0 };
  const files = {
    ...nodeFileSystem,
    open: (async (...args: Parameters<typeof nodeFileSystem.open>) => {
      const handle = await nodeFileSystem.open(...args);
      if (!/^chunk_\d+\.bin$/.test(basename(String(args[0])))) return handle;
      const datasync = handle.datasync.bind(handle);
      handle.datasync = async () => {
        if (state.armed) {
          state.armed = always;
          state.failed++;
          throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        }
        return datasync();
      };
      return handle;
    }) as typeof nodeFileSystem.open,
  };
  return { state, files };
}

/**
 * node:fs/promises where, once armed, the first fdatasync through a chunk file opened from then on for
 * reading, or for writing its blocks again (another store's chunk, in a checkpoint), fails with EIO.
 */
function othersChunkSyncFailsOnce(armed = true): { files: typeof nodeFileSystem; arm: () => void } {
  let failOthers = true;
  const files = {
    ...nodeFileSystem,
    open: (async (...args: Parameters<typeof nodeFileSystem.open>) => {
      const handle = await nodeFileSystem.open(...args);
      if (!armed || !/^chunk_\d+\.bin$/.test(basename(String(args[0]))) || (args[1] !== 'r' && args[1] !== 'r+')) return handle;
      const datasync = handle.datasync.bind(handle);
      handle.datasync = async () => {
        if (!failOthers) return datasync();
        failOthers = false;
        throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      };
      return handle;
    }) as typeof nodeFileSystem.open,
  };
  return { files, arm: () => (armed = true) };
}

it("under 'none', close() rejects when its fsync of a chunk fails: the close is where its writes were to become durable", async () => {
  const { state, files } = chunkSyncFailsOnce();
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), durability: 'none', fileSystem: files });
  // (A large block has no copy in its record; a small one has, which the close would retire.)
  await fs.appendMemory(`large ${'L'.repeat(100 * 1024)}`);
  await fs.appendMemory('small one');
  state.armed = true;
  await expect(fs.close()).rejects.toMatchObject({ code: 'IO_ERROR' });
  expect(state.failed).toBe(1);
});

it('after a chunk fsync failed, no checkpoint retires the copies of the blocks it may have lost: the next open puts them back', async () => {
  const { state, files } = chunkSyncFailsOnce();
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), fileSystem: files });
  // (Enough changes that the close writes a checkpoint of the tables, which fsyncs every chunk file.)
  const ids = await fs.appendMemories(Array.from({ length: 1100 }, (_, i) => ({ text: `memory number ${i} ${'m'.repeat(200)}` })));
  state.armed = true;
  await fs.close().catch(() => undefined);
  expect(state.failed).toBe(1);
  // What the failed fdatasync leaves after a power loss: the chunk's pages lost.
  const blocks = join(root, 'blocks');
  for (const name of await readdir(blocks)) {
    if (/^chunk_\d+\.bin$/.test(name)) await writeFile(join(blocks, name), Buffer.alloc((await stat(join(blocks, name))).size));
  }
  const again = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
  try {
    expect((await again.getMemory(ids[0]!))?.text).toBe(`memory number 0 ${'m'.repeat(200)}`);
    expect((await again.getMemory(ids.at(-1)!))?.text).toBe(`memory number 1099 ${'m'.repeat(200)}`);
  } finally {
    await again.close();
  }
});

it("a failed fsync of another store's chunk fails this store's checkpoints from then on, not its own writes", async () => {
  const owner = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
  await owner.appendMemory(`the owner's chunk ${'o'.repeat(100 * 1024)}`);
  // (Through descriptors it opens for reading alone: the fsync of a chunk another store writes.)
  const { files, arm } = othersChunkSyncFailsOnce(false);
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), fileSystem: files });
  const id = await fs.appendMemory(`this store's own ${'s'.repeat(100 * 1024)}`);
  arm();
  await expect(fs.checkpoint()).rejects.toMatchObject({ code: 'IO_ERROR' });
  // (Its own chunk's fsync is sound: its writes go on, large ones included.)
  const next = await fs.appendMemory(`and another ${'a'.repeat(100 * 1024)}`);
  expect((await fs.getMemory(next))?.text.startsWith('and another')).toBe(true);
  // (A later fsync of the other chunk would succeed: not taken for one that reached the disk.)
  await expect(fs.checkpoint()).rejects.toMatchObject({ code: 'IO_ERROR' });
  await fs.close().catch(() => undefined);
  await owner.close();
  const again = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
  expect((await again.getMemory(id))?.text.startsWith("this store's own")).toBe(true);
  await again.close();
});

it.each([true, false])("a dead store's chunk whose fsync failed here is never taken up to write in, so that no checkpoint record of this store covers it (a write after the failure: %s)", async (writeAfter) => {
  // Another process appends small memories to chunk_0000 and is killed: nothing fsynced it.
  const run = spawnSync(process.execPath, supportScriptArgs('append-then-die.ts', root), { encoding: 'utf8' });
  expect(run.signal, run.stderr).toBe('SIGKILL');
  const deadIds = JSON.parse(run.stdout) as number[];
  const chunk = join(root, 'blocks', 'chunk_0000.bin');
  const deadEnd = (await stat(chunk)).size;
  // This store's fsync of that chunk, through a descriptor it opened for reading (a checkpoint), fails once.
  const { files } = othersChunkSyncFailsOnce();
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), fileSystem: files });
  await expect(fs.checkpoint()).rejects.toMatchObject({ code: 'IO_ERROR' });
  // (A write of its own: it took up chunk_0000, the dead owner's lock gone, and its close's checkpoint
  // record, whose fsync of the chunk now succeeds, named it.)
  if (writeAfter) await fs.appendMemory('this store, after the failure');
  await fs.close().catch(() => undefined);
  // A power loss: what the failed fsync was to write never reached the disk.
  const handle = await openFile(chunk, 'r+');
  await handle.write(Buffer.alloc(deadEnd), 0, deadEnd, 0);
  await handle.close();
  const again = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
  try {
    for (const [i, id] of deadIds.entries()) expect((await again.getMemory(id))?.text).toBe(`dead owner's memory ${i} ${'d'.repeat(300)}`);
  } finally {
    await again.close();
  }
});

it.each([false, true])('a close whose record names the chunks it fsynced leaves out one holding a block that no longer reads whole: the next open puts it back (a checkpoint of the tables refused first: %s)', async (tablesFirst) => {
  const textOf = (i: number) => `memory ${i} ${'m'.repeat(300)}`;
  const { state, files } = chunkSyncFailsOnce(true);
  const first = await MemMapFS.init(root, { codec: msgpack(), fileSystem: files });
  const ids = await first.appendMemories(Array.from({ length: 5 }, (_, i) => ({ text: textOf(i) })));
  const lost = (first as unknown as { engine: { memories: { get(id: number): { ref: { chunk: number; offset: number; length: number } } } } }).engine.memories.get(ids[2]!).ref;
  state.armed = true;
  await expect(first.close()).rejects.toMatchObject({ code: 'IO_ERROR' });
  const again = await MemMapFS.init(root, { codec: msgpack() });
  // The page the failed fsync lost, dropped from memory since: it reads back stale from the disk.
  const file = await openFile(join(root, 'blocks', `chunk_${String(lost.chunk).padStart(4, '0')}.bin`), 'r+');
  await file.write(Buffer.alloc(lost.length), 0, lost.length, lost.offset);
  await file.close();
  // (It takes the chunk up: the first store is gone, and the chunk has room.)
  await again.appendMemory('after the reopen');
  if (tablesFirst) await expect(again.checkpoint()).rejects.toMatchObject({ code: 'BLOCK_MISSING' });
  await again.close();
  const last = await MemMapFS.init(root, { codec: msgpack() });
  try {
    for (const [i, id] of ids.entries()) expect((await last.getMemory(id))?.text, `memory ${id}`).toBe(textOf(i));
  } finally {
    await last.close();
  }
});
