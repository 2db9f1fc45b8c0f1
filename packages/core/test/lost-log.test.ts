import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS, repairStore, verifyStore } from '@memmapfs/core';
import { filesWithoutLog } from '../src/engine/lost-log.js';
import { storeLayout } from '../src/engine/store-layout.js';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = (extra: Parameters<typeof MemMapFS.init>[1] = {}) => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), ...extra });

async function codeOf(action: () => Promise<unknown>): Promise<string> {
  return action().then(() => 'no error', (error: unknown) => (error instanceof MemMapError ? error.code : String(error)));
}

describe('a store whose log was lost', () => {
  it('is not taken for no store: init makes no new log over its files, and every open, verify and repair say the log is missing', async () => {
    const fs = await open();
    await fs.appendMemory('a memory only the lost log and its checkpoint hold');
    await fs.appendStream('transcript', 'bytes in a chunk file');
    await fs.close();
    await rm(join(root, 'state.wal'));
    for (const options of [{}, { readOnly: true }, { create: false }]) {
      const failure = await open(options).then(() => undefined, (error: unknown) => error as MemMapError);
      expect(failure?.code, JSON.stringify(options)).toBe('WAL_MISSING');
      expect(failure?.message).toMatch(/state\.wal, is missing.*restore it from a backup/s);
      // (A host's cache of a store on a shared log has no state.wal either: opened without its log, it is told so.)
      expect(failure?.message).toMatch(/host's cache of a store on a shared log.*`wal` option/s);
    }
    expect(await codeOf(() => verifyStore(root, { codec: v8Codec() }))).toBe('WAL_MISSING');
    expect(await codeOf(() => repairStore(root, { codec: v8Codec() }))).toBe('WAL_MISSING');
  });

  it('takes the files of a store made meanwhile by another process for no lost log: its state.wal is there by the time they are', async () => {
    const fs = await open();
    await fs.appendStream('s', 'bytes in a chunk file');
    await fs.close();
    // (As an open that looked for state.wal before another process made the store, and for the rest after.)
    expect(await filesWithoutLog(storeLayout(root))).toEqual([]);
    await rm(join(root, 'state.wal'));
    expect(await filesWithoutLog(storeLayout(root))).toContain('blocks/chunk_0000.bin');
  });

  it('a folder with only the lock file a failed open left, or empty folders, is no store: init makes one', async () => {
    const fs = await open();
    await fs.close();
    await rm(join(root, 'state.wal'));
    await rm(join(root, 'state.manifest'), { force: true });
    await rm(join(root, 'checkpoints'), { recursive: true, force: true });
    await rm(join(root, 'blocks'), { recursive: true, force: true });
    const again = await open();
    expect(await again.appendMemory('a new store')).toBe(1);
    await again.close();
  });
});
