import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, repairStore, verifyStore, type Memory, type RestoredMemory } from '@memmapfs/core';
import { useTempRoot, v8Codec, VectorWordSearch, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const codec = v8Codec();
const open = () => MemMapFS.init(root, { codec, search: new VectorWordSearch() });

const day = 24 * 60 * 60 * 1000;
const past = Date.UTC(2024, 0, 2, 3, 4, 5, 6);

/** Memories as another store's export had them: ids spread out, times of their own. */
function exported(): RestoredMemory[] {
  return [
    { id: 3, text: 'the first one kept', tags: ['a'], namespace: 'team/alpha', meta: { source: 'chat', n: 1 }, createdAt: past, updatedAt: past },
    { id: 7, text: 'updated later', tags: [], namespace: 'default', meta: {}, createdAt: past + 1, updatedAt: past + day },
    { id: 8, text: 'with a TTL', tags: ['ttl'], namespace: 'default', meta: { nested: { ok: true } }, createdAt: past + 2, updatedAt: past + 2, expiresAt: Date.now() + 10 * day },
    { id: 20, text: 'with an embedding', tags: ['vec'], namespace: 'team/beta', meta: {}, createdAt: past + 3, updatedAt: past + 4, embedding: new Float32Array([0.25, -1, 0.1]) },
  ];
}

async function allMemories(fs: MemMapFS): Promise<Memory[]> {
  const memories: Memory[] = [];
  let cursor: string | undefined;
  do {
    const page = await fs.listMemories({ limit: 1000, ...(cursor ? { cursor } : {}) });
    memories.push(...page.memories);
    cursor = page.nextCursor;
  } while (cursor);
  return memories;
}

describe('restoreMemories', () => {
  it('writes each memory at its own id, with its times, tags, namespace, meta, expiry and embedding', async () => {
    const fs = await open();
    const items = exported();
    expect(await fs.restoreMemories(items)).toEqual([3, 7, 8, 20]);
    expect(await allMemories(fs)).toEqual(items.map((item) => ({ ...item })));
    expect(fs.stats().lastLsn).toBe(20);
    // The ids in between hold no memory, and never will.
    for (const id of [1, 2, 4, 5, 6, 9, 19]) expect(await fs.getMemory(id)).toBeUndefined();
    // Searchable like any memory, by text and by embedding.
    expect((await fs.queryMemory('embedding')).map((hit) => hit.id)).toEqual([20]);
    expect((await fs.queryMemory('', { embedding: [0.25, -1, 0.1] }))[0]!.id).toBe(20);
    // Its history begins with its creation, at its own time.
    expect(await fs.memoryHistory(7)).toEqual([{ event: 'created', lsn: 7, at: past + 1, memory: items[1] }]);
    await fs.close();
  });

  it('leaves later appends above every restored id, and ids are never given out twice', async () => {
    const fs = await open();
    const first = await fs.appendMemory('already here');
    expect(first).toBe(1);
    expect(await fs.restoreMemories([{ id: 50, text: 'restored', createdAt: past }])).toEqual([50]);
    const next = await fs.appendMemory('appended after');
    expect(next).toBe(51);
    expect(await fs.restoreMemories([{ id: 60, text: 'again', createdAt: past, updatedAt: past }, { id: 61, text: 'and again', createdAt: past }])).toEqual([60, 61]);
    expect((await fs.getMemory(61))?.updatedAt).toBe(past);
    expect(await fs.appendMemory('last')).toBe(62);
    expect((await allMemories(fs)).map((m) => m.id)).toEqual([1, 50, 51, 60, 61, 62]);
    await fs.close();
  });

  it('keeps everything over a reopen, a checkpoint and a repair, and verify finds no problem', async () => {
    let fs = await open();
    const items = exported();
    await fs.restoreMemories(items);
    await fs.deleteMemory(7);
    await fs.updateMemory(8, { tags: ['changed'] });
    const expected = await allMemories(fs);
    expect(expected.map((m) => m.id)).toEqual([3, 8, 20]);
    await fs.close();

    fs = await open();
    expect(await allMemories(fs)).toEqual(expected);
    const end = fs.stats().lastLsn;
    expect(await fs.appendMemory('after the reopen')).toBe(end + 1);
    await fs.checkpoint();
    await fs.close();
    const report = await verifyStore(root, { codec });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);

    fs = await open();
    expect((await allMemories(fs)).slice(0, 3)).toEqual(expected);
    await fs.close();
    await repairStore(root, { codec });
    expect((await verifyStore(root, { codec })).problems).toEqual([]);
    fs = await open();
    expect((await allMemories(fs)).slice(0, 3)).toEqual(expected);
    expect(await fs.appendMemory('after the repair')).toBeGreaterThan(23);
    await fs.close();
  });

  it('pads a gap larger than one commit holds, and a later open reads past it', async () => {
    const fs = await MemMapFS.init(root, { codec, search: new WordSearch() });
    const far = 150_000;
    expect(await fs.restoreMemories([{ id: far, text: 'far away', createdAt: past }, { id: far + 40_000, text: 'further', createdAt: past }])).toEqual([far, far + 40_000]);
    expect(await fs.appendMemory('next')).toBe(far + 40_001);
    await fs.close();
    // One padding record is a frame header and an empty map: a few dozen bytes.
    const walBytes = (await stat(join(root, 'state.wal'))).size;
    expect(walBytes / (far + 40_000)).toBeLessThan(40);
    const again = await MemMapFS.init(root, { codec, search: new WordSearch() });
    expect((await allMemories(again)).map((m) => [m.id, m.text])).toEqual([[far, 'far away'], [far + 40_000, 'further'], [far + 40_001, 'next']]);
    await again.close();
    expect((await verifyStore(root, { codec })).problems).toEqual([]);
  });

  it('starts no background checkpoint for padding: only changes count toward one', async () => {
    const fs = await MemMapFS.init(root, { codec, search: new WordSearch() });
    expect(await fs.restoreMemories([{ id: 100_000, text: 'far away', createdAt: past }])).toEqual([100_000]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await stat(join(root, 'state.manifest')).then(() => true, () => false)).toBe(false);
    await fs.close();
  });

  it('gives up with RESTORE_CONTENDED when other appends refuse it over and over; MEMORY_ID_TAKEN after padding says only padding was written', async () => {
    const fs = await MemMapFS.init(root, { codec, search: new WordSearch() });
    const wal = (fs as unknown as { engine: { wal: { append: (entries: unknown[], options?: { check?: () => void }) => Promise<number[]> } } }).engine.wal;
    const append = wal.append.bind(wal);
    let interfere = 0;
    wal.append = async (entries, options) => {
      // Another writer appends right before every conditional append (for a while: the loop must end on its own).
      if (options?.check && interfere-- > 0) await fs.setKv('other', interfere);
      return append(entries, options);
    };
    interfere = 1000;
    const contended = await fs.restoreMemories([{ id: 10_000, text: 'wanted', createdAt: past }]).catch((e: unknown) => e);
    expect(contended).toMatchObject({ code: 'RESTORE_CONTENDED', message: expect.stringMatching(/none of its memories was written/) });
    expect(await fs.getMemory(10_000)).toBeUndefined();

    // Padding committed ahead of the memories, then the id taken: the message says what was written.
    const end = fs.stats().lastLsn;
    interfere = 0;
    let taken = false;
    wal.append = async (entries, options) => {
      if (options?.check && entries.length > 16_384 && !taken) {
        taken = true;
        await fs.appendMemories(Array.from({ length: 20_000 }, (_, i) => ({ text: `other ${i}` })));
      }
      return append(entries, options);
    };
    const error = await fs.restoreMemories([{ id: end + 30_000, text: 'wanted', createdAt: past }]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'MEMORY_ID_TAKEN', message: expect.stringContaining('None of its memories was written (only padding') });
    expect((error as Error).message).not.toMatch(/Nothing was written/);
    await fs.close();
  }, 60_000);

  it('gives items without an id the next ids, keeping their times', async () => {
    const fs = await open();
    await fs.appendMemory('one');
    const ids = await fs.restoreMemories([{ text: 'renumbered', createdAt: past, updatedAt: past + 5, expiresAt: Date.now() + day }, { text: 'also', createdAt: past }]);
    expect(ids).toEqual([2, 3]);
    expect(await fs.getMemory(2)).toMatchObject({ id: 2, createdAt: past, updatedAt: past + 5 });
    await fs.close();
  });

  describe('refuses, writing nothing,', () => {
    it('ids that do not increase, or some items with an id and some without (INVALID_ARGUMENT)', async () => {
      const fs = await open();
      await expect(fs.restoreMemories([{ id: 5, text: 'a', createdAt: past }, { id: 5, text: 'b', createdAt: past }])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/item 1: id 5 .*increas/) });
      await expect(fs.restoreMemories([{ id: 9, text: 'a', createdAt: past }, { id: 4, text: 'b', createdAt: past }])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(fs.restoreMemories([{ id: 9, text: 'a', createdAt: past }, { text: 'b', createdAt: past }])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('every item') });
      expect(fs.stats().lastLsn).toBe(0);
      await fs.close();
    });

    it.each([
      ['an id that is not a positive integer', { id: 1.5, text: 'x', createdAt: past }, 'id must be a positive integer'],
      ['no createdAt', { id: 1, text: 'x' }, 'createdAt must be'],
      ['a time that is not finite', { id: 1, text: 'x', createdAt: past, updatedAt: Number.NaN }, 'updatedAt must be'],
      ['a time a Date cannot hold (every reader shows it as a date)', { id: 1, text: 'x', createdAt: past, expiresAt: 1e300 }, 'expiresAt must be a number of milliseconds since the epoch that a Date can hold'],
      ['an empty text', { id: 1, text: ' ', createdAt: past }, 'text must not be empty'],
      ['an embedding that is not numbers', { id: 1, text: 'x', createdAt: past, embedding: ['a'] }, 'embedding'],
    ])('%s (INVALID_ARGUMENT)', async (_case, item, message) => {
      const fs = await open();
      const error = await fs.restoreMemories([item as unknown as RestoredMemory]).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(message) });
      expect(fs.stats().lastLsn).toBe(0);
      await fs.close();
    });

    it('an id that is not above the last record of the log (MEMORY_ID_TAKEN)', async () => {
      const fs = await open();
      await fs.appendMemory('one');
      await fs.setKv('k', 1);
      await fs.appendMemory('three');
      for (const id of [1, 2, 3]) {
        const error = await fs.restoreMemories([{ id, text: 'x', createdAt: past }]).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: 'MEMORY_ID_TAKEN', message: expect.stringContaining(`id ${id}`) });
      }
      expect(fs.stats().lastLsn).toBe(3);
      expect(await fs.restoreMemories([{ id: 4, text: 'fits', createdAt: past }])).toEqual([4]);
      await fs.close();
    });

    it('ids too far apart for one commit (RESTORE_GAP_TOO_LARGE), which fit when split', async () => {
      const fs = await MemMapFS.init(root, { codec, search: new WordSearch() });
      const items: RestoredMemory[] = [{ id: 10, text: 'near', createdAt: past }, { id: 10 + 70_000, text: 'far', createdAt: past }];
      await expect(fs.restoreMemories(items)).rejects.toMatchObject({ code: 'RESTORE_GAP_TOO_LARGE', message: expect.stringMatching(/split/) });
      expect(fs.stats().lastLsn).toBe(0);
      expect(await fs.restoreMemories([items[0]!])).toEqual([10]);
      expect(await fs.restoreMemories([items[1]!])).toEqual([70_010]);
      await fs.close();
    });

    it('an id so far above the log that padding up to it would be unreasonable (RESTORE_GAP_TOO_LARGE), before any block is written', async () => {
      const fs = await open();
      await expect(fs.restoreMemories([{ id: 2 ** 40, text: 'x', createdAt: past }])).rejects.toMatchObject({ code: 'RESTORE_GAP_TOO_LARGE' });
      // About a million LSNs of padding at most: some 22 MB of log.
      await expect(fs.restoreMemories([{ id: 1_000_002, text: 'x'.repeat(100_000), createdAt: past }])).rejects.toMatchObject({ code: 'RESTORE_GAP_TOO_LARGE', message: expect.stringMatching(/at most 1000001 .*--ids new/) });
      expect(fs.stats().lastLsn).toBe(0);
      expect(fs.stats().blockBytes).toBe(0);
      await fs.close();
    });

    it('on a read-only store (READ_ONLY)', async () => {
      await (await open()).close();
      const fs = await MemMapFS.init(root, { codec, search: new VectorWordSearch(), readOnly: true });
      await expect(fs.restoreMemories([{ id: 1, text: 'x', createdAt: past }])).rejects.toMatchObject({ code: 'READ_ONLY' });
      await fs.close();
    });
  });

  it('returns [] for no items, and writes nothing', async () => {
    const fs = await open();
    expect(await fs.restoreMemories([])).toEqual([]);
    expect(fs.stats().lastLsn).toBe(0);
    await fs.close();
  });

  it('takes what listMemories returned from another store, as it is', async () => {
    const source = await MemMapFS.init(join(root, 'source'), { codec, search: new VectorWordSearch() });
    await source.appendMemory('one', ['t'], { meta: { a: 1 }, embedding: [1, 2, 3] });
    const gone = await source.appendMemory('two');
    await source.appendMemory('three', [], { namespace: ['x', 'y'], ttlMs: day });
    await source.deleteMemory(gone);
    const memories = await allMemories(source);
    await source.close();
    const target = await MemMapFS.init(join(root, 'target'), { codec, search: new VectorWordSearch() });
    expect(await target.restoreMemories(memories)).toEqual(memories.map((m) => m.id));
    expect(await allMemories(target)).toEqual(memories);
    await target.close();
  });
});
