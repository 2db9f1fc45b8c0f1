import { spawnSync } from 'node:child_process';
import * as nodeFileSystem from 'node:fs/promises';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { MemMapError, MemMapFS, repairStore, verifyStore, type RepairOptions } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { useTempStore } from './support/temp-store.js';

const tempStore = useTempStore('resync');
let dir: string;
let root: string;
beforeEach(() => {
  ({ dir, root } = tempStore());
});

const open = (at = root) => MemMapFS.init(at, { search: flexsearch(), codec: msgpack() });
const repair = (options: RepairOptions = {}, at = root) => repairStore(at, { codec: msgpack(), ...options });

/** One commit: the ids of the memories it made and their texts. */
interface Commit {
  readonly ids: number[];
  readonly texts: string[];
}

/**
 * 24 commits of memories: every fourth an `appendMemories` call of three, the others one
 * `appendMemory`; KV and the agent state set before and after them. Texts are `commit C part P`.
 */
async function seed(): Promise<Commit[]> {
  const fs = await open();
  await fs.setKv('before', 'set before every memory');
  const commits: Commit[] = [];
  for (let c = 0; c < 24; c++) {
    if (c % 4 === 1) {
      const texts = [0, 1, 2].map((p) => `commit ${c} part ${p} lantern`);
      commits.push({ ids: await fs.appendMemories(texts.map((text) => ({ text, tags: ['batch'] }))), texts });
    } else {
      const text = `commit ${c} part 0 lantern`;
      commits.push({ ids: [await fs.appendMemory(text, ['single'])], texts: [text] });
    }
  }
  await fs.setKv('after', { written: 'after every memory' });
  await fs.mergeState({ status: 'resync-test' });
  await fs.close();
  return commits;
}

/** Flips a byte inside the log record carrying `text` (its block copy); returns the log as it was and as damaged. */
async function damageRecordOf(text: string): Promise<{ original: Buffer; damaged: Buffer }> {
  const wal = join(root, 'state.wal');
  const original = await readFile(wal);
  const damaged = Buffer.from(original);
  const at = damaged.indexOf(Buffer.from(text));
  expect(at).toBeGreaterThan(0);
  damaged[at + 3]! ^= 0x20;
  await writeFile(wal, damaged);
  return { original, damaged };
}

/**
 * Ten memories a checkpoint covers and five after it, with the record of the fourth damaged before the
 * checkpoint and of the third after it. Returns their ids.
 */
async function seedDamageAroundCheckpoint(): Promise<{ covered: number[]; after: number[] }> {
  const fs = await open();
  const covered: number[] = [];
  for (let i = 0; i < 10; i++) covered.push(await fs.appendMemory(`covered memory ${i} lantern`));
  await fs.checkpoint();
  const after: number[] = [];
  for (let i = 0; i < 5; i++) after.push(await fs.appendMemory(`after memory ${i} lantern`));
  await fs.close();
  await damageRecordOf('covered memory 3 lantern');
  await damageRecordOf('after memory 2 lantern');
  return { covered, after };
}

/** Every memory of `commits` reads back with its text, except those of the commits in `lost`, which are gone. */
async function expectMemories(fs: MemMapFS, commits: Commit[], lost: number[]): Promise<void> {
  for (const [c, commit] of commits.entries()) {
    for (const [i, id] of commit.ids.entries()) {
      const memory = await fs.getMemory(id);
      if (lost.includes(c)) expect(memory, `memory ${id} of lost commit ${c}`).toBeUndefined();
      else expect(memory?.text, `memory ${id} of commit ${c}`).toBe(commit.texts[i]);
    }
  }
}

describe('repairStore resynchronises after damage', () => {
  it('keeps every commit before and after a damaged record but the damaged commit, with their ids', async () => {
    const commits = await seed();
    const lastId = commits.at(-1)!.ids.at(-1)!;
    // Commit 10 is a single record. The valid frame right after the damage (commit 11's) was written
    // after an fsync (its lag is 1): it begins a commit, and proves commit 10 was durable, so it is kept.
    const { damaged } = await damageRecordOf('commit 10 part 0');
    expect(MemMapError.is(await open().catch((e: unknown) => e), 'WAL_CORRUPT')).toBe(true);
    const before = await verifyStore(root, { codec: msgpack() });
    expect(before.problems).toEqual([expect.objectContaining({ kind: 'wal-damaged', message: expect.stringMatching(/keeps the \d+ records before it and the \d+ intact records after the damaged commit/) })]);

    const result = await repair();
    expect(result.after).toMatchObject({ ok: true, problems: [] });
    expect((await readFile(join(result.backup!, 'state.wal'))).equals(damaged)).toBe(true);
    const lost = commits[10]!.ids[0]!;
    expect(result.actions[0]).toMatch(/^Kept the \d+ valid records of state\.wal before the damage at byte \d+, skipping/);
    expect(result.actions[0]).toContain(result.backup!);
    expect(result.actions[1]).toMatch(new RegExp(`^Damage at byte \\d+ \\(record ${lost}: checksum mismatch\\): lost record ${lost} \\(record ${lost} now holds a placeholder, so no LSN moves\\), then kept the \\d+ valid records from record ${lost + 1} `));
    expect(result.after.lastLsn).toBeGreaterThan(lastId);

    const fs = await open();
    await expectMemories(fs, commits, [10]);
    expect(fs.stats().memories).toBe(commits.flatMap((c) => c.ids).length - 1);
    expect(fs.getKv('before')).toBe('set before every memory');
    expect(fs.getKv('after')).toEqual({ written: 'after every memory' });
    expect(fs.getState()).toMatchObject({ status: 'resync-test' });
    const hits = await fs.queryMemory('lantern', { limit: 100 });
    expect(hits.map((hit) => hit.id).sort((a, b) => a - b)).toEqual(commits.filter((_, c) => c !== 10).flatMap((c) => c.ids));
    expect(await fs.memoryHistory(lost)).toEqual([]);
    // LSNs did not move: a new memory takes the next LSN, after every id handed out before the damage.
    expect(await fs.appendMemory('after the repair')).toBeGreaterThan(result.after.lastLsn);
    await fs.close();
    expect((await verifyStore(root, { codec: msgpack() })).problems).toEqual([]);
    // Reopened from the checkpoint its close wrote, or not: the same.
    const again = await open();
    await expectMemories(again, commits, [10]);
    await again.close();
  });

  it('loses only a multi-record commit damaged inside: its last frame ends it, and the next commit is kept', async () => {
    const commits = await seed();
    await damageRecordOf('commit 13 part 1');
    const result = await repair();
    expect(result.after).toMatchObject({ ok: true, problems: [] });
    const [first, , last] = commits[13]!.ids;
    expect(result.actions[1]).toContain(`lost records ${first}–${last}`);
    const fs = await open();
    await expectMemories(fs, commits, [13]);
    expect(fs.getKv('after')).toEqual({ written: 'after every memory' });
    await fs.close();
  });

  it('skips two damaged regions', async () => {
    const commits = await seed();
    await damageRecordOf('commit 4 part 0');
    await damageRecordOf('commit 17 part 2');
    const result = await repair();
    expect(result.after).toMatchObject({ ok: true, problems: [] });
    expect(result.actions.filter((action) => action.startsWith('Damage at byte'))).toHaveLength(2);
    const fs = await open();
    // Commit 4; commit 17, a batch whose last record was hit. (The commits after them begin with a frame
    // written after an fsync: kept.)
    await expectMemories(fs, commits, [4, 17]);
    expect(fs.getState()).toMatchObject({ status: 'resync-test' });
    await fs.close();
    expect((await verifyStore(root, { codec: msgpack() })).ok).toBe(true);
  });

  it('leaves a damaged record a checkpoint covers to the checkpoint: the store opens and answers queries, verify says to compact, repair changes nothing, and a compaction drops it', async () => {
    const ids: number[] = [];
    // A search index saved before the checkpoint: its catch-up reads the log from its own record on.
    const first = await open();
    for (let i = 0; i < 5; i++) ids.push(await first.appendMemory(`covered memory ${i} lantern`));
    expect(await first.queryMemory('lantern')).toHaveLength(5);
    await first.close();
    const fs = await open();
    for (let i = 5; i < 20; i++) ids.push(await fs.appendMemory(`covered memory ${i} lantern`));
    await fs.checkpoint();
    const later = await fs.appendMemory('after the checkpoint');
    await fs.close();
    await damageRecordOf('covered memory 12 lantern');
    // The open resumes after the checkpoint's record: every memory reads, and the search index, whose
    // catch-up meets the damage, is rebuilt from the tables.
    const opened = await open();
    expect((await opened.getMemory(ids[12]!))?.text).toBe('covered memory 12 lantern');
    expect(await opened.queryMemory('lantern', { limit: 50 })).toHaveLength(20);
    await opened.close();
    const found = await verifyStore(root, { codec: msgpack() });
    expect(found.problems).toEqual([expect.objectContaining({ kind: 'wal-damaged', severity: 'error', repairable: false, message: expect.stringMatching(/the checkpoint at record \d+ covers it: the store opens.*memmapfs compact/) })]);
    // Repair would replace the record with a placeholder, and lose what only the checkpoint holds now.
    await expect(repair()).rejects.toMatchObject({ code: 'WAL_CORRUPT', message: expect.stringContaining('memmapfs compact') });
    const compacting = await open();
    await compacting.compact();
    for (const [i, id] of ids.entries()) expect((await compacting.getMemory(id))?.text).toBe(`covered memory ${i} lantern`);
    expect((await compacting.getMemory(later))?.text).toBe('after the checkpoint');
    await compacting.close();
    expect((await verifyStore(root, { codec: msgpack() })).problems).toEqual([]);
  });

  it('takes damage inside the commit whose last record the checkpoint ends at as covered: the open resumes after that record, and repair leaves the commit to the checkpoint', async () => {
    const fs = await open();
    const early = [await fs.appendMemory('early memory lantern')];
    const batch = await fs.appendMemories([0, 1, 2, 3].map((i) => ({ text: `batch memory ${i} lantern` })));
    await fs.checkpoint();
    await fs.close();
    await damageRecordOf('batch memory 1 lantern');
    const found = await verifyStore(root, { codec: msgpack() });
    expect(found.problems).toEqual([expect.objectContaining({ kind: 'wal-damaged', repairable: false, message: expect.stringMatching(/covers it: the store opens.*memmapfs compact/) })]);
    await expect(repair()).rejects.toMatchObject({ code: 'WAL_CORRUPT', message: expect.stringContaining('memmapfs compact') });
    const opened = await open();
    for (const [i, id] of batch.entries()) expect((await opened.getMemory(id))?.text).toBe(`batch memory ${i} lantern`);
    await opened.compact();
    await opened.close();
    expect((await verifyStore(root, { codec: msgpack() })).problems).toEqual([]);
    const compacted = await open();
    for (const [i, id] of batch.entries()) expect((await compacted.getMemory(id))?.text).toBe(`batch memory ${i} lantern`);
    expect((await compacted.getMemory(early[0]!))?.text).toBe('early memory lantern');
    await compacted.close();
  });

  it('with damage before a checkpoint and after it, keeps the log up to the checkpoint\'s record as it is: only the record after it is lost, what the checkpoint holds stays', async () => {
    const { covered, after } = await seedDamageAroundCheckpoint();
    await expect(open()).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
    expect((await verifyStore(root, { codec: msgpack() })).problems).toEqual([expect.objectContaining({ kind: 'wal-damaged', message: expect.stringMatching(/repair` keeps the log as it is up to that record .* then the \d+ intact records after it, skipping the damage/) })]);
    const result = await repair();
    expect(result.actions.join(' ')).toMatch(/lost record \d+/);
    const opened = await open();
    for (const [i, id] of covered.entries()) expect((await opened.getMemory(id))?.text, `covered memory ${i}`).toBe(`covered memory ${i} lantern`);
    for (const [i, id] of after.entries()) expect((await opened.getMemory(id))?.text, `after memory ${i}`).toBe(i === 2 ? undefined : `after memory ${i} lantern`);
    expect(await opened.queryMemory('lantern', { limit: 50 })).toHaveLength(14);
    // The damage before the checkpoint is left to it, as when it is the only damage: a compaction drops it.
    expect(result.after.problems).toEqual([expect.objectContaining({ kind: 'wal-damaged', repairable: false, message: expect.stringContaining('memmapfs compact') })]);
    await opened.compact();
    await opened.close();
    expect((await verifyStore(root, { codec: msgpack() })).problems).toEqual([]);
    const compacted = await open();
    expect((await compacted.getMemory(covered[3]!))?.text).toBe('covered memory 3 lantern');
    await compacted.close();
  });

  it('with resync: false and damage before a checkpoint and after it, keeps the valid records between the checkpoint\'s record and the later damage', async () => {
    const { covered, after } = await seedDamageAroundCheckpoint();
    await repair({ resync: false });
    const opened = await open();
    for (const [i, id] of covered.entries()) expect((await opened.getMemory(id))?.text, `covered memory ${i}`).toBe(`covered memory ${i} lantern`);
    // (Without resync nothing after the later damage is kept.)
    for (const [i, id] of after.entries()) expect((await opened.getMemory(id))?.text, `after memory ${i}`).toBe(i < 2 ? `after memory ${i} lantern` : undefined);
    const next = await opened.appendMemory('one more');
    expect(next).toBeGreaterThan(after.at(-1)!);
    await opened.close();
  });

  it('with state.manifest gone and another store\'s newer checkpoint beside its own, opens from its own, which covers damage before it', async () => {
    const fs = await open();
    const covered: number[] = [];
    for (let i = 0; i < 10; i++) covered.push(await fs.appendMemory(`covered memory ${i} lantern`));
    await fs.checkpoint();
    await fs.close();
    const elsewhere = await open(join(dir, 'elsewhere'));
    for (let i = 0; i < 30; i++) await elsewhere.appendMemory(`other memory ${i}`);
    await elsewhere.checkpoint();
    await elsewhere.close();
    const [foreign] = (await readdir(join(dir, 'elsewhere', 'checkpoints'))).filter((name) => name.startsWith('checkpoint-'));
    await cp(join(dir, 'elsewhere', 'checkpoints', foreign!), join(root, 'checkpoints', foreign!));
    await nodeFileSystem.unlink(join(root, 'state.manifest'));
    await damageRecordOf('covered memory 3 lantern');
    expect((await verifyStore(root, { codec: msgpack() })).problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'wal-damaged', message: expect.stringContaining('covers it: the store opens') })]));
    const opened = await open();
    for (const [i, id] of covered.entries()) expect((await opened.getMemory(id))?.text, `covered memory ${i}`).toBe(`covered memory ${i} lantern`);
    await opened.compact();
    await opened.close();
    expect((await verifyStore(root, { codec: msgpack() })).problems).toEqual([]);
  });

  it('fails, the damaged log left as it was, when a checkpoint it must remove cannot be removed; once it can, moves it into its backup folder, byte for byte', async () => {
    const fs = await open();
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await fs.appendMemory(`checkpointed memory ${i} lantern`));
    await fs.checkpoint();
    for (let i = 5; i < 10; i++) ids.push(await fs.appendMemory(`later memory ${i} lantern`));
    await fs.close();
    const { damaged } = await damageRecordOf('later memory 7 lantern');
    const [checkpoint] = (await readdir(join(root, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-'));
    const checkpointBytes = await readFile(join(root, 'checkpoints', checkpoint!));
    const eio = (call: string, path: unknown) => Object.assign(new Error(`EIO: i/o error, ${call} '${String(path)}'`), { code: 'EIO' });
    const failing = {
      ...nodeFileSystem,
      unlink: async (path: Parameters<typeof nodeFileSystem.unlink>[0]) => {
        if (String(path).includes('checkpoint-')) throw eio('unlink', path);
        return nodeFileSystem.unlink(path);
      },
      rename: async (from: Parameters<typeof nodeFileSystem.rename>[0], to: Parameters<typeof nodeFileSystem.rename>[1]) => {
        if (String(from).includes('checkpoint-')) throw eio('rename', from);
        return nodeFileSystem.rename(from, to);
      },
    };
    await expect(repair({ fileSystem: failing })).rejects.toMatchObject({ code: 'IO_ERROR' });
    expect((await readFile(join(root, 'state.wal'))).equals(damaged)).toBe(true);
    expect(await readFile(join(root, 'checkpoints', checkpoint!))).toEqual(checkpointBytes);
    await expect(open()).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
    // Once the checkpoint can go, the repair goes through, and keeps it where the log's original is.
    const repaired = await repair();
    expect(repaired.actions.join(' ')).toContain(`Removed the checkpoint of the tables (checkpoints/${checkpoint} is in ${repaired.backup})`);
    expect(await readdir(join(root, 'checkpoints'))).not.toContain(checkpoint);
    expect(await readFile(join(repaired.backup!, 'checkpoints', checkpoint!))).toEqual(checkpointBytes);
    expect((await readFile(join(repaired.backup!, 'state.wal'))).equals(damaged)).toBe(true);
    const opened = await open();
    expect((await opened.getMemory(ids[7]!))).toBeUndefined();
    expect((await opened.getMemory(ids[8]!))?.text).toBe('later memory 8 lantern');
    await opened.close();
  });

  it('makes a backup folder of its own when one of the same time is there already, and leaves that one as it was', async () => {
    await seed();
    await damageRecordOf('commit 10 part 0');
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2031-01-02T03:04:05.678Z'));
      const taken = join(root, 'repair-backup-2031-01-02T03-04-05-678Z');
      await nodeFileSystem.mkdir(taken);
      await writeFile(join(taken, 'state.wal'), 'an earlier backup');
      const repaired = await repair();
      expect(repaired.backup).toBe(`${taken}-2`);
      expect(await readFile(join(taken, 'state.wal'), 'utf8')).toBe('an earlier backup');
    } finally {
      vi.useRealTimers();
    }
  });

  it('says every record it lost when the log is cut short: from the damage up to the last one committed, not the first alone', async () => {
    const fs = await open();
    for (let i = 0; i < 30; i++) await fs.appendMemory(`memory ${i}`);
    await fs.close();
    const { lastLsn } = await verifyStore(root, { codec: msgpack() });
    const wal = join(root, 'state.wal');
    await writeFile(wal, (await readFile(wal)).subarray(0, Math.floor((await readFile(wal)).length / 2)));
    const result = await repair();
    const said = /lost records? (\d+)(?:–(\d+))?/.exec(result.actions[1] ?? '');
    expect(said, result.actions.join('\n')).not.toBeNull();
    expect(Number(said![2] ?? said![1])).toBe(lastLsn);
    expect(result.after).toMatchObject({ ok: true, lastLsn });
  });

  it('when the damaged record is the last one, keeps the records before it and never gives its LSN out again, with resync or without', async () => {
    const fs = await open();
    const ids = [];
    for (let i = 0; i < 8; i++) ids.push(await fs.appendMemory(`tail memory ${i}`));
    await fs.close();
    // The last record of the log (the checkpoint record close() wrote after the memories, say).
    const wal = join(root, 'state.wal');
    const { walBytes, lastLsn } = await verifyStore(root, { codec: msgpack() });
    const image = await readFile(wal);
    image[walBytes - 2]! ^= 0x20;
    await writeFile(wal, image);
    const copy = join(dir, 'copy');
    await cp(root, copy, { recursive: true });
    const resynced = await repair();
    const cut = await repair({ resync: false }, copy);
    expect(resynced.actions[1]).toMatch(new RegExp(`^Damage at byte \\d+ \\(record ${lastLsn}: .*\\): lost record ${lastLsn} \\(record ${lastLsn} now holds a placeholder, so no LSN moves\\); no intact commit follows it\\.$`));
    expect(cut.actions[0]).toMatch(new RegExp(`dropped the \\d+ bytes from there on \\(records ${lastLsn}–${lastLsn} now hold placeholders`));
    for (const [result, at] of [[resynced, root], [cut, copy]] as const) {
      expect(result.after).toMatchObject({ ok: true, lastLsn });
      const reopened = await open(at);
      expect(reopened.stats().memories).toBe(lastLsn === ids[7] ? 7 : 8);
      expect((await reopened.getMemory(ids[6]!))?.text).toBe('tail memory 6');
      expect(await reopened.appendMemory('after the repair')).toBe(lastLsn + 1);
      await reopened.close();
    }
  });

  it('with resync: false keeps only the records before the damage, as before', async () => {
    const commits = await seed();
    await damageRecordOf('commit 10 part 0');
    const result = await repair({ resync: false });
    expect(result.after).toMatchObject({ ok: true, problems: [] });
    expect(result.actions[0]).toMatch(/^Kept the \d+ valid records of state\.wal before the damage at byte \d+ and dropped the \d+ bytes from there on/);
    const fs = await open();
    await expectMemories(fs, commits, commits.map((_, c) => c).filter((c) => c >= 10));
    expect(fs.getKv('after')).toBeUndefined();
    await fs.close();
  });

  it('still treats a torn write after the last commit as a torn tail, not damage: nothing lost', async () => {
    const commits = await seed();
    const wal = join(root, 'state.wal');
    const { walBytes } = await verifyStore(root, { codec: msgpack() });
    // A write cut short after the last commit: the first bytes of a frame where the room written ahead was.
    const image = (await readFile(wal)).subarray(0, walBytes);
    await writeFile(wal, Buffer.concat([image, image.subarray(walBytes - 40)]));
    const report = await verifyStore(root, { codec: msgpack() });
    expect(report.problems.map((p) => p.kind)).toEqual(['wal-torn-tail']);
    const result = await repair();
    expect(result.actions[0]).toMatch(/^Cut the \d+ bytes of torn write/);
    const fs = await open();
    await expectMemories(fs, commits, []);
    expect(fs.getKv('after')).toEqual({ written: 'after every memory' });
    expect(fs.getState()).toMatchObject({ status: 'resync-test' });
    await fs.close();
  });

  it('killed (-9) at any step, a repair leaves either the damaged log as it was (open refuses; repair again) or the repaired store', async () => {
    // Older records sealed in segments behind a checkpoint: the log keeps its identity, and state.wal is
    // replaced under the same log id (the case where a stale commit marker could outlive the old file).
    const template = join(dir, 'template');
    const texts = new Map<number, string>();
    let fs = await MemMapFS.init(template, { search: flexsearch(), codec: msgpack(), historyRetentionMs: 0 });
    for (let i = 0; i < 6; i++) texts.set(await fs.appendMemory(`early memory ${i} owl`), `early memory ${i} owl`);
    await fs.checkpoint();
    for (let i = 0; i < 10; i++) texts.set(await fs.appendMemory(`late memory ${i} owl`), `late memory ${i} owl`);
    await fs.close();
    const wal = join(template, 'state.wal');
    const damaged = await readFile(wal);
    damaged[damaged.indexOf('late memory 3 owl') + 2]! ^= 0x20;
    await writeFile(wal, damaged);

    const readBack = async (at: string) => {
      const store = await open(at);
      const found = new Map<number, string | undefined>();
      for (const id of texts.keys()) found.set(id, (await store.getMemory(id))?.text);
      const next = await store.appendMemory('probe');
      await store.close();
      return { found, next };
    };
    const reference = join(dir, 'reference');
    await cp(template, reference, { recursive: true });
    await repair({}, reference);
    const expected = await readBack(reference);
    expect([...expected.found.values()].filter((text) => text === undefined)).toHaveLength(1);

    const child = fileURLToPath(new URL('./support/repair-until-killed.ts', import.meta.url));
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    let completed = false;
    for (let step = 1; step < 200 && !completed; step++) {
      const at = join(dir, `killed-at-${step}`);
      await cp(template, at, { recursive: true });
      const run = spawnSync(process.execPath, ['--conditions=dev-source', '--import', tsx, child, at, String(step)], { encoding: 'utf8' });
      completed = run.signal !== 'SIGKILL';
      if (completed) expect(run.status, run.stderr).toBe(0);
      const opened = await readBack(at).then((result) => result, (error: unknown) => error);
      if (opened instanceof Error) {
        expect(MemMapError.is(opened, 'WAL_CORRUPT'), `killed at step ${step}: ${opened.message}`).toBe(true);
        expect((await readFile(join(at, 'state.wal'))).equals(damaged), `killed at step ${step}: state.wal changed, yet the store does not open`).toBe(true);
        await repair({}, at);
        expect(await readBack(at), `killed at step ${step}, then repaired again`).toEqual(expected);
        // Nothing of the interrupted repair is left behind (a full-size log image under a temporary name).
        expect((await readdir(at, { recursive: true })).filter((name) => name.endsWith('.tmp')), `killed at step ${step}`).toEqual([]);
      } else {
        expect(opened, `killed at step ${step}`).toEqual(expected);
      }
    }
    expect(completed).toBe(true);
  }, 180_000);

  it('a repair that fails after it wrote the new commit marker leaves a store that refuses to open, never one that gives acknowledged ids out again', async () => {
    // Older records sealed behind a checkpoint (the log keeps its identity); the last commit is a batch
    // of four, and its third record is damaged: the placeholders are shorter than the frames they stand
    // for, so the new log ends before the damage in the old one.
    // The writer is killed (-9) right after the batch is acknowledged: no record follows it.
    const writer = fileURLToPath(new URL('./support/append-batch-then-die.ts', import.meta.url));
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const run = spawnSync(process.execPath, ['--conditions=dev-source', '--import', tsx, writer, root], { encoding: 'utf8' });
    expect(run.signal, run.stderr).toBe('SIGKILL');
    const batch = JSON.parse(run.stdout) as number[];
    const wal = join(root, 'state.wal');
    const image = await readFile(wal);
    image[image.indexOf('batch memory 2 wren') + 3]! ^= 0x20;
    await writeFile(wal, image);
    // The disk fills as the new state.wal is written.
    const nodeFiles = await import('node:fs/promises');
    const full = { ...nodeFiles, open: async (path: string, flags?: string, mode?: number) => {
      if (/\.state\.wal\.\d+-[0-9a-f]+\.tmp$/.test(path) && !path.includes('repair-backup-')) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      return nodeFiles.open(path, flags, mode);
    } };
    expect(await repair({ fileSystem: full as never }).then(() => undefined, (error: unknown) => error)).toBeInstanceOf(MemMapError);
    expect(MemMapError.is(await open().then(async (store) => (await store.close(), undefined), (error: unknown) => error), 'WAL_CORRUPT')).toBe(true);
    const repaired = await repair();
    expect(repaired.after).toMatchObject({ ok: true, lastLsn: batch.at(-1) });
    const fs = await open();
    for (const id of batch) expect(await fs.getMemory(id)).toBeUndefined();
    expect(await fs.appendMemory('after the repair')).toBe(batch.at(-1)! + 1);
    await fs.close();
  });
});
