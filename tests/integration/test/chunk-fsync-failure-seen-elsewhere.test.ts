// A chunk file's fsync that fails loses the pages it was to write, though they still read back from
// memory and a later fsync of the file (by any process, through any descriptor) succeeds. The process
// that saw the failure latches it; these are the stores that did not see it: the same store opened again
// in the same boot, another process with the store open, one that takes the chunk over. None may take
// the lost blocks for durable and retire the copies the log holds of them. Modelled on a disk
// (`PowerLossFileSystem`): its failed fsync drops the pages, and a power loss at the end keeps only
// what reached the disk.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { PowerLossFileSystem } from './support/power-loss-file-system.js';

let dir: string;
let live: string;
let disk: PowerLossFileSystem;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-fsync-elsewhere-'));
  live = join(dir, 'live');
  disk = new PowerLossFileSystem(live);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const textOf = (i: number) => `memory ${i} written before the failed fsync ${'m'.repeat(200)}`;
const open = () => MemMapFS.init(live, { codec: msgpack(), fileSystem: disk });

/** Small memories (each with a copy in its record), then a failed fsync of their chunk file. */
async function writeThenFailSync(fs: MemMapFS, fail: (fs: MemMapFS) => Promise<unknown>): Promise<number[]> {
  const ids = await fs.appendMemories(Array.from({ length: 20 }, (_, i) => ({ text: textOf(i) })));
  disk.failSyncOf = (path) => /^chunk_\d+\.bin$/.test(basename(path));
  await expect(fail(fs)).rejects.toMatchObject({ code: 'IO_ERROR' });
  expect(disk.failedSyncs).toBe(1);
  return ids;
}

/** A power loss now (every page not fsynced lost), then an open of what is left: every memory of `ids` reads back whole. */
async function expectAfterPowerLoss(ids: readonly number[]): Promise<void> {
  await expectTextsAfterPowerLoss(new Map(ids.map((id, i) => [id, textOf(i)])));
}

/** A power loss now, then an open of what is left: each memory of `expected` reads back as it says. */
async function expectTextsAfterPowerLoss(expected: ReadonlyMap<number, string>): Promise<void> {
  const state = disk.crashState(() => 0.99);
  const image = join(dir, 'image');
  for (const folder of state.folders) await mkdir(join(image, folder), { recursive: true });
  for (const [name, bytes] of state.files) await writeFile(join(image, name), bytes);
  const fs = await MemMapFS.init(image, { codec: msgpack() });
  try {
    for (const [id, text] of expected) expect((await fs.getMemory(id))?.text, `memory ${id}`).toBe(text);
  } finally {
    await fs.close();
  }
}

type Ref = { chunk: number; offset: number; length: number };
type Engine = { blocks: { seal(): Promise<void>; ownedChunks(): number[] }; checkpoint(): Promise<void>; memories: { get(id: number): { ref: Ref } } };
const engineOf = (fs: MemMapFS) => (fs as unknown as { engine: Engine }).engine;

it('a reopen in the same boot, whose close records its chunks as fsynced, retires no copy of a block the failed fsync lost', async () => {
  const first = await open();
  const ids = await writeThenFailSync(first, (fs) => fs.close());
  const again = await open();
  // (It takes the chunk up, the first store's lock gone, and its close's record names it.)
  await again.appendMemory('after the reopen');
  await again.close();
  await expectAfterPowerLoss(ids);
});

it('a reopen in the same boot, whose checkpoint of the tables fsyncs every chunk file, retires no copy of a block the failed fsync lost', async () => {
  const first = await open();
  const ids = await writeThenFailSync(first, (fs) => fs.close());
  const again = await open();
  await again.checkpoint();
  await again.close();
  await expectAfterPowerLoss(ids);
});

it("another store's checkpoint, while the store that saw the failure is open, retires no copy of a block the failed fsync lost", async () => {
  const writer = await open();
  const other = await open();
  const ids = await writeThenFailSync(writer, (fs) => fs.checkpoint());
  await other.checkpoint();
  await other.close();
  await writer.close().catch(() => undefined);
  await expectAfterPowerLoss(ids);
});

it.each([true, false])('a chunk sealed while the record of fsynced chunks writes its blocks again: every block is written again all the same (sealed meanwhile: %s)', async (seal) => {
  const first = await open();
  const expected = new Map<number, string>();
  const small = (i: number) => `small memory ${i} ${'s'.repeat(200)}`;
  expected.set(await first.appendMemory(small(0)), small(0));
  // (No copy in its record, and fsynced before its record: it splits the copied blocks into two runs.)
  const large = `large memory ${'l'.repeat(100 * 1024)}`;
  expected.set(await first.appendMemory(large), large);
  for (let i = 1; i <= 60; i++) expected.set(await first.appendMemory(small(i)), small(i));
  disk.failSyncOf = (path) => /^chunk_\d+\.bin$/.test(basename(path));
  await expect(first.close()).rejects.toMatchObject({ code: 'IO_ERROR' });
  expect(disk.failedSyncs).toBe(1);
  const again = await open();
  // (It takes chunk 0 up, the first store gone.)
  await again.appendMemory('after the reopen');
  const engine = engineOf(again);
  expect(engine.blocks.ownedChunks()).toEqual([0]);
  // A seal under way (a compaction's, or one another process's erase asks for) as the record is written.
  const sealing = seal ? engine.blocks.seal() : Promise.resolve();
  await engine.checkpoint();
  await sealing;
  await again.close();
  await expectTextsAfterPowerLoss(expected);
});

/** The disk, where the next synchronous write to a chunk file, once armed, fails with ENOSPC. */
function chunkWriteFailsOnce() {
  const state = { armed: false };
  const chunkFds = new Set<number>();
  const files = {
    ...disk,
    open: (async (...args: Parameters<typeof disk.open>) => {
      const handle = await disk.open(...args);
      if (/^chunk_\d+\.bin$/.test(basename(String(args[0])))) chunkFds.add(handle.fd);
      return handle;
    }) as typeof disk.open,
    writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => {
      if (state.armed && chunkFds.has(fd)) {
        state.armed = false;
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      return disk.writeSync(fd, buffer, offset, length, position);
    },
  };
  return { state, files };
}

it.each([true, false])("a store's checkpoint writes again the blocks another store wrote where its own failed write left the chunk short (a write failed: %s)", async (failWrite) => {
  const { state, files } = chunkWriteFailsOnce();
  const store = await MemMapFS.init(live, { codec: msgpack(), fileSystem: files });
  await store.appendMemory('the first memory, in chunk 0');
  // A write that fails (disk full): its block was placed, and the chunk's tail moved past the file's end.
  if (failWrite) {
    state.armed = true;
    await expect(store.appendMemory(`a memory whose write fails ${'f'.repeat(16 * 1024)}`)).rejects.toMatchObject({ code: 'IO_ERROR' });
  }
  // (A compaction seals, and lets go of, every chunk this store appends to.)
  await store.compact();
  expect(engineOf(store).blocks.ownedChunks()).toEqual([]);
  // Another store takes chunk 0 up at the file's size and writes there; its fsync fails.
  const other = await open();
  const texts = Array.from({ length: 20 }, (_, i) => `another store's memory ${i} ${'o'.repeat(200)}`);
  const ids = await other.appendMemories(texts.map((text) => ({ text })));
  expect(engineOf(other).memories.get(ids[0]!).ref.chunk).toBe(0);
  disk.failSyncOf = (path) => /^chunk_\d+\.bin$/.test(basename(path));
  await expect(other.checkpoint()).rejects.toMatchObject({ code: 'IO_ERROR' });
  expect(disk.failedSyncs).toBe(1);
  // The first store's checkpoint of the tables covers them.
  for (const id of ids) expect((await store.getMemory(id))?.text).toBeDefined();
  await store.checkpoint();
  await store.close();
  await other.close().catch(() => undefined);
  await expectTextsAfterPowerLoss(new Map(ids.map((id, i) => [id, texts[i]!])));
});
