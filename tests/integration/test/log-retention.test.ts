import * as nodeFileSystem from 'node:fs/promises';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, repairStore, verifyStore, type Codec } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { crc32c } from '@memmapfs/wal';
import { appendAndHold, storeWorkerArgs } from './support/hold-writer.js';
import { useTempStore } from './support/temp-store.js';
import { damageBlock } from './support/damage-block.js';

const tempStore = useTempStore('retention');
let dir: string;
let root: string;
beforeEach(() => {
  ({ dir, root } = tempStore());
});

const open = (options: Parameters<typeof MemMapFS.init>[1] = {}) => MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), ...options });
const sealedSegments = async () => (await readdir(join(root, 'wal')).catch(() => [] as string[])).filter((name) => name.endsWith('.seg')).sort();
/** Every byte of the log: the sealed segments and state.wal. */
const logBytes = async () => Buffer.concat([...(await Promise.all((await sealedSegments()).map((name) => readFile(join(root, 'wal', name))))), await readFile(join(root, 'state.wal'))]);

/**
 * Opens the store at `at` and checks that every memory of `ids` reads `text(i)`. With `inCopy`, a copy of
 * it: the open's checkpoint at close would change the store examined next.
 */
async function readsEverything(at: string, ids: readonly number[], text: (i: number) => string, inCopy = false): Promise<void> {
  const where = inCopy ? `${at}-copy-${ids.length}-${Date.now()}` : at;
  if (inCopy) await nodeFileSystem.cp(at, where, { recursive: true });
  const again = await MemMapFS.init(where, { search: flexsearch(), codec: msgpack() });
  for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text, String(i)).toBe(text(i));
  await again.close();
  if (inCopy) await nodeFileSystem.rm(where, { recursive: true });
}

describe('log segments and retention', () => {
  it('by default a checkpoint drops no history: every version stays readable across reopens', async () => {
    const fs = await open();
    const id = await fs.appendMemory('first words');
    await fs.updateMemory(id, { text: 'second words' });
    await fs.checkpoint();
    await fs.close();
    const again = await open();
    expect((await again.memoryHistory(id)).map((v) => v.memory?.text)).toEqual(['first words', 'second words']);
    await again.close();
    expect(await sealedSegments()).toEqual([]);
    expect((await verifyStore(root)).firstLsn).toBe(1);
  });

  it('with historyRetentionMs 0, a checkpoint seals the log and drops what it covers; the store opens and reads everything from the checkpoint', async () => {
    const fs = await open({ historyRetentionMs: 0 });
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) ids.push(await fs.appendMemory(`kept memory ${i}`, ['kept']));
    const secret = await fs.appendMemory('my password is hunter2');
    await fs.deleteMemory(secret);
    await fs.setKv('k', new TextEncoder().encode('v'));
    await fs.checkpoint();
    const after = await fs.appendMemory('written after the checkpoint');
    await fs.close();
    // The records before the checkpoint are gone from the log: the deleted text with them.
    expect((await logBytes()).includes(Buffer.from('hunter2'))).toBe(false);
    expect((await logBytes()).includes(Buffer.from('kept memory 0'))).toBe(false);
    const again = await open({ historyRetentionMs: 0 });
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text).toBe(`kept memory ${i}`);
    expect(await again.getMemory(secret)).toBeUndefined();
    expect((await again.getMemory(after))?.text).toBe('written after the checkpoint');
    expect(new TextDecoder().decode(await again.getKv('k'))).toBe('v');
    expect((await again.queryMemory('kept memory', { limit: 50 })).length).toBe(20);
    // History is what the log still holds: the version after the checkpoint, none before it.
    expect((await again.memoryHistory(after)).map((v) => v.event)).toEqual(['created']);
    expect(await again.memoryHistory(ids[0]!)).toEqual([]);
    // New ids go on from the last one: a memory keeps its id forever.
    expect(await again.appendMemory('one more')).toBeGreaterThan(after);
    await again.close();
    const report = await verifyStore(root);
    expect(report.problems).toEqual([]);
    expect(report.firstLsn).toBeGreaterThan(secret);
  });

  it('a store opened before the log was shortened reads on across the sealed segments it still needs, and they go once it is past them', async () => {
    const writer = await open({ historyRetentionMs: 0 });
    const reader = await open({ readOnly: true });
    const first = await writer.appendMemory('before any checkpoint');
    expect((await reader.getMemory(first))?.text).toBe('before any checkpoint');
    const later: number[] = [];
    for (let round = 0; round < 3; round++) {
      await writer.checkpoint();
      later.push(await writer.appendMemory(`round ${round}`));
    }
    // The reader has not read since: the segment it is in stays.
    expect((await sealedSegments()).length).toBeGreaterThan(0);
    for (const [round, id] of later.entries()) expect((await reader.getMemory(id))?.text).toBe(`round ${round}`);
    await reader.close();
    await writer.checkpoint();
    // Nobody reads the old segments any more: the checkpoint dropped them all.
    expect(await sealedSegments()).toEqual([]);
    await writer.close();
  });

  it('an open that read the manifest just before another writer published a newer checkpoint and dropped the log the older one needed opens again from the newer one', async () => {
    const first = await open({ historyRetentionMs: 0 });
    for (let i = 0; i < 5; i++) await first.appendMemory(`first ${i}`);
    await first.checkpoint();
    await first.close();
    // Between reading the manifest and taking the writer lock, another writer moves on and drops the log before its checkpoint.
    let overtaken = false;
    const files = {
      ...nodeFileSystem,
      open: (async (path: Parameters<typeof nodeFileSystem.open>[0], ...rest: [never?, never?]) => {
        if (!overtaken && String(path).endsWith('state.head')) {
          overtaken = true;
          // (Another process: in this one, the open under way holds the head file being opened.)
          // churn: 6 memories, one deleted, and checkpoints that each drop the log before them.
          execFileSync(process.execPath, storeWorkerArgs('churn', root, 'other', '6', '2'), { env: { ...process.env, MEMMAPFS_TEST_RETENTION: '0' } });
        }
        return nodeFileSystem.open(path, ...rest);
      }) as typeof nodeFileSystem.open,
    };
    const late = await open({ fileSystem: files });
    expect(overtaken).toBe(true);
    expect(late.stats().memories).toBe(10);
    expect((await verifyStore(root)).firstLsn).toBeGreaterThan(5);
    expect((await late.getMemory(1))?.text).toBe('first 0');
    await late.close();
  });

  it('repair leaves damage alone that lies before the checkpoint a shortened log depends on, rather than remove that checkpoint', async () => {
    const dropping = await open({ historyRetentionMs: 0 });
    for (let i = 1; i <= 5; i++) await dropping.appendMemory(`mem ${i}`);
    await dropping.checkpoint();
    await dropping.close();
    const keeping = await open();
    for (let i = 6; i <= 10; i++) await keeping.appendMemory(`mem ${i}`);
    await keeping.checkpoint();
    for (let i = 11; i <= 15; i++) await keeping.appendMemory(`mem ${i}`);
    await keeping.close();
    const image = await readFile(join(root, 'state.wal'));
    image[image.indexOf(Buffer.from('mem 8')) + 2]! ^= 0xff;
    await writeFile(join(root, 'state.wal'), image);
    await expect(repairStore(root)).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
    // Nothing was removed: the store still opens from its checkpoint with every memory.
    const after = await open();
    expect((await after.getMemory(1))?.text).toBe('mem 1');
    expect((await after.getMemory(15))?.text).toBe('mem 15');
    await after.close();
  });

  it('a process that has the store open and reads nothing does not keep the history others let go of', async () => {
    const writer = await open({ historyRetentionMs: 0 });
    await writer.appendMemory('before the idle process came');
    // Another process appends once, then only waits: it reads nothing more.
    const idle = await appendAndHold(root, 'the idle one');
    try {
      const secret = await writer.appendMemory('my password is hunter2');
      await writer.deleteMemory(secret);
      await writer.checkpoint();
      // Within a few of its idle catch-ups it moves past the sealed segments, and a later checkpoint drops them.
      const deadline = Date.now() + 10_000;
      while ((await logBytes()).includes(Buffer.from('hunter2')) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        await writer.appendMemory('a little more');
        await writer.checkpoint();
      }
      expect((await logBytes()).includes(Buffer.from('hunter2'))).toBe(false);
    } finally {
      await idle.kill();
      await writer.close();
    }
  }, 20_000);

  it('a cut after a checkpoint goes no further than the checkpoint the manifest still names: one found damaged and removed meanwhile (the log holding every record then) takes no record with it', async () => {
    // Never cut before: a damaged checkpoint is removed only while the log holds record 1.
    const fs = await open();
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(await fs.appendMemory(`memory ${i}`));
    await fs.checkpoint();
    // As a checkpoint found damaged is discarded between the checkpoint and the cut after it (by this
    // process, or another that opened from it): the manifest and its file go.
    const checkpoints = (await readdir(join(root, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-'));
    expect(checkpoints).toHaveLength(1);
    await nodeFileSystem.unlink(join(root, 'state.manifest'));
    await nodeFileSystem.unlink(join(root, 'checkpoints', checkpoints[0]!));
    // The cut that checkpoint left to do, as noted under historyRetentionMs 0.
    const { engine } = fs as unknown as { engine: { historyCovered: number; cutCoveredHistory(): Promise<void> } };
    engine.historyCovered = ids.at(-1)!;
    await engine.cutCoveredHistory();
    expect((await verifyStore(root)).firstLsn).toBe(1);
    const other = await open({ readOnly: true });
    for (const [i, id] of ids.entries()) expect((await other.getMemory(id))?.text).toBe(`memory ${i}`);
    await other.close();
    await fs.close();
  });

  /** A store whose log dropped the records before its checkpoint, and another store's newer checkpoint (in `codec`) copied in beside it, with that store's manifest when `manifest`. */
  async function beside(codec: 'msgpack' | 'cbor' | Codec, manifest: boolean): Promise<{ ids: number[]; after: number; foreign: string }> {
    const fs = await open({ historyRetentionMs: 0 });
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(await fs.appendMemory(`kept memory ${i}`));
    await fs.checkpoint();
    const after = await fs.appendMemory('written after the checkpoint');
    await fs.close();
    const elsewhere = await MemMapFS.init(join(dir, 'elsewhere'), { search: flexsearch(), codec });
    for (let i = 0; i < 30; i++) await elsewhere.appendMemory(`other memory ${i}`);
    await elsewhere.checkpoint();
    await elsewhere.close();
    const [foreign] = (await readdir(join(dir, 'elsewhere', 'checkpoints'))).filter((name) => name.startsWith('checkpoint-'));
    await nodeFileSystem.copyFile(join(dir, 'elsewhere', 'checkpoints', foreign!), join(root, 'checkpoints', foreign!));
    if (manifest) await nodeFileSystem.copyFile(join(dir, 'elsewhere', 'state.manifest'), join(root, 'state.manifest'));
    else await nodeFileSystem.unlink(join(root, 'state.manifest'));
    return { ids, after, foreign: foreign! };
  }

  it('opens from its own log\'s checkpoint when state.manifest is another store\'s and names a file that is gone, or another store\'s newer checkpoint is of a codec this process does not know', async () => {
    const cases = [
      { codec: 'msgpack' as const, manifest: true, removeForeign: true },
      { codec: { ...msgpack(), name: 'custom-msgpack' }, manifest: false, removeForeign: false },
    ];
    for (const { codec, manifest, removeForeign } of cases) {
      const { ids, after, foreign } = await beside(codec, manifest);
      if (removeForeign) await nodeFileSystem.unlink(join(root, 'checkpoints', foreign));
      // (No codec option: the store's is read from its log.)
      const again = await MemMapFS.init(root, { search: flexsearch(), historyRetentionMs: 0 });
      for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text).toBe(`kept memory ${i}`);
      expect((await again.getMemory(after))?.text).toBe('written after the checkpoint');
      await again.close();
      await nodeFileSystem.rm(dir, { recursive: true });
      await nodeFileSystem.mkdir(dir);
    }
  });

  it('when the manifest names a checkpoint past a log restored from an older copy, verify says the store does not open, and repair names the checkpoint the log begins after (it kept the one past it, and no manifest)', async () => {
    const fs = await open();
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(await fs.appendMemory(`early memory ${i}`));
    await fs.compact();
    for (let i = 0; i < 5; i++) ids.push(await fs.appendMemory(`middle memory ${i}`));
    await fs.close();
    const older = join(dir, 'older');
    await nodeFileSystem.cp(root, older, { recursive: true });
    const later = await open();
    for (let i = 0; i < 5; i++) await later.appendMemory(`late memory ${i}`);
    await later.checkpoint();
    await later.close();
    // The log and its head file as they were; the checkpoints, manifest and chunk files as they are now.
    for (const name of ['state.wal', 'state.head']) await nodeFileSystem.copyFile(join(older, name), join(root, name));
    await nodeFileSystem.rm(join(root, 'wal'), { recursive: true, force: true });
    await nodeFileSystem.cp(join(older, 'wal'), join(root, 'wal'), { recursive: true }).catch(() => undefined);
    for (const name of await readdir(join(older, 'checkpoints'))) await nodeFileSystem.copyFile(join(older, 'checkpoints', name), join(root, 'checkpoints', name));
    await expect(open()).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
    const found = await verifyStore(root);
    expect(found.ok).toBe(false);
    expect(found.problems).toEqual([expect.objectContaining({ kind: 'checkpoint-unusable', severity: 'error', repairable: true, message: expect.stringContaining('an open fails') })]);
    // In a copy whose checkpoint at record 10 is damaged (its last byte flipped), repair keeps that one and names none.
    const damaged = join(dir, 'damaged');
    await nodeFileSystem.cp(root, damaged, { recursive: true });
    const file = join(damaged, 'checkpoints', 'checkpoint-0000000000000010.bin');
    const bytes = await readFile(file);
    bytes[bytes.length - 1]! ^= 0xff;
    await writeFile(file, bytes);
    expect((await repairStore(damaged)).actions.join(' ')).not.toContain('named checkpoints/');
    expect(await readdir(join(damaged, 'checkpoints'))).toContain('checkpoint-0000000000000010.bin');
    const repaired = await repairStore(root);
    expect(repaired.actions.join(' ')).toMatch(/named checkpoints\/checkpoint-0+10\.bin \(up to record 10\)/);
    expect(repaired.after.problems).toEqual([]);
    expect((await readdir(join(root, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-'))).toEqual(['checkpoint-0000000000000010.bin']);
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text).toBe(i < 10 ? `early memory ${i}` : `middle memory ${i - 10}`);
    await again.close();
  });

  /**
   * A log shortened by a checkpoint after five memories (`historyRetentionMs: 0`), five more memories, a
   * checkpoint that lets no history go (the log still begins after the first one), and one memory after
   * it; the older checkpoint put back beside the newer when `keepOlder` (as a writer killed after
   * publishing the newer one, before removing the older, leaves it); then the newer one's tables section
   * damaged. Returns the ten memories' ids and the checkpoints' names, oldest first.
   */
  async function damagedNamedCheckpoint(keepOlder: boolean): Promise<{ ids: number[]; names: string[] }> {
    const fs = await open({ historyRetentionMs: 0 });
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await fs.appendMemory(`early memory ${i}`));
    await fs.checkpoint();
    await fs.close();
    const [first] = (await readdir(join(root, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-'));
    const firstBytes = await readFile(join(root, 'checkpoints', first!));
    const later = await open();
    for (let i = 0; i < 5; i++) ids.push(await later.appendMemory(`late memory ${i}`));
    await later.checkpoint();
    await later.appendMemory('after the checkpoint');
    await later.close();
    if (keepOlder) await writeFile(join(root, 'checkpoints', first!), firstBytes);
    const names = (await readdir(join(root, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-')).sort();
    const newer = join(root, 'checkpoints', names.at(-1)!);
    const bytes = await readFile(newer);
    // The tables section's offset and length, from the header (see FORMAT.md).
    bytes[bytes.readDoubleLE(88) + Math.floor(bytes.readDoubleLE(96) / 2)]! ^= 0x55;
    await writeFile(newer, bytes);
    return { ids, names };
  }

  it('with the named checkpoint\'s tables damaged and an older one beside it that the shortened log resumes after, the store opens and reads everything; verify warns (not "restore from a backup"), and repair names the older one', async () => {
    const { ids, names } = await damagedNamedCheckpoint(true);
    expect(names).toHaveLength(2);
    const text = (i: number) => (i < 5 ? `early memory ${i}` : `late memory ${i - 5}`);
    // (In a copy: the open's own checkpoint at close replaces the damaged one.)
    const copy = join(dir, 'copy');
    await nodeFileSystem.cp(root, copy, { recursive: true });
    const again = await MemMapFS.init(copy, { search: flexsearch(), codec: msgpack() });
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text).toBe(text(i));
    await again.close();
    const found = await verifyStore(root);
    expect(found.firstLsn).toBeGreaterThan(1);
    expect(found.ok).toBe(true);
    expect(found.problems).toEqual([expect.objectContaining({ kind: 'checkpoint-damaged', severity: 'warning', repairable: true, message: expect.stringContaining(`an open uses checkpoints/${names[0]}`) })]);
    const repaired = await repairStore(root);
    expect(repaired.actions).toContain(`Named ${names[0]}, the checkpoint an open used in place of the missing or damaged one, in state.manifest.`);
    expect(repaired.after.problems).toEqual([]);
    const reopened = await open();
    for (const [i, id] of ids.entries()) expect((await reopened.getMemory(id))?.text).toBe(text(i));
    await reopened.close();
  });

  it('with the named checkpoint\'s tables damaged and a record between the older checkpoint and it damaged too, verify says the damaged one is the only copy, and repair removes no checkpoint (it removed the damaged one, and a memory with it)', async () => {
    // (Without the manifest too: with no older checkpoint, repair removed the only checkpoint, and every
    // memory before the log's first record with it; with an older one, the damaged one and the damaged
    // record's memory, which only it holds.)
    for (const [withOlder, manifest] of [[true, true], [false, true], [false, false], [true, false]] as const) {
      const { names } = await damagedNamedCheckpoint(withOlder);
      if (!manifest) await nodeFileSystem.unlink(join(root, 'state.manifest'));
      // The record of "late memory 2", between the two checkpoints: what it made only the newer one holds.
      const log = await readFile(join(root, 'state.wal'));
      log[log.indexOf('late memory 2') + 3]! ^= 0x20;
      await writeFile(join(root, 'state.wal'), log);
      const at = `older: ${withOlder}, manifest: ${manifest}`;
      const found = await verifyStore(root);
      expect(found.ok, at).toBe(false);
      expect(found.problems.map((problem) => problem.message).join(' '), at).not.toContain('nothing is lost');
      if (manifest) expect(found.problems, at).toContainEqual(expect.objectContaining({ kind: 'checkpoint-damaged', severity: 'error', message: expect.stringContaining('only copy') }));
      // (Verify says repair cannot help, as repair then says.)
      expect(found.problems, at).toContainEqual(expect.objectContaining({ kind: 'wal-damaged', repairable: false, message: expect.stringContaining('Restore the store from a backup') }));
      const refused = await repairStore(root).catch((error: unknown) => error);
      expect(refused, at).toMatchObject({ code: 'WAL_CORRUPT', message: expect.stringContaining('Restore the store from a backup') });
      expect((refused as Error).message, at).not.toContain('with it, the record of the checkpoint');
      expect((await readdir(join(root, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-')).sort(), at).toEqual(names);
      await nodeFileSystem.rm(dir, { recursive: true });
      await nodeFileSystem.mkdir(dir);
    }
  });

  /**
   * Five memories under a checkpoint that lets the log drop what it covers, then five more (and with
   * `newerKept`, a checkpoint and one memory more) from a process that keeps the history. Then that first
   * checkpoint and the manifest naming it are put back, as a publisher killed between the later
   * checkpoint's rename and its manifest leaves them (without `newerKept`, no later checkpoint is left),
   * with the first one's tables damaged when `olderDamaged`, and the record of "late memory 2" damaged.
   * With `shortened` false, the first checkpoint drops nothing: the log holds every record.
   */
  async function olderCheckpointPutBack(newerKept: boolean, olderDamaged: boolean, shortened = true): Promise<{ ids: number[]; older: string; olderBytes: Buffer; newer: string | undefined }> {
    const fs = await open(shortened ? { historyRetentionMs: 0 } : {});
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await fs.appendMemory(`early memory ${i}`));
    await fs.checkpoint();
    await fs.close();
    const [older] = (await readdir(join(root, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-'));
    const olderBytes = await readFile(join(root, 'checkpoints', older!));
    const olderManifest = await readFile(join(root, 'state.manifest'));
    const later = await open();
    for (let i = 0; i < 5; i++) ids.push(await later.appendMemory(`late memory ${i}`));
    if (newerKept) {
      await later.checkpoint();
      ids.push(await later.appendMemory('after the checkpoint'));
    }
    await later.close();
    const newer = newerKept ? (await readdir(join(root, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-')).sort().at(-1)! : undefined;
    for (const name of await readdir(join(root, 'checkpoints'))) if (name !== newer) await nodeFileSystem.unlink(join(root, 'checkpoints', name));
    const putBack = Buffer.from(olderBytes);
    // The tables section's offset and length, from the header (see FORMAT.md).
    if (olderDamaged) putBack[putBack.readDoubleLE(88) + Math.floor(putBack.readDoubleLE(96) / 2)]! ^= 0x55;
    await writeFile(join(root, 'checkpoints', older!), putBack);
    await writeFile(join(root, 'state.manifest'), olderManifest);
    const log = await readFile(join(root, 'state.wal'));
    log[log.indexOf('late memory 2') + 3]! ^= 0x20;
    await writeFile(join(root, 'state.wal'), log);
    return { ids, older: older!, olderBytes, newer };
  }

  it.each([['shortened', true], ['holding every record', false]])('with the named checkpoint damaged and the newer one a killed publisher left unnamed whole past a damaged record, verify and repair take the newer one, as the open does, and keep it (the log %s)', async (_, shortened) => {
    const { ids, older, newer } = await olderCheckpointPutBack(true, true, shortened as boolean);
    const text = (i: number) => (i < 5 ? `early memory ${i}` : i < 10 ? `late memory ${i - 5}` : 'after the checkpoint');
    await readsEverything(root, ids, text, true);
    const found = await verifyStore(root);
    expect(found.problems.map((problem) => problem.message).join(' ')).not.toContain('will not open');
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-damaged', severity: 'warning', message: expect.stringContaining(`an open uses checkpoints/${newer}`) }));
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'wal-damaged', repairable: false, message: expect.stringContaining('covers it') }));
    await expect(repairStore(root)).rejects.toMatchObject({ code: 'WAL_CORRUPT', message: expect.stringContaining('covers it') });
    expect((await readdir(join(root, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-')).sort()).toEqual([older, newer].sort());
    expect((await readFile(join(root, 'state.manifest'), 'utf8'))).toContain(newer);
    await readsEverything(root, ids, text);
  });

  it('repair of a shortened log damaged after its checkpoint is not refused for an empty file or a copy of an older checkpoint named past the damage', async () => {
    const { ids, olderBytes } = await olderCheckpointPutBack(false, false);
    const past = (lsn: number) => join(root, 'checkpoints', `checkpoint-${String(lsn).padStart(16, '0')}.bin`);
    await writeFile(past(9), Buffer.alloc(0));
    const copy = Buffer.from(olderBytes);
    copy[copy.readDoubleLE(88) + Math.floor(copy.readDoubleLE(96) / 2)]! ^= 0x55;
    await writeFile(past(10), copy);
    const found = await verifyStore(root);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'wal-damaged', repairable: true }));
    const repaired = await repairStore(root);
    expect(repaired.after.ok).toBe(true);
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text, String(i)).toBe(i === 7 ? undefined : i < 5 ? `early memory ${i}` : `late memory ${i - 5}`);
    await again.close();
  });

  it('verify of a shortened log damaged after its checkpoint fails with the error, rather than say repair can help, when the checkpoints folder cannot be listed', async () => {
    await olderCheckpointPutBack(false, false);
    const failing = {
      ...nodeFileSystem,
      readdir: (async (path: string, ...rest: unknown[]) => {
        if (String(path).endsWith('checkpoints')) throw Object.assign(new Error(`EIO: i/o error, scandir '${path}'`), { code: 'EIO' });
        return (nodeFileSystem.readdir as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
      }) as typeof nodeFileSystem.readdir,
    };
    await expect(verifyStore(root, { fileSystem: failing })).rejects.toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('EIO') });
    expect((await verifyStore(root)).problems).toContainEqual(expect.objectContaining({ kind: 'wal-damaged', repairable: true }));
  });

  it('with a record damaged in a sealed segment before the record of the checkpoint an open resumes after, verify does not call that checkpoint of no use and repair leaves it: the store opens and reads everything before and after', async () => {
    const fs = await open({ historyRetentionMs: 300 });
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push(await fs.appendMemory(`mid memory ${i}`));
    await fs.checkpoint();
    for (let i = 0; i < 3; i++) ids.push(await fs.appendMemory(`late memory ${i}`));
    await new Promise((resolve) => setTimeout(resolve, 400));
    // (Its cut keeps the first checkpoint's history: state.wal is sealed, with this checkpoint's record in it.)
    await fs.checkpoint();
    ids.push(await fs.appendMemory('after the checkpoint'));
    await fs.close();
    const [segment] = await sealedSegments();
    expect(segment).toBeDefined();
    const path = join(root, 'wal', segment!);
    const bytes = await readFile(path);
    bytes[bytes.indexOf('mid memory 1') + 3]! ^= 0x20;
    await writeFile(path, bytes);
    const text = (i: number) => (i < 3 ? `mid memory ${i}` : i < 6 ? `late memory ${i - 3}` : 'after the checkpoint');
    await readsEverything(root, ids, text, true);
    const found = await verifyStore(root);
    // (Not a warning: verify does not read the records after the damage as an open does.)
    expect(found.problems).toEqual([expect.objectContaining({ kind: 'wal-segment-damaged', severity: 'error' })]);
    const checkpoints = await readdir(join(root, 'checkpoints'));
    await repairStore(root).catch(() => undefined);
    expect(await readdir(join(root, 'checkpoints'))).toEqual(checkpoints);
    await readsEverything(root, ids, text);
  });

  /**
   * 'first', three rounds of three memories each ended by a checkpoint that lets the log drop what it
   * covers, then 'tail'; a reader of the first segment keeps every segment, so the log is three sealed
   * segments (each ending with a checkpoint's record) and state.wal from 'tail' on.
   */
  async function checkpointedRounds(): Promise<{ ids: number[]; segments: string[] }> {
    const fs = await open({ historyRetentionMs: 0 });
    const ids = [await fs.appendMemory('first')];
    const reader = await open({ readOnly: true });
    await reader.getMemory(ids[0]!);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) ids.push(await fs.appendMemory(`round ${round} memory ${i}`));
      await fs.checkpoint();
    }
    ids.push(await fs.appendMemory('tail'));
    ids.push(await fs.appendMemory('after the tail'));
    await fs.close();
    await reader.close();
    const segments = await sealedSegments();
    expect(segments.length).toBe(3);
    return { ids, segments };
  }
  /** The text of the `i`th memory `checkpointedRounds` wrote (of `count`). */
  const roundText = (count: number) => (i: number) => (i === 0 ? 'first' : i === count - 2 ? 'tail' : i === count - 1 ? 'after the tail' : `round ${Math.floor((i - 1) / 3)} memory ${(i - 1) % 3}`);
  /** Flips a bit of the byte `at` gives in the sealed segment `segment` (or in state.wal). */
  async function damage(segment: string, at: (bytes: Buffer) => number): Promise<void> {
    const path = segment === 'state.wal' ? join(root, segment) : join(root, 'wal', segment);
    const bytes = await readFile(path);
    bytes[at(bytes)]! ^= 0x20;
    await writeFile(path, bytes);
  }

  it.each([
    ['the record of the named checkpoint, the last of its sealed segment', 'last record'],
    ['the header of a sealed segment before the one holding that record', 'header'],
    ['the first record of the oldest sealed segment', 'first record'],
    ['the header of the sealed segment holding that record, the next one beginning right after it', 'holder header'],
    ['(gone) the sealed segment holding that record, the next one beginning right after it', 'holder gone'],
  ])('with %s damaged, verify does not call the checkpoint an open resumes after of no use, and repair leaves it', async (_, where) => {
    const { ids, segments } = await checkpointedRounds();
    // (The last memory before the last checkpoint is that checkpoint's own record, the last of its segment.)
    if (where === 'last record') await damage(segments.at(-1)!, (bytes) => bytes.indexOf('round 2 memory 2') + 3);
    else if (where === 'header') await damage(segments.at(-2)!, () => 10);
    else if (where === 'holder header') await damage(segments.at(-1)!, () => 10);
    else if (where === 'holder gone') await nodeFileSystem.unlink(join(root, 'wal', segments.at(-1)!));
    else await damage(segments[0]!, (bytes) => bytes.indexOf('first') + 3);
    const text = roundText(ids.length);
    await readsEverything(root, ids, text, true);
    // (Queries too: the search index is built without the segment the open passed over.)
    const copy = join(dir, 'queried');
    await nodeFileSystem.cp(root, copy, { recursive: true });
    const queried = await MemMapFS.init(copy, { search: flexsearch(), codec: msgpack() });
    expect(await queried.queryMemory('round', { limit: 20 })).toHaveLength(9);
    await queried.close();
    const found = await verifyStore(root);
    expect(found.firstLsn).toBe(1);
    expect(found.problems.map((problem) => problem.kind)).toEqual(['wal-segment-damaged']);
    const checkpoints = await readdir(join(root, 'checkpoints'));
    await repairStore(root).catch(() => undefined);
    expect(await readdir(join(root, 'checkpoints'))).toEqual(checkpoints);
    await readsEverything(root, ids, text);
  });

  it('with the oldest sealed segment\'s header damaged and a record of state.wal damaged too, repair keeps the checkpoint an open resumes after (it set it aside, and the store no longer opened) and loses only that record', async () => {
    const { ids, segments } = await checkpointedRounds();
    await damage(segments[0]!, () => 10);
    await damage('state.wal', (bytes) => bytes.indexOf('tail') + 2);
    const found = await verifyStore(root);
    expect(found.problems.map((problem) => problem.kind).sort()).toEqual(['wal-damaged', 'wal-segment-damaged']);
    const checkpoints = await readdir(join(root, 'checkpoints'));
    await repairStore(root);
    expect(await readdir(join(root, 'checkpoints'))).toEqual(checkpoints);
    const text = roundText(ids.length);
    await readsEverything(root, ids.slice(0, -2), text);
    const again = await open();
    expect(await again.getMemory(ids.at(-2)!)).toBeUndefined();
    expect((await again.getMemory(ids.at(-1)!))?.text).toBe('after the tail');
    await again.close();
  });

  it('with the header of the sealed segment holding both the checkpoint\'s record and an older saved index\'s damaged, queries rebuild the index rather than fail', async () => {
    const fs = await open({ historyRetentionMs: 0 });
    const ids = [await fs.appendMemory('first')];
    const reader = await open({ readOnly: true });
    await reader.getMemory(ids[0]!);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) {
        ids.push(await fs.appendMemory(`round ${round} memory ${i}`));
        // (Another process saves the index inside the last round, before its checkpoint.)
        if (round === 2 && i === 1) {
          const other = await open();
          expect(await other.queryMemory('round', { limit: 20 })).toHaveLength(8);
          await other.close();
        }
      }
      await fs.checkpoint();
    }
    ids.push(await fs.appendMemory('tail'));
    // What a kill -9 of the writer here leaves (every commit synced): the index saved before the checkpoint.
    const killed = join(dir, 'killed');
    await nodeFileSystem.cp(root, killed, { recursive: true });
    await fs.close();
    await reader.close();
    const segments = (await readdir(join(killed, 'wal'))).filter((name) => name.endsWith('.seg')).sort();
    const path = join(killed, 'wal', segments.at(-1)!);
    const bytes = await readFile(path);
    bytes[10]! ^= 0x20;
    await writeFile(path, bytes);
    const again = await MemMapFS.init(killed, { search: flexsearch(), codec: msgpack() });
    expect(await again.queryMemory('round', { limit: 20 })).toHaveLength(9);
    await again.close();
  });

  /**
   * Three memories ('mid memory 0–2', one commit with `batch`) and a checkpoint, three more and, once
   * the first checkpoint's history may go, another that seals state.wal keeping the first's records;
   * with `tail`, one memory more. Then the newer checkpoint is lost: an open takes the older one, whose
   * record lies inside the sealed segment. Returns that segment and the older checkpoint's name.
   */
  async function olderCheckpointInsideSegment(tail: boolean, batch: boolean, keepNewer = false): Promise<{ segment: string; older: string; ids: number[] }> {
    const fs = await open({ historyRetentionMs: 300 });
    const mid = ['mid memory 0', 'mid memory 1', 'mid memory 2'];
    const ids = batch ? await fs.appendMemories(mid.map((text) => ({ text }))) : [];
    if (!batch) for (const text of mid) ids.push(await fs.appendMemory(text));
    await fs.checkpoint();
    const [older] = await readdir(join(root, 'checkpoints'));
    const olderBytes = await readFile(join(root, 'checkpoints', older!));
    const olderManifest = await readFile(join(root, 'state.manifest'));
    for (let i = 0; i < 3; i++) ids.push(await fs.appendMemory(`late memory ${i}`));
    await new Promise((resolve) => setTimeout(resolve, 400));
    await fs.checkpoint();
    if (tail) ids.push(await fs.appendMemory('after the checkpoint'));
    await fs.close();
    const [segment] = await sealedSegments();
    if (keepNewer) {
      // (The newer one left whole beside it, the manifest naming the older one again.)
      await writeFile(join(root, 'state.manifest'), olderManifest);
    } else {
      for (const name of await readdir(join(root, 'checkpoints'))) await nodeFileSystem.unlink(join(root, 'checkpoints', name));
    }
    await writeFile(join(root, 'checkpoints', older!), olderBytes);
    return { segment: segment!, older: older!, ids };
  }

  /** Where the record holding `text` begins in the sealed segment `segment`, read while the store is whole. */
  async function recordOffset(segment: string, text: string): Promise<number> {
    const textAt = (await readFile(join(root, 'wal', segment))).indexOf(text);
    const reader = await open({ readOnly: true });
    let offset = -1;
    for await (const record of (reader as unknown as { engine: { wal: { readFrom(lsn: number): AsyncIterable<{ lsn: number; offset: number }> } } }).engine.wal.readFrom(Number(segment.slice(0, 16)))) {
      if (record.offset > textAt) break;
      offset = record.offset;
    }
    await reader.close();
    expect(offset).toBeGreaterThan(0);
    return offset;
  }

  it.each([['with', true], ['without', false]])('with the record of the only checkpoint an open can take damaged inside a sealed segment (%s records in state.wal), verify says the store needs a backup and repair keeps that checkpoint', async (_, tail) => {
    const { segment, older } = await olderCheckpointInsideSegment(tail as boolean, false);
    await damage(segment, (bytes) => bytes.indexOf('mid memory 2') + 3);
    await expect(open()).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
    const found = await verifyStore(root);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-unusable', repairable: false, message: expect.stringContaining('Restore the store from a backup') }));
    await repairStore(root).catch(() => undefined);
    expect(await readdir(join(root, 'checkpoints'))).toEqual([older]);
  });

  it.each([
    ['the header of the sealed segment holding its record damaged (the record whole, inside the segment)', 'header'],
    ['the sealed segment holding its record cut right before that record (the log then lacks records up to state.wal)', 'cut'],
  ])('with %s, the open fails on the only checkpoint it can take: verify says the store needs a backup and repair keeps that checkpoint', async (_, where) => {
    const { segment, older } = await olderCheckpointInsideSegment(true, false);
    const path = join(root, 'wal', segment);
    if (where === 'header') {
      await damage(segment, () => 10);
    } else {
      // (Where the checkpoint's record begins: the frame holding its memory's text.)
      const offset = await recordOffset(segment, 'mid memory 2');
      await writeFile(path, (await readFile(path)).subarray(0, offset));
    }
    await expect(open()).rejects.toMatchObject({ code: where === 'header' ? 'WAL_HEADER_INVALID' : 'WAL_CORRUPT' });
    const found = await verifyStore(root);
    expect(found.ok).toBe(false);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-unusable', repairable: false, message: expect.stringContaining('Restore the store from a backup') }));
    await repairStore(root).catch(() => undefined);
    expect(await readdir(join(root, 'checkpoints'))).toEqual([older]);
  });

  it('with an earlier record of the commit the checkpoint\'s record ends damaged inside a sealed segment, verify and repair find that record where the open does, and leave the checkpoint', async () => {
    const { segment, older, ids } = await olderCheckpointInsideSegment(true, true);
    await damage(segment, (bytes) => bytes.indexOf('mid memory 0') + 3);
    const texts = ['mid memory 0', 'mid memory 1', 'mid memory 2', 'late memory 0', 'late memory 1', 'late memory 2', 'after the checkpoint'];
    await readsEverything(root, ids, (i) => texts[i]!, true);
    const found = await verifyStore(root);
    // (The manifest still names the lost checkpoint: a warning that an open uses the older one.)
    expect(found.problems).toEqual([
      expect.objectContaining({ kind: 'wal-segment-damaged' }),
      expect.objectContaining({ kind: 'checkpoint-unusable', severity: 'warning', message: expect.stringContaining(`an open uses checkpoints/${older}`) }),
    ]);
    await repairStore(root).catch(() => undefined);
    expect(await readdir(join(root, 'checkpoints'))).toEqual([older]);
    await readsEverything(root, ids, (i) => texts[i]!);
  });

  it('an open that must read a sealed segment whose header is damaged says to put that segment back from a backup (losing nothing), not that repair rebuilds the header', async () => {
    const { segments } = await checkpointedRounds();
    await damage(segments[0]!, () => 10);
    // (No checkpoint: the open replays the log from its first segment.)
    for (const name of await readdir(join(root, 'checkpoints'))) await nodeFileSystem.unlink(join(root, 'checkpoints', name));
    await nodeFileSystem.unlink(join(root, 'state.manifest'));
    const error = await open().then(() => undefined, (thrown: unknown) => thrown as Error);
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toContain(`wal/${segments[0]}`);
    expect(error!.message).toMatch(/put the segment back from any backup taken after it was sealed/i);
    expect(error!.message).not.toContain('rebuilds it from the copy in state.head');
    const found = await verifyStore(root);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'wal-segment-damaged', message: expect.stringContaining('fails its checksum') }));
    expect(found.problems.map((problem) => problem.message).join(' ')).not.toContain('rebuilds it from the copy in state.head');
  });

  it.each([
    ['cut right before it (records missing up to state.wal)', 'cut'],
    ['its header damaged', 'header'],
    ['its header whole but naming another first record', 'first record'],
  ])('with the segment holding the named checkpoint\'s record %s and a newer whole checkpoint the log resumes after beside it, verify says repair can help, and repair names the newer one: everything reads', async (_, where) => {
    const { segment, older, ids } = await olderCheckpointInsideSegment(true, false, true);
    const path = join(root, 'wal', segment);
    const bytes = await readFile(path);
    if (where === 'header') await damage(segment, () => 10);
    else if (where === 'first record') {
      bytes.writeUInt32LE(bytes.readUInt32LE(36) + 1, 36);
      bytes.writeUInt32LE(crc32c(bytes.subarray(0, 60)), 60);
      await writeFile(path, bytes);
    } else await writeFile(path, bytes.subarray(0, await recordOffset(segment, 'mid memory 2')));
    await expect(open()).rejects.toBeDefined();
    const found = await verifyStore(root);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-unusable', file: `checkpoints/${older}`, repairable: true }));
    expect(found.problems.map((problem) => problem.message).join(' ')).not.toContain('Restore the store from a backup');
    await repairStore(root);
    const texts = ['mid memory 0', 'mid memory 1', 'mid memory 2', 'late memory 0', 'late memory 1', 'late memory 2', 'after the checkpoint'];
    await readsEverything(root, ids, (i) => texts[i]!);
  });

  it.each([['a record', 'record'], ['the header', 'header']])('with the named checkpoint\'s record damaged and %s of the sealed segment after the newer checkpoint\'s damaged too, verify does not offer the newer one (the open fails reading on from it), and repair keeps every checkpoint', async (_, what) => {
    const { segment, older } = await olderCheckpointInsideSegment(true, false, true);
    const saved = { segment: await readFile(join(root, 'wal', segment)), manifest: await readFile(join(root, 'state.manifest')), checkpoints: new Map<string, Buffer>() };
    for (const name of await readdir(join(root, 'checkpoints'))) saved.checkpoints.set(name, await readFile(join(root, 'checkpoints', name)));
    // state.wal sealed into a second segment (a reader holds it), then that third checkpoint lost.
    const fs = await open({ historyRetentionMs: 0 });
    const reader = await open({ readOnly: true });
    await reader.getMemory(1);
    await fs.appendMemory('in the second segment');
    await fs.checkpoint();
    await fs.appendMemory('after the third checkpoint');
    await fs.close();
    await reader.close();
    const second = (await sealedSegments()).find((name) => name !== segment)!;
    for (const name of await readdir(join(root, 'checkpoints'))) await nodeFileSystem.unlink(join(root, 'checkpoints', name));
    for (const [name, bytes] of saved.checkpoints) await writeFile(join(root, 'checkpoints', name), bytes);
    await writeFile(join(root, 'state.manifest'), saved.manifest);
    await writeFile(join(root, 'wal', segment), saved.segment);
    await damage(segment, (bytes) => bytes.indexOf('mid memory 2') + 3);
    await damage(second, what === 'record' ? (bytes) => bytes.indexOf('in the second segment') + 3 : () => 10);
    await expect(open()).rejects.toBeDefined();
    const found = await verifyStore(root);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-unusable', file: `checkpoints/${older}`, repairable: false }));
    await repairStore(root).catch(() => undefined);
    expect((await readdir(join(root, 'checkpoints'))).sort()).toEqual([...saved.checkpoints.keys()].sort());
  });

  it.each([
    ['another log\'s', (bytes: Buffer): void => {
      bytes[44]! ^= 0x01;
    }],
    ['of a format this release does not read', (bytes: Buffer): void => {
      bytes.writeUInt16LE(99, 8);
    }],
  ] as const)('with the header of the sealed segment holding the checkpoints\' records %s (its checksum whole), the open fails, and verify and repair keep every checkpoint rather than name one past it', async (_, change) => {
    const { segment } = await olderCheckpointInsideSegment(true, false, true);
    const checkpoints = (await readdir(join(root, 'checkpoints'))).sort();
    const path = join(root, 'wal', segment);
    const bytes = await readFile(path);
    change(bytes);
    bytes.writeUInt32LE(crc32c(bytes.subarray(0, 60)), 60);
    await writeFile(path, bytes);
    await expect(open()).rejects.toBeDefined();
    const found = await verifyStore(root);
    expect(found.ok).toBe(false);
    expect(found.problems.filter((problem) => problem.kind.startsWith('checkpoint-') && problem.repairable)).toEqual([]);
    await repairStore(root).catch(() => undefined);
    expect((await readdir(join(root, 'checkpoints'))).sort()).toEqual(checkpoints);
  });

  it('with the header of the sealed segment ending with the checkpoint\'s record of a format this release does not read, the open fails on it (the next segment begins right after that record): verify says so, and repair keeps the checkpoint', async () => {
    const { segments } = await checkpointedRounds();
    const checkpoints = await readdir(join(root, 'checkpoints'));
    const path = join(root, 'wal', segments.at(-1)!);
    const bytes = await readFile(path);
    bytes.writeUInt16LE(99, 8);
    bytes.writeUInt32LE(crc32c(bytes.subarray(0, 60)), 60);
    await writeFile(path, bytes);
    await expect(open()).rejects.toMatchObject({ code: 'WAL_FORMAT_UNSUPPORTED' });
    const found = await verifyStore(root);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-unusable', repairable: false }));
    await repairStore(root).catch(() => undefined);
    expect(await readdir(join(root, 'checkpoints'))).toEqual(checkpoints);
  });

  it('with the header of the sealed segment holding the only checkpoint\'s record whole but naming another first record, the open fails: verify says the store needs a backup and repair keeps the checkpoint', async () => {
    const { segment, older } = await olderCheckpointInsideSegment(true, false);
    const path = join(root, 'wal', segment);
    const bytes = await readFile(path);
    bytes.writeUInt32LE(bytes.readUInt32LE(36) + 1, 36);
    bytes.writeUInt32LE(crc32c(bytes.subarray(0, 60)), 60);
    await writeFile(path, bytes);
    await expect(open()).rejects.toBeDefined();
    const found = await verifyStore(root);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-unusable', repairable: false }));
    await repairStore(root).catch(() => undefined);
    expect(await readdir(join(root, 'checkpoints'))).toEqual([older]);
  });

  it.each([
    ['a format version this release does not read', (header: Buffer) => header.writeUInt16LE(99, 8), /log format \(version 99\) this release does not read/],
    ['no valid codec', (header: Buffer) => header.writeUInt8(0, 10), /header of the sealed segment .* is damaged \(it names no valid codec\)/],
  ] as const)('verify says why the header of a sealed segment it cannot read is refused: %s (its checksum whole)', async (_, change, said) => {
    const { segments } = await checkpointedRounds();
    const path = join(root, 'wal', segments[0]!);
    const bytes = await readFile(path);
    change(bytes);
    bytes.writeUInt32LE(crc32c(bytes.subarray(0, 60)), 60);
    await writeFile(path, bytes);
    const found = await verifyStore(root);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'wal-segment-damaged', file: `wal/${segments[0]}`, message: expect.stringMatching(said) }));
  });

  it('with damage in a sealed segment before the record of the checkpoint an open resumes after and more after it, verify says the open fails on the later damage too', async () => {
    const { segment } = await olderCheckpointInsideSegment(true, false);
    await damage(segment, (bytes) => bytes.indexOf('mid memory 0') + 3);
    await damage(segment, (bytes) => bytes.indexOf('late memory 1') + 3);
    await expect(open()).rejects.toMatchObject({ code: 'WAL_CORRUPT', message: expect.stringContaining('record 5 at byte') });
    const found = await verifyStore(root);
    expect(found.ok).toBe(false);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'wal-segment-damaged', file: `wal/${segment}`, lsn: 5, message: expect.stringContaining('An open resuming after the checkpoint at record 3 reads it, and fails') }));
  });

  it('an open that meets a damaged record in a sealed segment says to put that segment back from a backup, not to run repair (which cannot mend it)', async () => {
    const { segments } = await checkpointedRounds();
    await damage(segments[0]!, (bytes) => bytes.indexOf('first') + 3);
    for (const name of await readdir(join(root, 'checkpoints'))) await nodeFileSystem.unlink(join(root, 'checkpoints', name));
    await nodeFileSystem.unlink(join(root, 'state.manifest'));
    const error = await open().then(() => undefined, (thrown: unknown) => thrown as Error & { code?: string });
    expect(error?.code).toBe('WAL_CORRUPT');
    expect(error!.message).toContain(`wal/${segments[0]}`);
    expect(error!.message).toMatch(/put the segment back from any backup taken after it was sealed/i);
    expect(error!.message).not.toContain('run `memmapfs repair`');
  });

  it('memoryHistory meeting a damaged record in a sealed segment names that segment and says to put it back, not state.wal and repair', async () => {
    const { ids, segments } = await checkpointedRounds();
    await damage(segments[0]!, (bytes) => bytes.indexOf('round 0 memory 1') + 3);
    const fs = await open();
    const error = await fs.memoryHistory(ids[1]!).then(() => undefined, (thrown: Error & { code?: string }) => thrown);
    await fs.close();
    expect(error?.code).toBe('WAL_CORRUPT');
    expect(error!.message).toContain(`wal/${segments[0]}`);
    expect(error!.message).not.toContain('state.wal');
    expect(error!.message).not.toContain('run `memmapfs repair`');
  });

  it('with the log shortened and the record of the checkpoint it resumes after damaged, the open, verify and repair agree: it does not open, and repair leaves it as it is for a backup', async () => {
    const fs = await open({ historyRetentionMs: 0 });
    for (let i = 0; i < 5; i++) await fs.appendMemory(`early memory ${i}`);
    await fs.checkpoint();
    await fs.close();
    const later = await open();
    for (let i = 0; i < 5; i++) await later.appendMemory(`late memory ${i}`);
    await later.checkpoint();
    await later.appendMemory('after the checkpoint');
    await later.close();
    const named = (JSON.parse((await readFile(join(root, 'state.manifest'), 'utf8')).split('\n')[1]!) as { checkpoint: { lsn: number } }).checkpoint;
    // Where the checkpoint's record is in state.wal, read before the damage.
    const reader = await open({ readOnly: true });
    let offset = -1;
    for await (const record of (reader as unknown as { engine: { wal: { readFrom(lsn: number): AsyncIterable<{ lsn: number; offset: number }> } } }).engine.wal.readFrom(named.lsn)) {
      offset = record.offset;
      break;
    }
    await reader.close();
    expect(offset).toBeGreaterThan(0);
    const log = await readFile(join(root, 'state.wal'));
    // The first byte of its payload (a frame's header is 21 bytes, see FORMAT.md).
    log[offset + 21]! ^= 0xff;
    await writeFile(join(root, 'state.wal'), log);
    const before = await logBytes();
    await expect(open()).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
    const found = await verifyStore(root);
    expect(found.firstLsn).toBeGreaterThan(1);
    expect(found.ok).toBe(false);
    const checkpointProblem = found.problems.find((problem) => problem.kind.startsWith('checkpoint-'));
    expect(checkpointProblem).toMatchObject({ severity: 'error', repairable: false, message: expect.stringContaining('Restore the store from a backup') });
    expect(found.problems.map((problem) => problem.message).join(' ')).not.toMatch(/repair` removes it|opens from that checkpoint/);
    await expect(repairStore(root)).rejects.toMatchObject({ code: 'WAL_CORRUPT', message: expect.stringContaining('Restore the store from a backup') });
    await expect(repairStore(root)).rejects.not.toMatchObject({ message: expect.stringContaining('opens from that checkpoint') });
    expect(await logBytes()).toEqual(before);
  });

  it('opens from its own log\'s checkpoint when state.manifest is another store\'s, or gone and another store\'s checkpoint (of another codec) is newer; verify warns, and repair names its own', async () => {
    for (const [codec, manifest] of [['cbor', false], ['msgpack', true]] as const) {
      const { ids, after } = await beside(codec, manifest);
      const found = await verifyStore(root);
      expect(found.ok, `${codec} ${manifest}`).toBe(true);
      expect(found.problems).toEqual([expect.objectContaining({ kind: 'checkpoint-unusable', severity: 'warning', file: 'state.manifest' })]);
      const again = await open({ historyRetentionMs: 0 });
      for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text).toBe(`kept memory ${i}`);
      await again.close();
      expect((await repairStore(root)).after.problems).toEqual([]);
      const repaired = await open({ historyRetentionMs: 0 });
      for (const [i, id] of ids.entries()) expect((await repaired.getMemory(id))?.text).toBe(`kept memory ${i}`);
      expect((await repaired.getMemory(after))?.text).toBe('written after the checkpoint');
      await repaired.close();
      await nodeFileSystem.rm(dir, { recursive: true });
      await nodeFileSystem.mkdir(dir);
    }
  });

  it('with state.manifest gone, opens from its own log\'s checkpoint though a newer one of another log lies beside it', async () => {
    // A checkpoint of another store's log, at a later record, copied in (a folder restored over another, say).
    const { ids, after } = await beside('msgpack', false);
    const found = await verifyStore(root);
    expect(found.firstLsn).toBeGreaterThan(1);
    expect(found.ok).toBe(true);
    expect(found.problems).toEqual([expect.objectContaining({ kind: 'checkpoint-unusable', severity: 'warning', file: 'state.manifest' })]);
    const again = await open({ historyRetentionMs: 0 });
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text).toBe(`kept memory ${i}`);
    expect((await again.getMemory(after))?.text).toBe('written after the checkpoint');
    await again.close();
  });

  it('with the named checkpoint\'s record in state.wal and a record of an older sealed segment damaged, the store opens, and verify does not say the open fails on a whole segment', async () => {
    const { ids, segments } = await checkpointedRounds();
    const fs = await open();
    ids.push(await fs.appendMemory('past the rounds'));
    await fs.checkpoint();
    ids.push(await fs.appendMemory('after the newest checkpoint'));
    await fs.close();
    expect(await sealedSegments()).toEqual(segments);
    await damage(segments[0]!, (bytes) => bytes.indexOf('round 0 memory 1') + 3);
    const base = roundText(ids.length - 2);
    const text = (i: number) => (i === ids.length - 2 ? 'past the rounds' : i === ids.length - 1 ? 'after the newest checkpoint' : base(i));
    await readsEverything(root, ids, text, true);
    const found = await verifyStore(root);
    expect(found.problems.filter((problem) => /An open resuming after the checkpoint at record \d+ reads it, and fails/.test(problem.message))).toEqual([]);
  });

  it('with the named checkpoint\'s record damaged in a sealed segment and a newer whole checkpoint whose record is in state.wal, verify offers the newer one and repair names it: everything reads', async () => {
    const { segment, older, ids } = await olderCheckpointInsideSegment(true, false, true);
    const olderManifest = await readFile(join(root, 'state.manifest'));
    const olderBytes = await readFile(join(root, 'checkpoints', older));
    const newerSealed = (await readdir(join(root, 'checkpoints'))).filter((name) => name !== older);
    const fs = await open();
    ids.push(await fs.appendMemory('past the segment'));
    await fs.checkpoint();
    ids.push(await fs.appendMemory('after the newest'));
    await fs.close();
    expect(await sealedSegments()).toEqual([segment]);
    // (Only the older checkpoint and the newest one, whose record lies in state.wal; the manifest names the older.)
    for (const name of newerSealed) await nodeFileSystem.rm(join(root, 'checkpoints', name), { force: true });
    if (!(await readdir(join(root, 'checkpoints'))).includes(older)) await writeFile(join(root, 'checkpoints', older), olderBytes);
    await writeFile(join(root, 'state.manifest'), olderManifest);
    const checkpoints = (await readdir(join(root, 'checkpoints'))).sort();
    expect(checkpoints.length).toBe(2);
    const newest = checkpoints.find((name) => name !== older)!;
    await damage(segment, (bytes) => bytes.indexOf('mid memory 2') + 3);
    await expect(open()).rejects.toBeDefined();
    // Naming the newest checkpoint by hand: the store opens and reads everything.
    const copy = join(dir, 'by-hand');
    await nodeFileSystem.cp(root, copy, { recursive: true });
    await nodeFileSystem.unlink(join(copy, 'state.manifest'));
    const texts0 = ['mid memory 0', 'mid memory 1', 'mid memory 2', 'late memory 0', 'late memory 1', 'late memory 2', 'after the checkpoint', 'past the segment', 'after the newest'];
    await readsEverything(copy, ids, (i) => texts0[i]!);
    const found = await verifyStore(root);
    await repairStore(root);
    const texts = ['mid memory 0', 'mid memory 1', 'mid memory 2', 'late memory 0', 'late memory 1', 'late memory 2', 'after the checkpoint', 'past the segment', 'after the newest'];
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-unusable', file: `checkpoints/${older}`, repairable: true, message: expect.stringContaining(newest) }));
    await readsEverything(root, ids, (i) => texts[i]!);
  });

  it('with a record damaged between the named checkpoint\'s record and a newer whole checkpoint\'s, verify offers the newer one and repair names it: everything reads', async () => {
    const { segment, ids } = await olderCheckpointInsideSegment(true, false, true);
    await damage(segment, (bytes) => bytes.indexOf('late memory 1') + 3);
    await expect(open()).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
    const found = await verifyStore(root);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-unusable', repairable: true, message: expect.stringContaining('`memmapfs repair` names it in state.manifest') }));
    await repairStore(root);
    const texts = ['mid memory 0', 'mid memory 1', 'mid memory 2', 'late memory 0', 'late memory 1', 'late memory 2', 'after the checkpoint'];
    await readsEverything(root, ids, (i) => texts[i]!);
  });

  it('with a record damaged between the named checkpoint\'s record and a newer whole checkpoint\'s, a damaged block of a record the newer one covers is one repair puts back, as verify says (not the open)', async () => {
    const { segment, ids } = await olderCheckpointInsideSegment(true, false, true);
    await damage(segment, (bytes) => bytes.indexOf('late memory 1') + 3);
    await damageBlock(root, 'late memory 0');
    const found = await verifyStore(root);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-unusable', message: expect.stringContaining('`memmapfs repair` names it in state.manifest') }));
    const block = found.problems.find((problem) => problem.kind === 'block-corrupt');
    expect(block).toMatchObject({ severity: 'error', repairable: true, message: expect.stringContaining('`memmapfs repair` puts it back') });
    await repairStore(root);
    const texts = ['mid memory 0', 'mid memory 1', 'mid memory 2', 'late memory 0', 'late memory 1', 'late memory 2', 'after the checkpoint'];
    await readsEverything(root, ids, (i) => texts[i]!);
    expect((await verifyStore(root)).problems.filter((problem) => problem.kind.startsWith('block-'))).toEqual([]);
  });

  /**
   * 'first' and a checkpoint, three rounds each ended by a checkpoint (a reader keeps every segment);
   * then the segments before record 5 gone as retention drops them, and only the checkpoints up to
   * record 4 left, state.manifest naming the one at record 1 (older than the log).
   */
  async function manifestOlderThanTheLog(): Promise<{ ids: number[]; fifth: string; saved: ReadonlyMap<string, Buffer> }> {
    const fs = await open({ historyRetentionMs: 0 });
    const ids = [await fs.appendMemory('first')];
    const reader = await open({ readOnly: true });
    await reader.getMemory(ids[0]!);
    await fs.checkpoint();
    const saved = new Map<string, Buffer>();
    const keep = async () => {
      for (const name of await readdir(join(root, 'checkpoints'))) if (!saved.has(name)) saved.set(name, await readFile(join(root, 'checkpoints', name)));
    };
    await keep();
    const firstManifest = await readFile(join(root, 'state.manifest'));
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) ids.push(await fs.appendMemory(`round ${round} memory ${i}`));
      await fs.checkpoint();
      await keep();
    }
    ids.push(await fs.appendMemory('tail'));
    await fs.close();
    await reader.close();
    for (const name of await readdir(join(root, 'checkpoints'))) await nodeFileSystem.unlink(join(root, 'checkpoints', name));
    for (const name of await sealedSegments()) if (Number(name.slice(0, 16)) < 5) await nodeFileSystem.unlink(join(root, 'wal', name));
    for (const [name, bytes] of saved) if (name.startsWith('checkpoint-') && Number(/(\d+)/.exec(name)![1]) <= 4) await writeFile(join(root, 'checkpoints', name), bytes);
    await writeFile(join(root, 'state.manifest'), firstManifest);
    const fifth = (await sealedSegments()).find((name) => Number(name.slice(0, 16)) === 5)!;
    expect(fifth).toBeDefined();
    return { ids, fifth, saved };
  }

  it('with state.manifest naming a checkpoint older than the log and a newer one the log begins right after, verify says repair can help (not to restore from a backup), and repair names the newer one: everything reads', async () => {
    const { ids } = await manifestOlderThanTheLog();
    await expect(open()).rejects.toBeDefined();
    const found = await verifyStore(root);
    expect(found.problems.map((problem) => problem.kind)).not.toContain('wal-truncated');
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-unusable', repairable: true }));
    await repairStore(root);
    await readsEverything(root, ids, (i) => (i === 0 ? 'first' : i === ids.length - 1 ? 'tail' : `round ${Math.floor((i - 1) / 3)} memory ${(i - 1) % 3}`));
  });

  it('with that newer checkpoint followed by damage in the sealed segment after it, verify does not offer it (the open fails reading on from it)', async () => {
    const { fifth } = await manifestOlderThanTheLog();
    await damage(fifth, (bytes) => bytes.indexOf('round 1 memory 1') + 3);
    const found = await verifyStore(root);
    expect(found.problems.filter((problem) => problem.kind === 'checkpoint-unusable' && /the log resumes after it|the log reads on from it/.test(problem.message))).toEqual([]);
    expect(found.ok).toBe(false);
    // (Repair names none, and says the store still does not open: not that the next open replays the whole log.)
    const report = await repairStore(root);
    expect(report.actions.join(' ')).toContain('so the store still does not open');
    expect(report.actions.join(' ')).not.toContain('replays the whole log');
    await expect(open()).rejects.toBeDefined();
  });

  /**
   * `olderCheckpointInsideSegment`'s store with three memories more and a newest checkpoint, whose
   * record is in state.wal; the manifest names the oldest; `keepSealed` keeps the one ending the sealed segment.
   */
  async function newestInWal(keepSealed: boolean): Promise<{ segment: string; older: string; ids: number[]; newest: string }> {
    const { segment, older, ids } = await olderCheckpointInsideSegment(true, false, true);
    const olderManifest = await readFile(join(root, 'state.manifest'));
    const sealedNames = (await readdir(join(root, 'checkpoints'))).filter((name) => name !== older);
    const sealedBytes = new Map<string, Buffer>();
    for (const name of sealedNames) sealedBytes.set(name, await readFile(join(root, 'checkpoints', name)));
    const olderBytes = await readFile(join(root, 'checkpoints', older));
    const fs = await open();
    ids.push(await fs.appendMemory('past the segment'));
    ids.push(await fs.appendMemory('just before the newest'));
    await fs.checkpoint();
    ids.push(await fs.appendMemory('after the newest'));
    await fs.close();
    for (const name of sealedNames) await nodeFileSystem.rm(join(root, 'checkpoints', name), { force: true });
    if (keepSealed) for (const [name, bytes] of sealedBytes) await writeFile(join(root, 'checkpoints', name), bytes);
    await writeFile(join(root, 'checkpoints', older), olderBytes);
    await writeFile(join(root, 'state.manifest'), olderManifest);
    const newest = (await readdir(join(root, 'checkpoints'))).filter((n) => n.startsWith('checkpoint-')).sort().at(-1)!;
    return { segment, older, ids, newest };
  }
  const newestTexts = ['mid memory 0', 'mid memory 1', 'mid memory 2', 'late memory 0', 'late memory 1', 'late memory 2', 'after the checkpoint', 'past the segment', 'just before the newest', 'after the newest'];

  it.each([
    ['the sealed segment after the named checkpoint damaged, the checkpoint ending it beside it', true, true],
    ['the sealed segment after the named checkpoint damaged', false, true],
    ['the sealed segments whole', true, false],
  ])('with state.wal damaged before the record of a whole newer checkpoint the manifest does not name (%s), verify says repair names it, and repair keeps the log through its record: everything reads', async (_, keepSealed, sealedDamaged) => {
    const { segment, ids, newest } = await newestInWal(keepSealed as boolean);
    if (sealedDamaged) await damage(segment, (bytes) => bytes.indexOf('late memory 1') + 3);
    await damage('state.wal', (bytes) => bytes.indexOf('past the segment') + 3);
    await expect(open()).rejects.toBeDefined();
    const found = await verifyStore(root);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-unusable', repairable: true, message: expect.stringContaining(`checkpoints/${newest}`) }));
    await repairStore(root).catch(() => undefined);
    expect(await readdir(join(root, 'checkpoints'))).toContain(newest);
    await readsEverything(root, ids, (i) => newestTexts[i]!);
  });

  it('with the open failing past the named checkpoint and the record of a newer checkpoint past it damaged in state.wal, repair refuses, and verify does not offer the checkpoint ending the sealed segment as a repair', async () => {
    const { segment } = await newestInWal(true);
    await damage(segment, (bytes) => bytes.indexOf('late memory 1') + 3);
    await damage('state.wal', (bytes) => bytes.indexOf('just before the newest') + 3);
    const found = await verifyStore(root);
    expect(found.problems.filter((problem) => problem.kind.startsWith('checkpoint-') && problem.repairable)).toEqual([]);
    const checkpoints = (await readdir(join(root, 'checkpoints'))).sort();
    await expect(repairStore(root)).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
    expect((await readdir(join(root, 'checkpoints'))).sort()).toEqual(checkpoints);
  });

  it('with the manifest naming a checkpoint older than the log, verify checks the blocks against the checkpoint repair names, not a newer damaged one (it missed a damaged block)', async () => {
    const { saved } = await manifestOlderThanTheLog();
    // The next checkpoint after record 4 put back too, a row of it damaged.
    const next = [...saved.keys()].filter((name) => name.startsWith('checkpoint-') && Number(/(\d+)/.exec(name)![1]) > 4).sort()[0]!;
    const damaged = Buffer.from(saved.get(next)!);
    damaged[160 + 10]! ^= 0x55;
    await writeFile(join(root, 'checkpoints', next), damaged);
    // A block only the checkpoints hold (round 0 memory 0, before the log's first record), corrupted.
    for (const name of await readdir(join(root, 'blocks'))) {
      const path = join(root, 'blocks', name);
      const bytes = await readFile(path);
      const at = bytes.indexOf('round 0 memory 0');
      if (at >= 0) {
        bytes[at + 2]! ^= 0x20;
        await writeFile(path, bytes);
      }
    }
    const found = await verifyStore(root);
    expect(found.problems.map((p) => p.kind)).toContain('block-corrupt');
  });

  it('refuses a negative or non-numeric historyRetentionMs', async () => {
    for (const bad of [-1, Number.NaN, '0']) {
      await expect(open({ historyRetentionMs: bad as number })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });
});
