import * as nodeFiles from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { MemMapFS, repairStore, verifyStore } from '@memmapfs/core';
import { openCheckpointFile, writeCheckpointFile, type CheckpointEntry } from '../src/checkpoint/checkpoint-file.js';
import type { StoreFileSystem } from '../src/types.js';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const codec = v8Codec();
const open = () => MemMapFS.init(root, { codec, search: new WordSearch() });

/** A store whose checkpoint holds 3 memories in `a` and 2 in `b`. */
async function storeWithCheckpoint(): Promise<{ a: number[]; b: number[] }> {
  const fs = await open();
  const a = await fs.appendMemories([1, 2, 3].map((n) => ({ text: `apple ${n}`, namespace: 'a' })));
  const b = await fs.appendMemories([1, 2].map((n) => ({ text: `banana ${n}`, namespace: 'b' })));
  await fs.checkpoint();
  await fs.close();
  return { a, b };
}

/** Rewrites the store's checkpoint as it is, but for its namespace counts. */
async function rewriteNamespaceCounts(namespaces: ReadonlyMap<string, number>): Promise<void> {
  const folder = join(root, 'checkpoints');
  // The newest: the one the manifest names.
  const name = (await nodeFiles.readdir(folder)).filter((n) => n.startsWith('checkpoint-')).sort().at(-1);
  const path = join(folder, name!);
  const file = openCheckpointFile(path, 'read');
  const rows = file.memories(codec);
  const tables = file.tables(codec);
  const entries: CheckpointEntry[] = Array.from({ length: rows.count }, (_, index) => rows.record(index));
  await writeCheckpointFile(path, { logId: file.logId, codec: file.codec, position: file.position, memoryCount: rows.count, memories: () => entries, namespaces, kv: { size: tables.kv.count, entries: () => tables.kv.entries() }, streams: tables.streams, state: tables.state, chunkEnds: tables.chunkEnds, cacheOpens: tables.cacheOpens }, codec, nodeFiles as unknown as StoreFileSystem, 'read');
}

describe('namespace counts in a checkpoint', () => {
  it('counts that do not add up to the rows are not taken: the open counts the rows instead, and verify warns', async () => {
    const { b } = await storeWithCheckpoint();
    await rewriteNamespaceCounts(new Map([['a', 3]]));
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const fs = await open();
      expect(warnings.mock.calls.some(([message, options]) => /namespace counts .* are wrong/.test(String(message)) && (options as { code?: string })?.code === 'MEMMAPFS_CHECKPOINT_COUNTS')).toBe(true);
      expect(await fs.listNamespaces()).toEqual(['a', 'b']);
      expect((await fs.queryMemory('banana', { namespace: 'b' })).map((h) => h.id).sort((x, y) => x - y)).toEqual(b);
      // Opened from the checkpoint, not by replaying the log: its rows are the memories' base.
      expect((fs as unknown as { engine: { memories: { baseCount: number } } }).engine.memories.baseCount).toBe(5);
      await fs.close();
    } finally {
      warnings.mockRestore();
    }
  });

  it('a store whose log dropped the records a checkpoint with wrong counts covers still opens, with every memory', async () => {
    const fs = await MemMapFS.init(root, { codec, search: new WordSearch(), historyRetentionMs: 0 });
    const a = await fs.appendMemories([1, 2, 3].map((n) => ({ text: `apple ${n}`, namespace: 'a' })));
    await fs.checkpoint();
    await fs.appendMemory('after the checkpoint', [], { namespace: 'c' });
    await fs.checkpoint();
    await fs.close();
    await rewriteNamespaceCounts(new Map([['a', 3], ['c', 2]]));
    const checkpointProblems = async () => (await verifyStore(root, { codec })).problems.filter((problem) => problem.kind.startsWith('checkpoint'));
    expect(await checkpointProblems()).toEqual([expect.objectContaining({ severity: 'warning', kind: 'checkpoint-damaged', repairable: false, message: expect.stringMatching(/namespace counts .* are wrong/) })]);
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const again = await open();
      expect((await again.listMemories({ namespace: 'a' })).memories.map((m) => m.id).sort((x, y) => x - y)).toEqual(a);
      expect(await again.listNamespaces()).toEqual(['a', 'c']);
      await again.appendMemory('one more', [], { namespace: 'c' });
      await again.checkpoint();
      await again.close();
    } finally {
      warnings.mockRestore();
    }
    // The next checkpoint wrote them right.
    expect(await checkpointProblems()).toEqual([]);
  });

  it('verify finds counts that add up but name the wrong namespaces, and repair rewrites them', async () => {
    const { b } = await storeWithCheckpoint();
    await rewriteNamespaceCounts(new Map([['a', 3], ['c', 2]]));
    const report = await verifyStore(root, { codec });
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-damaged', severity: 'error', message: expect.stringMatching(/namespace/) }));
    await repairStore(root, { codec });
    expect((await verifyStore(root, { codec })).problems).toEqual([]);
    const fs = await open();
    expect(await fs.listNamespaces()).toEqual(['a', 'b']);
    expect((await fs.queryMemory('banana', { namespace: 'b' })).map((h) => h.id).sort((x, y) => x - y)).toEqual(b);
    await fs.close();
  });

  it.each([['and after it', true], ['before it only', false]])('a newer checkpoint with wrong counts, left unnamed past damage in state.wal (%s), is named by repair: the store opens', async (_, after) => {
    const fs = await open();
    const ids = [await fs.appendMemory('memory a0')];
    await fs.checkpoint();
    const [older] = (await nodeFiles.readdir(join(root, 'checkpoints'))).filter((n) => n.startsWith('checkpoint-'));
    const olderBytes = await nodeFiles.readFile(join(root, 'checkpoints', older!));
    const manifest = await nodeFiles.readFile(join(root, 'state.manifest'));
    for (const text of ['memory damaged', 'memory newest']) ids.push(await fs.appendMemory(text));
    await fs.checkpoint();
    for (const text of ['memory after1', 'memory after2', 'memory after3']) ids.push(await fs.appendMemory(text));
    await fs.close();
    await rewriteNamespaceCounts(new Map([['default', 1]]));
    await nodeFiles.writeFile(join(root, 'checkpoints', older!), olderBytes);
    await nodeFiles.writeFile(join(root, 'state.manifest'), manifest);
    const wal = await nodeFiles.readFile(join(root, 'state.wal'));
    for (const text of after ? ['memory damaged', 'memory after2'] : ['memory damaged']) wal[wal.indexOf(text) + 3]! ^= 0x20;
    await nodeFiles.writeFile(join(root, 'state.wal'), wal);
    await repairStore(root, { codec }).catch(() => undefined);
    const again = await open();
    expect((await again.getMemory(ids[2]!))?.text).toBe('memory newest');
    expect((await again.getMemory(ids[5]!))?.text).toBe('memory after3');
    await again.close();
  });

  it('deleteNamespace deletes what the namespace holds even when the counts miss it', async () => {
    const { a, b } = await storeWithCheckpoint();
    await rewriteNamespaceCounts(new Map([['a', 3], ['c', 2]]));
    const fs = await open();
    expect(await fs.deleteNamespace('b')).toBe(2);
    for (const id of b) expect(await fs.hasMemory(id)).toBe(false);
    for (const id of a) expect(await fs.hasMemory(id)).toBe(true);
    await fs.close();
  });
});
