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
  const state = disk.crashState(() => 0.99);
  const image = join(dir, 'image');
  for (const folder of state.folders) await mkdir(join(image, folder), { recursive: true });
  for (const [name, bytes] of state.files) await writeFile(join(image, name), bytes);
  const fs = await MemMapFS.init(image, { codec: msgpack() });
  try {
    for (const [i, id] of ids.entries()) expect((await fs.getMemory(id))?.text, `memory ${id}`).toBe(textOf(i));
  } finally {
    await fs.close();
  }
}

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
