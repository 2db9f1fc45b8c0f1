import { cp, readdir, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import * as nodeFileSystem from 'node:fs/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, repairStore, verifyStore, type StoreFileSystem } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { encodeWalHeader, newLogId, WAL_FORMAT_VERSION } from '@memmapfs/wal';
import { useTempStore } from './support/temp-store.js';
import { appendAndHold as holdWriter } from './support/hold-writer.js';


const tempStore = useTempStore('edges');
let dir: string;
let root: string;
beforeEach(() => {
  ({ dir, root } = tempStore());
});

const open = (at = root, options: { fileSystem?: StoreFileSystem } = {}) => MemMapFS.init(at, { search: flexsearch(), codec: msgpack(), ...options });

const appendAndHold = (text: string) => holdWriter(root, text);

describe('no block is written into a range a durable record references', () => {
  it('a process already open does not append into the range of a dead writer whose block a crash took', async () => {
    const setup = await open();
    const first = await setup.appendMemory('written before anything went wrong');
    await setup.close();
    const chunk = join(root, 'blocks', (await readdir(join(root, 'blocks'))).filter((n) => n.endsWith('.bin')).sort().at(-1)!);
    const sizeBefore = (await stat(chunk)).size;

    const survivor = await open();
    const dead = await appendAndHold('the dead writer wrote this, and its record is durable');
    await dead.kill();
    // The dead writer's block never reached the chunk file (a power loss before the chunk was fsynced).
    await truncate(chunk, sizeBefore);

    const mine = await survivor.appendMemory('the survivor appends after the crash');
    expect((await survivor.getMemory(mine))?.text).toBe('the survivor appends after the crash');
    expect((await survivor.getMemory(first))?.text).toBe('written before anything went wrong');
    await survivor.close();

    const reopened = await open();
    expect((await reopened.getMemory(dead.id))?.text).toBe('the dead writer wrote this, and its record is durable');
    expect((await reopened.getMemory(mine))?.text).toBe('the survivor appends after the crash');
    await reopened.close();
    expect((await verifyStore(root)).problems).toEqual([]);
    expect((await repairStore(root)).actions).toEqual([]);
    const again = await open();
    expect((await again.getMemory(dead.id))?.text).toBe('the dead writer wrote this, and its record is durable');
    expect((await again.getMemory(mine))?.text).toBe('the survivor appends after the crash');
    await again.close();
  });

  it('a process that opens after such a crash puts the lost block back before it appends', async () => {
    const setup = await open();
    await setup.appendMemory('written before anything went wrong');
    await setup.close();
    const chunk = join(root, 'blocks', (await readdir(join(root, 'blocks'))).filter((n) => n.endsWith('.bin')).sort().at(-1)!);
    const sizeBefore = (await stat(chunk)).size;
    const dead = await appendAndHold('the dead writer wrote this too');
    await dead.kill();
    await truncate(chunk, sizeBefore);
    const next = await open();
    expect((await next.getMemory(dead.id))?.text).toBe('the dead writer wrote this too');
    const mine = await next.appendMemory('appended after the lost block came back');
    expect((await next.getMemory(mine))?.text).toBe('appended after the lost block came back');
    await next.close();
    expect((await verifyStore(root)).ok).toBe(true);
  });

  it('numbers new chunk files above every chunk a record references, even when the blocks folder was lost', async () => {
    const setup = await open();
    const lost = await setup.appendMemory('its chunk file is lost with the blocks folder');
    await setup.close();
    await rm(join(root, 'blocks'), { recursive: true });
    // A crash took the folder; the block copy is gone too once a checkpoint retired it (close wrote one).
    const fs = await open();
    const mine = await fs.appendMemory('a new memory after the loss');
    expect((await fs.getMemory(mine))?.text).toBe('a new memory after the loss');
    await expect(fs.getMemory(lost)).rejects.toMatchObject({ code: 'BLOCK_MISSING' });
    expect((await readdir(join(root, 'blocks'))).filter((n) => n.endsWith('.bin'))).toEqual(['chunk_0001.bin']);
    await fs.close();
  });
});

describe('other processes never see a record before its block', () => {
  it('a record is written only after its block is in the chunk file', async () => {
    let releaseBlockWrites!: () => void;
    const blockWritesHeld = new Promise<void>((resolve) => (releaseBlockWrites = resolve));
    // Block writes of more than 64 KiB go through the handle's asynchronous write: hold those back.
    const slowBlocks: StoreFileSystem = {
      ...nodeFileSystem,
      open: (async (...args: Parameters<typeof nodeFileSystem.open>) => {
        const handle = await nodeFileSystem.open(...args);
        if (String(args[0]).includes(`${join('blocks', 'chunk_')}`)) {
          const write = handle.write.bind(handle) as (...a: unknown[]) => Promise<unknown>;
          (handle as { write: unknown }).write = async (...a: unknown[]) => {
            await blockWritesHeld;
            return write(...a);
          };
        }
        return handle;
      }) as typeof nodeFileSystem.open,
    };
    const reader = await open();
    const writer = await open(root, { fileSystem: slowBlocks });
    const texts = Array.from({ length: 200 }, (_, i) => `memory ${i} of a bulk import, long enough to need a large write: ${'x'.repeat(600)}`);
    const appending = writer.appendMemories(texts.map((text) => ({ text })));
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        // Nothing of the append is visible while its blocks are not written.
        expect(reader.stats().memories).toBe(0);
        expect(await reader.queryMemory('', { limit: 1000 })).toEqual([]);
      }
      releaseBlockWrites();
      const ids = await appending;
      const listed = await reader.queryMemory('', { limit: 1000 });
      expect(listed).toHaveLength(200);
      expect((await reader.getMemory(ids[199]!))?.text).toBe(texts[199]);
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      releaseBlockWrites();
      await writer.close();
      await reader.close();
    }
  });
});

describe('derived files belong to one log', () => {
  it('ignores a search snapshot copied from another store with a log of the same shape', async () => {
    const other = join(dir, 'other');
    const a = await open(other);
    await a.appendMemory('apple pie recipe');
    await a.appendMemory('apple cider');
    await a.close();
    const b = await open();
    await b.appendMemory('grape juice notes');
    await b.appendMemory('grape harvest');
    await b.close();
    await rm(join(root, 'index'), { recursive: true });
    await cp(join(other, 'index'), join(root, 'index'), { recursive: true });
    const report = await verifyStore(root);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'search-snapshot-unusable', severity: 'warning' })]);
    const fs = await open();
    expect(await fs.queryMemory('apple')).toEqual([]);
    expect((await fs.queryMemory('grape')).map((h) => h.text).sort()).toEqual(['grape harvest', 'grape juice notes']);
    await fs.close();
  });
});

describe('the search snapshot after a crash cut the records it covers', () => {
  it('is not used once new records take the LSNs of the ones cut', async () => {
    const fs = await open();
    await fs.appendMemory('kept: a note about bananas');
    await fs.close();
    const keptSize = (await stat(join(root, 'state.wal'))).size;
    const fs2 = await open();
    await fs2.appendMemory('cut: a note about cherries');
    await fs2.close(); // saves a snapshot that covers the cherries note (and the checkpoint after it)
    // A power loss cut the log back (the last commits were not durable after all), marker and all.
    await truncate(join(root, 'state.wal'), keptSize);
    await rm(join(root, 'state.head'));
    const writer = await open();
    // New records take the LSNs of the ones cut; the writer is killed before it saves a snapshot.
    await writer.appendMemory('new: a note about dates');
    await writer.appendMemory('new: a note about figs');
    await writer.appendMemory('new: a note about grapes');
    const reader = await open();
    expect(await reader.queryMemory('cherries')).toEqual([]);
    expect((await reader.queryMemory('figs')).map((h) => h.text)).toEqual(['new: a note about figs']);
    await reader.close();
    await writer.close();
  });
});

describe('a damaged log header', () => {
  it('is rebuilt by repair from its copy in state.head, and every memory comes back', async () => {
    const fs = await open();
    const ids = [await fs.appendMemory('first memory behind a header'), await fs.appendMemory('second memory behind a header')];
    await fs.close();
    const wal = join(root, 'state.wal');
    const handle = await nodeFileSystem.open(wal, 'r+');
    await handle.write(Buffer.alloc(64), 0, 64, 0);
    await handle.close();
    await expect(open()).rejects.toMatchObject({ code: 'WAL_HEADER_INVALID', message: expect.stringContaining('memmapfs repair') });
    const report = await verifyStore(root);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'wal-header-damaged', repairable: true })]);
    const repaired = await repairStore(root);
    expect(repaired.after.ok).toBe(true);
    expect(repaired.backup).toBeDefined();
    const again = await open();
    expect((await again.getMemory(ids[0]!))?.text).toBe('first memory behind a header');
    expect((await again.getMemory(ids[1]!))?.text).toBe('second memory behind a header');
    await again.close();
    expect((await repairStore(root)).actions).toEqual([]);
  });
});

describe('a damaged log header with a stale copy', () => {
  async function storeWithZeroedHeader(): Promise<number[]> {
    const fs = await open();
    const ids = [await fs.appendMemory('first memory behind a header'), await fs.appendMemory('second memory behind a header')];
    await fs.close();
    const handle = await nodeFileSystem.open(join(root, 'state.wal'), 'r+');
    await handle.write(Buffer.alloc(64), 0, 64, 0);
    await handle.close();
    return ids;
  }

  /** Puts the header of another log where state.head keeps its copy (a repair interrupted after it rewrote the log). */
  async function staleHeaderCopy(): Promise<void> {
    const head = await nodeFileSystem.open(join(root, 'state.head'), 'r+');
    await head.write(encodeWalHeader({ formatVersion: WAL_FORMAT_VERSION, codec: 'msgpack', logId: newLogId() }), 0, 64, 64);
    await head.close();
  }

  it('takes the log id the records verify with (here the commit marker\'s), not the stale copy', async () => {
    const ids = await storeWithZeroedHeader();
    await staleHeaderCopy();
    const repaired = await repairStore(root);
    expect(repaired.after.ok).toBe(true);
    const fs = await open();
    expect((await fs.getMemory(ids[1]!))?.text).toBe('second memory behind a header');
    await fs.close();
  });

  it('refuses, changing nothing, when no copy matches the records', async () => {
    await storeWithZeroedHeader();
    await staleHeaderCopy();
    await rm(join(root, 'index'), { recursive: true });
    const head = await nodeFileSystem.open(join(root, 'state.head'), 'r+');
    await head.write(Buffer.alloc(44), 0, 44, 0); // the marker is gone too
    await head.close();
    const before = await nodeFileSystem.readFile(join(root, 'state.wal'));
    await expect(repairStore(root)).rejects.toMatchObject({ code: 'WAL_HEADER_INVALID', message: expect.stringContaining('no copy') });
    expect((await nodeFileSystem.readFile(join(root, 'state.wal'))).equals(before)).toBe(true);
  });
});

describe('a KV value read with a codec that does not copy binaries', () => {
  it('is a fresh copy: changing the bytes getKv returned changes nothing stored, here or after a checkpoint and a reopen', async () => {
    const viewing = () => MemMapFS.init(root, { search: flexsearch(), codec: msgpack({ copyBinary: false }) });
    let fs = await viewing();
    await fs.setKv('bytes', new Uint8Array(100).fill(7));
    await fs.close();
    fs = await viewing();
    const read = fs.getKv<Uint8Array>('bytes')!;
    read[0] = 1;
    expect(fs.getKv<Uint8Array>('bytes')![0]).toBe(7);
    await fs.setKv('other', 1);
    await fs.checkpoint();
    await fs.close();
    fs = await open();
    expect(fs.getKv<Uint8Array>('bytes')).toEqual(new Uint8Array(100).fill(7));
    await fs.close();
  });
});

describe('a store two handles create at once', () => {
  it('is the codec of the one that made its log: the other, given no codec, opens it with that codec', async () => {
    const { cbor } = await import('@memmapfs/codec-cbor');
    // (Which of the two makes the log is up to the scheduler: the one given no codec opens the store
    // either way; the one given cbor, only if it made it.)
    const [withCodec, without] = await Promise.allSettled([
      MemMapFS.init(root, { search: flexsearch(), codec: cbor() }),
      MemMapFS.init(root, { search: flexsearch() }),
    ]);
    expect(without.status, String((without as PromiseRejectedResult).reason)).toBe('fulfilled');
    const made = (without as PromiseFulfilledResult<MemMapFS>).value.stats().codec;
    if (withCodec.status === 'fulfilled') {
      expect([withCodec.value.stats().codec, made]).toEqual(['cbor', 'cbor']);
      await withCodec.value.close();
    } else {
      expect(made).toBe('msgpack');
      expect(withCodec.reason).toMatchObject({ code: 'CODEC_MISMATCH' });
    }
    await (without as PromiseFulfilledResult<MemMapFS>).value.close();
  });
});
