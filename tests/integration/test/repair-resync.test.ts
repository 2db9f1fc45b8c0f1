import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
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
  it('keeps every commit before and after a damaged record but the damaged commit and the one after it, with their ids', async () => {
    const commits = await seed();
    const lastId = commits.at(-1)!.ids.at(-1)!;
    // Commit 10 is a single record: the valid frame right after the damage (commit 11's) may, for all
    // repair can tell, be the end of a commit that began in the damage, so commit 11 is dropped too.
    const { damaged } = await damageRecordOf('commit 10 part 0');
    expect(MemMapError.is(await open().catch((e: unknown) => e), 'WAL_CORRUPT')).toBe(true);
    const before = await verifyStore(root, { codec: msgpack() });
    expect(before.problems).toEqual([expect.objectContaining({ kind: 'wal-damaged', message: expect.stringMatching(/keeps the \d+ records before it and the \d+ intact records after the damaged commit/) })]);

    const result = await repair();
    expect(result.after).toMatchObject({ ok: true, problems: [] });
    expect((await readFile(join(result.backup!, 'state.wal'))).equals(damaged)).toBe(true);
    const lostFrom = commits[10]!.ids[0]!;
    const lostTo = commits[11]!.ids.at(-1)!;
    expect(result.actions[0]).toMatch(/^Kept the \d+ valid records of state\.wal before the damage at byte \d+, skipping/);
    expect(result.actions[0]).toContain(result.backup!);
    expect(result.actions[1]).toMatch(new RegExp(`^Damage at byte \\d+ \\(record ${lostFrom}: checksum mismatch\\): lost records ${lostFrom}–${lostTo} \\(records ${lostFrom}–${lostTo} now hold placeholders, so no LSN moves\\), then kept the \\d+ valid records from record ${lostTo + 1} `));
    expect(result.after.lastLsn).toBeGreaterThan(lastId);

    const fs = await open();
    await expectMemories(fs, commits, [10, 11]);
    expect(fs.stats().memories).toBe(commits.flatMap((c) => c.ids).length - 2);
    expect(fs.getKv('before')).toBe('set before every memory');
    expect(fs.getKv('after')).toEqual({ written: 'after every memory' });
    expect(fs.getState()).toMatchObject({ status: 'resync-test' });
    const hits = await fs.queryMemory('lantern', { limit: 100 });
    expect(hits.map((hit) => hit.id).sort((a, b) => a - b)).toEqual(commits.filter((_, c) => c !== 10 && c !== 11).flatMap((c) => c.ids));
    expect(await fs.memoryHistory(lostFrom)).toEqual([]);
    // LSNs did not move: a new memory takes the next LSN, after every id handed out before the damage.
    expect(await fs.appendMemory('after the repair')).toBeGreaterThan(result.after.lastLsn);
    await fs.close();
    expect((await verifyStore(root, { codec: msgpack() })).problems).toEqual([]);
    // Reopened from the checkpoint its close wrote, or not: the same.
    const again = await open();
    await expectMemories(again, commits, [10, 11]);
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
    // Commit 4 and (conservatively) 5; commit 17, a batch whose last record was hit, and 18 after it.
    await expectMemories(fs, commits, [4, 5, 17, 18]);
    expect(fs.getState()).toMatchObject({ status: 'resync-test' });
    await fs.close();
    expect((await verifyStore(root, { codec: msgpack() })).ok).toBe(true);
  });

  it('does what it did before when the damaged record is the last one', async () => {
    const fs = await open();
    const ids = [];
    for (let i = 0; i < 8; i++) ids.push(await fs.appendMemory(`tail memory ${i}`));
    await fs.close();
    // The last record of the log (the checkpoint record close() wrote after the memories, say).
    const wal = join(root, 'state.wal');
    const { walBytes } = await verifyStore(root, { codec: msgpack() });
    const image = await readFile(wal);
    image[walBytes - 2]! ^= 0x20;
    await writeFile(wal, image);
    const copy = join(dir, 'copy');
    await cp(root, copy, { recursive: true });
    const resynced = await repair();
    const cut = await repair({ resync: false }, copy);
    const withoutBackup = (action: string) => action.replace(/ the original is in .*$/, '');
    expect(resynced.actions.map(withoutBackup)).toEqual(cut.actions.map(withoutBackup));
    expect(resynced.after).toMatchObject({ ok: true, records: cut.after.records, lastLsn: cut.after.lastLsn });
    const reopened = await open();
    expect(reopened.stats().memories).toBe(cut.after.lastLsn >= ids[7]! ? 8 : 7);
    expect((await reopened.getMemory(ids[6]!))?.text).toBe('tail memory 6');
    await reopened.close();
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
});
