import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, verifyStore, type RestoredMemory } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import type { WriteAheadLog } from '@memmapfs/wal';
import { appendAndHold, storeWorkerArgs } from './support/hold-writer.js';
import { useTempStore } from './support/temp-store.js';

const tempStore = useTempStore('restore');
let root: string;
beforeEach(() => {
  ({ root } = tempStore());
});

const open = () => MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
const past = Date.UTC(2023, 5, 6, 7, 8, 9);

/**
 * Has another process append a memory (and keep the store open) right before this store's next append
 * reaches the log: after the restore planned its padding from the end of the log, before its
 * conditional append takes the writer lock.
 */
function otherProcessAppendsBeforeNextAppend(fs: MemMapFS): { others: Array<{ id: number; kill: () => Promise<void> }> } {
  const wal = (fs as unknown as { engine: { wal: WriteAheadLog } }).engine.wal;
  const append = wal.append.bind(wal);
  const state = { others: [] as Array<{ id: number; kill: () => Promise<void> }> };
  let done = false;
  wal.append = async (entries, options) => {
    if (!done) {
      done = true;
      state.others.push(await appendAndHold(root, 'written by the other process'));
    }
    return append(entries, options);
  };
  return state;
}

describe('restoreMemories with another process writing', () => {
  it('plans again when another process appended between its plan and its append: the ids are kept, the other memory keeps its own', async () => {
    const fs = await open();
    await fs.appendMemory('first');
    const race = otherProcessAppendsBeforeNextAppend(fs);
    const ids = await fs.restoreMemories([{ id: 5, text: 'restored five', createdAt: past }, { id: 9, text: 'restored nine', createdAt: past + 1 }]);
    expect(ids).toEqual([5, 9]);
    expect(race.others.map((other) => other.id)).toEqual([2]);
    expect((await fs.getMemory(2))?.text).toBe('written by the other process');
    expect(await fs.getMemory(5)).toMatchObject({ text: 'restored five', createdAt: past, updatedAt: past });
    expect(await fs.getMemory(9)).toMatchObject({ text: 'restored nine', createdAt: past + 1 });
    for (const id of [3, 4, 6, 7, 8]) expect(await fs.getMemory(id)).toBeUndefined();
    expect(await fs.appendMemory('after')).toBe(10);
    for (const other of race.others) await other.kill();
    await fs.close();
    expect((await verifyStore(root)).problems).toEqual([]);
  }, 60_000);

  it('fails with MEMORY_ID_TAKEN, writing nothing, when the other process took the id meanwhile', async () => {
    const fs = await open();
    await fs.appendMemory('first');
    const race = otherProcessAppendsBeforeNextAppend(fs);
    const error = await fs.restoreMemories([{ id: 2, text: 'wanted two', createdAt: past }, { id: 3, text: 'wanted three', createdAt: past }]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'MEMORY_ID_TAKEN', message: expect.stringContaining('id 2') });
    expect(fs.stats().lastLsn).toBe(2);
    expect((await fs.getMemory(2))?.text).toBe('written by the other process');
    expect(await fs.getMemory(3)).toBeUndefined();
    for (const other of race.others) await other.kill();
    await fs.close();
  }, 60_000);

  it('keeps every id while another process appends all along, across padding of many commits', async () => {
    const setup = await open();
    await setup.close();
    const child = spawn(process.execPath, storeWorkerArgs('append', root, 'other', '400'), { stdio: 'pipe' });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();

    const reported = lines.next().then(({ value, done }) => {
      if (done) throw new Error(`the appending process ended early: ${stderr}`);
      return (JSON.parse(value as string) as { ids: number[] }).ids;
    });
    let finished = false;
    void reported.finally(() => (finished = true)).catch(() => undefined);

    // Batches far apart (their padding takes more than one commit), until the other process is done.
    const fs = await open();
    const restored: RestoredMemory[] = [];
    for (let batch = 0; batch < 60 && (batch < 8 || !finished); batch++) {
      const items = Array.from({ length: 50 }, (_, k): RestoredMemory => ({ id: 100_000 + batch * 40_000 + k * 300, text: `restored ${batch}/${k}`, tags: ['restored'], createdAt: past + batch * 50 + k }));
      expect(await fs.restoreMemories(items)).toEqual(items.map((item) => item.id));
      restored.push(...items);
    }
    const theirs = await reported;
    child.stdin.end();
    expect(await exited).toBe(0);

    expect(theirs).toHaveLength(400);
    const ours = new Set(restored.map((item) => item.id));
    expect(theirs.filter((id) => ours.has(id))).toEqual([]);
    // The other process appended while the restores went on: between and after their padding.
    expect(theirs.some((id) => id > 100_000)).toBe(true);
    for (const item of restored) expect(await fs.getMemory(item.id!)).toMatchObject({ text: item.text, createdAt: item.createdAt });
    for (const id of theirs) expect((await fs.getMemory(id))?.text).toMatch(/^other memory \d+ shared folder$/);
    expect(fs.stats().memories).toBe(400 + restored.length);
    await fs.close();
    expect((await verifyStore(root)).problems).toEqual([]);
  }, 120_000);
});
