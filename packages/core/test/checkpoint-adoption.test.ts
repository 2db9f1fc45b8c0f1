import { open as openFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { crc32c } from '@memmapfs/wal';
import { CHECKPOINT_HEADER_SIZE } from '../src/checkpoint/checkpoint-file.js';
import { MemMapFS, type Memory, type SearchDocument } from '@memmapfs/core';
import { eventually, useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = (options: { readOnly?: boolean; chunkSizeBytes?: number } = {}) => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), ...options });

/** The LSN the checkpoint a handle's memory table reads its base from ends with (0: none). */
const baseLsn = (fs: MemMapFS) => (fs as unknown as { engine: { checkpointLsn: number } }).engine.checkpointLsn;

/** Every live memory as a handle reads it, in id order, with its namespaces and counts. */
async function view(fs: MemMapFS): Promise<{ memories: Memory[]; namespaces: string[]; count: number; inWork: number }> {
  const memories: Memory[] = [];
  let cursor: string | undefined;
  do {
    const page = await fs.listMemories({ limit: 100, ...(cursor === undefined ? {} : { cursor }) });
    memories.push(...page.memories);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  memories.sort((a, b) => a.id - b.id);
  const inWork = (await fs.listMemories({ namespace: 'work', limit: 1000 })).memories.length;
  return { memories, namespaces: await fs.listNamespaces(), count: fs.stats().memories, inWork };
}

describe("a handle takes another's newer checkpoint in place of the one it reads from", () => {
  it('once it applied the record that checkpoint ends with: it answers as before (its own changes and the other handles\' on both sides of it included), then writes a checkpoint of its own from it, and an open reads the same', async () => {
    const setup = await open();
    const ids = await setup.appendMemories(Array.from({ length: 120 }, (_, i) => ({ text: `seed ${i}`, tags: [`t${i % 3}`], namespace: i % 2 ? 'work' : 'home', meta: { i } })));
    await setup.checkpoint();
    await setup.close();

    const a = await open();
    const reader = await open({ readOnly: true });
    const b = await open();
    const opened = baseLsn(a);
    expect(opened).toBeGreaterThan(0);
    expect(baseLsn(reader)).toBe(opened);
    // Changes of both writers before the other's checkpoint: to memories of the base and new ones.
    for (const id of ids.slice(0, 10)) await a.updateMemory(id, { text: `a updated ${id}`, tags: ['a'] });
    for (const id of ids.slice(10, 20)) await a.deleteMemory(id);
    const aNew = await a.appendMemories(Array.from({ length: 15 }, (_, i) => ({ text: `a new ${i}`, namespace: 'work/a', meta: { a: i } })));
    for (const id of ids.slice(20, 30)) await b.deleteMemory(id);
    await b.updateMemory(aNew[0]!, { text: 'b updated a new one' });
    await b.deleteMemory(aNew[1]!);
    await b.appendMemory('b before its checkpoint', [], { namespace: 'work' });
    await b.checkpoint();
    const published = baseLsn(b);
    expect(published).toBeGreaterThan(opened);
    // And after it, by both.
    await b.appendMemory('b after its checkpoint', ['late']);
    await b.deleteMemory(ids[40]!);
    await a.updateMemory(ids[41]!, { text: 'a updated after the checkpoint', meta: { late: true } });
    await a.deleteMemory(aNew[2]!);
    const aLate = await a.appendMemory('a after the checkpoint', [], { namespace: 'home' });

    const before = await view(a);
    expect(before.memories.map((m) => m.id)).toContain(aLate);
    expect(await eventually(() => baseLsn(a) === published && baseLsn(reader) === published, 10_000), `bases: ${baseLsn(a)}, ${baseLsn(reader)} (published ${published})`).toBe(true);
    expect(await view(a)).toEqual(before);
    expect(await view(reader)).toEqual(before);
    expect(await view(b)).toEqual(before);
    expect((await a.memoryHistory(ids[0]!)).map((version) => version.memory?.text)).toEqual(['seed 0', `a updated ${ids[0]}`]);

    // It goes on from there: writes, a checkpoint of its own (rows copied from the one it took), a reopen.
    await a.deleteMemory(ids[50]!);
    await a.appendMemory('a after taking it');
    await a.checkpoint();
    expect(baseLsn(a)).toBeGreaterThan(published);
    const after = await view(a);
    expect(after.count).toBe(before.count);
    for (const fs of [a, reader, b]) await fs.close();
    const again = await open();
    expect(await view(again)).toEqual(after);
    expect(await again.queryMemory('updated')).not.toHaveLength(0);
    await again.close();
  });

  it('not one whose rows fail their checks, nor one that ends with another record than the log holds at its LSN, nor one that cannot be opened: the handle keeps reading its own, every memory as before, and says so once at most', async () => {
    // A byte of a row flipped on the disk after its publication; the checksum of the record it ends with changed (its header's own checksum made right).
    const damages: Array<(head: Buffer) => void> = [
      (head) => void (head[CHECKPOINT_HEADER_SIZE + 3]! ^= 0xff),
      (head) => {
        head.writeUInt32LE((head.readUInt32LE(32) ^ 1) >>> 0, 32);
        head.writeUInt32LE(crc32c(head.subarray(16, CHECKPOINT_HEADER_SIZE)), 12);
      },
      // A header that fails its checksum: the file cannot be opened at all.
      (head) => void (head[12]! ^= 0xff),
    ];
    for (const [round, damage] of damages.entries()) {
      root = `${rootOf()}-${round}`;
      const setup = await open();
      await setup.appendMemories(Array.from({ length: 200 }, (_, i) => ({ text: `seed ${i}`, namespace: 'work' })));
      await setup.checkpoint();
      await setup.close();
      const a = await open();
      const b = await open();
      const opened = baseLsn(a);
      await b.appendMemory('one more');
      await b.checkpoint();
      const published = baseLsn(b);
      const [name] = (await readdir(join(root, 'checkpoints'))).filter((file) => file.includes(String(published).padStart(16, '0')));
      const file = await openFile(join(root, 'checkpoints', name!), 'r+');
      const head = Buffer.alloc(CHECKPOINT_HEADER_SIZE + 8);
      await file.read(head, 0, head.length, 0);
      damage(head);
      await file.write(head, 0, head.length, 0);
      await file.close();
      const before = await view(a);
      // (Three idle catch-ups: what is said of the file, it says once.)
      const unusable: string[] = [];
      const listen = (warning: Error & { code?: string }) => void (warning.code === 'MEMMAPFS_CHECKPOINT_UNUSABLE' && unusable.push(warning.message));
      process.on('warning', listen);
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      process.off('warning', listen);
      expect(unusable.length, unusable.join('; ')).toBeLessThanOrEqual(1);
      expect(baseLsn(a)).toBe(opened);
      expect(await view(a)).toEqual(before);
      await a.close();
      await b.close().catch(() => undefined);
    }
  });

  it('while its search index is rebuilt from its tables a memory at a time (a provider whose add waits): every memory is indexed as it reads now, those its open replayed included', async () => {
    const setup = await open();
    const ids = await setup.appendMemories(Array.from({ length: 250 }, (_, i) => ({ text: `seed ${i}` })));
    await setup.checkpoint();
    // Changes after that checkpoint, which the handles below replay at their open (not queued for the index).
    await setup.appendMemories(Array.from({ length: 5 }, (_, i) => ({ text: `fresh ${i}` })));
    await setup.updateMemory(ids[240]!, { text: 'changed words' });
    await setup.close();
    const a = await MemMapFS.init(root, { codec: v8Codec(), search: new SlowSearch() });
    const b = await open();
    await b.appendMemory('one more');
    await b.checkpoint();
    // The first query rebuilds the index (about two seconds): the handle takes b's checkpoint meanwhile.
    expect(await a.queryMemory('fresh', { limit: 10 })).toHaveLength(5);
    expect(baseLsn(a)).toBe(baseLsn(b));
    expect((await a.queryMemory('changed', { limit: 10 })).map((hit) => hit.id)).toEqual([ids[240]]);
    expect(await a.queryMemory('240', { limit: 10 })).toEqual([]);
    await a.close();
    await b.close();
  });
});

/** A provider whose `add` waits a moment (as one writing to a file would): a rebuild spans many turns of the event loop. */
class SlowSearch extends WordSearch {
  override readonly name = 'slow-word-search';
  override readonly supports = { snapshot: false, prefix: false };
  override add(doc: SearchDocument): Promise<void> {
    super.add(doc);
    return new Promise((resolve) => setTimeout(resolve, 8));
  }
}
