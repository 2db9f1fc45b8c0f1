import * as fileSystem from 'node:fs/promises';
import { cp, open as openFile, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, repairStore, verifyStore } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { crc32c } from '@memmapfs/wal';
import { useTempStore } from './support/temp-store.js';
import { appendAndHold } from './support/hold-writer.js';
import { damageBlock } from './support/damage-block.js';

const tempStore = useTempStore('checkpoints');
let root: string;
beforeEach(() => {
  ({ root } = tempStore());
});

const open = (options: Parameters<typeof MemMapFS.init>[1] = {}) => MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), ...options });
const checkpointFiles = async () => (await readdir(join(root, 'checkpoints'))).filter((name) => name.endsWith('.bin')).sort();
const manifest = async () => JSON.parse((await readFile(join(root, 'state.manifest'), 'utf8')).split('\n')[1]!) as { checkpoint: { file: string; lsn: number } };

/** Flips a byte of the log inside record `lsn`'s payload: a full replay of the log then fails with WAL_CORRUPT. */
async function damageRecord(lsn: number): Promise<void> {
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), readOnly: true });
  let offset = -1;
  for await (const record of (fs as unknown as { engine: { wal: { readFrom(lsn: number): AsyncIterable<{ lsn: number; offset: number }> } } }).engine.wal.readFrom(lsn)) {
    offset = record.offset;
    break;
  }
  await fs.close();
  const file = await openFile(join(root, 'state.wal'), 'r+');
  const byte = Buffer.alloc(1);
  await file.read(byte, 0, 1, offset + 30);
  byte[0]! ^= 0xff;
  await file.write(byte, 0, 1, offset + 30);
  await file.close();
}

/**
 * Replaces the log while another handle has it open (the store's files removed by hand, and a new store
 * made in the folder: a log removed alone is a lost log, which no open replaces), and writes 50 memories
 * to the new log, a checkpoint that lets it drop their records, and one more. Returns their ids and the
 * checkpoint's file.
 */
async function replaceLog(): Promise<{ ids: number[]; named: string }> {
  for (const name of ['state.wal', 'state.manifest', 'checkpoints', 'blocks', 'wal']) await rm(join(root, name), { recursive: true, force: true });
  const fresh = await open({ historyRetentionMs: 0 });
  const ids = await fresh.appendMemories(Array.from({ length: 50 }, (_, i) => ({ text: `new memory ${i}` })));
  await fresh.checkpoint();
  await fresh.appendMemory('after the checkpoint');
  await fresh.close();
  return { ids, named: (await manifest()).checkpoint.file };
}

/** The manifest still names the new log's checkpoint `named`, and every memory of the new log reads. */
async function expectNewLogKept(ids: number[], named: string): Promise<void> {
  expect((await manifest()).checkpoint.file).toBe(named);
  const again = await open();
  try {
    expect((await again.getMemory(ids[0]!))?.text).toBe('new memory 0');
    expect(again.stats().memories).toBe(51);
  } finally {
    await again.close();
  }
}

/**
 * A store of 200 memories compacted (the log no longer holds the records its checkpoint covers), then a
 * byte of the checkpoint's first row damaged on disk (the first group of 64 rows fails its check).
 */
async function compactedWithADamagedRow(): Promise<{ ids: number[]; file: string }> {
  const fs = await open();
  const ids = await fs.appendMemories(Array.from({ length: 200 }, (_, i) => ({ text: `memory ${i}` })));
  expect((await fs.compact()).logFirstLsn).toBeGreaterThan(1);
  await fs.close();
  const [file] = await checkpointFiles();
  const path = join(root, 'checkpoints', file!);
  const bytes = await readFile(path);
  bytes[160 + 8]! ^= 0xff;
  await writeFile(path, bytes);
  return { ids, file: file! };
}

describe('checkpoints of the tables', () => {
  it('a compacted store whose state.manifest is damaged or gone opens from its newest checkpoint, which the manifest only names', async () => {
    const fs = await open();
    const ids = await fs.appendMemories(Array.from({ length: 60 }, (_, i) => ({ text: `memory ${i}` })));
    expect((await fs.compact()).logFirstLsn).toBeGreaterThan(1);
    await fs.appendMemory('after the compaction');
    await fs.close();
    const manifestPath = join(root, 'state.manifest');
    const kept = await readFile(manifestPath);
    for (const damage of ['flipped', 'removed'] as const) {
      if (damage === 'flipped') {
        const bytes = Buffer.from(kept);
        bytes[bytes.length - 2]! ^= 0x01;
        await writeFile(manifestPath, bytes);
      } else {
        await rm(manifestPath);
      }
      const found = await verifyStore(root);
      expect(found.problems, damage).toEqual([expect.objectContaining({ severity: 'warning', kind: 'checkpoint-unusable', file: 'state.manifest', repairable: true })]);
      if (damage === 'flipped') {
        // Repair names the checkpoint in a new manifest; nothing is left to say.
        await repairStore(root);
        expect((await manifest()).checkpoint.file).toMatch(/^checkpoint-/);
        expect((await verifyStore(root)).problems).toEqual([]);
        await writeFile(manifestPath, Buffer.from(kept).fill(0x20, kept.length - 3, kept.length - 1));
      }
      const again = await open();
      expect((await again.getMemory(ids[0]!))?.text, damage).toBe('memory 0');
      expect(again.stats().memories, damage).toBe(damage === 'flipped' ? 61 : 62);
      // The next checkpoint written (here by the close, with a record after the checkpoint) names one again.
      await again.appendMemory(`written after the manifest was ${damage}`);
      await again.close();
      expect((await manifest()).checkpoint.file, damage).toMatch(/^checkpoint-/);
      expect((await verifyStore(root)).problems, damage).toEqual([]);
    }
  });

  it('a checkpoint whose tables section is damaged under its name is replaced by the next one at its record, and no cut of the log goes past it (a compaction or retention with nothing new written dropped the whole log)', async () => {
    for (const op of ['compact', 'retention'] as const) {
      const fs = await open();
      const ids: number[] = [];
      for (let i = 0; i < 10; i++) ids.push(await fs.appendMemory(`memory ${i}`));
      await fs.checkpoint();
      await fs.close();
      const [name] = (await readdir(join(root, 'checkpoints'))).filter((file) => file.startsWith('checkpoint-'));
      const path = join(root, 'checkpoints', name!);
      const bytes = await readFile(path);
      // The tables section's offset and length, from the header (see FORMAT.md).
      const tablesOffset = bytes.readDoubleLE(88);
      bytes[tablesOffset + Math.floor(bytes.readDoubleLE(96) / 2)]! ^= 0x55;
      await writeFile(path, bytes);
      const again = await open(op === 'retention' ? { historyRetentionMs: 0 } : {});
      if (op === 'compact') await again.compact();
      else await again.checkpoint();
      await again.close();
      const reopened = await open();
      for (const [i, id] of ids.entries()) expect((await reopened.getMemory(id))?.text, `${op}: memory ${i}`).toBe(`memory ${i}`);
      await reopened.close();
      expect((await verifyStore(root)).problems, op).toEqual([]);
      await rm(root, { recursive: true });
    }
  });

  it('a compaction that cannot read the checkpoint the manifest names (EMFILE) cuts nothing and fails with IO_ERROR; the next one cuts', async () => {
    let failing = false;
    const seam = {
      ...fileSystem,
      open: (async (path: Parameters<typeof fileSystem.open>[0], ...rest: unknown[]) => {
        if (failing && /checkpoint-\d{16}\.bin$/.test(String(path))) throw Object.assign(new Error(`EMFILE: too many open files, open '${String(path)}'`), { code: 'EMFILE' });
        return (fileSystem.open as (...args: unknown[]) => ReturnType<typeof fileSystem.open>)(path, ...rest);
      }) as typeof fileSystem.open,
    };
    const fs = await open({ fileSystem: seam });
    const ids = await fs.appendMemories(Array.from({ length: 50 }, (_, i) => ({ text: `memory ${i}` })));
    await fs.checkpoint();
    failing = true;
    await expect(fs.compact()).rejects.toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('The log was not shortened') });
    failing = false;
    expect((await fs.compact()).logFirstLsn).toBeGreaterThan(50);
    await fs.close();
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text).toBe(`memory ${i}`);
    await again.close();
  });

  it("a handle whose log is replaced while its close writes a checkpoint publishes none: the new log's checkpoint stays", async () => {
    // The stale handle's checkpoint file is held as it is opened, until the new log has its own checkpoint.
    let hold: Promise<void> | undefined;
    let reached!: () => void;
    const atWrite = new Promise<void>((resolve) => (reached = resolve));
    const holding = {
      ...fileSystem,
      open: (async (path: string, ...rest: unknown[]) => {
        if (hold && path.includes('.checkpoint-') && path.endsWith('.tmp')) {
          reached();
          const held = hold;
          hold = undefined;
          await held;
        }
        return (fileSystem.open as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
      }) as typeof fileSystem.open,
    };
    const stale = await open({ historyRetentionMs: 0, fileSystem: holding });
    await stale.appendMemories(Array.from({ length: 1100 }, (_, i) => ({ text: `old memory ${i}` })));
    let release!: () => void;
    hold = new Promise<void>((resolve) => (release = resolve));
    const closed = stale.close().then(() => undefined, (error: unknown) => error);
    await atWrite;
    const { ids, named } = await replaceLog();
    release();
    expect(await closed).toMatchObject({ code: 'STORE_REPLACED' });
    await expectNewLogKept(ids, named);
  });

  it("a handle whose log was replaced while it was open writes no checkpoint on close: the new log's checkpoint, which its records past the cut rely on, stays", async () => {
    const stale = await open({ historyRetentionMs: 0 });
    // (Over a thousand changes since its checkpoint: its close writes one.)
    await stale.appendMemories(Array.from({ length: 1100 }, (_, i) => ({ text: `old memory ${i}` })));
    const { ids, named } = await replaceLog();
    await expect(stale.close()).rejects.toMatchObject({ code: 'STORE_REPLACED' });
    expect(await checkpointFiles()).toEqual([named]);
    await expectNewLogKept(ids, named);
  });

  it('keep no state an opener started from: a store whose state was never written gives each opener its own initial state', async () => {
    const a = await open({ initialState: { status: 'idle', activeMemoryCount: 0, lastUpdatedId: 0, extra: { who: 'a' } } });
    await a.appendMemory('a memory, and no state written');
    await a.checkpoint();
    await a.close();
    const b = await open({ initialState: { status: 'busy', activeMemoryCount: 0, lastUpdatedId: 0, extra: { who: 'b' } } });
    expect(b.getState().extra).toEqual({ who: 'b' });
    await b.updateState({ ...b.getState(), extra: { who: 'written by b' } });
    await b.checkpoint();
    await b.close();
    const c = await open({ initialState: { status: 'idle', activeMemoryCount: 0, lastUpdatedId: 0, extra: { who: 'c' } } });
    expect(c.getState().extra).toEqual({ who: 'written by b' });
    await c.close();
  });

  it('open without the log before the checkpoint: damage there goes unread, and a whole replay finds it', async () => {
    const fs = await open();
    for (let i = 0; i < 5; i++) await fs.appendMemory(`memory ${i}`);
    await fs.checkpoint();
    await fs.appendMemory('after the checkpoint');
    await fs.close();
    await damageRecord(2);
    const resumed = await open();
    expect((await resumed.getMemory(6))?.text).toBe('after the checkpoint');
    await resumed.close();
    await rm(join(root, 'state.manifest'));
    await rm(join(root, 'checkpoints'), { recursive: true });
    await expect(open()).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
  });

  /** Two checkpoints (memories 1–5, then memory 6): returns the manifest as the first one left it. */
  async function twoCheckpointsKeepingTheFirstManifest(): Promise<Buffer> {
    const fs = await open();
    for (let i = 0; i < 5; i++) await fs.appendMemory(`memory ${i}`);
    await fs.checkpoint();
    const olderManifest = await readFile(join(root, 'state.manifest'));
    await fs.appendMemory('after the first checkpoint');
    await fs.checkpoint();
    await fs.close();
    return olderManifest;
  }

  it('an open whose manifest names a checkpoint another writer removed uses the newest checkpoint left', async () => {
    const olderManifest = await twoCheckpointsKeepingTheFirstManifest();
    expect(await checkpointFiles()).toHaveLength(1);
    // Two writers published at once: the older one's manifest landed last, after the newer one removed its file.
    await writeFile(join(root, 'state.manifest'), olderManifest);
    await damageRecord(2);
    const again = await open();
    expect((await again.getMemory(6))?.text).toBe('after the first checkpoint');
    await again.close();
  });

  it('two writers publishing checkpoints at once take turns: the manifest never ends up naming a file the other removed', async () => {
    // Writer A's manifest lands late (its rename waits), while writer B publishes a newer checkpoint.
    let holdManifest: (() => void) | undefined;
    const slowRename: typeof import('node:fs/promises').rename = async (from, to) => {
      if (String(to).endsWith('state.manifest') && holdManifest === undefined) {
        await new Promise<void>((resolve) => {
          holdManifest = resolve;
          setTimeout(resolve, 600);
        });
      }
      return (await import('node:fs/promises')).rename(from, to);
    };
    const nodeFs = await import('node:fs/promises');
    const a = await open({ fileSystem: { ...nodeFs, rename: slowRename } });
    const b = await open();
    await a.appendMemories(Array.from({ length: 30 }, (_, i) => ({ text: `first ${i}` })));
    const publishing = a.checkpoint();
    while (holdManifest === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    await b.appendMemories(Array.from({ length: 30 }, (_, i) => ({ text: `second ${i}` })));
    await Promise.all([publishing, b.checkpoint()]);
    const named = (await manifest()).checkpoint;
    expect(await checkpointFiles()).toContain(named.file);
    expect(named.lsn).toBe(60);
    expect((await verifyStore(root)).problems).toEqual([]);
    await a.close();
    await b.close();
  });

  it.each(['auto', 'read'] as const)('a writer that checkpoints at the LSN another writer published leaves that file as it is, and removes its own (reader %s)', async (reader) => {
    const a = await open();
    const b = await open({ reader });
    await a.appendMemories(Array.from({ length: 100 }, (_, i) => ({ text: `memory ${i}` })));
    await a.checkpoint();
    const named = (await manifest()).checkpoint;
    const published = await stat(join(root, 'checkpoints', named.file));
    // B reads up to the same record, then writes its checkpoint of it.
    expect((await b.getMemory(100))?.text).toBe('memory 99');
    await b.checkpoint();
    expect((await stat(join(root, 'checkpoints', named.file))).ino).toBe(published.ino);
    expect((await manifest()).checkpoint).toEqual(named);
    expect(await readdir(join(root, 'checkpoints'))).toEqual([named.file]);
    // (B reads its own copy, removed unnamed.)
    expect((await b.listMemories({ limit: 200 })).memories).toHaveLength(100);
    await a.close();
    await b.close();
    const again = await open();
    expect((await again.listMemories({ limit: 200 })).memories).toHaveLength(100);
    await again.close();
    expect((await verifyStore(root)).problems).toEqual([]);
  });

  it('a checkpoint whose publishing fails is IO_ERROR, and the next one asked for is written and published', async () => {
    const nodeFs = await import('node:fs/promises');
    let failures = 1;
    const failingRename: typeof nodeFs.rename = async (from, to) => {
      if (/checkpoint-\d{16}\.bin$/.test(String(to)) && failures-- > 0) throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' });
      return nodeFs.rename(from, to);
    };
    const fs = await open({ fileSystem: { ...nodeFs, rename: failingRename } });
    await fs.appendMemories(Array.from({ length: 20 }, (_, i) => ({ text: `memory ${i}` })));
    await expect(fs.checkpoint()).rejects.toMatchObject({ code: 'IO_ERROR' });
    expect(await readdir(join(root, 'checkpoints'))).toEqual([]);
    expect((await fs.getMemory(20))?.text).toBe('memory 19');
    await fs.checkpoint();
    expect((await manifest()).checkpoint.lsn).toBe(20);
    expect(await checkpointFiles()).toEqual([(await manifest()).checkpoint.file]);
    await fs.close();
    expect((await verifyStore(root)).problems).toEqual([]);
  });

  it('a checkpoint that takes its name late, while another writer publishes a newer one, never stays behind it', async () => {
    // B's checkpoint takes its name late (its rename waits); meanwhile A writes and publishes a newer one.
    const nodeFs = await import('node:fs/promises');
    let release = () => {};
    let renameWaits: () => void;
    const renameWaiting = new Promise<void>((resolve) => (renameWaits = resolve));
    const slowRename: typeof nodeFs.rename = async (from, to) => {
      if (/checkpoint-\d{16}\.bin$/.test(String(to))) {
        await new Promise<void>((resolve) => {
          release = resolve;
          renameWaits();
          setTimeout(resolve, 5000);
        });
      }
      return nodeFs.rename(from, to);
    };
    // A opens the publishing lock's file once per try: a second open is a try again, B holding it.
    let lockOpens = 0;
    let refused: () => void;
    const aRefused = new Promise<void>((resolve) => (refused = resolve));
    const countingOpen: typeof nodeFs.open = async (path, ...rest) => {
      if (String(path).endsWith('state.manifest.lock') && ++lockOpens === 2) refused();
      return nodeFs.open(path, ...rest);
    };
    const a = await open({ fileSystem: { ...nodeFs, open: countingOpen } });
    const b = await open({ fileSystem: { ...nodeFs, rename: slowRename } });
    await a.appendMemories(Array.from({ length: 100 }, (_, i) => ({ text: `memory ${i}` })));
    expect((await b.getMemory(100))?.text).toBe('memory 99');
    const late = b.checkpoint();
    await Promise.race([renameWaiting, late]);
    await a.appendMemories(Array.from({ length: 10 }, (_, i) => ({ text: `later ${i}` })));
    lockOpens = 0;
    // Where B's rename waits under the publishing lock, A's publishing waits for it; else A's ends first.
    const newer = a.checkpoint();
    await Promise.race([newer, aRefused]);
    release();
    await Promise.all([late, newer]);
    const named = (await manifest()).checkpoint;
    expect(named.lsn).toBe(110);
    expect(await readdir(join(root, 'checkpoints'))).toEqual([named.file]);
    await a.close();
    await b.close();
    expect((await verifyStore(root)).problems).toEqual([]);
  });

  it('a checkpoint of the LSN the manifest names replaces its file when that is missing or damaged', async () => {
    const a = await open();
    await a.appendMemories(Array.from({ length: 50 }, (_, i) => ({ text: `memory ${i}` })));
    await a.checkpoint();
    const named = (await manifest()).checkpoint;
    const path = join(root, 'checkpoints', named.file);
    for (const spoil of [() => rm(path), () => writeFile(path, 'not a checkpoint')]) {
      await spoil();
      const b = await open();
      expect((await b.getMemory(50))?.text).toBe('memory 49');
      await b.checkpoint();
      expect((await manifest()).checkpoint).toEqual(named);
      expect((await readFile(path)).subarray(0, 8).toString()).toBe('MMFS-CKP');
      await b.close();
    }
    await a.close();
    expect((await verifyStore(root)).problems).toEqual([]);
  });

  it('verify says which checkpoint an open uses when the manifest names one another writer removed, and repair names it', async () => {
    const olderManifest = await twoCheckpointsKeepingTheFirstManifest();
    const [newest] = await checkpointFiles();
    await writeFile(join(root, 'state.manifest'), olderManifest);
    const { problems } = await verifyStore(root);
    expect(problems).toMatchObject([{ severity: 'warning', kind: 'checkpoint-unusable', message: expect.stringContaining(`an open uses checkpoints/${newest}`) }]);
    expect(problems[0]!.message).not.toMatch(/replays the whole log/);
    const repaired = await repairStore(root);
    expect(repaired.actions).toContain(`Named ${newest}, the checkpoint an open used in place of the missing or damaged one, in state.manifest.`);
    expect(repaired.after.problems).toEqual([]);
    expect((await manifest()).checkpoint.file).toBe(newest);
    expect(await checkpointFiles()).toEqual([newest]);
  });

  it('a damaged tables section is not used: the open replays the log instead', async () => {
    const fs = await open();
    await fs.setKv('key', { value: 1 });
    for (let i = 0; i < 5; i++) await fs.appendMemory(`memory ${i}`);
    await fs.checkpoint();
    await fs.close();
    const [file] = await checkpointFiles();
    const path = join(root, 'checkpoints', file!);
    const bytes = await readFile(path);
    bytes[bytes.readDoubleLE(88) + 3]! ^= 0xff;
    await writeFile(path, bytes);
    expect((await verifyStore(root)).problems.map((p) => p.kind)).toEqual(['checkpoint-damaged']);
    const again = await open();
    expect(again.getKv('key')).toEqual({ value: 1 });
    expect((await again.getMemory(6))?.text).toBe('memory 4');
    await again.close();
  });

  it('a checkpoint with damaged rows, once a compaction let the log drop the records before it, is kept by repair (the only copy of what they made): the other memories still read', async () => {
    const { ids, file } = await compactedWithADamagedRow();
    const report = await verifyStore(root);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-damaged', repairable: false, message: expect.stringContaining('repair` keeps it') }));
    expect(report.problems.map((p) => p.message).join('\n')).not.toMatch(/replays the whole log|no usable checkpoint/);
    await repairStore(root);
    expect(await checkpointFiles()).toEqual([file]);
    const again = await open();
    for (const i of [64, 100, 199]) expect((await again.getMemory(ids[i]!))?.text).toBe(`memory ${i}`);
    await expect(again.getMemory(ids[0]!)).rejects.toMatchObject({ code: 'CHECKPOINT_CORRUPT' });
    await again.close();
  });

  it('a damaged group of KV pairs in a checkpoint is CHECKPOINT_CORRUPT when read, never a wrong value; verify reports it, and repair has the log stand in for it', async () => {
    let fs = await open();
    await fs.setKvs(Array.from({ length: 200 }, (_, i) => [`key-${String(i).padStart(3, '0')}`, { i }] as const));
    await fs.checkpoint();
    await fs.close();
    const [file] = await checkpointFiles();
    const path = join(root, 'checkpoints', file!);
    const bytes = await readFile(path);
    // The KV section lies between the labels and the tables: rows of 16 bytes, then keys and values. A
    // byte of the key of pair 100 (in the group of pairs 64–127).
    const kvAt = bytes.readDoubleLE(72) + bytes.readDoubleLE(80);
    const keyAt = kvAt + 16 * 200 + bytes.readDoubleLE(kvAt + 16 * 100);
    expect(bytes.toString('utf8', keyAt, keyAt + 7)).toBe('key-100');
    bytes[keyAt + 6] = '7'.charCodeAt(0);
    await writeFile(path, bytes);
    fs = await open();
    expect(() => fs.getKv('key-100')).toThrow(expect.objectContaining({ code: 'CHECKPOINT_CORRUPT', message: expect.stringContaining('KV pairs 64–127') }));
    expect(() => fs.getKv('key-107')).toThrow(expect.objectContaining({ code: 'CHECKPOINT_CORRUPT' }));
    await fs.close();
    expect((await verifyStore(root)).problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-damaged', repairable: true, message: expect.stringContaining('KV pairs 64–127') }));
    await repairStore(root);
    fs = await open();
    for (let i = 0; i < 200; i++) expect(fs.getKv(`key-${String(i).padStart(3, '0')}`)).toEqual({ i });
    expect(fs.listKv()).toHaveLength(200);
    await fs.close();
    expect((await verifyStore(root)).problems).toEqual([]);
  });

  it('repair with salvage writes a kept damaged checkpoint again with every row that reads back whole, backs the original up, and the store works as a whole again', async () => {
    const { ids, file } = await compactedWithADamagedRow();
    // More rows of the damaged group: one whose block reference is damaged (its text cannot be found),
    // one whose id is (out of order: it must not cost the rows after it), and one whose labels are
    // said to lie elsewhere (they would decode as another memory's).
    const path = join(root, 'checkpoints', file);
    const bytes = await readFile(path);
    bytes[160 + 72 * 5 + 32]! ^= 0x10;
    // (Its id and version those of row 40: a row kept for its id alone would cost rows 11 to 39.)
    bytes.writeDoubleLE(bytes.readDoubleLE(160 + 72 * 40), 160 + 72 * 10);
    bytes.writeDoubleLE(bytes.readDoubleLE(160 + 72 * 40 + 64), 160 + 72 * 10 + 64);
    const labelsOffset = 160 + 72 * 20 + 40;
    bytes.writeDoubleLE(bytes.readDoubleLE(160 + 72 * 3 + 40), labelsOffset);
    await writeFile(path, bytes);
    expect((await verifyStore(root)).problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-damaged', repairable: false, message: expect.stringContaining('repair --salvage') }));
    // Not without asking for it.
    await repairStore(root);
    expect(await readFile(path)).toEqual(bytes);
    const report = await repairStore(root, { salvage: true });
    expect(report.actions.join('\n')).toMatch(/of the 64 rows in its damaged groups, kept the 61 that read back whole .* and dropped 3, with the memories they held/);
    expect(report.backup).toBeDefined();
    expect(await readFile(join(report.backup!, file))).toEqual(bytes);
    expect(report.after.problems).toEqual([]);
    const again = await open();
    for (const [i, id] of ids.entries()) {
      if ([5, 10, 20].includes(i)) expect(await again.getMemory(id)).toBeUndefined();
      else expect((await again.getMemory(id))?.text).toBe(`memory ${i}`);
    }
    // What a damaged checkpoint stopped works again: listing every memory, a checkpoint over it, a compaction.
    expect(await again.queryMemory('memory', { limit: 500 })).toHaveLength(197);
    await again.appendMemory('after the salvage');
    await again.checkpoint();
    await again.compact();
    await again.close();
    expect((await verifyStore(root)).problems).toEqual([]);
  });

  /**
   * 200 memories, a compaction (the log drops their records), three later ones, a checkpoint, one more;
   * the byte of the checkpoint at `damaged(size)` flipped, and record 202 of state.wal damaged.
   */
  async function salvageableCheckpointPastDamage(damaged: (size: number) => number): Promise<{ ids: number[]; texts: string[]; file: string; bytes: Buffer }> {
    const fs = await open();
    const ids = await fs.appendMemories(Array.from({ length: 200 }, (_, i) => ({ text: `memory ${i}` })));
    expect((await fs.compact()).logFirstLsn).toBeGreaterThan(1);
    const later = ['later one', 'later damaged', 'later three'];
    for (const text of later) ids.push(await fs.appendMemory(text));
    await fs.checkpoint();
    ids.push(await fs.appendMemory('after it'));
    await fs.close();
    const file = (await checkpointFiles()).at(-1)!;
    const bytes = await readFile(join(root, 'checkpoints', file));
    bytes[damaged(bytes.length)]! ^= 0xff;
    await writeFile(join(root, 'checkpoints', file), bytes);
    const wal = await readFile(join(root, 'state.wal'));
    wal[wal.indexOf('later damaged') + 3]! ^= 0x20;
    await writeFile(join(root, 'state.wal'), wal);
    return { ids, texts: [...Array.from({ length: 200 }, (_, i) => `memory ${i}`), ...later, 'after it'], file, bytes };
  }
  /** The check of the last group of rows (of the later memories): every row in it is whole. */
  const lastGroupCheck = (size: number) => size - 1;

  it('repair with salvage writes a kept damaged checkpoint again first when it ends past damage to the log: the checkpoint then covers the damage, and every memory reads', async () => {
    // (The first row's id: the first group fails its check.)
    const { ids, texts, file, bytes } = await salvageableCheckpointPastDamage(() => 160 + 8);
    const found = (await verifyStore(root)).problems;
    expect(found).toContainEqual(expect.objectContaining({ kind: 'checkpoint-damaged', salvageable: true, message: expect.stringContaining('repair --salvage') }));
    expect(found).toContainEqual(expect.objectContaining({ kind: 'wal-damaged', message: expect.stringContaining('or run `memmapfs repair --salvage`') }));
    // (The log's damage stays, for compact to drop: repair says so, and what it did before.)
    const refusal = await repairStore(root, { salvage: true }).then(() => undefined, (error: unknown) => error);
    expect(refusal).toMatchObject({ code: 'WAL_CORRUPT', message: expect.stringMatching(new RegExp(`covers it.*With --salvage, before this: Wrote the damaged checkpoint checkpoints/${file} again`)) });
    const backups = (await readdir(root)).filter((name) => name.startsWith('repair-backup-'));
    expect(backups).toHaveLength(1);
    expect(await readFile(join(root, backups[0]!, file))).toEqual(bytes);
    expect((await verifyStore(root)).problems.map((problem) => problem.kind)).toEqual(['wal-damaged']);
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text, texts[i]).toBe(texts[i]);
    await again.compact();
    await again.close();
    expect((await verifyStore(root)).problems).toEqual([]);
  });

  it.each([['before the damage', 'later one'], ['after it (the checkpoint\'s own record)', 'later three']])('repair with salvage first puts back a damaged block of the checkpoint whose copy a whole record %s carries: its row is kept', async (_, text) => {
    const { ids, texts } = await salvageableCheckpointPastDamage(lastGroupCheck);
    await damageBlock(root, text);
    await repairStore(root, { salvage: true }).catch(() => undefined);
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text, texts[i]).toBe(texts[i]);
    await again.close();
  });

  it('repair with salvage that salvages first removes the saved search index, though it then leaves the log to the checkpoint (the index may hold a memory of a row it dropped)', async () => {
    // (Row 5's block reference damaged: its group fails its check, and the salvage drops the row.)
    const { ids } = await salvageableCheckpointPastDamage(() => 160 + 72 * 5 + 32);
    const snapshot = join(root, 'index', 'search.snapshot');
    expect(await stat(snapshot).then(() => true, () => false)).toBe(true);
    const refusal = await repairStore(root, { salvage: true }).then(() => undefined, (error: unknown) => error);
    expect(refusal).toMatchObject({ code: 'WAL_CORRUPT', message: expect.stringContaining('Removed the saved search index') });
    expect(await stat(snapshot).then(() => true, () => false)).toBe(false);
    const again = await open();
    expect(await again.getMemory(ids[5]!)).toBeUndefined();
    expect((await again.getMemory(ids[6]!))?.text).toBe('memory 6');
    await again.close();
  });

  it('repair with salvage leaves a kept damaged checkpoint as it is when its own record is damaged too (it could not cover the damage, and repair refuses all the same)', async () => {
    const { file, bytes } = await salvageableCheckpointPastDamage(lastGroupCheck);
    const path = join(root, 'checkpoints', file);
    const wal = await readFile(join(root, 'state.wal'));
    wal[wal.indexOf('later three') + 3]! ^= 0x20;
    await writeFile(join(root, 'state.wal'), wal);
    // (Nor does verify advise it: repair refuses before it would salvage.)
    const found = (await verifyStore(root)).problems;
    expect(found.map((problem) => problem.message).join('\n')).not.toContain('run `memmapfs repair --salvage`');
    expect(found.find((problem) => problem.kind === 'checkpoint-damaged')).toMatchObject({ message: expect.stringContaining('cannot help while the log is damaged') });
    expect(found.find((problem) => problem.kind === 'checkpoint-damaged')).not.toHaveProperty('salvageable');
    await expect(repairStore(root, { salvage: true })).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
    expect(await readFile(path)).toEqual(bytes);
  });

  it('repair with salvage keeps every row when only the row checks are damaged (every group fails its check)', async () => {
    const fs = await open();
    const ids = await fs.appendMemories(Array.from({ length: 200 }, (_, i) => ({ text: `memory ${i}`, namespace: `ns${i % 3}` })));
    expect((await fs.compact()).logFirstLsn).toBeGreaterThan(1);
    await fs.close();
    const [file] = await checkpointFiles();
    const path = join(root, 'checkpoints', file!);
    const bytes = await readFile(path);
    // The checks of the four groups: the file's last 16 bytes.
    for (let at = bytes.length - 16; at < bytes.length; at++) bytes[at]! ^= 0xff;
    await writeFile(path, bytes);
    const report = await repairStore(root, { salvage: true });
    expect(report.actions.join('\n')).toMatch(/of the 200 rows in its damaged groups, kept the 200 that read back whole \([^)]*\); the original/);
    expect(report.after.problems).toEqual([]);
    const again = await open();
    for (const [i, id] of ids.entries()) expect(await again.getMemory(id)).toMatchObject({ text: `memory ${i}`, namespace: `ns${i % 3}` });
    expect(again.stats().memories).toBe(200);
    await again.close();
  });

  it('a checkpoint damaged on disk, once a compaction let the log drop the records before it, is kept by the store too: a checkpoint written over it fails, saying so, and the other memories still read after a reopen', async () => {
    const { ids, file } = await compactedWithADamagedRow();
    const again = await open();
    await again.appendMemory('after the damage');
    const outcome = await again.checkpoint().then(() => 'written', (error: { code?: string; message?: string }) => `${error.code}: ${error.message}`);
    expect(outcome).toMatch(/^CHECKPOINT_CORRUPT: .*It is kept: the log no longer holds the records before it/);
    await again.close().catch(() => undefined);
    expect(await checkpointFiles()).toEqual([file]);
    const reopened = await open();
    for (const i of [64, 199]) expect((await reopened.getMemory(ids[i]!))?.text).toBe(`memory ${i}`);
    await reopened.close().catch(() => undefined);
  });

  it('a checkpoint damaged on disk and kept does not stop an open that puts back blocks a crash took: the block goes back, the damage is a warning, and the other memories read', async () => {
    const { ids } = await compactedWithADamagedRow();
    const blocksOf = async (folder: string) => new Map(await Promise.all((await readdir(join(folder, 'blocks'))).filter((name) => name.endsWith('.bin')).map(async (name) => [name, await readFile(join(folder, 'blocks', name))] as const)));
    const before = await blocksOf(root);
    const fs = await open();
    const id = await fs.appendMemory('written after the damage, then lost by a crash');
    // As a power loss leaves it: the log has the record (and the block's copy in it), the chunk file not the block.
    const crashed = `${root}-crashed`;
    await cp(root, crashed, { recursive: true });
    await fs.close().catch(() => undefined);
    let zeroed = 0;
    for (const [name, bytes] of await blocksOf(crashed)) {
      const old = before.get(name) ?? Buffer.alloc(0);
      for (let at = 0; at < bytes.length; at++) {
        if (at < old.length && bytes[at] === old[at]) continue;
        bytes[at] = 0;
        zeroed++;
      }
      await writeFile(join(crashed, 'blocks', name), bytes);
    }
    expect(zeroed).toBeGreaterThan(0);
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(`${warning.code}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const recovered = await MemMapFS.init(crashed, { search: flexsearch(), codec: msgpack() });
      expect((await recovered.getMemory(id))?.text).toBe('written after the damage, then lost by a crash');
      for (const i of [64, 199]) expect((await recovered.getMemory(ids[i]!))?.text).toBe(`memory ${i}`);
      await recovered.close().catch(() => undefined);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.some((w) => w.startsWith('MEMMAPFS_CHECKPOINT_DAMAGED'))).toBe(true);
    } finally {
      process.off('warning', onWarning);
      await rm(crashed, { recursive: true, force: true });
    }
  });

  it('verify reports a checkpoint whose row checks alone are damaged (its sections\' checksums whole), the log cut before it or not', async () => {
    for (const compacted of [false, true]) {
      await rm(root, { recursive: true, force: true });
      const fs = await open();
      await fs.appendMemories(Array.from({ length: 200 }, (_, i) => ({ text: `memory ${i}` })));
      if (compacted) await fs.compact();
      else await fs.checkpoint();
      await fs.close();
      const [file] = await checkpointFiles();
      const path = join(root, 'checkpoints', file!);
      const bytes = await readFile(path);
      // The check of the last group of rows: the file's last bytes.
      bytes[bytes.length - 1]! ^= 0xff;
      await writeFile(path, bytes);
      const problems = (await verifyStore(root)).problems.filter((p) => p.kind === 'checkpoint-damaged');
      expect(problems, `compacted: ${compacted}`).toEqual([expect.objectContaining({ severity: 'error', repairable: !compacted, message: expect.stringContaining('fail their checks') })]);
    }
  });

  it('verify compares a checkpoint with the log it covers: a row that disagrees, checksums intact, is reported', async () => {
    const fs = await open();
    for (let i = 0; i < 5; i++) await fs.appendMemory(`memory ${i}`, ['t']);
    await fs.updateMemory(3, { tags: ['changed'] });
    await fs.setKv('k', [1, 2]);
    await fs.checkpoint();
    await fs.close();
    expect((await verifyStore(root)).problems).toEqual([]);
    const [file] = await checkpointFiles();
    const path = join(root, 'checkpoints', file!);
    const bytes = await readFile(path);
    // Row 1's updatedAt, one millisecond later, with every checksum made to match.
    bytes.writeDoubleLE(bytes.readDoubleLE(160 + 72 + 16) + 1, 160 + 72 + 16);
    const labelsAt = bytes.readDoubleLE(72);
    const labelsEnd = labelsAt + bytes.readDoubleLE(80);
    bytes.writeUInt32LE(crc32c(bytes.subarray(160, labelsAt)), 104);
    // (All five rows are in the first group of the row checks: their rows, then their labels.)
    bytes.writeUInt32LE(crc32c(bytes.subarray(labelsAt, labelsEnd), crc32c(bytes.subarray(160, labelsAt))), bytes.readDoubleLE(152));
    bytes.writeUInt32LE(crc32c(bytes.subarray(16, 160)), 12);
    await writeFile(path, bytes);
    const report = await verifyStore(root);
    expect(report.problems.map((p) => [p.kind, p.severity])).toEqual([['checkpoint-damaged', 'error']]);
    expect(report.problems[0]!.message).toContain('memory 2 differs');
  });

  it('a damaged block whose chunk a checkpoint record says was fsynced does not stop checkpoints (an open would not restore it either)', async () => {
    const first = await open();
    const id = await first.appendMemory('its chunk is fsynced when this process closes');
    await first.close();
    const chunk = join(root, 'blocks', (await readdir(join(root, 'blocks'))).filter((n) => n.endsWith('.bin')).sort()[0]!);
    const bytes = await readFile(chunk);
    bytes[bytes.length - 3]! ^= 0xff;
    await writeFile(chunk, bytes);
    const next = await open();
    await next.appendMemory('another');
    await expect(next.checkpoint()).resolves.toBeUndefined();
    await expect(next.getMemory(id)).rejects.toMatchObject({ code: 'BLOCK_CORRUPT' });
    await next.close();
  });

  it('closes a search provider given as an instance when the store closes, queried or not, and when an open fails', async () => {
    let closed = 0;
    const provider = { name: 'counting', supports: { snapshot: false, prefix: false }, add() {}, remove() {}, search: () => [], clear() {}, close: () => void closed++ };
    const fs = await MemMapFS.init(root, { search: provider, codec: msgpack() });
    await fs.appendMemory('never queried');
    await fs.close();
    expect(closed).toBe(1);
    await expect(MemMapFS.init(root, { search: provider, codec: { name: 'other', encode: () => new Uint8Array(), decode: () => ({}) } })).rejects.toMatchObject({ code: 'CODEC_MISMATCH' });
    expect(closed).toBe(2);
  });

  it('refuses bad options of a built-in search adapter at open, not at the first query', async () => {
    const fs = await open();
    await fs.appendMemory('an existing store: its index is not loaded at open');
    await fs.close();
    // (A JavaScript caller's bad option: TypeScript would not compile it.)
    await expect(MemMapFS.init(root, { search: { provider: 'flexsearch', options: { tokenize: 'sideways' as never } }, codec: msgpack() })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('flexsearch: tokenize must be one of') });
  });

  it('a damaged row is never copied into the next checkpoint under a fresh checksum', async () => {
    const fs = await open();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await fs.appendMemory(`memory ${i}`));
    await fs.checkpoint();
    await fs.close();
    const [file] = await checkpointFiles();
    const path = join(root, 'checkpoints', file!);
    const bytes = await readFile(path);
    // Row 2's expiry: the memory looks expired.
    bytes.writeDoubleLE(Date.now() - 1000, 160 + 72 + 24);
    await writeFile(path, bytes);
    const again = await open();
    // Read, the row fails its group's check: never a wrong answer.
    await expect(again.getMemory(ids[1]!)).rejects.toMatchObject({ code: 'CHECKPOINT_CORRUPT' });
    await again.appendMemory('one more');
    await again.checkpoint().catch(() => undefined);
    await again.close();
    // Either the damage is still reported, or nothing damaged is left to read.
    const report = await verifyStore(root);
    const reopened = await open();
    const second = await reopened.getMemory(ids[1]!);
    await reopened.close();
    expect(report.ok === false || second?.text === 'memory 1').toBe(true);
  });

  it('a read by id checks the rows it reads, not every group its search passes: a damaged group elsewhere fails only its own rows', async () => {
    const fs = await open();
    const ids = await fs.appendMemories(Array.from({ length: 64 * 3 }, (_, i) => ({ text: `memory ${i}` })));
    await fs.checkpoint();
    await fs.close();
    const [file] = await checkpointFiles();
    const path = join(root, 'checkpoints', file!);
    const bytes = await readFile(path);
    // Row 100's expiry, in the second of three groups of 64 rows: the one a binary search looks at first.
    bytes.writeDoubleLE(Date.now() - 1000, 160 + 72 * 100 + 24);
    await writeFile(path, bytes);
    const again = await open();
    expect((await again.getMemory(ids[191]!))?.text).toBe('memory 191');
    expect((await again.getMemory(ids[5]!))?.text).toBe('memory 5');
    await expect(again.getMemory(ids[100]!)).rejects.toMatchObject({ code: 'CHECKPOINT_CORRUPT' });
    await expect(again.getMemory(ids[70]!)).rejects.toMatchObject({ code: 'CHECKPOINT_CORRUPT' });
    await again.close();
  });

  it('a checkpoint asked for while one starts in the background waits for it, and both are written', async () => {
    const idle = await open();
    const busy = await open();
    for (let i = 0; i < 9; i++) await busy.appendMemories(Array.from({ length: 2000 }, (_, j) => ({ text: `memory ${i}-${j}` })));
    await busy.close();
    // The idle process catches up with 18,000 records: enough to start a checkpoint of its own.
    await expect(idle.checkpoint()).resolves.toBeUndefined();
    await idle.close();
    expect(await checkpointFiles()).toHaveLength(1);
    expect((await manifest()).checkpoint.lsn).toBeGreaterThanOrEqual(18_000);
  }, 60_000);

  it('a checkpoint reads back every block whose copy it lets go: one damaged among hundreds stops it, naming its record', async () => {
    const fs = await open();
    const texts = Array.from({ length: 300 }, (_, i) => `memory ${String(i).padStart(3, '0')} of a batch whose blocks are read back before a checkpoint`);
    const ids = await fs.appendMemories(texts.map((text) => ({ text })));
    const chunk = join(root, 'blocks', (await readdir(join(root, 'blocks'))).filter((n) => n.endsWith('.bin')).sort().at(-1)!);
    const at = (await readFile(chunk)).indexOf('memory 171 of');
    expect(at).toBeGreaterThan(0);
    // (In place: the file is mapped.)
    const overwrite = async (text: string) => {
      const handle = await openFile(chunk, 'r+');
      await handle.write(text, at);
      await handle.close();
    };
    // What a lost or torn write-back would leave: the bytes of one block in the middle changed.
    await overwrite('MEMORY');
    await expect(fs.checkpoint()).rejects.toMatchObject({ code: 'BLOCK_MISSING', message: expect.stringContaining(`the block of record ${ids[171]} `) });
    // Put right, the same checkpoint is written.
    await overwrite('memory');
    await expect(fs.checkpoint()).resolves.toBeUndefined();
    expect((await fs.getMemory(ids[171]!))?.text).toBe(texts[171]);
    await fs.close();
  });

  it('a block a crash took from another writer is not left behind by a checkpoint: it is still put back from its copy', async () => {
    const setup = await open();
    await setup.appendMemory('written before anything went wrong');
    await setup.close();
    const chunk = join(root, 'blocks', (await readdir(join(root, 'blocks'))).filter((n) => n.endsWith('.bin')).sort().at(-1)!);
    const sizeBefore = (await stat(chunk)).size;
    const survivor = await open();
    const dead = await appendAndHold(root, 'the dead writer wrote this, and its record is durable');
    await dead.kill();
    // Its block never reached the disk (a power loss before the chunk was fsynced).
    await truncate(chunk, sizeBefore);
    await survivor.checkpoint().catch(() => undefined);
    await survivor.close();
    const reopened = await open();
    expect((await reopened.getMemory(dead.id))?.text).toBe('the dead writer wrote this, and its record is durable');
    await reopened.close();
  });
});
