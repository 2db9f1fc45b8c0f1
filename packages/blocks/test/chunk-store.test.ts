import * as fileSystem from 'node:fs/promises';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlockError, chunkFileName, openChunkStore, type BlockRef, type ChunkBlockStore } from '@memmapfs/blocks';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-blocks-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const text = (s: string) => Buffer.from(s, 'utf8');

/** Places every block at once and waits until all are written. */
async function placeWritten(store: ChunkBlockStore, blocks: Buffer[]): Promise<BlockRef[]> {
  const placed = await Promise.all(blocks.map((block) => store.place(block)));
  await Promise.all(placed.map((p) => p.written));
  return placed.map((p) => p.ref);
}

/** How a `verify` of `refs` ends when the store closes right after it starts: 'finished' or the error's code. */
async function verifyClosedMidway(store: ChunkBlockStore, refs: BlockRef[]): Promise<string> {
  // (Synced first, the close has nothing to wait for: it is closed before the event loop's next turn.)
  await store.sync();
  const verifying = store.verify(refs).then(() => 'finished', (error: BlockError) => error.code);
  await store.close();
  return verifying;
}

for (const reader of ['mmap', 'read'] as const) {
  describe(`ChunkBlockStore (reader: ${reader})`, () => {
    it('reads back exactly what was appended, across a reopen', async () => {
      const store = await openChunkStore({ dir, reader });
      expect(store.reader).toBe(reader);
      const refs: BlockRef[] = [];
      for (const s of ['hello', '', 'wörld 🌍', 'x'.repeat(100_000)]) refs.push(await store.append(text(s)));
      expect(Buffer.from(store.read(refs[2]!)).toString()).toBe('wörld 🌍');
      await store.close();
      const reopened = await openChunkStore({ dir, reader });
      expect(refs.map((r) => Buffer.from(reopened.read(r)).toString())).toEqual(['hello', '', 'wörld 🌍', 'x'.repeat(100_000)]);
      const next = await reopened.append(text('after reopen'));
      expect(next.offset).toBe(refs[3]!.offset + refs[3]!.length);
      expect(Buffer.from(reopened.read(next)).toString()).toBe('after reopen');
      await reopened.close();
    });

    it('rolls over to a new chunk file at the size cap', async () => {
      const store = await openChunkStore({ dir, reader, chunkSize: 4096 });
      const refs = await Promise.all(Array.from({ length: 10 }, (_, i) => store.append(Buffer.alloc(1000, i))));
      expect(new Set(refs.map((r) => r.chunk)).size).toBeGreaterThanOrEqual(3);
      for (const ref of refs) expect(ref.offset + ref.length).toBeLessThanOrEqual(4096);
      expect(store.stats()).toEqual({ chunkFiles: refs.at(-1)!.chunk + 1, bytes: 10_000 });
      refs.forEach((ref, i) => expect(Buffer.from(store.read(ref)).equals(Buffer.alloc(1000, i))).toBe(true));
      await store.close();
      expect((await readdir(dir)).sort()).toEqual(Array.from({ length: refs.at(-1)!.chunk + 1 }, (_, i) => chunkFileName(i)));
    });

    it('places many blocks at once across chunk files: each reads back, and the chunks stay held until the batch is released', async () => {
      const store = await openChunkStore({ dir, reader, chunkSize: 4096 });
      const other = await openChunkStore({ dir, reader, chunkSize: 4096 });
      const blocks = Array.from({ length: 40 }, (_, i) => text(`block ${i} `.repeat(30)));
      const placed = await store.placeMany(blocks);
      await placed.written;
      const chunks = [...new Set(placed.refs.map((ref) => ref.chunk))];
      expect(chunks.length).toBeGreaterThanOrEqual(3);
      placed.refs.forEach((ref, i) => expect(Buffer.from(store.read(ref)).equals(blocks[i]!)).toBe(true));
      await store.seal();
      for (const chunk of chunks) expect(await other.claim(chunk)).toBe(false);
      await placed.release();
      for (const chunk of chunks) expect(await other.claim(chunk)).toBe(true);
      await store.close();
      await other.close();
    });

    it('a batch that runs out of chunk files midway rejects, and lets go of the chunks it held', async () => {
      const store = await openChunkStore({ dir, reader, chunkSize: 4096, chunkNumbers: () => ({ first: 0, end: 2 }) });
      const other = await openChunkStore({ dir, reader, chunkSize: 4096 });
      const blocks = Array.from({ length: 40 }, (_, i) => text(`block ${i} `.repeat(30)));
      await expect(store.placeMany(blocks)).rejects.toMatchObject({ code: 'CHUNKS_EXHAUSTED' });
      await store.seal();
      expect(await other.claim(0)).toBe(true);
      expect(await other.claim(1)).toBe(true);
      await store.close();
      await other.close();
    });

    it('a close while a batch waits for its next chunk file ends the batch with BLOCK_STORE_CLOSED, and leaves no chunk file held', async () => {
      const store = await openChunkStore({ dir, reader, chunkSize: 4096 });
      const blocks = Array.from({ length: 40 }, (_, i) => text(`block ${i} `.repeat(30)));
      const placing = store.placeMany(blocks).then(() => 'placed', (error: BlockError) => error.code);
      await store.close();
      expect(await placing).toBe('BLOCK_STORE_CLOSED');
      const other = await openChunkStore({ dir, reader, chunkSize: 4096 });
      const chunks = await other.listChunks();
      expect(chunks.length).toBeGreaterThan(0);
      for (const { chunk } of chunks) expect(await other.claim(chunk)).toBe(true);
      await other.close();
    });

    it('detects a flipped byte as BLOCK_CORRUPT and never returns the bytes', async () => {
      const store = await openChunkStore({ dir, reader });
      const ref = await store.append(text('precious memory'));
      await store.close();
      const file = join(dir, chunkFileName(0));
      const bytes = await readFile(file);
      bytes[3]! ^= 0x20;
      await writeFile(file, bytes);
      const reopened = await openChunkStore({ dir, reader });
      expect(() => reopened.read(ref)).toThrow(expect.objectContaining({ code: 'BLOCK_CORRUPT' }));
      await reopened.close();
    });

    it('verifies many blocks in a few reads: a changed byte among them, and a block past the end of its chunk file, across chunks', async () => {
      const store = await openChunkStore({ dir, reader, chunkSize: 64 * 1024 });
      const refs = await Promise.all(Array.from({ length: 600 }, (_, i) => store.append(text(`block ${i} `.repeat(10 + (i % 30))))));
      expect(new Set(refs.map((r) => r.chunk)).size).toBeGreaterThanOrEqual(2);
      // Mapped, or read, before the damage: what is checked is the file now.
      expect(await store.verify(refs)).toBeUndefined();
      const damagedAt = 333;
      const damaged = refs[damagedAt]!;
      const fd = openSync(join(dir, chunkFileName(damaged.chunk)), 'r+');
      writeSync(fd, text('B'), 0, 1, damaged.offset);
      closeSync(fd);
      const failure = await store.verify(refs);
      expect(failure?.index).toBe(damagedAt);
      expect(failure?.error).toBeInstanceOf(BlockError);
      expect(failure?.error.code).toBe('BLOCK_CORRUPT');
      // Blocks beyond the end of their chunk file: the first of them in the list, not the damaged one after it.
      const beyond = { ...refs[10]!, offset: (await fileSystem.stat(join(dir, chunkFileName(refs[10]!.chunk)))).size - 2, length: 10 };
      const missing = await store.verify([...refs.slice(0, 5), beyond, ...refs]);
      expect([missing?.index, missing?.error.code]).toEqual([5, 'BLOCK_MISSING']);
      await store.close();
      await expect(store.verify(refs)).rejects.toMatchObject({ code: 'BLOCK_STORE_CLOSED' });
    });

    it('verify gives the event loop turns on a long list, and fails with BLOCK_STORE_CLOSED when the store closes meanwhile', async () => {
      const store = await openChunkStore({ dir, reader });
      const block = Buffer.alloc(8192, 7);
      const refs = await placeWritten(store, Array.from({ length: 2048 }, () => block));
      expect(await store.verify(refs)).toBeUndefined();
      // (16 MiB: a turn after the first 8 MiB, in which the store closes; without one it would have finished.)
      expect(await verifyClosedMidway(store, refs)).toBe('BLOCK_STORE_CLOSED');
    });

    it('verify gives the event loop turns after many reads of few bytes too', async () => {
      const store = await openChunkStore({ dir, reader });
      const refs = await placeWritten(store, Array.from({ length: 2000 }, (_, i) => text(`small block ${i}`)));
      // Every one damaged, listed last block first: each is read again on its own (one run, 2,000 reads, a few kilobytes).
      const damaged = refs.map((ref) => ({ ...ref, crc: (ref.crc ^ 1) >>> 0 })).reverse();
      expect((await store.verify(damaged))?.index).toBe(0);
      expect(await verifyClosedMidway(store, damaged)).toBe('BLOCK_STORE_CLOSED');
    });

    it('reports ranges that are not on disk as BLOCK_MISSING', async () => {
      const store = await openChunkStore({ dir, reader });
      const ref = await store.append(text('abc'));
      expect(() => store.read({ ...ref, chunk: 7 })).toThrow(expect.objectContaining({ code: 'BLOCK_MISSING' }));
      expect(() => store.read({ ...ref, offset: 1_000_000 })).toThrow(BlockError);
      await store.close();
      expect(() => store.read(ref)).toThrow(expect.objectContaining({ code: 'BLOCK_STORE_CLOSED' }));
    });
  });
}

describe('zero-copy reads', () => {
  it('returns views into one mapping under mmap, copies under read', async () => {
    const mapped = await openChunkStore({ dir, reader: 'mmap' });
    const a = await mapped.append(text('first block'));
    const b = await mapped.append(text('second block'));
    const viewA = mapped.read(a);
    const viewB = mapped.read(b);
    expect(viewA.buffer).toBe(viewB.buffer);
    expect(viewB.byteOffset - viewA.byteOffset).toBe(b.offset - a.offset);
    await mapped.close();
    const plain = await openChunkStore({ dir, reader: 'read' });
    expect(plain.read(a).buffer).not.toBe(plain.read(b).buffer);
    await plain.close();
  });

  it('sees blocks appended after the chunk was first mapped', async () => {
    const store = await openChunkStore({ dir, reader: 'mmap' });
    const refs: BlockRef[] = [];
    for (let i = 0; i < 50; i++) {
      refs.push(await store.append(text(`block ${i}`)));
      expect(Buffer.from(store.read(refs[i]!)).toString()).toBe(`block ${i}`);
    }
    expect(Buffer.from(store.read(refs[0]!)).toString()).toBe('block 0');
    await store.close();
  });
});

describe('options', () => {
  it('rejects chunk sizes out of range', async () => {
    await expect(openChunkStore({ dir, chunkSize: 10 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(openChunkStore({ dir, chunkSize: 2 ** 31 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('rejects an unknown reader', async () => {
    await expect(openChunkStore({ dir, reader: 'fast' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining("'auto', 'mmap' or 'read'") });
  });
});

describe('taking over a chunk', () => {
  it('fsyncs bytes a previous owner left unsynced before a sync can report the chunk clean', async () => {
    const first = await openChunkStore({ dir, reader: 'read' });
    await first.append(text('left behind by an owner that is gone'));
    await first.close();
    let datasyncs = 0;
    const counting = {
      ...fileSystem,
      open: (async (...args: Parameters<typeof fileSystem.open>) => {
        const handle = await fileSystem.open(...args);
        const datasync = handle.datasync.bind(handle);
        handle.datasync = async () => {
          datasyncs++;
          return datasync();
        };
        return handle;
      }) as typeof fileSystem.open,
    };
    const second = await openChunkStore({ dir, reader: 'read', fileSystem: counting });
    const placed = await second.place(text('first block of the new owner'));
    expect(placed.ref.chunk).toBe(0);
    await second.sync();
    expect(datasyncs).toBe(1);
    expect(second.ownedChunks()).toEqual([0]);
    await placed.written;
    await second.close();
  });
});

describe("the caller's callbacks", () => {
  it('what referenced.beforeAdopt or chunkNumbers throws reaches append as it is, not as an IO_ERROR of the files', async () => {
    const refused = Object.assign(new Error('the log this store follows was replaced'), { code: 'STORE_REPLACED' });
    const adopting = await openChunkStore({ dir, reader: 'read', referenced: { end: () => 0, lastChunk: () => -1, beforeAdopt: () => Promise.reject(refused) } });
    await expect(adopting.append(text('first'))).rejects.toBe(refused);
    await adopting.close();
    const numbering = await openChunkStore({ dir, reader: 'read', chunkNumbers: () => { throw refused; } });
    await expect(numbering.append(text('second'))).rejects.toBe(refused);
    await numbering.close();
  });
});

describe('a chunk asked back as it is taken up', () => {
  it("is let go of once taken up: a request that came after the store looked for the chunk's reservation still seals it, and the asking store claims it", async () => {
    const writer = await openChunkStore({ dir, reader: 'read' });
    const ref = await writer.append(text('deleted words'));
    await writer.close();
    // A store taking chunk 0 up pauses once it holds the owner's lock and found no reservation.
    let paused!: () => void;
    const reached = new Promise<void>((resolve) => (paused = resolve));
    let resume!: () => void;
    const gate = new Promise<void>((resolve) => (resume = resolve));
    const referenced = { end: () => 0, lastChunk: () => -1, beforeAdopt: async () => {
      paused();
      await gate;
    } };
    const taker = await openChunkStore({ dir, reader: 'read', referenced });
    const eraser = await openChunkStore({ dir, reader: 'read' });
    try {
      const appending = taker.append(text('after the request'));
      await reached;
      // Meanwhile the chunk is reserved and asked back, and the taker applies the request.
      const reservation = await eraser.reserve([ref.chunk]);
      const lettingGo = taker.letGo([ref.chunk]);
      resume();
      expect((await appending).chunk).toBe(ref.chunk);
      await lettingGo;
      expect(await eraser.claim(ref.chunk)).toBe(true);
      expect((await taker.append(text('after the seal'))).chunk).not.toBe(ref.chunk);
      await reservation.release();
    } finally {
      await taker.close();
      await eraser.close();
    }
  });

  it('is not sealed for a request naming other chunks', async () => {
    const store = await openChunkStore({ dir, reader: 'read' });
    try {
      const ref = await store.append(text('kept'));
      await store.letGo([ref.chunk + 1]);
      expect((await store.append(text('same chunk'))).chunk).toBe(ref.chunk);
      await store.letGo([ref.chunk]);
      expect((await store.append(text('next chunk'))).chunk).not.toBe(ref.chunk);
    } finally {
      await store.close();
    }
  });
});

describe('a chunk removed as it is taken', () => {
  /** A seam under which chunk 0 is removed (as another store's `retire` does) right after it is opened. */
  const removedOnOpen = {
    ...fileSystem,
    open: (async (...args: Parameters<typeof fileSystem.open>) => {
      const handle = await fileSystem.open(...args);
      if (String(args[0]).endsWith(chunkFileName(0))) await fileSystem.unlink(String(args[0])).catch(() => undefined);
      return handle;
    }) as typeof fileSystem.open,
  };

  it('is never appended to: the block goes to a chunk another store can read', async () => {
    const first = await openChunkStore({ dir, reader: 'read' });
    const old = await first.append(text('a block in chunk 0, which has room'));
    await first.close();
    const store = await openChunkStore({ dir, reader: 'read', fileSystem: removedOnOpen });
    // (Read first: the store holds chunk 0 open, as one that read it during a compaction's grace does.)
    expect(Buffer.from(store.read(old)).toString()).toBe('a block in chunk 0, which has room');
    const ref = await store.append(text('must not land in a removed file'));
    await store.sync();
    expect(ref.chunk).not.toBe(0);
    const other = await openChunkStore({ dir, reader: 'read' });
    expect(Buffer.from(other.read(ref)).toString()).toBe('must not land in a removed file');
    await other.close();
    await store.close();
  });

  it('is never claimed', async () => {
    const first = await openChunkStore({ dir, reader: 'read' });
    await first.append(text('a block in chunk 0'));
    await first.close();
    const store = await openChunkStore({ dir, reader: 'read', fileSystem: removedOnOpen });
    expect(await store.claim(0)).toBe(false);
    await store.close();
  });
});

describe('writing', () => {
  /** A seam that counts the writes made through `writeSync` and through handles, failing `writeSync` on demand. */
  function countingWrites(failSync = false) {
    const counts = { sync: 0, handle: 0 };
    const seam = {
      ...fileSystem,
      open: (async (...args: Parameters<typeof fileSystem.open>) => {
        const handle = await fileSystem.open(...args);
        const write = handle.write.bind(handle) as (...a: unknown[]) => Promise<unknown>;
        (handle as { write: unknown }).write = (...a: unknown[]) => {
          counts.handle++;
          return write(...a);
        };
        return handle;
      }) as typeof fileSystem.open,
      writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => {
        counts.sync++;
        if (failSync) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        return writeSync(fd, buffer, offset, length, position);
      },
    };
    return { seam, counts };
  }

  it('writes blocks placed together with one synchronous write, and runs over 64 KiB through the handle', async () => {
    const { seam, counts } = countingWrites();
    const store = await openChunkStore({ dir, reader: 'read', fileSystem: seam });
    await store.append(text('zero')); // creates the chunk, so that the next three are placed in one turn
    expect(counts).toEqual({ sync: 1, handle: 0 });
    const small = await Promise.all(['one', 'two', 'three'].map((s) => store.place(text(s))));
    await Promise.all(small.map((p) => p.written));
    expect(counts).toEqual({ sync: 2, handle: 0 });
    const large = await store.append(Buffer.alloc(65 * 1024, 7));
    expect(counts).toEqual({ sync: 2, handle: 1 });
    expect(small.map((p) => Buffer.from(store.read(p.ref)).toString())).toEqual(['one', 'two', 'three']);
    expect(store.read(large).every((byte) => byte === 7)).toBe(true);
    await store.close();
  });

  it('writes through the handle while the chunk is being fsynced', async () => {
    const { seam, counts } = countingWrites();
    const store = await openChunkStore({ dir, reader: 'read', fileSystem: seam });
    await store.append(text('dirty'));
    const syncing = store.sync();
    const placed = await store.place(text('placed during the fsync'));
    await placed.written;
    await syncing;
    expect(counts).toEqual({ sync: 1, handle: 1 });
    expect(Buffer.from(store.read(placed.ref)).toString()).toBe('placed during the fsync');
    await store.close();
  });

  it("writes from the event loop with node:fs/promises' own functions in another object (a bundle's copy of the module)", async () => {
    for (const files of [fileSystem, { ...fileSystem }]) {
      const store = await openChunkStore({ dir, reader: 'read', fileSystem: files });
      await store.append(text('creates the chunk'));
      const placed = await store.place(text('written before the event loop turns'));
      let turned = false;
      setImmediate(() => (turned = true));
      await placed.written;
      expect(turned).toBe(false);
      await store.close();
    }
  });

  it("calls a seam's writeSync as a method of the seam", async () => {
    const seam = {
      ...fileSystem,
      writes: 0,
      writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
        this.writes++;
        return writeSync(fd, buffer, offset, length, position);
      },
    };
    const store = await openChunkStore({ dir, reader: 'read', fileSystem: seam });
    const ref = await store.append(text('through a method'));
    expect(seam.writes).toBe(1);
    expect(Buffer.from(store.read(ref)).toString()).toBe('through a method');
    await store.close();
  });

  it('a close right after a block is placed writes and fsyncs it first', async () => {
    const syncs: string[] = [];
    const seam = {
      ...fileSystem,
      open: (async (...args: Parameters<typeof fileSystem.open>) => {
        const handle = await fileSystem.open(...args);
        const datasync = handle.datasync.bind(handle);
        (handle as { datasync: unknown }).datasync = () => (syncs.push(String(args[0]).split('/').pop()!), datasync());
        return handle;
      }) as typeof fileSystem.open,
    };
    const store = await openChunkStore({ dir, reader: 'read', fileSystem: seam });
    await store.append(text('makes the chunk'));
    await store.sync();
    syncs.length = 0;
    const placed = await store.place(text('placed just before the close'));
    const written = placed.written.then(() => 'written', (error: BlockError) => error.code);
    await store.close();
    expect(await written).toBe('written');
    expect(syncs).toEqual([chunkFileName(0)]);
    const again = await openChunkStore({ dir, reader: 'read' });
    expect(Buffer.from(again.read(placed.ref)).toString()).toBe('placed just before the close');
    await again.close();
  });

  it('refuses to place blocks once a close has begun', async () => {
    const store = await openChunkStore({ dir, reader: 'read' });
    await store.append(text('makes the chunk'));
    const closing = store.close();
    await expect(store.place(text('too late'))).rejects.toMatchObject({ code: 'BLOCK_STORE_CLOSED' });
    await expect(store.placeMany([text('too'), text('late')])).rejects.toMatchObject({ code: 'BLOCK_STORE_CLOSED' });
    await closing;
  });

  it('rejects the written of blocks placed together when their write fails, with IO_ERROR', async () => {
    const { seam } = countingWrites(true);
    const store = await openChunkStore({ dir, reader: 'read', fileSystem: seam });
    const placed = await store.placeMany([text('never'), text('written')]);
    await expect(placed.written).rejects.toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('ENOSPC') });
    await placed.release();
    await store.close();
  });

  it('rejects the blocks of a failed synchronous write with IO_ERROR', async () => {
    const { seam } = countingWrites(true);
    const store = await openChunkStore({ dir, reader: 'read', fileSystem: seam });
    const placed = await store.place(text('never written'));
    await expect(placed.written).rejects.toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('ENOSPC') });
    await store.close();
  });
});

describe('retire', () => {
  it('a retire that failed after removing the file, tried again, finishes instead of failing on the missing file', async () => {
    const first = await openChunkStore({ dir, reader: 'read', chunkSize: 4096 });
    await first.append(Buffer.alloc(3000, 1));
    await first.append(Buffer.alloc(3000, 2));
    await first.close();
    let failFolderOpen = true;
    const seam = {
      ...fileSystem,
      open: (async (...args: Parameters<typeof fileSystem.open>) => {
        // The folder's fsync after the unlink fails once (as EIO would).
        if (String(args[0]) === dir && failFolderOpen) {
          failFolderOpen = false;
          throw Object.assign(new Error('EIO: injected fault in open'), { code: 'EIO' });
        }
        return fileSystem.open(...args);
      }) as typeof fileSystem.open,
    };
    const store = await openChunkStore({ dir, reader: 'read', fileSystem: seam });
    expect(await store.claim(0)).toBe(true);
    await expect(store.retire(0)).rejects.toThrow(/Cannot remove chunk_0000\.bin: EIO/);
    expect(await store.claim(0)).toBe(true);
    await store.retire(0);
    expect((await readdir(dir)).filter((name) => name.endsWith('.bin'))).toEqual([chunkFileName(1)]);
    await store.close();
  });
});

describe('new chunk files that cannot be locked', () => {
  it('are given up on after a few, with an error that says why, instead of being made without end', async () => {
    const { loadLockBinding } = await import('../src/lock-binding.js');
    const locks = loadLockBinding();
    const held: number[] = [];
    // Every chunk file is locked through another description the moment this store opens it (as a
    // security policy that refuses the locks would look from here).
    const refusing = {
      ...fileSystem,
      open: (async (...args: Parameters<typeof fileSystem.open>) => {
        const path = String(args[0]);
        // (Once made: the open that makes it, exclusively, finds no file yet.)
        if (path.endsWith('.bin') && args[1] !== 'wx') {
          const fd = openSync(path, 'r+');
          locks.tryLock(fd, 'exclusive');
          held.push(fd);
        }
        return fileSystem.open(...args);
      }) as typeof fileSystem.open,
    };
    const store = await openChunkStore({ dir, reader: 'read', fileSystem: refusing });
    try {
      await expect(store.append(text('nowhere to go'))).rejects.toThrow(/Cannot lock the chunk files this process creates .*64 in a row/);
      expect((await readdir(dir)).filter((name) => name.endsWith('.bin')).length).toBeLessThanOrEqual(70);
    } finally {
      await store.close();
      for (const fd of held) closeSync(fd);
    }
  });
});

describe('writing blocks again before an fsync (sync and syncAll with rewrite)', () => {
  /** node:fs/promises that logs, per descriptor opened, each write and fdatasync of a chunk file. */
  function loggingSeam() {
    const events: string[] = [];
    let opened = 0;
    const seam = {
      ...fileSystem,
      writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => writeSync(fd, buffer, offset, length, position),
      open: (async (...args: Parameters<typeof fileSystem.open>) => {
        const handle = await fileSystem.open(...args);
        const name = String(args[0]).split('/').pop()!;
        if (!name.startsWith('chunk_')) return handle;
        const id = `${name}#${++opened}`;
        const write = handle.write.bind(handle) as (...a: unknown[]) => Promise<{ bytesWritten: number }>;
        (handle as { write: unknown }).write = async (buffer: Uint8Array, offset: number, length: number, position: number) => {
          const result = await write(buffer, offset, length, position);
          events.push(`${id} write ${position}+${result.bytesWritten}`);
          return result;
        };
        const datasync = handle.datasync.bind(handle);
        (handle as { datasync: unknown }).datasync = async () => {
          await datasync();
          events.push(`${id} fdatasync`);
        };
        return handle;
      }) as typeof fileSystem.open,
    };
    return { seam, events };
  }

  it("syncAll writes another store's blocks again, those that pass their checksum, through the descriptor it then fsyncs", async () => {
    const owner = await openChunkStore({ dir, reader: 'read' });
    const refs = await placeWritten(owner, [text('first block'), text('second block'), text('third block'), text('damaged block')]);
    await owner.sync();
    const damaged = refs[3]!;
    const fd = openSync(join(dir, chunkFileName(0)), 'r+');
    writeSync(fd, Buffer.alloc(damaged.length), 0, damaged.length, damaged.offset);
    closeSync(fd);
    const { seam, events } = loggingSeam();
    const other = await openChunkStore({ dir, reader: 'read', fileSystem: seam });
    await other.syncAll({ rewrite: [refs[2]!, refs[0]!, refs[1]!, damaged, refs[0]!] });
    // (The three adjacent blocks in one write; the damaged one left as it is.)
    const first = refs[0]!;
    expect(events).toEqual([`${chunkFileName(0)}#1 write ${first.offset}+${damaged.offset - first.offset}`, `${chunkFileName(0)}#1 fdatasync`]);
    for (const [i, ref] of refs.slice(0, 3).entries()) expect(Buffer.from(other.read(ref)).toString()).toBe(['first block', 'second block', 'third block'][i]);
    expect(() => other.read(damaged)).toThrow(expect.objectContaining({ code: 'BLOCK_CORRUPT' }));
    await other.close();
    await owner.close();
  });

  it("sync writes again, through the writer it fsyncs, only the blocks of the chunks it appends to that another store wrote there", async () => {
    const live = await openChunkStore({ dir, reader: 'read' });
    const [elsewhere] = await placeWritten(live, [text("a live store's block, in chunk 0")]);
    const earlier = await openChunkStore({ dir, reader: 'read' });
    const [before] = await placeWritten(earlier, [text('written by the chunk’s earlier owner')]);
    await earlier.close();
    const { seam, events } = loggingSeam();
    const store = await openChunkStore({ dir, reader: 'read', fileSystem: seam });
    const [mine] = await placeWritten(store, [text('this store’s own, after it took chunk 1 up')]);
    expect([before!.chunk, mine!.chunk, elsewhere!.chunk]).toEqual([1, 1, 0]);
    await store.sync();
    events.length = 0;
    await store.sync({ rewrite: [before!, mine!, elsewhere!] });
    const writer = /^chunk_0001\.bin#\d+/.exec(events[0] ?? '')?.[0];
    expect(writer).toBeDefined();
    expect(events).toEqual([`${writer} write ${before!.offset}+${before!.length}`, `${writer} fdatasync`]);
    // (syncAll likewise leaves this store's own block out, and writes the live store's block through a descriptor of its own.)
    events.length = 0;
    await store.syncAll({ rewrite: [mine!, elsewhere!] });
    expect(events.filter((event) => event.includes(' write '))).toEqual([expect.stringMatching(new RegExp(`^chunk_0000\\.bin#\\d+ write ${elsewhere!.offset}\\+${elsewhere!.length}$`))]);
    await store.close();
    await live.close();
  });
});
