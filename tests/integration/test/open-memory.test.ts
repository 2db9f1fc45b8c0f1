import { execFileSync } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeEach, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { useTempStore } from './support/temp-store.js';

const measure = fileURLToPath(new URL('./support/open-and-measure.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const tempStore = useTempStore('open-memory');

/** Runs a measuring script in a fresh process (with --expose-gc) and returns the JSON of its last line. */
function runMeasured(script: string, args: string[]): Record<string, number> {
  const output = execFileSync(process.execPath, ['--expose-gc', '--conditions=dev-source', '--import', tsx, script, ...args], { encoding: 'utf8' });
  return JSON.parse(output.trim().split('\n').at(-1)!) as Record<string, number>;
}

/**
 * Opens the store in a fresh process and expects it to hold under a quarter of the log's bytes in
 * ArrayBuffers. The checkpoint is removed first: the open replays the whole log, which it must do
 * without keeping it.
 */
async function expectOpenHoldsLittle(walBytes: number, codec?: 'views'): Promise<void> {
  await rm(join(root, 'checkpoints'), { recursive: true, force: true });
  await rm(join(root, 'state.manifest'), { force: true });
  const { arrayBuffers } = runMeasured(measure, codec ? [root, codec] : [root]);
  expect(arrayBuffers, `${arrayBuffers} bytes in ArrayBuffers after opening a ${walBytes}-byte log`).toBeLessThan(walBytes / 4);
}
let root: string;
beforeEach(() => {
  ({ root } = tempStore());
});

it('does not hold the log in memory once it is open', async () => {
  // 12 MB of log, almost all of it block copies of stream chunks that no table keeps.
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), durability: 'none' });
  const chunk = 'transcript line '.repeat(256);
  for (let i = 0; i < 3000; i++) await fs.appendStream(`log-${i % 10}`, chunk);
  await fs.appendMemory('one memory among the streams');
  await fs.close();
  const walBytes = (await stat(join(root, 'state.wal'))).size;
  expect(walBytes).toBeGreaterThan(10_000_000);
  await expectOpenHoldsLittle(walBytes);
}, 120_000);

it('keeps the memories of a checkpoint in its file, not in the heap, after an open', async () => {
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), durability: 'none' });
  for (let i = 0; i < 20; i++) {
    await fs.appendMemories(Array.from({ length: 1000 }, (_, j) => ({ text: `memory ${i}-${j}`, tags: ['work', `t${j % 7}`], meta: { source: 'chat', turn: j } })));
  }
  await fs.close();
  const fromCheckpoint = runMeasured(measure, [root]);
  const emptyRoot = join(tempStore().dir, 'empty');
  await (await MemMapFS.init(emptyRoot, { search: flexsearch(), codec: msgpack() })).close();
  const empty = runMeasured(measure, [emptyRoot]);
  // 20,000 memories as objects take about 10 MB of heap; read in place from their rows, next to none.
  expect(fromCheckpoint.heapUsed! - empty.heapUsed!, `heap after an open of 20,000 memories ${fromCheckpoint.heapUsed}, of none ${empty.heapUsed}`).toBeLessThan(2_000_000);
}, 120_000);

it('hands out stream views whose whole backing buffer is readable (no mapping past the end of a chunk file)', () => {
  const script = fileURLToPath(new URL('./support/touch-stream-views.ts', import.meta.url));
  const output = execFileSync(process.execPath, ['--conditions=dev-source', '--import', tsx, script, root], { encoding: 'utf8' });
  expect(output.trim()).toBe('ok');
});

it('keeps no window of the log alive through binary values in meta, even with a codec that decodes views', async () => {
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack({ copyBinary: false }), durability: 'none' });
  for (let i = 0; i < 40; i++) {
    await fs.appendMemory(`memory ${i} with a binary in its meta`, [], { meta: { mark: new Uint8Array([i]) } });
    await fs.setKv(`padding-${i % 4}`, new Uint8Array(256 * 1024).fill(i));
  }
  await fs.close();
  const walBytes = (await stat(join(root, 'state.wal'))).size;
  expect(walBytes).toBeGreaterThan(10_000_000);
  await expectOpenHoldsLittle(walBytes, 'views');
}, 120_000);

it('keeps each small KV value in bytes of its own after an open, even with a codec that decodes views', async () => {
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack({ copyBinary: false }), durability: 'none' });
  // Each small value between records of 2 KiB: read back, the value would share 8 KiB of memory with them.
  // (Their text makes them so: the tables keep only where it lies, not a copy, as they would of a meta.)
  for (let i = 0; i < 2000; i++) {
    await fs.setKv(`key-${i}`, new Uint8Array(8).fill(i % 256));
    await fs.appendMemories(Array.from({ length: 4 }, (_, j) => ({ text: `filler ${i} ${j} ${'x'.repeat(2048)}` })));
  }
  await fs.close();
  const walBytes = (await stat(join(root, 'state.wal'))).size;
  expect(walBytes).toBeGreaterThan(16_000_000);
  await expectOpenHoldsLittle(walBytes, 'views');
}, 120_000);

it("keeps no read of the log alive through another process's records, even with a codec that decodes views", () => {
  const script = fileURLToPath(new URL('./support/follow-and-measure.ts', import.meta.url));
  const { arrayBuffers, logBytes } = runMeasured(script, [root]) as { arrayBuffers: number; logBytes: number };
  expect(logBytes).toBeGreaterThan(10_000_000);
  // (The writer, closed, shared the process: what it leaves behind makes the bound looser than at an open.)
  expect(arrayBuffers, `${arrayBuffers} bytes in ArrayBuffers after following a ${logBytes}-byte log`).toBeLessThan(logBytes / 2);
}, 120_000);

it('hands out versions from memoryHistory whose binaries keep no window of the log, even with a codec that decodes views', async () => {
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack({ copyBinary: false }), durability: 'none' });
  const id = await fs.appendMemory('a memory with a binary in its meta', [], { meta: { mark: new Uint8Array([0]) } });
  for (let i = 1; i <= 5; i++) {
    await fs.setKv('padding', new Uint8Array(256 * 1024).fill(i));
    await fs.updateMemory(id, { meta: { mark: new Uint8Array([i]) } });
  }
  const versions = await fs.memoryHistory(id);
  expect(versions).toHaveLength(6);
  for (const [i, version] of versions.entries()) {
    const mark = version.memory!.meta.mark as Uint8Array;
    expect([...mark]).toEqual([i]);
    expect(mark.buffer.byteLength, `version ${i}'s binary keeps ${mark.buffer.byteLength} bytes alive`).toBeLessThan(64 * 1024);
  }
  await fs.close();
});

/**
 * Writes memories (a checkpoint on close, a chunk file, index segments: each read through a mapping),
 * then runs support/list-mappings.ts MODE on the store in a fresh process: the store's files it maps
 * before and after.
 */
async function mappingsAround(mode: 'close' | 'checkpoint' | 'compact' | 'published'): Promise<{ before: string[]; after: string[] }> {
  const fs = await MemMapFS.init(root, { durability: 'none' });
  const ids = await fs.appendMemories(Array.from({ length: 2000 }, (_, i) => ({ text: `memory ${i} about the project`, tags: ['work'], meta: { turn: i } })));
  await fs.close();
  const script = fileURLToPath(new URL('./support/list-mappings.ts', import.meta.url));
  return runMeasured(script, [mode, root, String(ids[1234])]) as unknown as { before: string[]; after: string[] };
}

it.runIf(process.platform === 'linux')('maps none of its files once it is closed and its mappings are collected, though its handle is kept', async () => {
  const { before, after } = await mappingsAround('close');
  expect(before.some((path) => path.includes('/checkpoints/')), `mapped while open: ${before.join(', ')}`).toBe(true);
  expect(before.some((path) => path.includes('/blocks/')), `mapped while open: ${before.join(', ')}`).toBe(true);
  expect(after, 'files still mapped after the close').toEqual([]);
}, 120_000);

it.runIf(process.platform === 'linux')('lets go of the checkpoint it opened from once a newer one replaced it, while it stays open', async () => {
  const { before, after } = await mappingsAround('checkpoint');
  const opened = before.filter((path) => path.includes('/checkpoints/'));
  expect(opened, `mapped before: ${before.join(', ')}`).toHaveLength(1);
  // Removed from the folder, its disk space is given back only once no process maps it.
  expect(after.filter((path) => path.startsWith(opened[0]!)), `mapped after: ${after.join(', ')}`).toEqual([]);
  expect(after.some((path) => path.includes('/checkpoints/') && !path.endsWith('(deleted)')), `mapped after: ${after.join(', ')}`).toBe(true);
}, 120_000);

it.runIf(process.platform === 'linux')('maps none of the chunk files and index segments a compaction removed, in the handle that compacted nor in another', async () => {
  const { before, after } = await mappingsAround('compact');
  const chunks = before.filter((path) => path.includes('/blocks/'));
  expect(chunks, `mapped before: ${before.join(', ')}`).not.toEqual([]);
  // Removed files show as "PATH (deleted)" while anything maps them: their disk space is not back until then.
  // (The checkpoint the other handle opened from, removed too, included: it reads the compaction's instead.)
  expect(after.filter((path) => path.endsWith('(deleted)')), `mapped after: ${after.join(', ')}`).toEqual([]);
  for (const chunk of chunks) expect(after, `mapped after: ${after.join(', ')}`).not.toContain(chunk);
}, 120_000);

it.runIf(process.platform === 'linux')('lets go of the checkpoint it opened from once another handle published a newer one, reading nothing meanwhile', async () => {
  const { before, after } = await mappingsAround('published');
  const opened = before.filter((path) => path.includes('/checkpoints/'));
  expect(opened, `mapped before: ${before.join(', ')}`).toHaveLength(1);
  expect(after.filter((path) => path.startsWith(opened[0]!)), `mapped after: ${after.join(', ')}`).toEqual([]);
  expect(after.filter((path) => path.endsWith('(deleted)')), `mapped after: ${after.join(', ')}`).toEqual([]);
  // (Both handles read the other's checkpoint now: the first takes it in place of its own.)
  expect(after.filter((path) => path.includes('/checkpoints/')), `mapped after: ${after.join(', ')}`).toHaveLength(1);
}, 120_000);
