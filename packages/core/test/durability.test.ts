import { constants, writeSync } from 'node:fs';
import * as nodeFileSystem from 'node:fs/promises';
import { cp, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, type StoreFileSystem } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

/**
 * `node:fs/promises` that records every point where data becomes durable, by file name: an fsync or
 * fdatasync (`sync:<file>`), or a write through a handle opened with O_DSYNC (`dsync-write:<file>`).
 * With `writesToo`, also every other write through a handle (`write:<file>`) and every rename
 * (`rename:<new name>`). `beforeUnlink` runs before each removal, with the file's name.
 */
function syncRecorder(options: { writesToo?: boolean; beforeUnlink?: (name: string) => Promise<void> } = {}): StoreFileSystem & { syncs: string[] } {
  const syncs: string[] = [];
  return {
    syncs,
    readFile: nodeFileSystem.readFile,
    rename: (async (from: string, to: string) => {
      await nodeFileSystem.rename(from, to);
      if (options.writesToo) syncs.push(`rename:${basename(to)}`);
    }) as typeof nodeFileSystem.rename,
    mkdir: nodeFileSystem.mkdir,
    readdir: nodeFileSystem.readdir,
    link: nodeFileSystem.link,
    unlink: (async (path: string) => {
      await options.beforeUnlink?.(basename(path));
      return nodeFileSystem.unlink(path);
    }) as typeof nodeFileSystem.unlink,
    open: (async (...args: Parameters<typeof nodeFileSystem.open>) => {
      const handle = await nodeFileSystem.open(...args);
      const name = basename(String(args[0]));
      const flags = args[1];
      const durableWrites = typeof flags === 'number' && (flags & constants.O_DSYNC) !== 0;
      return new Proxy(handle, {
        get: (target, property) => {
          const value = Reflect.get(target, property) as unknown;
          if (typeof value !== 'function') return value;
          const call = (value as (...a: unknown[]) => unknown).bind(target);
          if (property === 'datasync' || property === 'sync') return (...a: unknown[]) => (syncs.push(`sync:${name}`), call(...a));
          if (property === 'write' && durableWrites) return (...a: unknown[]) => (syncs.push(`dsync-write:${name}`), call(...a));
          if (property === 'write' && options.writesToo) return (...a: unknown[]) => (syncs.push(`write:${name}`), call(...a));
          return call;
        },
      });
    }) as typeof nodeFileSystem.open,
  };
}

describe('durable appends', () => {
  it('costs one durable write of the log, and no fsync of the chunk files, for a small awaited append', async () => {
    const files = syncRecorder();
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), fileSystem: files });
    await fs.appendMemory('warm-up');
    files.syncs.length = 0;
    for (let i = 0; i < 20; i++) await fs.appendMemory(`memory ${i}`);
    expect(files.syncs).toEqual(Array(20).fill('dsync-write:state.wal'));
    await fs.close();
  });

  it('shares one durable write among concurrent appends and among the items of appendMemories', async () => {
    const files = syncRecorder();
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), fileSystem: files });
    await fs.appendMemory('warm-up');
    files.syncs.length = 0;
    await Promise.all(Array.from({ length: 50 }, (_, i) => fs.appendMemory(`concurrent ${i}`)));
    expect(files.syncs.length).toBeGreaterThanOrEqual(1);
    expect(files.syncs.length).toBeLessThanOrEqual(2);
    files.syncs.length = 0;
    const ids = await fs.appendMemories(Array.from({ length: 100 }, (_, i) => ({ text: `bulk ${i}`, tags: ['bulk'] })));
    expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => ids[0]! + i)); // one commit: consecutive LSNs
    expect(files.syncs).toEqual(['dsync-write:state.wal']);
    expect(await fs.queryMemory('', { tags: ['bulk'], limit: 1000 })).toHaveLength(100);
    await fs.close();
  });

  it('fsyncs a large block before the log record that points at it', async () => {
    const files = syncRecorder();
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), fileSystem: files });
    await fs.appendMemory('warm-up');
    files.syncs.length = 0;
    await fs.appendMemory('large '.repeat(20_000));
    expect(files.syncs).toEqual(['sync:chunk_0000.bin', 'dsync-write:state.wal']);
    await fs.close();
  });

  it('fsyncs the large blocks of appendMemories and restoreMemories, placed together with small ones, before the log record', async () => {
    const files = syncRecorder();
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), fileSystem: files });
    await fs.appendMemory('warm-up');
    files.syncs.length = 0;
    const texts = ['small before', 'large '.repeat(20_000), 'small after'];
    const ids = await fs.appendMemories(texts.map((text) => ({ text })));
    expect(files.syncs).toEqual(['sync:chunk_0000.bin', 'dsync-write:state.wal']);
    files.syncs.length = 0;
    const restored = await fs.restoreMemories(texts.map((text) => ({ text: `restored ${text}`, createdAt: 1, updatedAt: 1 })));
    expect(files.syncs).toEqual(['sync:chunk_0000.bin', 'dsync-write:state.wal']);
    expect((await Promise.all([...ids, ...restored].map((id) => fs.getMemory(id)))).map((m) => m?.text)).toEqual([...texts, ...texts.map((text) => `restored ${text}`)]);
    await fs.close();
  });

  it('writes no record when a block of appendMemories cannot be written', async () => {
    let failWrites = false;
    const files: StoreFileSystem = {
      ...nodeFileSystem,
      writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => {
        if (failWrites) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        return writeSync(fd, buffer, offset, length, position);
      },
    };
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), fileSystem: files });
    await fs.appendMemory('warm-up');
    const before = fs.stats().lastLsn;
    failWrites = true;
    await expect(fs.appendMemories([{ text: 'never' }, { text: 'written' }])).rejects.toMatchObject({ code: 'IO_ERROR' });
    failWrites = false;
    expect(fs.stats().lastLsn).toBe(before);
    await fs.close();
    const again = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
    expect(again.stats().memories).toBe(1);
    expect(await again.queryMemory('written')).toEqual([]);
    await again.close();
  });
});

describe('a new store', () => {
  it('names each folder it made durably in its parent: a power loss after its first durable write keeps the store\'s folder', async () => {
    const fileSystem = syncRecorder();
    const nested = join(root, 'a', 'b', 'store');
    const fs = await MemMapFS.init(nested, { codec: v8Codec(), search: new WordSearch(), fileSystem });
    await fs.appendMemory('the first durable write');
    await fs.close();
    for (const parent of [basename(root), 'a', 'b']) expect(fileSystem.syncs, parent).toContain(`sync:${parent}`);
  });

  it('passes over a folder above it that its file system cannot fsync (EINVAL, as /proc and some mounts answer), rather than fail to make the store', async () => {
    const nested = join(root, 'e', 'store');
    const fileSystem: StoreFileSystem = {
      ...nodeFileSystem,
      open: (async (...args: Parameters<typeof nodeFileSystem.open>) => {
        const handle = await nodeFileSystem.open(...args);
        if (String(args[0]) === root) handle.sync = async () => { throw Object.assign(new Error('EINVAL: invalid argument, fsync'), { code: 'EINVAL' }); };
        return handle;
      }) as typeof nodeFileSystem.open,
    };
    const fs = await MemMapFS.init(nested, { codec: v8Codec(), search: new WordSearch(), fileSystem });
    await fs.appendMemory('made all the same');
    await fs.close();
  });

  it('names durably the folders above it that it found made (by an open that died before it fsynced them, or one making the store at the same time)', async () => {
    const nested = join(root, 'c', 'd', 'store');
    await nodeFileSystem.mkdir(join(root, 'c', 'd'), { recursive: true });
    const fileSystem = syncRecorder();
    const fs = await MemMapFS.init(nested, { codec: v8Codec(), search: new WordSearch(), fileSystem });
    await fs.close();
    for (const parent of [basename(root), 'c', 'd']) expect(fileSystem.syncs, parent).toContain(`sync:${parent}`);
  });
});

describe('the saved search index', () => {
  it('is never ahead of the durable log: under batch durability, the log is synced before a snapshot naming records not yet synced replaces the saved one', async () => {
    let fs!: MemMapFS;
    let armed = false;
    // (The compaction removes the saved snapshot before it saves the index again: a write is applied,
    // and not synced, right then, after the compaction's last checkpoint synced the log.)
    const files = syncRecorder({
      writesToo: true,
      beforeUnlink: async (name) => {
        if (!armed || name !== 'search.snapshot') return;
        armed = false;
        await fs.appendMemory('written after the last checkpoint of the compaction');
      },
    });
    fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), fileSystem: files, durability: 'batch', batchIntervalMs: 600_000 });
    const gone = await fs.appendMemory('forgotten words');
    await fs.appendMemory('kept words');
    await fs.deleteMemory(gone);
    expect(await fs.queryMemory('words')).toHaveLength(1);
    await fs.flush();
    armed = true;
    files.syncs.length = 0;
    await fs.compact({ erase: true });
    expect(armed).toBe(false);
    const events = files.syncs;
    const renamed = events.lastIndexOf('rename:search.snapshot');
    expect(renamed).toBeGreaterThan(-1);
    const lastLogWrite = events.slice(0, renamed).findLastIndex((event) => event.startsWith('write:state.wal'));
    expect(lastLogWrite).toBeGreaterThan(-1);
    expect(events.slice(lastLogWrite, renamed)).toContain('sync:state.wal');
    await fs.close();
  });
});

describe('block copies in the log', () => {
  /**
   * A copy of the store as `fs` left it, with its chunk file overwritten with zeroes (as a crash before
   * the chunk was synced may leave it), opened; `fs` is closed.
   */
  async function openWithChunkZeroed(fs: MemMapFS): Promise<MemMapFS> {
    const crashed = `${root}-crashed`;
    await cp(root, crashed, { recursive: true });
    await fs.close();
    const chunk = join(crashed, 'blocks', 'chunk_0000.bin');
    await writeFile(chunk, Buffer.alloc((await readFile(chunk)).length));
    return MemMapFS.init(crashed, { codec: v8Codec(), search: new WordSearch() });
  }

  it('puts back block bytes lost since the last checkpoint (a power loss before the chunk file was synced)', async () => {
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
    await fs.appendMemory('before the checkpoint');
    await fs.close();
    const chunk = join(root, 'blocks', 'chunk_0000.bin');
    const checkpointed = (await stat(chunk)).size;

    const again = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
    const texts = ['lost one', 'lost two ✓', 'lost three'];
    const ids = [];
    for (const text of texts) ids.push(await again.appendMemory(text, ['lost']));
    await again.appendStream('tool-output', 'streamed bytes');
    // The records are durable; copy the store as a power loss would leave it, minus the unsynced chunk tail.
    const crashed = `${root}-crashed`;
    await cp(root, crashed, { recursive: true });
    await again.close();
    await truncate(join(crashed, 'blocks', 'chunk_0000.bin'), checkpointed);

    const recovered = await MemMapFS.init(crashed, { codec: v8Codec(), search: new WordSearch() });
    for (let i = 0; i < ids.length; i++) expect((await recovered.getMemory(ids[i]!))?.text).toBe(texts[i]);
    const chunks: string[] = [];
    for await (const part of recovered.openRead('tool-output')) chunks.push(Buffer.from(part).toString());
    expect(chunks).toEqual(['streamed bytes']);
    expect((await recovered.queryMemory('lost', { tags: ['lost'] })).length).toBe(3);
    await recovered.close();
    expect((await stat(join(crashed, 'blocks', 'chunk_0000.bin'))).size).toBeGreaterThan(checkpointed);
  });

  it('puts back the blocks of a large appendMemories from their copies, small and large ones, whatever their order', async () => {
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
    // Copies of a few bytes to some tens of kilobytes (past a quarter of the buffers commits cut their payloads from), in one commit.
    const texts = Array.from({ length: 60 }, (_, i) => `${'é'.repeat(i % 7 === 3 ? 9000 + i : i % 5)}memory ${i} ${'x'.repeat((i * 977) % 3000)}`);
    const ids = await fs.appendMemories(texts.map((text) => ({ text })));
    const recovered = await openWithChunkZeroed(fs);
    for (const [i, id] of ids.entries()) expect((await recovered.getMemory(id))?.text).toBe(texts[i]);
    await recovered.close();
  });

  it('puts back block bytes that were overwritten with zeroes', async () => {
    const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
    const id = await fs.appendMemory('zeroed by the crash');
    const recovered = await openWithChunkZeroed(fs);
    expect((await recovered.getMemory(id))?.text).toBe('zeroed by the crash');
    await recovered.close();
  });
});
