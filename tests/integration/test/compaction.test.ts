import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import * as nodeFileSystem from 'node:fs/promises';
import { copyFile, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, verifyStore } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { crc32c } from '@memmapfs/wal';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { appendAndHold, holdWriterLock, printedLines, storeWorkerArgs, supportScriptArgs } from './support/hold-writer.js';
import { recordingFileSystem, removalMadeDurable } from './support/recording-file-system.js';
import { useTempStore } from './support/temp-store.js';

const tempStore = useTempStore('compaction');
let root: string;
beforeEach(() => {
  ({ root } = tempStore());
});

const open = (options: Parameters<typeof MemMapFS.init>[1] = {}) => MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), ...options });

/** Every file of the store, read whole (index, checkpoints, chunks and log included). */
async function everyFile(folder = root): Promise<Array<{ path: string; bytes: Buffer }>> {
  const files: Array<{ path: string; bytes: Buffer }> = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) files.push(...(await everyFile(path)));
    else files.push({ path, bytes: await readFile(path) });
  }
  return files;
}

const filesHolding = async (text: string) => (await everyFile()).filter((f) => f.bytes.includes(Buffer.from(text))).map((f) => f.path.slice(root.length + 1));

/** `verifyStore` finds no error in the store. */
const expectVerified = async () => expect((await verifyStore(root)).problems.filter((p) => p.severity === 'error')).toEqual([]);

/** Opens the store again: each memory reads as `texts` says; then `verifyStore` finds no error. */
async function expectAfterReopen(texts: Record<number, string>): Promise<void> {
  const again = await open();
  for (const [id, text] of Object.entries(texts)) expect((await again.getMemory(Number(id)))?.text).toBe(text);
  await again.close();
  await expectVerified();
}

/** File operations that, once `disk.full`, make no new chunk file (the copies of a compaction have nowhere to go). */
function fileSystemWithoutNewChunks(disk: { full: boolean }): typeof nodeFileSystem {
  return {
    ...nodeFileSystem,
    open: (async (path: string, flags?: string, mode?: number) => {
      if (disk.full && flags === 'wx' && /\/chunk_\d+\.bin$/.test(String(path))) throw Object.assign(new Error(`ENOSPC: no space left on device, open '${path}'`), { code: 'ENOSPC' });
      return nodeFileSystem.open(path, flags, mode);
    }) as typeof nodeFileSystem.open,
  };
}

/** A promise opened from outside: `opened` resolves once `open()` is called. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/**
 * A file system through which an erase is held as it begins to count its purge (its `mkdir` of the index
 * folder), once `hold()` was called: `held` opens then, and the erase goes on once `goOn()` is called.
 */
function holdingPurgeCount(base: typeof nodeFileSystem = nodeFileSystem) {
  const indexFolder = join(root, 'index');
  let holding = false;
  const held = gate();
  const goesOn = gate();
  const files: typeof nodeFileSystem = {
    ...base,
    mkdir: (async (path: string, options?: unknown) => {
      if (holding && String(path) === indexFolder) {
        holding = false;
        held.open();
        await goesOn.opened;
      }
      return base.mkdir(path, options as Parameters<typeof nodeFileSystem.mkdir>[1]);
    }) as typeof nodeFileSystem.mkdir,
  };
  return { files, hold: () => (holding = true), held: held.opened, goOn: goesOn.open };
}

/**
 * Deletes `secret` through `fs` and erases, held as the erase begins to count its purge (`count`) while
 * another handle, whose index was loaded before the deletion (FlexSearch keeps a word no memory holds
 * any more), saves a snapshot holding `word` after the compaction's cut. Returns the erase, held still.
 */
async function eraseHeldAfterAnotherSaves(fs: MemMapFS, secret: number, count: ReturnType<typeof holdingPurgeCount>, word: string) {
  const other = await open();
  await other.queryMemory('memory');
  await fs.deleteMemory(secret);
  await other.queryMemory('memory');
  count.hold();
  const compacting = fs.compact({ erase: true });
  await count.held;
  await other.close();
  expect(await filesHolding(word)).toContain(join('index', 'search.snapshot'));
  // (In an object: an async function's result that is a promise would be waited for.)
  return { compacting };
}

/**
 * A file system through which, once `armed.on`, the next take of the checkpoints' publishing lock
 * (`state.manifest.lock`) first runs `meanwhile` (another process's work, just before it).
 */
function beforeManifestLock(armed: { on: boolean }, meanwhile: () => Promise<void>, base: typeof nodeFileSystem = nodeFileSystem): typeof nodeFileSystem {
  return {
    ...base,
    open: (async (path: string, flags?: string, mode?: number) => {
      // (Or the locks an erase takes first, before it, waiting for the checkpoint writers.)
      if (armed.on && ['state.manifest.lock', 'checkpoints.lock', 'checkpoints.gate'].some((name) => String(path) === join(root, name))) {
        armed.on = false;
        await meanwhile();
      }
      return base.open(path, flags, mode);
    }) as typeof nodeFileSystem.open,
  };
}

/** Node's file operations, but the removal of a file `target` accepts fails with EIO while `when()`. */
function failingUnlink(target: (path: string) => boolean, when: () => boolean): typeof nodeFileSystem {
  return {
    ...nodeFileSystem,
    unlink: (async (path: string) => {
      if (when() && target(String(path))) throw Object.assign(new Error(`EIO: i/o error, unlink '${String(path)}'`), { code: 'EIO' });
      return nodeFileSystem.unlink(path);
    }) as typeof nodeFileSystem.unlink,
  };
}

describe('compaction', () => {
  it('that fails lets go of the chunks it claimed: another handle, while the failed one stays open, takes them and erases what was deleted there', async () => {
    const disk = { full: false };
    const files = fileSystemWithoutNewChunks(disk);
    const failing = await open({ fileSystem: files, autoCompaction: false });
    const kept = await failing.appendMemory('kept memory');
    const secret = await failing.appendMemory('the secret is hunter2');
    await failing.deleteMemory(secret);
    disk.full = true;
    await expect(failing.compact({ erase: true })).rejects.toMatchObject({ code: 'IO_ERROR' });
    const other = await open({ autoCompaction: false });
    try {
      const report = await other.compact({ erase: true });
      expect(report.chunksSkipped).toBe(0);
      expect(report.chunksRewritten).toBeGreaterThanOrEqual(1);
      expect(await filesHolding('hunter2')).toEqual([]);
      expect((await failing.getMemory(kept))?.text).toBe('kept memory');
    } finally {
      await other.close();
      await failing.close();
    }
  });

  it('that fails after asking another handle for its chunk lets go of that chunk too: a third handle takes it and erases what was deleted there', async () => {
    const disk = { full: false };
    const files = fileSystemWithoutNewChunks(disk);
    const failing = await open({ fileSystem: files, autoCompaction: false });
    const holder = await open({ autoCompaction: false });
    const secret = await holder.appendMemory('my password is hunter2-asked-then-failed');
    const kept = await holder.appendMemory('kept in the chunk of the holder');
    expect(await failing.deleteMemory(secret)).toBe(true);
    disk.full = true;
    await expect(failing.compact({ erase: true })).rejects.toMatchObject({ code: 'IO_ERROR' });
    const third = await open({ autoCompaction: false });
    try {
      const report = await third.compact({ erase: true });
      expect(report.chunksSkipped).toBe(0);
      expect(await filesHolding('hunter2-asked-then-failed')).toEqual([]);
      expect((await failing.getMemory(kept))?.text).toBe('kept in the chunk of the holder');
    } finally {
      await third.close();
      await holder.close();
      await failing.close();
    }
    await expectVerified();
  });

  it('cuts the log no further than the checkpoint the manifest names: one removed right after its publication (found damaged elsewhere, while the log held every record) takes no record with it', async () => {
    let armed = false;
    const files = {
      ...nodeFileSystem,
      rename: (async (from: string, to: string) => {
        await nodeFileSystem.rename(from, to);
        if (!armed || !to.endsWith('state.manifest')) return;
        armed = false;
        // As another process's discard of a damaged checkpoint: the manifest naming it, then the file.
        const named = (JSON.parse((await readFile(to, 'utf8')).split('\n')[1]!) as { checkpoint: { file: string } }).checkpoint.file;
        await nodeFileSystem.unlink(to);
        await nodeFileSystem.unlink(join(root, 'checkpoints', named));
      }) as typeof nodeFileSystem.rename,
    };
    const fs = await open({ fileSystem: files });
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(await fs.appendMemory(`memory ${i}`));
    await fs.deleteMemory(ids[0]!);
    armed = true;
    await fs.compact();
    expect(armed).toBe(false);
    expect((await verifyStore(root)).firstLsn).toBe(1);
    const other = await open({ readOnly: true });
    for (const [i, id] of ids.entries()) if (i > 0) expect((await other.getMemory(id))?.text).toBe(`memory ${i}`);
    await other.close();
    await fs.close();
  });

  it('a compaction asked for in a process that never searched carries the saved search snapshot forward when no memory changed since it was saved: the next open loads it rather than index every memory again', async () => {
    const fs = await open({ autoCompaction: false });
    const ids = await fs.appendMemories(Array.from({ length: 300 }, (_, k) => ({ text: `ordinary note ${k} ${'padding '.repeat(60)}` })));
    await fs.queryMemory('note');
    for (const id of ids.slice(0, 200)) await fs.deleteMemory(id);
    await fs.close();
    const compactor = await open({ autoCompaction: false });
    // Another handle writes KV throughout: the second round's checkpoint is a later one than the first's.
    const other = await open({ autoCompaction: false });
    let compacting = true;
    const writes = (async () => {
      for (let i = 0; compacting; i++) await other.setKv('progress', { step: i });
    })();
    expect((await compactor.compact().finally(() => (compacting = false))).blocksMoved).toBe(100);
    await writes;
    await other.close();
    await compactor.close();
    let rebuilt = 0;
    const later = await open({ onIndexRebuild: (done) => (rebuilt = Math.max(rebuilt, done)) });
    expect(await later.queryMemory('ordinary', { limit: 400 })).toHaveLength(100);
    expect(rebuilt).toBe(0);
    await later.close();
  });

  it('reports its progress step by step: the live blocks copied, then the checkpoint, then the search index', async () => {
    const fs = await open();
    const ids = await fs.appendMemories(Array.from({ length: 600 }, (_, i) => ({ text: `memory ${i} ${'with some padding '.repeat(60)}` })));
    for (const id of ids.filter((_, i) => i % 4 !== 0)) await fs.deleteMemory(id);
    await fs.close();
    // (A process's own chunk under way is not taken: compacted from the next open.)
    const again = await open();
    const steps: Array<[number, number, string]> = [];
    const report = await again.compact({ onProgress: (done, total, step) => steps.push([done, total, step]) });
    expect(report.blocksMoved).toBeGreaterThan(0);
    const order = [...new Set(steps.map(([, , step]) => step))];
    expect(order).toEqual(['blocks', 'checkpoint', 'index']);
    const blocks = steps.filter(([, , step]) => step === 'blocks');
    expect(blocks.at(-1)).toEqual([report.blocksMoved, report.blocksMoved, 'blocks']);
    for (const [done, total] of blocks) expect(done).toBeLessThanOrEqual(total);
    // The checkpoint step counts the rows its checkpoints write (150 live memories each).
    const checkpoint = steps.filter(([, , step]) => step === 'checkpoint');
    expect(checkpoint[0]).toEqual([0, 1, 'checkpoint']);
    expect(checkpoint.at(-1)![0]).toBe(checkpoint.at(-1)![1]);
    expect(checkpoint.at(-1)![1] % 150).toBe(0);
    expect(checkpoint.at(-1)![1]).toBeGreaterThan(0);
    expect(steps.filter(([, , step]) => step === 'index')).toEqual([[0, 1, 'index'], [1, 1, 'index']]);
    await again.close();
  });

  it('counts the rows of each checkpoint as they are written: a report every 4,096 rows and at the end of each, never going back', async () => {
    const fs = await open();
    for (let i = 0; i < 3; i++) await fs.appendMemories(Array.from({ length: 3_000 }, (_, j) => ({ text: `row ${i} ${j}` })));
    const steps: Array<[number, number]> = [];
    await fs.compact({ onProgress: (done, total, step) => step === 'checkpoint' && steps.push([done, total]) });
    expect(steps[0]).toEqual([0, 1]);
    expect(steps.slice(1, 4)).toEqual([[4_096, 9_000], [8_192, 9_000], [9_000, 9_000]]);
    // A later checkpoint (after the old files went) adds its rows to the total: done never goes back.
    for (let i = 1; i < steps.length; i++) {
      expect(steps[i]![0]).toBeGreaterThanOrEqual(steps[i - 1]![0]);
      expect(steps[i]![0]).toBeLessThanOrEqual(steps[i]![1]);
    }
    expect(steps.at(-1)![0]).toBe(steps.at(-1)![1]);
    await fs.close();
  });

  it('a progress callback that throws what is not an Error (a Symbol) while the rows are written is a warning: the checkpoint and the compaction go on', async () => {
    const fs = await open();
    const ids = await fs.appendMemories(Array.from({ length: 5_000 }, (_, j) => ({ text: `row ${j} ${'pad '.repeat(20)}` })));
    for (const id of ids.filter((_, i) => i % 2 === 0)) await fs.deleteMemory(id);
    await fs.close();
    const again = await open();
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warning.code === 'MEMMAPFS_CALLBACK_FAILED' && warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const report = await again.compact({ onProgress: (done, _total, step) => {
        if (step === 'checkpoint' && done > 0) throw Symbol('the progress display failed');
      } });
      expect(report.logFirstLsn).toBeGreaterThan(1);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.length).toBeGreaterThan(0);
    expect((await everyFile()).filter((f) => f.path.endsWith('.tmp'))).toEqual([]);
    expect((await again.getMemory(ids[1]!))?.text).toContain('row 1 ');
    await again.close();
    await expectVerified();
  });

  it('keeps the process alive until close() is done while a compaction asked for waits behind one by policy', async () => {
    const fs = await open({ chunkSizeBytes: 256 * 1024, durability: 'none' });
    const ids = await fs.appendMemories(Array.from({ length: 1000 }, (_, i) => ({ text: `memory ${i} ${'y'.repeat(1000)}` })));
    for (const id of ids.slice(0, 800)) await fs.deleteMemory(id);
    await fs.close();
    // (stdin ignored: nothing but the store's own work keeps the child's event loop alive.)
    const child = spawn(process.execPath, storeWorkerArgs('compact-behind-background', root), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toMatchObject({ closed: true });

    const again = await open();
    expect(again.stats().memories).toBe(200);
    expect((await again.getMemory(ids[900]!))?.text).toBe(`memory 900 ${'y'.repeat(1000)}`);
    await again.close();
    await expectVerified();
  });

  it('with erase, leaves what deleted, replaced and expired memories and deleted streams said in no file, and the store reads the same', async () => {
    const fs = await open();
    const kept: number[] = [];
    for (let i = 0; i < 30; i++) kept.push(await fs.appendMemory(`kept memory number ${i} about gardening`, ['kept']));
    const secret = await fs.appendMemory('my password is hunter2-deleted');
    const replaced = await fs.appendMemory('my old address is 12 replaced street');
    await fs.appendMemory('my pin is 4321-expiring', [], { ttlMs: 1 });
    await fs.setKv('settings', { theme: 'dark' });
    await fs.appendStream('transcript', 'a stream chunk that stays;');
    await fs.appendStream('secret-transcript', 'the card number is 5555-deleted-stream;');
    await fs.appendStream('secret-transcript', Buffer.alloc(70 * 1024, 'z'));
    await fs.appendStream('secret-transcript', 'its code is 999-deleted-stream');
    await fs.updateState({ status: 'working', activeMemoryCount: 31, lastUpdatedId: kept[0]!, extra: {} });
    await fs.deleteMemory(secret);
    expect(await fs.deleteStream('secret-transcript')).toBe(true);
    await fs.updateMemory(replaced, { text: 'my new address is 7 current road' });
    expect(await fs.queryMemory('gardening', { limit: 5 })).toHaveLength(5);
    await fs.close();
    const before = await open();
    expect(await filesHolding('hunter2-deleted')).not.toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const report = await before.compact({ erase: true });
    expect(report.expiredDeleted).toBe(1);
    expect(report.chunksRewritten).toBeGreaterThan(0);
    expect(report.chunkBytesAfter).toBeLessThan(report.chunkBytesBefore);
    // Nothing the deleted, replaced or expired memories said is in any file of the store.
    for (const gone of ['hunter2-deleted', '12 replaced street', '4321-expiring', '5555-deleted-stream', '999-deleted-stream', 'z'.repeat(1024)]) expect(await filesHolding(gone), gone).toEqual([]);
    // Everything live reads back, in this process and after a reopen.
    for (const [i, id] of kept.entries()) expect((await before.getMemory(id))?.text).toBe(`kept memory number ${i} about gardening`);
    await before.close();
    const after = await open();
    for (const [i, id] of kept.entries()) expect((await after.getMemory(id))?.text).toBe(`kept memory number ${i} about gardening`);
    expect((await after.getMemory(replaced))?.text).toBe('my new address is 7 current road');
    expect(await after.getMemory(secret)).toBeUndefined();
    expect(after.getKv('settings')).toEqual({ theme: 'dark' });
    const chunks: string[] = [];
    for await (const chunk of after.openRead('transcript')) chunks.push(Buffer.from(chunk).toString());
    expect(chunks.join('')).toBe('a stream chunk that stays;');
    expect(after.listStreams()).toEqual(['transcript']);
    expect(after.getState().status).toBe('working');
    expect((await after.queryMemory('gardening', { limit: 50 })).length).toBe(30);
    // New ids go on after the old ones.
    expect(await after.appendMemory('written after the compaction')).toBeGreaterThan(replaced);
    await after.close();
    await expectVerified();
  });

  it('another process reading and writing the store meanwhile keeps reading every memory at its new place', async () => {
    const fs = await open();
    const ids: number[] = [];
    for (let i = 0; i < 200; i++) ids.push(await fs.appendMemory(`parent memory ${i} shared folder ${'padding '.repeat(100)}`, ['parent']));
    for (const id of ids.slice(0, 150)) await fs.deleteMemory(id);
    const live = ids.slice(150);
    const child = spawn(process.execPath, storeWorkerArgs('append', root, 'child', '40'), { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async () => JSON.parse((await lines.next()).value as string) as Record<string, unknown>;
    try {
      const { ids: childIds } = (await next()) as { ids: number[] };
      // The child reads the parent's memories first: it has their chunk open.
      child.stdin.write(`read ${live.join(' ')}\n`);
      expect(Object.values(((await next()) as { texts: Record<string, string | null> }).texts).every((t) => t?.startsWith('parent memory'))).toBe(true);
      const report = await fs.compact();
      expect(report.chunksRewritten).toBeGreaterThan(0);
      // The child appends to its own chunk: that one is left alone.
      expect(report.chunksSkipped).toBeGreaterThanOrEqual(0);
      child.stdin.write(`read ${[...live, ...childIds].join(' ')}\n`);
      const { texts } = (await next()) as { texts: Record<string, string | null> };
      for (const [i, id] of live.entries()) expect(texts[id]).toBe(`parent memory ${150 + i} shared folder ${'padding '.repeat(100)}`);
      for (const id of childIds) expect(texts[id]).toMatch(/^child memory \d+ shared folder$/);
      child.stdin.write('count parent child\n');
      expect((await next()).counts).toEqual({ parent: 50, child: 40 });
    } finally {
      child.stdin.end();
      await new Promise((resolve) => child.on('exit', resolve));
    }
    for (const id of live) expect((await fs.getMemory(id))?.text).toMatch(/^parent memory/);
    await fs.close();
    await expectVerified();
  }, 30_000);

  it('an update of tags that races the move keeps the memory at its new place, never at a removed chunk', async () => {
    const fs = await open();
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) ids.push(await fs.appendMemory(`memory ${i} ${'x'.repeat(200)}`));
    for (const id of ids.slice(1)) await fs.deleteMemory(id);
    // The moment the move record is queued, an ordinary update of the memory's tags comes in: it read
    // the memory (and its place) before the move.
    const engine = (fs as unknown as { engine: { commitIf: (records: Array<{ type: number }>, ...rest: unknown[]) => Promise<unknown> } }).engine;
    const commitIf = engine.commitIf.bind(engine);
    let update: Promise<unknown> | undefined;
    engine.commitIf = (records, ...rest) => {
      const committing = commitIf(records, ...rest);
      if (records[0]!.type === 8 && !update) update = fs.updateMemory(ids[0]!, { tags: ['retagged'] });
      return committing;
    };
    const report = await fs.compact({ erase: true });
    expect(report.chunksRewritten).toBeGreaterThan(0);
    expect((await update)).toMatchObject({ tags: ['retagged'] });
    expect((await fs.getMemory(ids[0]!))?.text).toBe(`memory 0 ${'x'.repeat(200)}`);
    await fs.close();
    const again = await open();
    expect(await again.getMemory(ids[0]!)).toMatchObject({ text: `memory 0 ${'x'.repeat(200)}`, tags: ['retagged'] });
    await again.close();
    await expectVerified();
  });

  for (const pointedAt of ['a dead block', 'the block of a memory being moved, deleted meanwhile'] as const) {
    it(`a record committed while the blocks are copied that points into a victim (${pointedAt}) has its block copied too`, async () => {
      const fs = await open();
      const kept = await fs.appendMemory('kept as it is');
      const target = await fs.appendMemory('pointed at again by a later record');
      await fs.appendMemory('dead weight, so that the chunk is worth rewriting').then((id) => fs.deleteMemory(id));
      type Engine = {
        memories: { get(id: number): Record<string, unknown> & { ref: unknown } };
        commit(records: unknown[]): Promise<number[]>;
        commitIf: (records: Array<{ type: number }>, ...rest: unknown[]) => Promise<'written' | 'refused'>;
      };
      const engine = (fs as unknown as { engine: Engine }).engine;
      const targetRef = engine.memories.get(target).ref;
      if (pointedAt === 'a dead block') await fs.deleteMemory(target);
      // Before the move is first committed, a record points at the block: one the compaction saw dead
      // (and does not copy), or one it moves for a memory that is then deleted (the move then moves nothing).
      const commitIf = engine.commitIf.bind(engine);
      let revived: number | undefined;
      let moveTries = 0;
      engine.commitIf = async (records, ...rest) => {
        if (records[0]!.type === 8 && moveTries++ === 0) {
          if (pointedAt !== 'a dead block') await fs.deleteMemory(target);
          [revived] = await engine.commit([{ type: 1, memory: { ...engine.memories.get(kept), id: 0, ref: targetRef } }]);
        }
        return commitIf(records, ...rest);
      };
      const report = await fs.compact({ erase: true });
      expect(moveTries).toBe(2);
      expect(report.chunksRewritten).toBe(1);
      expect((await fs.getMemory(revived!))?.text).toBe('pointed at again by a later record');
      await fs.close();
      await expectAfterReopen({ [revived!]: 'pointed at again by a later record', [kept]: 'kept as it is' });
    });
  }

  it('an update of the text refused meanwhile keeps its chunk from the compaction, and is written on the next try', async () => {
    const fs = await open();
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) ids.push(await fs.appendMemory(`memory ${i} ${'x'.repeat(200)}`));
    for (const id of ids.slice(1)) await fs.deleteMemory(id);
    // The update's block is placed before the compaction seals; its first try is refused (as when
    // another process changed the memory) only once the compaction is over.
    const engine = (fs as unknown as { engine: { commitIf: (records: Array<{ type: number; update?: boolean }>, ...rest: unknown[]) => Promise<'written' | 'refused'> } }).engine;
    const commitIf = engine.commitIf.bind(engine);
    let compacting: Promise<{ chunksRewritten: number; chunksSkipped: number }> | undefined;
    let refusedOnce = false;
    engine.commitIf = async (records, ...rest) => {
      if (records[0]!.type === 1 && records[0]!.update && !refusedOnce) {
        refusedOnce = true;
        await compacting;
        return 'refused';
      }
      return commitIf(records, ...rest);
    };
    compacting = fs.compact({ erase: true });
    const update = fs.updateMemory(ids[0]!, { text: 'the new text' });
    // The chunk holds the update's block, whose record is not in the log: it is left as it is.
    expect(await compacting).toMatchObject({ chunksRewritten: 0, chunksSkipped: 1 });
    expect((await update).text).toBe('the new text');
    expect(refusedOnce).toBe(true);
    // Once the record is in, the chunk is let go of, and the next compaction takes it.
    expect((await fs.compact({ erase: true })).chunksRewritten).toBeGreaterThan(0);
    expect((await fs.getMemory(ids[0]!))?.text).toBe('the new text');
    await fs.close();
    await expectAfterReopen({ [ids[0]!]: 'the new text' });
  });

  it('another process never takes a chunk holding a block whose record still waits for the writer lock', async () => {
    const fs = await open();
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(await fs.appendMemory(`memory ${i} ${'x'.repeat(100)}`));
    // A few dead bytes: an erasing compaction wants the chunk, one by policy does not.
    await fs.deleteMemory(ids[0]!);
    // (A writer opens under the writer lock: the compacting process is open before the lock is taken.)
    const compactor = spawn(process.execPath, storeWorkerArgs('compact', root, 'erase'), { stdio: 'pipe' });
    const lines = createInterface({ input: compactor.stdout })[Symbol.asyncIterator]();
    expect(JSON.parse((await lines.next()).value as string)).toEqual({ ready: true });
    const holder = await holdWriterLock(root);
    try {
      const pending = fs.appendMemory('the memory that waits for the writer lock');
      await new Promise((resolve) => setTimeout(resolve, 50));
      // This store lets go of the chunks it appends to (as its own compaction does), while the new
      // memory's block sits in one of them and its record waits for the lock.
      await (fs as unknown as { engine: { blocks: { seal(): Promise<void> } } }).engine.blocks.seal();
      compactor.stdin.write('go\n');
      // The only dead bytes are in that chunk: had the compactor taken it, it would copy its blocks at
      // once (and then wait for the lock to commit the move). It takes none: it can only ask for the
      // chunk back, and that needs the writer lock too.
      const next = lines.next();
      expect(await Promise.race([next.then(() => 'a line'), new Promise((resolve) => setTimeout(() => resolve('nothing'), 1000))])).toBe('nothing');
      await holder.kill();
      const id = await pending;
      let line = (await next).value as string;
      while (!line.includes('report')) line = (await lines.next()).value as string;
      // (The chunk was skipped, then asked back: taken once the record was in and this store let go of
      // it, or skipped again if it did not in time.) Every chunk compaction took is gone by now: the
      // memory is where its record says.
      expect((await fs.getMemory(id))?.text).toBe('the memory that waits for the writer lock');
      await fs.close();
      await expectAfterReopen({ [id]: 'the memory that waits for the writer lock' });
    } finally {
      await holder.kill();
    }
  });

  it('with erase, rebuilds an index a query loaded from a snapshot saved before the erase counted its purge: no save writes the erased words back', async () => {
    const first = await open();
    const secret = await first.appendMemory('my password is hunter2loadedmeanwhile');
    for (let i = 0; i < 5; i++) await first.appendMemory(`memory ${i}`);
    await first.close();
    // The erase is held as it begins to count its purge; a query's load of the saved snapshot is held as it imports it.
    const count = holdingPurgeCount();
    const importReached = gate();
    const imported = gate();
    const inner = flexsearch();
    const provider = new Proxy(inner, {
      get(target, property) {
        if (property === 'importSnapshot') {
          return async (bytes: Uint8Array) => {
            importReached.open();
            await imported.opened;
            return target.importSnapshot!(bytes);
          };
        }
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const fs = await open({ fileSystem: count.files, search: provider });
    const { compacting } = await eraseHeldAfterAnotherSaves(fs, secret, count, 'hunter2loadedmeanwhile');
    const querying = fs.queryMemory('memory');
    await importReached.opened;
    count.goOn();
    // (Later than the erase takes to end once it has counted, if it does not wait for the load.)
    setTimeout(() => imported.open(), 300);
    await compacting;
    expect((await querying).map((m) => m.text).sort()).toEqual(['memory 0', 'memory 1', 'memory 2', 'memory 3', 'memory 4']);
    // (A change after it, so that the close saves the index.)
    await fs.appendMemory('memory 5');
    await fs.close();
    expect(await filesHolding('hunter2loadedmeanwhile')).toEqual([]);
  });

  it('with erase, makes the removal of a snapshot holding the erased text durable: a power loss does not bring it back', async () => {
    const first = await open();
    const secret = await first.appendMemory('my password is hunter2durablygone');
    for (let i = 0; i < 5; i++) await first.appendMemory(`memory ${i}`);
    await first.close();
    const ops: string[] = [];
    const count = holdingPurgeCount(recordingFileSystem(ops));
    const fs = await open({ fileSystem: count.files });
    const { compacting } = await eraseHeldAfterAnotherSaves(fs, secret, count, 'hunter2durablygone');
    count.goOn();
    expect(await compacting).toMatchObject({ erased: true });
    expect(await filesHolding('hunter2durablygone')).toEqual([]);
    expect(removalMadeDurable(ops, join(root, 'index', 'search.snapshot'), join(root, 'index'))).toBe(true);
    await fs.close();
  });

  it('with erase, reports erased: false while a checkpoint from before it, holding a deleted memory\'s tags, could not be removed; the next erase removes it', async () => {
    let failing = false;
    const files = failingUnlink((path) => /checkpoint-\d{16}\.bin$/.test(path), () => failing);
    const fs = await open({ fileSystem: files, autoCompaction: false });
    const secret = await fs.appendMemory('a note', ['tag-hunter2checkpointed']);
    for (let i = 0; i < 5; i++) await fs.appendMemory(`memory ${i}`);
    await fs.checkpoint();
    await fs.deleteMemory(secret);
    failing = true;
    expect(await fs.compact({ erase: true })).toMatchObject({ erased: false });
    expect(await filesHolding('tag-hunter2checkpointed')).toEqual([expect.stringMatching(/^checkpoints\//)]);
    failing = false;
    expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
    expect(await filesHolding('tag-hunter2checkpointed')).toEqual([]);
    await fs.close();
  });

  it('with erase, removes the temporary checkpoint file a writer that died left, however recent: it holds rows from before the deletion', async () => {
    const fs = await open({ autoCompaction: false });
    const secret = await fs.appendMemory('a note', ['tag-hunter2tempfile']);
    for (let i = 0; i < 5; i++) await fs.appendMemory(`memory ${i}`);
    await fs.checkpoint();
    const [name] = (await readdir(join(root, 'checkpoints'))).filter((file) => /^checkpoint-\d{16}\.bin$/.test(file));
    // (A writer that died between writing its checkpoint and naming it: its temporary file, the same rows.)
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    await copyFile(join(root, 'checkpoints', name!), join(root, 'checkpoints', `.${name}.${deadPid}-0123456789ab.tmp`));
    await fs.deleteMemory(secret);
    expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
    expect(await filesHolding('tag-hunter2tempfile')).toEqual([]);
    await fs.close();
  });

  it("with erase, waits for another process's checkpoint that took its tables before the deletion: its temporary file, created after the erase looked and left by a kill, holds no deleted memory's tags once erased says true", async () => {
    const fs = await open({ autoCompaction: false });
    const secret = await fs.appendMemory('a note', ['tag-hunter2-held-checkpoint']);
    for (let i = 0; i < 5; i++) await fs.appendMemory(`memory ${i}`);
    const writer = spawn(process.execPath, supportScriptArgs('checkpoint-held-at-temp.ts', root), { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => writer.once('exit', resolve));
    const next = printedLines(writer, 'the checkpoint writer');
    let compacting: ReturnType<MemMapFS['compact']> | undefined;
    try {
      expect(await next()).toEqual({ at: 'open' });
      writer.stdin!.write('checkpoint\n');
      // (Its tables taken, with the memory in them; its temporary file not created yet.)
      expect(await next()).toEqual({ at: 'temp' });
      await fs.deleteMemory(secret);
      compacting = fs.compact({ erase: true });
      // (Long enough for an erase that does not wait for it to end: about 2 s.)
      await Promise.race([compacting, new Promise((resolve) => setTimeout(resolve, 5000))]);
      writer.stdin!.write('write\n');
      expect(await next()).toEqual({ at: 'written' });
      expect(await filesHolding('tag-hunter2-held-checkpoint')).toContainEqual(expect.stringMatching(/^checkpoints\/\.checkpoint-/));
    } finally {
      writer.kill('SIGKILL');
      await exited;
    }
    expect(await compacting).toMatchObject({ erased: true });
    expect(await filesHolding('tag-hunter2-held-checkpoint')).toEqual([]);
    await fs.close();
  });

  /** A child process that writes a checkpoint on each "checkpoint", held at its file's fsync until "go" (see checkpoint-relay.ts). */
  const relay = () => {
    const child = spawn(process.execPath, supportScriptArgs('checkpoint-relay.ts', root), { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    return { child, exited, next: printedLines(child, 'a checkpoint writer'), send: (line: string) => void child.stdin!.write(`${line}\n`) };
  };

  /**
   * A store with a memory tagged `tag` deleted, two checkpoint writers (`relay`) open on it, the first
   * holding the lock, and an erase started: what the relay tests pass on.
   */
  const eraseBehindRelays = async (tag: string) => {
    const fs = await open({ autoCompaction: false });
    const secret = await fs.appendMemory('a note', [tag]);
    for (let i = 0; i < 5; i++) await fs.appendMemory(`memory ${i}`);
    const writers = [relay(), relay()] as const;
    for (const writer of writers) expect(await writer.next()).toEqual({ at: 'open' });
    await fs.deleteMemory(secret);
    writers[0].send('checkpoint');
    expect(await writers[0].next()).toEqual({ at: 'held' });
    const compacting = fs.compact({ erase: true });
    const state = { settled: false };
    void compacting.finally(() => (state.settled = true)).catch(() => undefined);
    return { fs, writers, compacting, state };
  };

  it('with erase, is not kept waiting by checkpoint writers of other processes taking the lock one after another: those that come after it wait', async () => {
    const { fs, writers, compacting, state } = await eraseBehindRelays('tag-hunter2-relayed');
    try {
      // Each writer asked to write before the one holding the lock lets go of it (held about 0.3 s): the
      // lock is never free, unless a writer that comes after the erase waits for it.
      let [holder, other] = [writers[0]!, writers[1]!];
      let waitedBehind = false;
      while (!state.settled && !waitedBehind) {
        other.send('checkpoint');
        const held = other.next();
        waitedBehind = (await Promise.race([held.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 300))])) === true;
        holder.send('go');
        expect(await holder.next()).toEqual({ at: 'done' });
        if (waitedBehind) {
          expect(await compacting).toMatchObject({ erased: true });
          expect(await held).toEqual({ at: 'held' });
          other.send('go');
          expect(await other.next()).toEqual({ at: 'done' });
        }
        [holder, other] = [other, holder];
      }
      expect(waitedBehind).toBe(true);
      expect(await filesHolding('tag-hunter2-relayed')).toEqual([]);
    } finally {
      for (const writer of writers) {
        writer.child.kill('SIGKILL');
        await writer.exited;
      }
    }
    await fs.close();
  }, 120_000);

  it("with erase, a close() while it waits for another process's checkpoint ends the wait: the erase says it is not done", async () => {
    const fs = await open({ autoCompaction: false });
    const secret = await fs.appendMemory('a note', ['tag-x']);
    for (let i = 0; i < 5; i++) await fs.appendMemory(`memory ${i}`);
    const writer = relay();
    try {
      expect(await writer.next()).toEqual({ at: 'open' });
      writer.send('checkpoint');
      expect(await writer.next()).toEqual({ at: 'held' });
      await fs.deleteMemory(secret);
      const compacting = fs.compact({ erase: true });
      // (Long enough for the erase to reach its wait for the lock the writer holds.)
      await new Promise((resolve) => setTimeout(resolve, 4000));
      // The writer holds on, and the close does not wait for it (it would for a minute).
      await fs.close();
      expect(await compacting).toMatchObject({ erased: false });
    } finally {
      writer.child.kill('SIGKILL');
      await writer.exited;
    }
  }, 30_000);

  it("with erase, a writer slow to let go of the lock keeps no other process's checkpoint waiting behind the erase for long: that one is written meanwhile", async () => {
    const fs = await open({ autoCompaction: false });
    const secret = await fs.appendMemory('a note', ['tag-x']);
    for (let i = 0; i < 5; i++) await fs.appendMemory(`memory ${i}`);
    const [slow, third] = [relay(), relay()];
    try {
      for (const writer of [slow, third]) expect(await writer.next()).toEqual({ at: 'open' });
      slow.send('checkpoint');
      expect(await slow.next()).toEqual({ at: 'held' });
      await fs.deleteMemory(secret);
      const compacting = fs.compact({ erase: true });
      // (Long enough for the erase to reach its wait, holding the gate.)
      await new Promise((resolve) => setTimeout(resolve, 4000));
      // The slow writer still holds the lock: the third process's checkpoint goes through all the same,
      // within the test's time (behind an erase that held the gate throughout, it waited a minute).
      third.send('checkpoint');
      expect(await third.next()).toEqual({ at: 'held' });
      third.send('go');
      expect(await third.next()).toEqual({ at: 'done' });
      slow.send('go');
      expect(await slow.next()).toEqual({ at: 'done' });
      expect(await compacting).toMatchObject({ erased: true });
    } finally {
      for (const writer of [slow, third]) {
        writer.child.kill('SIGKILL');
        await writer.exited;
      }
    }
    await fs.close();
  }, 30_000);

  it('with erase, writers of two processes each holding the lock longer than its first wait at the gate, one after another, do not keep it from the erase', async () => {
    const { fs, writers, compacting, state } = await eraseBehindRelays('tag-hunter2-starved');
    try {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      // Each writer (a checkpoint of over 5 s: a large store on a slow disk) lets go only once the other
      // process's next checkpoint, asked meanwhile, has its tables, or has waited 8 s at the gate: held
      // longer each time, the gate keeps one out, and the erase goes through.
      let [holder, other] = [writers[0]!, writers[1]!];
      while (!state.settled) {
        other.send('checkpoint');
        const held = other.next();
        const through = await Promise.race([held.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 8000))]);
        holder.send('go');
        expect(await holder.next()).toEqual({ at: 'done' });
        if (!through) break;
        [holder, other] = [other, holder];
      }
      const report = await compacting;
      expect(report).toMatchObject({ erased: true });
      expect(await filesHolding('tag-hunter2-starved')).toEqual([]);
    } finally {
      for (const writer of writers) {
        writer.child.kill('SIGKILL');
        await writer.exited;
      }
    }
    await fs.close();
  }, 90_000);

  it('with erase, removes a second name of a chunk file it retires, which a writer killed while making the chunk left: the deleted text is in no file', async () => {
    const fs = await open({ autoCompaction: false });
    await fs.appendMemory('a memory that stays');
    const secret = await fs.appendMemory('my password is hunter2-second-name');
    // (A writer of an earlier release made a chunk under a temporary name, linked it into place and was
    // killed before it removed that name: the same file under both.)
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const [chunk] = (await readdir(join(root, 'blocks'))).filter((name) => /^chunk_\d+\.bin$/.test(name));
    await nodeFileSystem.link(join(root, 'blocks', chunk!), join(root, 'blocks', `${chunk}.${deadPid}-0123456789ab.tmp`));
    await fs.deleteMemory(secret);
    expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
    expect(await filesHolding('hunter2-second-name')).toEqual([]);
    expect((await fs.listMemories()).memories.map((memory) => memory.text)).toEqual(['a memory that stays']);
    await fs.close();
  });

  it('makes a chunk file under its own name alone: a writer killed as it makes one leaves no second name', async () => {
    const run = spawnSync(process.execPath, supportScriptArgs('die-making-chunk.ts', root), { encoding: 'utf8' });
    expect(run.signal, run.stderr).toBe('SIGKILL');
    expect((await readdir(join(root, 'blocks'))).filter((name) => name.startsWith('chunk_'))).toEqual(['chunk_0000.bin']);
    const fs = await open();
    expect(await fs.appendMemory('after the kill')).toBeGreaterThan(0);
    await fs.close();
  });

  it('with erase, keeps the checkpoint another process published just before the erase looked (and cut its log behind): the store opens', async () => {
    const b = await open({ autoCompaction: false });
    const armed = { on: false };
    const files = beforeManifestLock(armed, async () => {
      for (let i = 0; i < 5; i++) await b.appendMemory(`by b ${i}`);
      await b.checkpoint();
      await b.compact();
    });
    const a = await open({ fileSystem: files, autoCompaction: false });
    const secret = await a.appendMemory('a note', ['tag-x']);
    for (let i = 0; i < 5; i++) await a.appendMemory(`memory ${i}`);
    await a.deleteMemory(secret);
    await a.compact({ erase: true, onProgress: (done, _total, step) => void (step === 'index' && done === 1 && (armed.on = true)) });
    expect(armed.on).toBe(false);
    await a.close();
    await b.close();
    const again = await open();
    expect((await again.listMemories({ limit: 100 })).memories.map((m) => m.text)).toContain('by b 4');
    await again.close();
  });

  it('with erase, removes no checkpoint of a store put in place of the one it compacts (its log replaced), before or while it looks: it says the erase is not done', async () => {
    for (const when of ['before the lock', 'while it lists'] as const) {
      await rm(root, { recursive: true, force: true });
      await rm(`${root}.old`, { recursive: true, force: true });
      const armed = { on: false };
      const replace = async () => {
        await rename(root, `${root}.old`);
        const other = await open({ autoCompaction: false });
        for (let i = 0; i < 3; i++) await other.appendMemory(`new store ${i}`);
        await other.checkpoint();
        await other.compact();
        await other.close();
      };
      const files: typeof nodeFileSystem = when === 'before the lock' ? beforeManifestLock(armed, replace) : {
        ...nodeFileSystem,
        readdir: (async (path: string, ...rest: unknown[]) => {
          if (armed.on && String(path) === join(root, 'checkpoints')) {
            armed.on = false;
            await replace();
          }
          return (nodeFileSystem.readdir as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
        }) as typeof nodeFileSystem.readdir,
      };
      const a = await open({ fileSystem: files, autoCompaction: false });
      const secret = await a.appendMemory('a note', ['tag-x']);
      for (let i = 0; i < 20; i++) await a.appendMemory(`memory ${i}`);
      await a.deleteMemory(secret);
      const report = await a.compact({ erase: true, onProgress: (done, _total, step) => void (step === 'index' && done === 1 && (armed.on = true)) });
      expect(armed.on, when).toBe(false);
      expect(report.erased, when).toBe(false);
      await a.close().catch(() => undefined);
      const again = await open();
      expect(await again.queryMemory('new store'), when).toHaveLength(3);
      await again.close();
    }
  });

  it('with erase, counts an older checkpoint whose header cannot be read as left, and says the erase is not done until it is removed', async () => {
    // Its removal when the compaction's checkpoint is published fails; then, when the erase looks again, its header cannot be read.
    const failing = { unlink: false, open: false };
    const isCheckpoint = (path: string) => /checkpoint-\d{16}\.bin$/.test(path);
    const unlinking = failingUnlink(isCheckpoint, () => failing.unlink);
    const files: typeof nodeFileSystem = {
      ...unlinking,
      open: (async (path: string, flags?: string, mode?: number) => {
        if (failing.open && isCheckpoint(String(path))) throw Object.assign(new Error(`EMFILE: too many open files, open '${String(path)}'`), { code: 'EMFILE' });
        return nodeFileSystem.open(path, flags, mode);
      }) as typeof nodeFileSystem.open,
    };
    const fs = await open({ fileSystem: files, autoCompaction: false });
    const secret = await fs.appendMemory('a note', ['tag-hunter2unreadable']);
    for (let i = 0; i < 5; i++) await fs.appendMemory(`memory ${i}`);
    await fs.checkpoint();
    await fs.deleteMemory(secret);
    failing.unlink = true;
    const report = await fs.compact({ erase: true, onProgress: (done, _total, step) => void (step === 'index' && done === 1 && Object.assign(failing, { unlink: false, open: true })) });
    failing.open = false;
    expect(report.erased).toBe(false);
    expect(await filesHolding('tag-hunter2unreadable')).toEqual([expect.stringMatching(/^checkpoints\//)]);
    expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
    expect(await filesHolding('tag-hunter2unreadable')).toEqual([]);
    await fs.close();
  });

  for (const found of ['damaged', "another log's"] as const) {
    for (const named of ['older', 'above the erase'] as const) {
      it(`with erase, does not take a checkpoint file ${named} whose header is ${found} for gone: removed, or counted as left until the next checkpoint removes it`, async () => {
        let failing = false;
        const fs = await open({ fileSystem: failingUnlink((path) => /checkpoint-\d{16}\.bin$/.test(path), () => failing), autoCompaction: false });
        const secret = await fs.appendMemory('a note', ['tag-hunter2header']);
        for (let i = 0; i < 5; i++) await fs.appendMemory(`memory ${i}`);
        await fs.checkpoint();
        const [old] = (await readdir(join(root, 'checkpoints'))).filter((file) => /^checkpoint-\d{16}\.bin$/.test(file));
        // (A leftover named above: as a repair that replaced the log could leave, numbered as the old log was.)
        const name = named === 'older' ? old! : 'checkpoint-0000000000001000.bin';
        if (named !== 'older') await copyFile(join(root, 'checkpoints', old!), join(root, 'checkpoints', name));
        await fs.deleteMemory(secret);
        // Its removal when the erase's checkpoint is published fails; then its header is damaged, or names
        // another log, before the erase looks again.
        failing = true;
        const report = await fs.compact({
          erase: true,
          onProgress: (done, _total, step) => {
            if (step !== 'index' || done !== 1 || !failing) return;
            failing = false;
            const fd = openSync(join(root, 'checkpoints', name), 'r+');
            const header = Buffer.alloc(160);
            readSync(fd, header, 0, 160, 0);
            if (found === 'damaged') header[100]! ^= 0xff;
            else header.fill(0xab, 40, 56).writeUInt32LE(crc32c(header.subarray(16)), 12);
            writeSync(fd, header, 0, 160, 0);
            closeSync(fd);
          },
        });
        expect(report.erased).toBe(found === 'damaged');
        const holding = await filesHolding('tag-hunter2header');
        expect(holding).toEqual(found === 'damaged' ? [] : [`checkpoints/${name}`]);
        // (A change, so that the next erase publishes a checkpoint, whose publication removes another log's.)
        await fs.appendMemory('a later note');
        expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
        expect(await filesHolding('tag-hunter2header')).toEqual([]);
        await fs.close();
      });
    }
  }

  it('with erase, waits for a checkpoint another handle of the same process is writing, then removes what it left', async () => {
    const armed = { on: false };
    const held = gate();
    const goOn = gate();
    const bFiles: typeof nodeFileSystem = {
      ...nodeFileSystem,
      open: (async (path: string, flags?: string, mode?: number) => {
        const handle = await nodeFileSystem.open(path, flags, mode);
        if (armed.on && flags === 'w' && /\.checkpoint-\d{16}\.bin\.\d+-[0-9a-f]+\.tmp$/.test(String(path))) {
          armed.on = false;
          held.open();
          await goOn.opened;
        }
        return handle;
      }) as typeof nodeFileSystem.open,
    };
    const a = await open({ autoCompaction: false });
    const b = await open({ fileSystem: bFiles, autoCompaction: false });
    const secret = await a.appendMemory('a note', ['tag-x']);
    for (let i = 0; i < 5; i++) await a.appendMemory(`memory ${i}`);
    await b.appendMemory('by b');
    armed.on = true;
    const checkpointOfB = b.checkpoint().then(() => 'written', (error: Error) => `failed: ${error.message}`);
    await held.opened;
    await a.deleteMemory(secret);
    // The erase waits for it (its tables, taken before the deletion, hold the memory's tags), then removes what it left.
    const compacting = a.compact({ erase: true });
    let settled = false;
    void compacting.finally(() => (settled = true)).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(settled).toBe(false);
    goOn.open();
    expect(await checkpointOfB).toBe('written');
    expect(await compacting).toMatchObject({ erased: true });
    expect(await filesHolding('tag-x')).toEqual([]);
    await a.close();
    await b.close();
  });

  it('with erase, fails rather than say erased while the saved snapshot holding the erased words cannot be removed', async () => {
    const first = await open();
    const secret = await first.appendMemory('my password is hunter2unremovable');
    for (let i = 0; i < 5; i++) await first.appendMemory(`memory ${i}`);
    await first.queryMemory('memory');
    await first.close();
    let failing = false;
    const snapshot = join(root, 'index', 'search.snapshot');
    const files = failingUnlink((path) => path === snapshot, () => failing);
    // (Its index not loaded: nothing saves a new snapshot over the old one.)
    const fs = await open({ fileSystem: files, autoCompaction: false });
    await fs.deleteMemory(secret);
    failing = true;
    await expect(fs.compact({ erase: true })).rejects.toThrow(/EIO/);
    failing = false;
    expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
    expect(await filesHolding('hunter2unremovable')).toEqual([]);
    await fs.close();
  });

  it('with erase, says the erase is not done while a temporary file of a save, holding erased words, cannot be removed', async () => {
    const fs0 = await open();
    await fs0.appendMemory('a memory');
    await fs0.close();
    // (As a saver that died left it.)
    const temp = join(root, 'index', `.search.snapshot.${process.pid}-0123456789ab.tmp`);
    await writeFile(temp, 'words of hunter2tempsave');
    let failing = true;
    const files = failingUnlink((path) => path === temp, () => failing);
    const fs = await open({ fileSystem: files, autoCompaction: false });
    expect(await fs.compact({ erase: true })).toMatchObject({ erased: false });
    failing = false;
    expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
    expect(await filesHolding('hunter2tempsave')).toEqual([]);
    await fs.close();
  });

  it('with erase, says erased for a store that was never written to', async () => {
    const fs = await open();
    expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
    await fs.close();
  });

  it('with erase, drops the log segment of the deletion even when another writer commits throughout', async () => {
    const fs = await open();
    const secret = await fs.appendMemory('my password is hunter2-while-busy');
    for (let i = 0; i < 20; i++) await fs.appendMemory(`memory ${i}`);
    await fs.deleteMemory(secret);
    const other = await open();
    let stop = false;
    let writes = 0;
    const writer = (async () => {
      while (!stop) await other.setKv('counter', writes++);
    })();
    try {
      await fs.compact({ erase: true });
    } finally {
      stop = true;
      await writer;
    }
    expect(writes).toBeGreaterThan(0);
    expect(await filesHolding('hunter2-while-busy')).toEqual([]);
    await other.close();
    await fs.close();
  });

  it('with erase, drops the log segment of a deletion that left no chunk to rewrite while another process has the store open and reads nothing', async () => {
    const fs = await open();
    await fs.setKv('api-key', 'secret-kv-value-7f3a');
    await fs.appendMemory('kept');
    // (The other process lets go of the log segment it reads only when it catches up, within a second when idle.)
    const idle = await appendAndHold(root, 'an idle process of its own');
    try {
      await fs.deleteKv('api-key');
      const report = await fs.compact({ erase: true });
      expect(report.chunksRewritten).toBe(0);
      expect(await filesHolding('secret-kv-value-7f3a')).toEqual([]);
      expect(report.logFirstLsn).toBeGreaterThan(3);
    } finally {
      await idle.kill();
    }
    expect(await fs.getKv('api-key')).toBeUndefined();
    await fs.close();
  });

  it('with erase, asks another process for the chunk file it appends to: that process lets go of it within its idle catch-up, and what was deleted is in no file while it stays open', async () => {
    const holder = spawn(process.execPath, storeWorkerArgs('hold', root, 'my password is hunter2-held-chunk', 'a note the holder keeps'), { stdio: 'pipe' });
    const exited = new Promise((resolve) => holder.on('exit', resolve));
    const next = printedLines(holder, 'the holding process');
    const fs = await open();
    try {
      const { ids } = (await next()) as { ids: number[] };
      expect(await fs.deleteMemory(ids[0]!)).toBe(true);
      const report = await fs.compact({ erase: true });
      expect(report).toMatchObject({ chunksSkipped: 0, blocksMoved: 1 });
      expect(await filesHolding('hunter2-held-chunk')).toEqual([]);
      expect((await fs.getMemory(ids[1]!))?.text).toBe('a note the holder keeps');
      // The holder reads its memory at its new place, and appends on, to another chunk.
      holder.stdin.write(`read ${ids[1]}\n`);
      expect(await next()).toEqual({ text: 'a note the holder keeps' });
      holder.stdin.write('append written after the erase\n');
      const { id } = (await next()) as { id: number };
      expect((await fs.getMemory(id))?.text).toBe('written after the erase');
    } finally {
      holder.stdin.end();
      await exited;
    }
    expect(holder.exitCode).toBe(0);
    await fs.close();
    expect(await filesHolding('hunter2-held-chunk')).toEqual([]);
    await expectVerified();
  });

  it('with erase, reserves the chunks it asks back before the record that asks for them is committed: no store takes one up in between', async () => {
    const a = await open({ autoCompaction: false });
    const b = await open({ autoCompaction: false });
    const secret = await b.appendMemory('my password is hunter2-reserved-first');
    await b.appendMemory('kept in the chunk of b');
    expect(await a.deleteMemory(secret)).toBe(true);
    const events: string[] = [];
    const engineA = (a as unknown as { engine: { commit: (records: Array<{ type: number; letGo?: number[] }>, ...rest: unknown[]) => Promise<number[]>; blocks: { reserve(chunks: readonly number[]): Promise<unknown> } } }).engine;
    const commit = engineA.commit.bind(engineA);
    engineA.commit = async (records, ...rest) => {
      if (records[0]!.letGo) events.push(`commit letGo ${records[0]!.letGo.join(',')}`);
      return commit(records, ...rest);
    };
    const reserve = engineA.blocks.reserve.bind(engineA.blocks);
    engineA.blocks.reserve = async (chunks) => {
      const reservation = await reserve(chunks);
      events.push(`reserved ${chunks.join(',')}`);
      return reservation;
    };
    expect((await a.compact({ erase: true })).chunksSkipped).toBe(0);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatch(/^reserved \d/);
    expect(events[1]).toBe(`commit letGo ${events[0]!.slice('reserved '.length)}`);
    expect(await filesHolding('hunter2-reserved-first')).toEqual([]);
    await a.close();
    await b.close();
    await expectVerified();
  });

  it('an erase in another store does not take the chunk a compaction copied blocks into before its move record is in', async () => {
    const setup = await open();
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await setup.appendMemory(`memory number ${i}`));
    await setup.close();
    const a = await open();
    const b = await open();
    expect(await a.deleteMemory(ids[0]!)).toBe(true);
    // A's compaction copies the live blocks, then waits before it commits the move; meanwhile B's erase
    // finds A's new chunk all dead (nothing points there yet) and asks for it.
    const engine = (a as unknown as { engine: { commitIf: (records: Array<{ type: number }>, ...rest: unknown[]) => Promise<'written' | 'refused'> } }).engine;
    const commitIf = engine.commitIf.bind(engine);
    let reached!: () => void;
    const atMove = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    engine.commitIf = async (records, ...rest) => {
      if (records[0]!.type === 8) {
        reached();
        await held;
      }
      return commitIf(records, ...rest);
    };
    const compacting = a.compact({ erase: true });
    await atMove;
    await b.compact({ erase: true });
    release();
    await compacting;
    for (const [i, id] of ids.slice(1).entries()) {
      expect((await a.getMemory(id))?.text).toBe(`memory number ${i + 1}`);
      expect((await b.getMemory(id))?.text).toBe(`memory number ${i + 1}`);
    }
    await a.close();
    await b.close();
    await expectVerified();
  });

  it('with erase, a chunk asked back and taken is rewritten even when the records applied meanwhile show it all live: no claim outlives the compaction', async () => {
    const a = await open({ autoCompaction: false });
    const b = await open({ autoCompaction: false });
    const secret = await b.appendMemory('my password is hunter2-claimed-once');
    await b.appendMemory('kept in the chunk of b');
    // B's next record waits a moment after its block is placed: A's erase sees dead bytes in B's chunk.
    const engineB = (b as unknown as { engine: { commit: (records: Array<{ type: number }>, ...rest: unknown[]) => Promise<number[]> } }).engine;
    const commit = engineB.commit.bind(engineB);
    let delayed = false;
    engineB.commit = async (records, ...rest) => {
      if (!delayed && records[0]!.type === 1) {
        delayed = true;
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
      return commit(records, ...rest);
    };
    const pending = b.appendMemory('a memory whose record waits');
    await new Promise((resolve) => setTimeout(resolve, 20));
    // A catches up each time it lets go of its own chunks, as its idle catch-up may at that moment:
    // when it chooses again, B's record is applied, and B's chunk is all live.
    const engineA = (a as unknown as { engine: { refresh(): void; blocks: { seal(): Promise<void> } } }).engine;
    const seal = engineA.blocks.seal.bind(engineA.blocks);
    engineA.blocks.seal = async () => {
      await seal();
      engineA.refresh();
    };
    expect((await a.compact({ erase: true })).chunksSkipped).toBe(0);
    await pending;
    // Had A kept its claim on B's chunk, B's erase could not take it, and the secret would stay.
    expect(await b.deleteMemory(secret)).toBe(true);
    expect((await b.compact({ erase: true })).chunksSkipped).toBe(0);
    expect(await filesHolding('hunter2-claimed-once')).toEqual([]);
    expect((await a.queryMemory('waits')).map((m) => m.text)).toEqual(['a memory whose record waits']);
    await a.close();
    await b.close();
    await expectVerified();
  });

  it('drops the log before its checkpoint even when another writer commits throughout', async () => {
    const fs = await open();
    let last = 0;
    for (let i = 0; i < 50; i++) last = await fs.appendMemory(`memory ${i} ${'y'.repeat(2000)}`);
    for (let i = 0; i < 40; i++) await fs.deleteMemory(last - 49 + i);
    const other = await open();
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) await other.appendMemory(`written meanwhile ${i}`);
    })();
    let report;
    try {
      report = await fs.compact();
    } finally {
      stop = true;
      await writer;
    }
    // Everything before the compaction, the deletions included, is out of the log.
    expect(report.logFirstLsn).toBeGreaterThan(last + 40);
    await other.close();
    await fs.close();
  });

  it('a stream read that began before the compaction reads on across it', async () => {
    const fs = await open();
    const dead = await fs.appendMemory('dead text');
    for (let i = 0; i < 3; i++) await fs.appendStream('log', `chunk ${i};`);
    await fs.deleteMemory(dead);
    await fs.close();
    const reader = await open();
    const chunks = reader.openRead('log');
    const read: string[] = [Buffer.from((await chunks.next()).value!).toString()];
    expect((await reader.compact({ erase: true })).chunksRewritten).toBeGreaterThan(0);
    for await (const chunk of chunks) read.push(Buffer.from(chunk).toString());
    expect(read.join('')).toBe('chunk 0;chunk 1;chunk 2;');
    await reader.close();
  });

  /** Appends `count` memories of about 100 bytes each, 500 to a commit. */
  async function appendMany(fs: MemMapFS, count: number, label: string): Promise<number[]> {
    const ids: number[] = [];
    for (let i = 0; i < count; i += 500) {
      ids.push(...(await fs.appendMemories(Array.from({ length: Math.min(500, count - i) }, (_, k) => ({ text: `${label} ${i + k} ${'y'.repeat(80)}` })))));
    }
    return ids;
  }

  const chunkFiles = async () => (await readdir(join(root, 'blocks'))).filter((name) => name.endsWith('.bin')).sort();

  for (const autoCompaction of [{ minDeadBytes: 256 * 1024 }, false] as const) {
    it(`${autoCompaction ? 'compacts by itself after a background checkpoint once enough is dead' : 'with autoCompaction false, never compacts by itself'}`, async () => {
      const fs = await open({ chunkSizeBytes: 128 * 1024, durability: 'none', autoCompaction });
      const early = await appendMany(fs, 6_000, 'early');
      // Most of the first chunks die; what is left of them must survive the move.
      const kept = early.filter((_, i) => i % 10 === 0);
      const dying = early.filter((_, i) => i % 10 !== 0);
      for (let i = 0; i < dying.length; i += 500) await Promise.all(dying.slice(i, i + 500).map((id) => fs.deleteMemory(id)));
      const before = await chunkFiles();
      // Enough changes for a checkpoint in the background.
      const late = await appendMany(fs, 12_000, 'late');
      const deadline = Date.now() + 30_000;
      let removed: string[] = [];
      while (Date.now() < deadline) {
        const now = await chunkFiles();
        removed = before.filter((name) => !now.includes(name));
        if (removed.length > before.length / 2 || (!autoCompaction && (await readdir(join(root, 'checkpoints'))).some((name) => /^checkpoint-\d{16}\.bin$/.test(name)))) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      if (autoCompaction) {
        expect(removed.length).toBeGreaterThan(before.length / 2);
      } else {
        // The checkpoint is there, and time for a compaction to have run and removed files.
        await new Promise((resolve) => setTimeout(resolve, 2500));
        expect((await chunkFiles()).filter((name) => before.includes(name))).toEqual(before);
      }
      for (const id of [...kept.slice(0, 50), ...kept.slice(-50), late[0]!, late.at(-1)!]) expect((await fs.getMemory(id))?.text).toMatch(/^(early|late) /);
      expect(await fs.getMemory(dying[0]!)).toBeUndefined();
      expect(fs.stats().memories).toBe(kept.length + late.length);
      await fs.close();
      const again = await open();
      expect((await again.getMemory(kept[1]!))?.text).toBe(`early 10 ${'y'.repeat(80)}`);
      expect(again.stats().memories).toBe(kept.length + late.length);
      await again.close();
      await expectVerified();
    });
  }

  it('by policy, changes nothing when it can take no chunk: history and expired memories stay', async () => {
    const fs = await open();
    const id = await fs.appendMemory('first words');
    await fs.updateMemory(id, { text: 'second words' });
    const expiring = await fs.appendMemory('short-lived', [], { ttlMs: 1 });
    // The only dead bytes are in a chunk another process still appends to.
    const holder = await appendAndHold(root, `held ${'z'.repeat(100 * 1024)}`);
    try {
      expect(await fs.deleteMemory(holder.id)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 10));
      const engine = (fs as unknown as { engine: { compact(options: { background: boolean }): Promise<{ chunksRewritten: number; chunksSkipped: number; expiredDeleted: number }> } }).engine;
      expect(await engine.compact({ background: true })).toMatchObject({ chunksRewritten: 0, chunksSkipped: 1, expiredDeleted: 0 });
      expect((await fs.memoryHistory(id)).map((v) => v.memory?.text)).toEqual(['first words', 'second words']);
      expect((await fs.memoryHistory(expiring)).map((v) => v.event)).toEqual(['created']);
    } finally {
      await holder.kill();
    }
    await fs.close();
  });

  it('refuses bad options, and compaction of a read-only store', async () => {
    const fs = await open();
    await fs.appendMemory('something');
    await expect(fs.compact({ erase: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await fs.close();
    for (const autoCompaction of ['yes', { minDeadBytes: -1 }, { minDeadBytes: 1.5 }, { minDead: 1 }, null]) {
      await expect(open({ autoCompaction: autoCompaction as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('autoCompaction') });
    }
    const reader = await open({ readOnly: true });
    await expect(reader.compact()).rejects.toMatchObject({ code: 'READ_ONLY' });
    await reader.close();
  });
});
