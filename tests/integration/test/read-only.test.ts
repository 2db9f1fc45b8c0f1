import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import * as nodeFileSystem from 'node:fs/promises';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { MemMapFS, MemMapError, type AgentState } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { segmentSearch } from '@memmapfs/search-segments';
import { HeadFile, newLogId } from '@memmapfs/wal';
import { useTempStore } from './support/temp-store.js';

const tempStore = useTempStore('readonly');
let dir: string;
let root: string;
beforeEach(() => {
  ({ dir, root } = tempStore());
});

const worker = fileURLToPath(new URL('./support/store-worker.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const open = (at = root, readOnly = false) => MemMapFS.init(at, { search: flexsearch(), codec: msgpack(), ...(readOnly ? { readOnly } : {}) });

/** Every file below `folder`: its size, modification time and a hash of its bytes. */
async function snapshotTree(folder: string): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  for (const entry of await readdir(folder, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    const info = await stat(path);
    tree[path.slice(folder.length)] = entry.isFile() ? `${info.size} ${info.mtimeMs} ${createHash('sha256').update(await readFile(path)).digest('hex')}` : `dir ${info.mtimeMs}`;
  }
  return tree;
}

/** `root` mounted read-only at a folder of `dir` (a bind mount); the test skips where that cannot be done (no root, no mount(8)). */
async function readOnlyMount(context: TestContext): Promise<string> {
  const mount = join(dir, 'mounted');
  await mkdir(mount);
  try {
    execFileSync('mount', ['--bind', root, mount], { stdio: 'pipe' });
    execFileSync('mount', ['-o', 'remount,bind,ro', mount], { stdio: 'pipe' });
  } catch (error) {
    try { execFileSync('umount', [mount], { stdio: 'pipe' }); } catch { /* not mounted */ }
    console.warn(`Skipped: a read-only bind mount needs root and mount(8) here (${(error as Error).message.split('\n')[0]}).`);
    context.skip();
  }
  return mount;
}

async function seed(): Promise<number> {
  const fs = await open();
  const id = await fs.appendMemory('the user likes tea', ['pref'], { meta: { source: 'chat' } });
  await fs.setKv('mode', { dark: true });
  await fs.appendStream('transcript', 'hello ');
  await fs.updateState({ status: 'seeded', activeMemoryCount: 1, lastUpdatedId: id, extra: {} });
  await fs.close();
  return id;
}

async function expectReadsAndRefusedWrites(fs: MemMapFS, id: number): Promise<void> {
  expect((await fs.getMemory(id))?.text).toBe('the user likes tea');
  expect((await fs.queryMemory('tea')).map((h) => h.id)).toEqual([id]);
  expect(fs.getKv('mode')).toEqual({ dark: true });
  expect(fs.getState().status).toBe('seeded');
  const chunks: string[] = [];
  for await (const chunk of fs.openRead('transcript')) chunks.push(Buffer.from(chunk).toString());
  expect(chunks).toEqual(['hello ']);
  expect(fs.stats().memories).toBe(1);
  const writes: Array<() => Promise<unknown>> = [
    () => fs.appendMemory('no'),
    () => fs.appendMemories([{ text: 'no' }]),
    () => fs.updateMemory(id, { text: 'no' }),
    () => fs.deleteMemory(id),
    () => fs.updateState({ status: 'no', activeMemoryCount: 0, lastUpdatedId: 0, extra: {} }),
    () => fs.setKv('k', 1),
    () => fs.deleteKv('mode'),
    () => fs.appendStream('transcript', 'no'),
  ];
  for (const write of writes) await expect(write()).rejects.toMatchObject({ code: 'READ_ONLY' });
}

describe('readOnly', () => {
  it('opens without writing anything (no lock file, no recovery writes), reads everything, and refuses writes', async () => {
    const id = await seed();
    // No commit marker and no lock file: a read-only open must not create them.
    await rm(join(root, 'state.head'));
    await rm(join(root, 'index'), { recursive: true });
    const before = await snapshotTree(root);
    const fs = await open(root, true);
    await expectReadsAndRefusedWrites(fs, id);
    await fs.flush();
    await fs.close();
    expect(await snapshotTree(root)).toEqual(before);
  });

  it('refuses a missing store instead of creating one', async () => {
    await expect(open(join(dir, 'nothing-here'), true)).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
    await expect(stat(join(dir, 'nothing-here'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('follows what other processes write', async () => {
    const id = await seed();
    const reader = await open(root, true);
    const writer = await open();
    const states: string[] = [];
    const off = reader.subscribeState((state: AgentState) => states.push(state.status));
    const next = await writer.appendMemory('written after the reader opened');
    await writer.updateState({ status: 'moved on', activeMemoryCount: 2, lastUpdatedId: next, extra: {} });
    expect((await reader.getMemory(next))?.text).toBe('written after the reader opened');
    expect(reader.getState().status).toBe('moved on');
    for (let i = 0; i < 50 && states.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(states).toContain('moved on');
    off();
    expect((await reader.getMemory(id))?.text).toBe('the user likes tea');
    await writer.close();
    await reader.close();
  });

  it('works on a read-only mount; a writable open there fails with IO_ERROR saying what to do', async (context) => {
    const id = await seed();
    const mount = await readOnlyMount(context);
    try {
      const fs = await open(mount, true);
      await expectReadsAndRefusedWrites(fs, id);
      await fs.close();
      const refused = await open(mount).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(MemMapError);
      expect(refused).toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('readOnly: true') });
    } finally {
      // Lazily: mappings of chunk files go only when garbage-collected, and keep the mount busy till then.
      execFileSync('umount', ['--lazy', mount], { stdio: 'pipe' });
    }
  });

  it('with the segments index, queries write nothing into the store: no index folder, no segment file, however many memories the index is rebuilt from', async () => {
    const writer = await MemMapFS.init(root, { search: segmentSearch(), codec: msgpack() });
    await writer.appendMemories(Array.from({ length: 40 }, (_, i) => ({ text: `note number ${i} about tea` })));
    await writer.close();
    // (The index is derived data: a store whose writers used another provider has no segments.)
    await rm(join(root, 'index'), { recursive: true, force: true });
    const before = await snapshotTree(root);
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 8 }), codec: msgpack(), readOnly: true });
    expect((await fs.queryMemory('tea', { limit: 100 })).length).toBe(40);
    expect((await fs.queryMemory('number 17', { limit: 1 }))[0]?.text).toBe('note number 17 about tea');
    // (Room for the writes of sealed segments and merges, which run in the background.)
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await fs.queryMemory('tea', { limit: 100 })).length).toBe(40);
    await fs.close();
    expect(await snapshotTree(root)).toEqual(before);
  });

  it('with the default index, answers queries on a read-only mount that holds no segments', async (context) => {
    const id = await seed();
    await rm(join(root, 'index'), { recursive: true, force: true });
    const mount = await readOnlyMount(context);
    try {
      const fs = await MemMapFS.init(mount, { codec: msgpack(), readOnly: true });
      expect((await fs.queryMemory('tea')).map((hit) => hit.id)).toEqual([id]);
      await fs.close();
    } finally {
      execFileSync('umount', ['--lazy', mount], { stdio: 'pipe' });
    }
  });

  it('opens while another process commits, never mistaking records written meanwhile for missing ones', async () => {
    await seed();
    const writer = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, worker, 'append', root, 'busy', '400'], { stdio: 'pipe' });
    const finished = new Promise((resolve) => writer.on('exit', resolve));
    // Done committing once it prints its ids (it then waits for its input to end).
    let done = false;
    writer.stdout.once('data', () => (done = true));
    void finished.then(() => (done = true));
    try {
      let opens = 0;
      while (!done || opens < 20) {
        const fs = await open(root, true);
        expect(fs.stats().memories).toBeGreaterThanOrEqual(1);
        await fs.close();
        opens++;
        if (done && opens >= 20) break;
        if (opens > 2000) break;
      }
      expect(opens).toBeGreaterThanOrEqual(20);
    } finally {
      writer.stdin.end();
      await finished;
    }
  });

  it('reads a store whose head file names another log (the marker of a repair, lost) as having no marker', async () => {
    const id = await seed();
    const head = await HeadFile.open(join(root, 'state.head'), nodeFileSystem);
    const marker = head.readMarker()!;
    head.writeMarker({ ...marker, logId: newLogId() });
    await head.close();
    const fs = await open(root, true);
    expect((await fs.getMemory(id))?.text).toBe('the user likes tea');
    expect(fs.getState().status).toBe('seeded');
    await fs.close();
  });
});
