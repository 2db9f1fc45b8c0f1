import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { chunkFileName, openChunkStore, type BlockRef } from '@memmapfs/blocks';
import { useBindingLoader } from './support/binding-loader.js';

const { blocksWithBinding } = useBindingLoader();
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-mapping-growth-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The mappings of `path` this process holds now (Linux: one line of /proc/self/maps each). */
function mappingsOf(path: string): number {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').filter((line) => line.endsWith(path)).length;
}

const block = (i: number) => Buffer.alloc(64, `block ${i};`);

describe.skipIf(!existsSync('/proc/self/maps'))('mappings of a chunk that grows while it is read', () => {
  it('map a chunk whole once it is full, even when it was first mapped near that size', async () => {
    const chunkSize = 64 * 1024;
    const writer = await openChunkStore({ dir, reader: 'mmap', chunkSize });
    const refs: BlockRef[] = [];
    // 15 of its 16 blocks: the first mapping covers most of the chunk, which never doubles again.
    for (let i = 0; i < 15; i++) refs.push(await writer.append(Buffer.alloc(4096, i)));
    const reader = await openChunkStore({ dir, reader: 'mmap', readOnly: true, chunkSize });
    expect(reader.read(refs[0]!).buffer.byteLength).toBe(15 * 4096);
    refs.push(await writer.append(Buffer.alloc(4096, 15)));
    expect(refs.at(-1)!.chunk).toBe(refs[0]!.chunk);
    const last = reader.read(refs.at(-1)!);
    expect(Buffer.from(last).equals(Buffer.alloc(4096, 15))).toBe(true);
    // Full: read from a mapping of the whole chunk, not a copy.
    expect(last.buffer.byteLength).toBe(chunkSize);
    await Promise.all([writer.close(), reader.close()]);
  });

  it('map a chunk whole once a later chunk exists, when it was sealed short of its size', async () => {
    const chunkSize = 64 * 1024;
    const writer = await openChunkStore({ dir, reader: 'mmap', chunkSize });
    const refs: BlockRef[] = [];
    for (let i = 0; i < 14; i++) refs.push(await writer.append(Buffer.alloc(4000, i)));
    const reader = await openChunkStore({ dir, reader: 'mmap', readOnly: true, chunkSize });
    expect(reader.read(refs[0]!).buffer.byteLength).toBe(14 * 4000);
    // Two more fit; the next does not: chunk 0 is sealed at 64,000 bytes, and chunk 1 begins.
    for (let i = 14; i < 17; i++) refs.push(await writer.append(Buffer.alloc(4000, i)));
    expect(refs[15]!.chunk).toBe(refs[0]!.chunk);
    expect(refs[16]!.chunk).toBe(refs[0]!.chunk + 1);
    expect(Buffer.from(reader.read(refs[16]!)).equals(Buffer.alloc(4000, 16))).toBe(true);
    const tail = reader.read(refs[15]!);
    expect(Buffer.from(tail).equals(Buffer.alloc(4000, 15))).toBe(true);
    expect(tail.buffer.byteLength).toBe(16 * 4000);
    await Promise.all([writer.close(), reader.close()]);
  });

  it('stay few when every block is read right after it is appended, by the writer and by another store', async () => {
    const writer = await openChunkStore({ dir, reader: 'mmap' });
    const follower = await openChunkStore({ dir, reader: 'mmap', readOnly: true });
    const cycles = 3000;
    const kept: { ref: BlockRef; view: Uint8Array }[] = [];
    for (let i = 0; i < cycles; i++) {
      const ref = await writer.append(block(i));
      const mine = writer.read(ref);
      const theirs = follower.read(ref);
      expect(Buffer.from(mine).equals(block(i))).toBe(true);
      expect(Buffer.from(theirs).equals(block(i))).toBe(true);
      if (i % 300 === 0) kept.push({ ref, view: theirs });
    }
    // Without geometric remapping: one mapping per read past the mapped size, kept until a GC.
    expect(mappingsOf(join(dir, chunkFileName(0)))).toBeLessThanOrEqual(40);
    // Views handed out before a remap still read their bytes.
    for (const { ref, view } of kept) expect(Buffer.from(view).equals(block(ref.offset / 64))).toBe(true);
    // Once the chunk is mapped whole, reads are views into that one mapping.
    const first = follower.read({ ...kept[0]!.ref });
    const again = await openChunkStore({ dir, reader: 'mmap', readOnly: true });
    const a = again.read(kept[0]!.ref);
    const b = again.read(kept[1]!.ref);
    expect(a.buffer).toBe(b.buffer);
    expect(Buffer.from(first).equals(Buffer.from(a))).toBe(true);
    await Promise.all([writer.close(), follower.close(), again.close()]);
  });
});

/** A fresh copy of the package whose binding's `map()` fails (as at vm.max_map_count) while `failing.now` is set. */
function blocksWithFailingMap(failing: { now: boolean }) {
  return blocksWithBinding((load) => {
    const loaded = load();
    const real = ((loaded as { default?: unknown }).default ?? loaded) as { map: (...args: unknown[]) => Buffer };
    return {
      ...real,
      map: (...args: unknown[]) => {
        if (failing.now) throw new Error('mmap failed, 12');
        return real.map(...args);
      },
    };
  });
}

function mapFailureWarnings(spy: { mock: { calls: unknown[][] } }) {
  return spy.mock.calls.filter(([, options]) => (options as { code?: string } | undefined)?.code === 'MEMMAPFS_MMAP_FAILED');
}

describe('a mapping that fails', () => {
  it('is read instead, with the same bytes and errors, warned about once per process', async () => {
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const failing = { now: true };
    const { openChunkStore: open, BlockError } = await blocksWithFailingMap(failing);
    const store = await open({ dir, reader: 'mmap' });
    expect(store.reader).toBe('mmap');
    const refs: BlockRef[] = [];
    for (let i = 0; i < 20; i++) {
      refs.push(await store.append(block(i)));
      expect(Buffer.from(store.read(refs[i]!)).equals(block(i))).toBe(true);
    }
    const missing = (() => {
      try {
        store.read({ ...refs[0]!, offset: 1_000_000 });
      } catch (error) {
        return error;
      }
    })();
    expect(missing).toBeInstanceOf(BlockError);
    expect(missing).toMatchObject({ code: 'BLOCK_MISSING' });
    const other = await open({ dir, reader: 'mmap', readOnly: true });
    expect(Buffer.from(other.read(refs[3]!)).equals(block(3))).toBe(true);

    const warnings = mapFailureWarnings(emitWarning);
    expect(warnings).toHaveLength(1);
    const [message, options] = warnings[0] as [string, { type?: string }];
    expect(message).toContain('mmap failed, 12');
    expect(options.type).toBe('MemMapFSWarning');

    // Mapping again once it works (and the chunk has grown enough to be worth a new mapping).
    failing.now = false;
    for (let i = 20; i < 80; i++) refs.push(await store.append(block(i)));
    const a = store.read(refs[70]!);
    const b = store.read(refs[71]!);
    expect(a.buffer).toBe(b.buffer);
    expect(Buffer.from(a).equals(block(70))).toBe(true);
    await Promise.all([store.close(), other.close()]);
  });

  it('in mapFile is read instead under reader auto, and a BlockError under reader mmap', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const { mapFile, BlockError } = await blocksWithFailingMap({ now: true });
    const path = join(dir, 'file');
    await writeFile(path, 'some bytes');
    const file = mapFile(path);
    expect(file.mapped).toBe(false);
    expect(file.bytes.toString()).toBe('some bytes');
    let error: unknown;
    try {
      mapFile(path, 'mmap');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(BlockError);
    expect(error).toMatchObject({ code: 'IO_ERROR' });
  });
});
