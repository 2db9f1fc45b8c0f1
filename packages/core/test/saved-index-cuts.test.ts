import * as nodeFileSystem from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, verifyStore } from '@memmapfs/core';
import { crc32c } from '@memmapfs/wal';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const snapshotPresent = () => nodeFileSystem.stat(join(root, 'index', 'search.snapshot')).then(() => true, () => false);

/** Opens the store afresh, runs `query`, and says whether the index came from the saved one (imported) or was rebuilt. */
async function loadedFromSaved(query: string, found: number): Promise<boolean> {
  const search = new WordSearch();
  const fs = await MemMapFS.init(root, { codec: v8Codec(), search });
  try {
    expect(await fs.queryMemory(query)).toHaveLength(found);
    return search.imports === 1;
  } finally {
    await fs.close();
  }
}

describe('a saved search index and the cuts of the log', () => {
  it('a cut keeps a newer index another handle saved while it cut (past the records the cutting handle has read)', async () => {
    const setup = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
    await setup.appendMemory('seed');
    await setup.close();
    // The cutting handle's look for a stale saved index waits, as it takes the index lock, for the
    // other handle to append, load its index and close (saving the index at its last record).
    let beforeLock: (() => Promise<void>) | undefined;
    const held = {
      ...nodeFileSystem,
      open: async (path: Parameters<typeof nodeFileSystem.open>[0], ...rest: [flags?: string | number]) => {
        if (String(path).endsWith('save.lock') && beforeLock) {
          const run = beforeLock;
          beforeLock = undefined;
          await run();
        }
        return nodeFileSystem.open(path, ...rest);
      },
    };
    const cutter = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), historyRetentionMs: 0, fileSystem: held });
    const other = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
    for (let i = 0; i < 3; i++) await cutter.appendMemory(`note ${i}`);
    let savedBy: number | undefined;
    beforeLock = async () => {
      await other.appendMemory('late one');
      await other.appendMemory('late two');
      expect(await other.queryMemory('late')).toHaveLength(2);
      savedBy = other.stats().lastLsn;
      await other.close();
    };
    const before = cutter.stats().lastLsn;
    await cutter.checkpoint();
    // (Past the checkpoint's own record, the last the cutting handle read before its cut.)
    expect(savedBy).toBeGreaterThan(before + 1);
    await cutter.close();
    expect(await snapshotPresent()).toBe(true);
    expect((await verifyStore(root, { codec: v8Codec() })).problems).toEqual([]);
    expect(await loadedFromSaved('late', 2)).toBe(true);
  });

  it('a compaction that cuts the log past a saved index removes it, rather than leave it for every load to find stale', async () => {
    const first = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), historyRetentionMs: 0 });
    for (let i = 0; i < 4; i++) await first.appendMemory(`note ${i}`);
    expect(await first.queryMemory('note')).toHaveLength(4);
    await first.checkpoint();
    await first.close();
    expect(await snapshotPresent()).toBe(true);
    const second = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
    for (let i = 0; i < 3; i++) await second.appendMemory(`other ${i}`);
    await second.compact();
    await second.close();
    const report = await verifyStore(root, { codec: v8Codec() });
    expect(report.firstLsn).toBeGreaterThan(5);
    expect(report.problems).toEqual([]);
    expect(await snapshotPresent()).toBe(false);
    expect(await loadedFromSaved('note', 4)).toBe(false);
  });

  /**
   * Four notes queried (the index loaded) and checkpointed by a handle that lets the log drop what its
   * checkpoint covers: its index is saved at that checkpoint's record, the one the log then begins after.
   * Then `others` memories from a handle that keeps the history and never queries, with a checkpoint
   * after each one: they cut nothing, so the log still begins after the first checkpoint's record.
   */
  async function savedWhereTheLogBegins(others: number): Promise<void> {
    const first = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), historyRetentionMs: 0 });
    for (let i = 0; i < 4; i++) await first.appendMemory(`note ${i}`);
    expect(await first.queryMemory('note')).toHaveLength(4);
    await first.checkpoint();
    await first.close();
    const second = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
    for (let i = 0; i < others; i++) {
      await second.appendMemory(`other ${i}`);
      await second.checkpoint();
    }
    await second.close();
  }

  it('an index saved at the checkpoint the log begins after stays loadable when a process that never queries publishes a newer checkpoint without cutting the log', async () => {
    await savedWhereTheLogBegins(4);
    const report = await verifyStore(root, { codec: v8Codec() });
    expect(report.firstLsn).toBeGreaterThan(1);
    expect(report.problems).toEqual([]);
    expect(await loadedFromSaved('other', 4)).toBe(true);
    expect(await loadedFromSaved('note', 4)).toBe(true);
  });

  it('a manifest whose logBase names another checksum for that record vouches for no saved index', async () => {
    await savedWhereTheLogBegins(1);
    const manifestPath = join(root, 'state.manifest');
    const body = JSON.parse((await nodeFileSystem.readFile(manifestPath, 'utf8')).split('\n')[1]!) as { logBase?: { lsn: number; checksum: number } };
    expect(body.logBase).toBeDefined();
    body.logBase!.checksum = (body.logBase!.checksum + 1) >>> 0;
    const text = JSON.stringify(body);
    await nodeFileSystem.writeFile(manifestPath, `${crc32c(Buffer.from(text)).toString(16).padStart(8, '0')}\n${text}`);
    expect((await verifyStore(root, { codec: v8Codec() })).problems).toEqual([expect.objectContaining({ kind: 'search-snapshot-unusable' })]);
    expect(await loadedFromSaved('note', 4)).toBe(false);
  });
});
