import type { BlockRef, BlockStore, BlockStoreOpener, BlockStoreOpenOptions } from '@memmapfs/blocks';
import { crc32c } from '@memmapfs/wal';
import { describe, expect, it } from 'vitest';

/** A fresh, empty place for blocks (a folder, a bucket) and how to remove it. */
export interface BlockPlace {
  /** Opens the block store of this place; called several times per check (two writers, a reopen). */
  readonly open: BlockStoreOpener;
  /** Removes the place and everything in it. */
  cleanup(): Promise<void>;
  /**
   * Optional: changes one byte of the stored bytes of the block at `ref`, where it lies (in its chunk
   * file), as rot on the medium would, behind every store's back. Without it, the check that damaged
   * bytes are refused is skipped.
   */
  damage?(ref: BlockRef): Promise<void>;
  /**
   * Optional: a power loss, now: the place keeps what its stores made durable and loses every write
   * not synced yet. Stores opened before it are only closed after it (what they do then is after the
   * power loss); opens after it see what the loss left. Without it, the check that synced blocks
   * survive is skipped.
   */
  crash?(): Promise<void>;
}

/** Options of `blockStoreSuite`. */
export interface BlockStoreSuiteOptions {
  /** Exact check titles to leave out. A title the suite does not have is an error. */
  skip?: string[];
}

const bytes = (value: string): Uint8Array => new Uint8Array(Buffer.from(value));
const text = (value: Uint8Array): string => Buffer.from(value).toString();

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

async function rejectionCode(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(() => undefined, (error: unknown) => (error as { code?: string }).code);
}

/** Two ranges of one chunk that share a byte. */
function overlap(a: BlockRef, b: BlockRef): boolean {
  return a.chunk === b.chunk && a.offset < b.offset + b.length && b.offset < a.offset + a.length;
}

/**
 * Registers a vitest `describe` block that checks an implementation of the `BlockStore` contract of
 * `@memmapfs/blocks`: blocks read back exactly and checked against their checksum (one at a time and
 * many at once), placed before they are written (one at a time, and many at once when the store has
 * the optional `placeMany`), never overlapping (also across writers, and never in a range `referenced` says a
 * durable record uses, nor outside `chunkNumbers`), restored from a copy, materialized from another
 * host's record, read-only opens, reopening and closing. Every check runs in a fresh place from
 * `newPlace`.
 *
 * @param name Title of the `describe` block.
 * @param newPlace Returns a fresh, empty place for blocks, with the opener of its store.
 * @param options `skip`: check titles to leave out.
 */
export function blockStoreSuite(name: string, newPlace: () => Promise<BlockPlace>, options: BlockStoreSuiteOptions = {}): void {
  const skipped = new Set(options.skip ?? []);
  const known = new Set<string>();

  describe(name, () => {
    /** `skip`: ends the check as skipped (for what an optional method of the contract does, when the store has none). */
    const check = (title: string, body: (place: BlockPlace, open: (extra?: BlockStoreOpenOptions) => Promise<BlockStore>, skip: (why: string) => void) => Promise<void>): void => {
      known.add(title);
      it.skipIf(skipped.has(title))(title, async (context) => {
        const place = await newPlace();
        const opened: BlockStore[] = [];
        const open = async (extra: BlockStoreOpenOptions = {}) => {
          const store = await place.open({ reader: 'read', ...extra });
          opened.push(store);
          return store;
        };
        try {
          await body(place, open, (why) => context.skip(why));
        } finally {
          for (const store of opened) await store.close().catch(() => undefined);
          await place.cleanup();
        }
      });
    };

    check('appends blocks that read back exactly, as Uint8Array, after a reopen too', async (_place, open) => {
      const store = await open();
      const values = ['first block', '', 'x'.repeat(200_000), 'ünïcödé 😀'];
      const refs = [];
      for (const value of values) refs.push(await store.append(bytes(value)));
      for (const [i, ref] of refs.entries()) {
        const read = store.read(ref);
        expect(read).toBeInstanceOf(Uint8Array);
        expect(text(read)).toBe(values[i]);
        expect(ref.length).toBe(Buffer.byteLength(values[i]!));
      }
      for (const [i, a] of refs.entries()) for (const b of refs.slice(i + 1)) if (a.length > 0 && b.length > 0) expect(overlap(a, b)).toBe(false);
      await store.sync();
      await store.close();
      const again = await open();
      for (const [i, ref] of refs.entries()) expect(text(again.read(ref))).toBe(values[i]);
    });

    check('places a block at once and makes it readable once written', async (_place, open) => {
      const store = await open();
      const placed = await Promise.all(Array.from({ length: 50 }, (_, i) => store.place(bytes(`placed ${i}`))));
      await Promise.all(placed.map((p) => p.written));
      placed.forEach((p, i) => expect(text(store.read(p.ref))).toBe(`placed ${i}`));
      expect(new Set(placed.map((p) => `${p.ref.chunk}:${p.ref.offset}`)).size).toBe(50);
    });

    check('places many blocks at once (placeMany, when it has it): each reads back once written, in the order given, none overlapping', async (_place, open, skip) => {
      const store = await open();
      if (!store.placeMany) return skip('no placeMany');
      // (Some 300 KB: across chunk files, for a store that caps them as small as 64 KiB.)
      const values = Array.from({ length: 300 }, (_, i) => `batch ${i} `.repeat(1 + (i % 11) * 20));
      const placed = await store.placeMany(values.map(bytes));
      expect(placed.refs).toHaveLength(values.length);
      await placed.written;
      placed.refs.forEach((ref, i) => expect(text(store.read(ref))).toBe(values[i]));
      for (const [i, a] of placed.refs.entries()) for (const b of placed.refs.slice(i + 1)) expect(overlap(a, b)).toBe(false);
      // …and none over a block placed one at a time around them.
      const single = await store.place(bytes('one at a time'));
      await single.written;
      for (const ref of placed.refs) expect(overlap(ref, single.ref)).toBe(false);
      await placed.release();
      await single.release();
      const none = await store.placeMany([]);
      expect(none.refs).toEqual([]);
      await none.written;
      await none.release();
    });

    check('a sealed chunk holding blocks placed together stays the store\'s until they are released (placeMany)', async (_place, open, skip) => {
      const store = await open();
      if (!store.placeMany) return skip('no placeMany');
      const other = await open();
      // (40 KB each: in two chunk files, for a store that caps them as small as 64 KiB.)
      const values = ['their record ', 'is not in the log yet '].map((value) => value.repeat(40_000 / value.length));
      const held = await store.placeMany(values.map(bytes));
      // A second batch, still held while the first's release is called twice: its chunk stays the store's.
      const alsoHeld = await store.placeMany([bytes('another batch')]);
      await Promise.all([held.written, alsoHeld.written]);
      await store.seal();
      for (const ref of held.refs) {
        expect(await other.claim(ref.chunk)).toBe(false);
        expect(await store.claim(ref.chunk)).toBe(false);
      }
      await held.release();
      await held.release();
      expect(await other.claim(alsoHeld.refs[0]!.chunk)).toBe(false);
      await alsoHeld.release();
      for (const chunk of new Set([...held.refs, ...alsoHeld.refs].map((ref) => ref.chunk))) expect(await other.claim(chunk)).toBe(true);
      expect(held.refs.map((ref) => text(other.read(ref)))).toEqual(values);
    });

    check('never returns bytes that fail their checksum, nor a range it does not have', async (_place, open) => {
      const store = await open();
      const ref = await store.append(bytes('checked bytes'));
      expect(codeOf(() => store.read({ ...ref, crc: (ref.crc + 1) >>> 0 }))).toBe('BLOCK_CORRUPT');
      expect(codeOf(() => store.read({ ...ref, offset: ref.offset + 1_000_000 }))).toBe('BLOCK_MISSING');
      expect(codeOf(() => store.read({ ...ref, chunk: ref.chunk + 1000 }))).toBe('BLOCK_MISSING');
      expect(codeOf(() => store.read({ ...ref, offset: -1 }))).toBe('BLOCK_MISSING');
    });

    check('refuses bytes damaged where they lie (BLOCK_CORRUPT), in read and verify, in the store that wrote them and in a new one', async (place, open, skip) => {
      if (!place.damage) return skip('no damage (optional)');
      const store = await open();
      const ref = await store.append(bytes('some bytes that rot where they lie'));
      const whole = await store.append(bytes('a whole neighbour'));
      await store.sync();
      expect(text(store.read(ref))).toBe('some bytes that rot where they lie');
      await place.damage(ref);
      const fresh = await open();
      // (The store that wrote it may still hold the bytes it wrote, and return those: never the damaged ones.)
      const fromWriter = (() => {
        try {
          return text(store.read(ref));
        } catch (error) {
          return (error as { code?: string }).code;
        }
      })();
      expect(['BLOCK_CORRUPT', 'some bytes that rot where they lie']).toContain(fromWriter);
      expect(codeOf(() => fresh.read(ref))).toBe('BLOCK_CORRUPT');
      // verify looks in the chunk files, whatever a store holds.
      for (const reader of [store, fresh]) {
        const failure = await reader.verify([whole, ref]);
        expect([failure?.index, failure?.error.code]).toEqual([1, 'BLOCK_CORRUPT']);
        expect(text(reader.read(whole))).toBe('a whole neighbour');
      }
    });

    check('sync and syncAll writing blocks again (rewrite) leave each reading as it did, a damaged one still damaged, in this store and a new one', async (place, open) => {
      const owner = await open();
      const theirs = await Promise.all(Array.from({ length: 20 }, (_, i) => owner.append(bytes(`another store's block ${i}`))));
      await owner.sync();
      if (place.damage) await place.damage(theirs[7]!);
      const store = await open();
      const mine = await Promise.all(Array.from({ length: 20 }, (_, i) => store.append(bytes(`this store's block ${i}`))));
      // (Unknown places and wrong checksums too: each is left as it is.)
      const strays: BlockRef[] = [{ ...mine[3]!, crc: (mine[3]!.crc + 1) >>> 0 }, { ...theirs[0]!, chunk: theirs[0]!.chunk + 1000 }];
      await store.sync({ rewrite: [...mine, ...theirs, ...strays] });
      await store.syncAll({ rewrite: [...theirs, ...mine, ...strays, theirs[5]!] });
      for (const reader of [store, await open()]) {
        for (const [i, ref] of mine.entries()) expect(text(reader.read(ref))).toBe(`this store's block ${i}`);
        for (const [i, ref] of theirs.entries()) {
          if (place.damage && i === 7) expect(codeOf(() => reader.read(ref))).toBe('BLOCK_CORRUPT');
          else expect(text(reader.read(ref))).toBe(`another store's block ${i}`);
        }
      }
    });

    check('reads back and refuses a wrong checksum under the default reader too (no reader option: zero-copy where the store can)', async (place) => {
      const store = await place.open({});
      try {
        const ref = await store.append(bytes('read through the default reader'));
        const other = await place.open({});
        try {
          expect(text(other.read(ref))).toBe('read through the default reader');
          expect(codeOf(() => other.read({ ...ref, crc: (ref.crc + 1) >>> 0 }))).toBe('BLOCK_CORRUPT');
          expect(await other.verify([ref])).toBeUndefined();
        } finally {
          await other.close();
        }
        expect(text(store.read(ref))).toBe('read through the default reader');
        expect(codeOf(() => store.read({ ...ref, crc: (ref.crc ^ 1) >>> 0 }))).toBe('BLOCK_CORRUPT');
        if (place.damage) {
          await store.sync();
          await place.damage(ref);
          const fresh = await place.open({});
          try {
            expect(codeOf(() => fresh.read(ref))).toBe('BLOCK_CORRUPT');
          } finally {
            await fresh.close();
          }
        }
      } finally {
        await store.close();
      }
    });

    check('blocks made durable by sync, syncAll, seal and close, and a restore synced after it, survive a power loss (when the place can cause one)', async (place, open, skip) => {
      if (!place.crash) return skip('no crash (optional)');
      const closed = await open();
      const beforeClose = await closed.append(bytes('written, then the store closed'));
      await closed.close();
      const a = await open();
      const b = await open();
      const synced = await a.append(bytes('appended, then synced'));
      await a.sync();
      const byOther = await b.append(bytes('appended by another store, synced by syncAll'));
      await a.syncAll();
      const sealed = await b.append(bytes('appended, then sealed'));
      await b.seal();
      const restored = await a.append(bytes('restored after a loss'));
      await a.restore(restored, bytes('restored after a loss'));
      await a.sync();
      await place.crash();
      const after = await open();
      expect([beforeClose, synced, byOther, sealed, restored].map((ref) => text(after.read(ref)))).toEqual([
        'written, then the store closed', 'appended, then synced', 'appended by another store, synced by syncAll', 'appended, then sealed', 'restored after a loss',
      ]);
      // (New blocks go where nothing durable is.)
      const next = await after.append(bytes('after the power loss'));
      for (const ref of [beforeClose, synced, byOther, sealed, restored]) expect(overlap(ref, next)).toBe(false);
    });

    check('verifies many blocks in one call, naming the first one in the list that is damaged or missing', async (_place, open) => {
      const store = await open();
      const refs: BlockRef[] = [];
      for (let batch = 0; batch < 4; batch++) {
        const placed = await Promise.all(Array.from({ length: 100 }, (_, i) => store.place(bytes(`block ${batch}-${i} `.repeat(1 + (i % 7))))));
        await Promise.all(placed.map((p) => p.written));
        refs.push(...placed.map((p) => p.ref));
      }
      expect(await store.verify([])).toBeUndefined();
      expect(await store.verify(refs)).toBeUndefined();
      expect(await store.verify([...refs].reverse())).toBeUndefined();
      const damaged = refs.map((ref, i) => (i === 250 ? { ...ref, crc: (ref.crc + 1) >>> 0 } : i === 300 ? { ...ref, offset: ref.offset + 1_000_000_000 } : ref));
      const first = await store.verify(damaged);
      expect([first?.index, first?.error.code]).toEqual([250, 'BLOCK_CORRUPT']);
      // The first in the list's order, wherever it lies in the chunk files.
      const last = await store.verify([...damaged].reverse());
      expect([last?.index, last?.error.code]).toEqual([99, 'BLOCK_MISSING']);
      const missingChunk = await store.verify([refs[0]!, { ...refs[1]!, chunk: refs[1]!.chunk + 1000 }]);
      expect([missingChunk?.index, missingChunk?.error.code]).toEqual([1, 'BLOCK_MISSING']);
      // Each damaged block on its own, between whole ones.
      for (const at of [0, 1, 57, 399]) {
        const one = refs.map((ref, i) => (i === at ? { ...ref, crc: (ref.crc ^ 1) >>> 0 } : ref));
        expect((await store.verify(one))?.index).toBe(at);
      }
      // An empty block, the same block twice, and a range over two blocks (its checksum that of neither).
      const empty = await store.append(new Uint8Array(0));
      expect(await store.verify([refs[3]!, empty, refs[3]!, empty])).toBeUndefined();
      const across = { chunk: refs[7]!.chunk, offset: refs[7]!.offset, length: refs[7]!.length + 4, crc: refs[7]!.crc };
      const overlapping = await store.verify([refs[7]!, refs[8]!, across, refs[7]!]);
      expect([overlapping?.index, overlapping?.error.code]).toEqual([2, 'BLOCK_CORRUPT']);
      expect((await store.verify([refs[5]!, { ...refs[5]!, crc: (refs[5]!.crc ^ 1) >>> 0 }]))?.index).toBe(1);
    });

    check('restores a block from a copy only when the copy matches its reference', async (_place, open) => {
      const store = await open();
      const ref = await store.append(bytes('the original bytes'));
      expect(await rejectionCode(store.restore(ref, bytes('other bytes of length')))).toBe('INVALID_ARGUMENT');
      await store.restore(ref, bytes('the original bytes'));
      expect(text(store.read(ref))).toBe('the original bytes');
    });

    check('materializes a block placed elsewhere: readable at once, checked against its reference, after a reopen too', async (_place, open) => {
      // The block is placed by a store of another place (another host), after a block that is not brought over.
      const elsewhere = await newPlace();
      let ref: BlockRef;
      try {
        const other = await elsewhere.open({ reader: 'read' });
        await other.append(bytes('p'.repeat(5000)));
        ref = await other.append(bytes('a block another host placed'));
        await other.close();
      } finally {
        await elsewhere.cleanup();
      }
      // This store places its own blocks in chunk numbers the other's are not in.
      const numbers = { first: ref.chunk + 10, end: ref.chunk + 20 };
      const store = await open({ chunkNumbers: () => numbers });
      expect(codeOf(() => store.materialize(ref, bytes('a block another host placeX')))).toBe('INVALID_ARGUMENT');
      expect(codeOf(() => store.materialize(ref, bytes('too short')))).toBe('INVALID_ARGUMENT');
      store.materialize(ref, bytes('a block another host placed'));
      expect(text(store.read(ref))).toBe('a block another host placed');
      // Again, the same bytes: harmless.
      store.materialize(ref, bytes('a block another host placed'));
      const own = await Promise.all(Array.from({ length: 10 }, (_, i) => store.append(bytes(`own block ${i}`))));
      for (const [i, mine] of own.entries()) {
        expect(mine.chunk).toBeGreaterThanOrEqual(numbers.first);
        expect(mine.chunk).toBeLessThan(numbers.end);
        expect(text(store.read(mine))).toBe(`own block ${i}`);
      }
      await store.syncAll();
      await store.close();
      const again = await open({ chunkNumbers: () => numbers });
      expect(text(again.read(ref))).toBe('a block another host placed');
      for (const [i, mine] of own.entries()) expect(text(again.read(mine))).toBe(`own block ${i}`);
    });

    check('a block placed is readable by another store once written resolves, and close writes what was appended and placed before it', async (_place, open) => {
      const a = await open();
      const b = await open();
      const placed = await a.place(bytes('its record is about to be written'));
      await placed.written;
      expect(text(b.read(placed.ref))).toBe('its record is about to be written');
      await placed.release();
      const many = a.placeMany ? await a.placeMany([bytes('placed together 1'), bytes('placed together 2')]) : undefined;
      await many?.written;
      many?.refs.forEach((ref, i) => expect(text(b.read(ref))).toBe(`placed together ${i + 1}`));
      await many?.release();
      // Appended and placed, never synced: close writes them.
      const appended = await a.append(bytes('appended before the close'));
      const late = await a.place(bytes('placed before the close'));
      await late.written;
      await late.release();
      await a.close();
      const again = await open();
      expect(text(again.read(appended))).toBe('appended before the close');
      expect(text(again.read(late.ref))).toBe('placed before the close');
      expect(text(again.read(placed.ref))).toBe('its record is about to be written');
    });

    check('a store that takes up a chunk with room appends after the blocks in it, never over them', async (_place, open) => {
      const a = await open();
      const old = await Promise.all(['an older block', 'another older block'].map((value) => a.append(bytes(value))));
      await a.close();
      const b = await open();
      const added = [];
      for (let i = 0; i < 10; i++) added.push(await b.append(bytes(`a newer block ${i}`)));
      for (const ref of added) for (const before of old) expect(overlap(ref, before)).toBe(false);
      expect(old.map((ref) => text(b.read(ref)))).toEqual(['an older block', 'another older block']);
      await b.close();
      const c = await open();
      expect(old.map((ref) => text(c.read(ref)))).toEqual(['an older block', 'another older block']);
      added.forEach((ref, i) => expect(text(c.read(ref))).toBe(`a newer block ${i}`));
    });

    check('two writers on one place never place blocks over each other, and read each other\'s', async (_place, open) => {
      const a = await open();
      const b = await open();
      const refs = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).append(bytes(`writer ${i % 2} block ${i}`))));
      for (const [i, ref] of refs.entries()) {
        expect(text(a.read(ref))).toBe(`writer ${i % 2} block ${i}`);
        expect(text(b.read(ref))).toBe(`writer ${i % 2} block ${i}`);
        for (const other of refs.slice(i + 1)) expect(overlap(ref, other)).toBe(false);
      }
    });

    check('never places a new block in a range that referenced says a durable record uses', async (_place, open) => {
      const first = await open();
      const kept = await first.append(bytes('a block whose record is durable'));
      await first.close();
      // A durable record points past what the store holds (its bytes were lost with a power loss).
      const lost: BlockRef = { chunk: kept.chunk, offset: kept.offset + kept.length, length: 4096, crc: 0 };
      const store = await open({ referenced: { end: (chunk) => (chunk === lost.chunk ? lost.offset + lost.length : 0), lastChunk: () => lost.chunk } });
      for (let i = 0; i < 20; i++) {
        const ref = await store.append(bytes(`new block ${i}`));
        expect(overlap(ref, lost), `block ${i} at ${ref.chunk}:${ref.offset}`).toBe(false);
        expect(overlap(ref, kept)).toBe(false);
      }
    });

    check('never places a new block in a chunk referenced names whose file is gone (a record of it is durable)', async (_place, open) => {
      const first = await open();
      const kept = await first.append(bytes('a block whose record is durable'));
      await first.close();
      // A durable record references the chunk after the last one there: its file was lost with a power loss.
      const lost: BlockRef = { chunk: kept.chunk + 1, offset: 0, length: 4096, crc: 0 };
      const ends = new Map([[kept.chunk, kept.offset + kept.length], [lost.chunk, lost.length]]);
      const referenced = { end: (chunk: number) => ends.get(chunk) ?? 0, lastChunk: (below?: number) => Math.max(-1, ...[...ends.keys()].filter((chunk) => below === undefined || chunk < below)) };
      const store = await open({ referenced });
      for (let i = 0; i < 20; i++) {
        const ref = await store.append(bytes(`new block ${i}`));
        expect(overlap(ref, lost), `block ${i} at ${ref.chunk}:${ref.offset}`).toBe(false);
        expect(overlap(ref, kept)).toBe(false);
        // (A new chunk started at each turn: every one is chosen with what referenced says.)
        if (i % 5 === 4) await store.seal();
      }
    });

    check('places every chunk it starts in chunkNumbers, not the first one only', async (_place, open) => {
      const numbers = { first: 20, end: 30 };
      const store = await open({ chunkNumbers: () => numbers });
      // Another host's block, numbered above this store's range, materialized from its record.
      const theirs = bytes('another host placed me');
      const first = await store.append(bytes('first block'));
      store.materialize({ chunk: numbers.end + 5, offset: 0, length: theirs.length, crc: crc32c(theirs) }, theirs);
      const refs = [first];
      for (let i = 0; i < 6; i++) {
        refs.push(await store.append(bytes(`block ${i}`)));
        // (The next block goes to another chunk.)
        await store.seal();
      }
      expect(new Set(refs.map((ref) => ref.chunk)).size).toBeGreaterThan(1);
      for (const ref of refs) {
        expect(ref.chunk).toBeGreaterThanOrEqual(numbers.first);
        expect(ref.chunk).toBeLessThan(numbers.end);
      }
    });

    check('a read-only open reads, and refuses to write with READ_ONLY', async (_place, open) => {
      const writer = await open();
      const ref = await writer.append(bytes('written before'));
      await writer.sync();
      const reader = await open({ readOnly: true });
      expect(text(reader.read(ref))).toBe('written before');
      expect(await rejectionCode(reader.append(bytes('no')))).toBe('READ_ONLY');
      expect(await rejectionCode(reader.restore(ref, bytes('written before')))).toBe('READ_ONLY');
      expect(await rejectionCode(reader.syncAll())).toBe('READ_ONLY');
      await writer.seal();
      expect(await rejectionCode(reader.claim(ref.chunk))).toBe('READ_ONLY');
      // (Refused, it took nothing: a writer claims it.)
      expect(await writer.claim(ref.chunk)).toBe(true);
    });

    check('syncAll covers blocks another writer wrote and leaves them readable', async (_place, open) => {
      const a = await open();
      const b = await open();
      const ref = await a.append(bytes('written by a, synced by b'));
      await b.syncAll();
      expect(text(b.read(ref))).toBe('written by a, synced by b');
      await a.append(bytes('a writes on'));
      await a.syncAll();
    });

    check('counts what it holds, and refuses reads after close', async (_place, open) => {
      const store = await open();
      await store.append(bytes('12345'));
      await store.append(bytes('678'));
      expect(store.stats().bytes).toBeGreaterThanOrEqual(8);
      expect(store.stats().chunkFiles).toBeGreaterThanOrEqual(1);
      const ref = await store.append(bytes('last'));
      await store.close();
      expect(codeOf(() => store.read(ref))).toBe('BLOCK_STORE_CLOSED');
      await store.close();
    });

    check('lists its chunks; a claimed chunk takes no new block from any store, and one a store appends to cannot be claimed', async (_place, open) => {
      const a = await open();
      const first = await a.append(bytes('in the first chunk'));
      expect((await a.listChunks()).map((c) => c.chunk)).toContain(first.chunk);
      expect((await a.listChunks()).find((c) => c.chunk === first.chunk)!.bytes).toBeGreaterThanOrEqual(first.offset + first.length);
      const b = await open();
      // A appends to it: nobody may claim it, A included.
      expect(await b.claim(first.chunk)).toBe(false);
      expect(await a.claim(first.chunk)).toBe(false);
      expect(await b.claim(first.chunk + 1000)).toBe(false);
      await a.close();
      expect(await b.claim(first.chunk)).toBe(true);
      // Neither B nor a new store places anything in it now, though it has room.
      const c = await open();
      for (const store of [b, c]) {
        for (let i = 0; i < 5; i++) expect((await store.append(bytes(`after the claim ${i}`))).chunk).not.toBe(first.chunk);
      }
      expect(text(c.read(first))).toBe('in the first chunk');
    });

    check('a chunk one store reserves is taken up by no store once its writer lets go of it, and the reserving store claims it', async (_place, open, skip) => {
      const writer = await open();
      const eraser = await open();
      if (!eraser.reserve) return skip('this block store has no reserve (optional)');
      const ref = await writer.append(bytes('deleted words'));
      const reservation = await eraser.reserve([ref.chunk]);
      expect(reservation.chunks).toEqual([ref.chunk]);
      // The writer goes on while it owns the chunk; once it seals, neither it nor any other store takes it up.
      expect((await writer.append(bytes('before the seal'))).chunk).toBe(ref.chunk);
      await writer.seal();
      const other = await open();
      for (const store of [other, eraser, writer]) expect((await store.append(bytes('after the seal'))).chunk).not.toBe(ref.chunk);
      expect(await eraser.claim(ref.chunk)).toBe(true);
      await reservation.release();
      await reservation.release();
      // Released, and still claimed: no store appends there.
      expect((await (await open()).append(bytes('after the release'))).chunk).not.toBe(ref.chunk);
      expect(text(eraser.read(ref))).toBe('deleted words');
    });

    check('letGo seals the chunks asked for, so that the store that reserved them claims them; other chunks stay the store\'s', async (_place, open, skip) => {
      const writer = await open();
      const eraser = await open();
      if (!writer.letGo || !eraser.reserve) return skip('no letGo or reserve (optional)');
      const ref = await writer.append(bytes('to erase'));
      const reservation = await eraser.reserve([ref.chunk]);
      // Asked for another chunk, it keeps its own.
      await writer.letGo([ref.chunk + 1000]);
      expect(await eraser.claim(ref.chunk)).toBe(false);
      await writer.letGo([ref.chunk]);
      expect(await eraser.claim(ref.chunk)).toBe(true);
      expect((await writer.append(bytes('after letting go'))).chunk).not.toBe(ref.chunk);
      await reservation.release();
      expect(text(writer.read(ref))).toBe('to erase');
    });

    check('a reservation released, or ended with its store, keeps no store off the chunk', async (_place, open, skip) => {
      const eraser = await open();
      if (!eraser.reserve) return skip('this block store has no reserve (optional)');
      // (What a reservation keeps stores from is taking a chunk up: a store that never does has nothing to show here.)
      const prober = await open();
      const probe = await prober.append(bytes('probe'));
      await prober.seal();
      const taker = await open();
      if ((await taker.append(bytes('taken up?'))).chunk !== probe.chunk) return skip('this block store never takes a chunk up again');
      await taker.close();
      const writer = await open();
      const ref = await writer.append(bytes('first'));
      const reservation = await eraser.reserve([ref.chunk]);
      await reservation.release();
      await writer.seal();
      // The highest chunk, with room, owned by no one and reserved by no one: a new store takes it up.
      expect((await (await open()).append(bytes('taken up'))).chunk).toBe(ref.chunk);
      const secondWriter = await open();
      const second = await secondWriter.append(bytes('second'));
      expect(second.chunk).not.toBe(ref.chunk);
      const closing = await open();
      await closing.reserve!([second.chunk]);
      await secondWriter.seal();
      await closing.close();
      expect((await (await open()).append(bytes('taken up too'))).chunk).toBe(second.chunk);
    });

    check('a claim ended by unclaim leaves the chunk as it was, for another store to claim', async (_place, open, skip) => {
      const writer = await open();
      const ref = await writer.append(bytes('still here'));
      await writer.seal();
      const compactor = await open();
      if (!compactor.unclaim) return skip('this block store has no unclaim (optional)');
      expect(await compactor.claim(ref.chunk)).toBe(true);
      const other = await open();
      expect(await other.claim(ref.chunk)).toBe(false);
      await compactor.unclaim(ref.chunk);
      await compactor.unclaim(ref.chunk);
      await compactor.unclaim(ref.chunk + 1000);
      expect(text(other.read(ref))).toBe('still here');
      expect(await other.claim(ref.chunk)).toBe(true);
    });

    check('a sealed store appends elsewhere, and the chunks it let go of can be claimed', async (_place, open) => {
      const store = await open();
      const before = await Promise.all(Array.from({ length: 10 }, (_, i) => store.place(bytes(`before the seal ${i}`))));
      await Promise.all(before.map((placed) => placed.written.then(placed.release)));
      await store.seal();
      // What was placed before the seal is written, and the chunk is no longer this store's.
      for (const [i, placed] of before.entries()) expect(text(store.read(placed.ref))).toBe(`before the seal ${i}`);
      const chunk = before[0]!.ref.chunk;
      const after = await store.append(bytes('after the seal'));
      expect(after.chunk).not.toBe(chunk);
      expect(await store.claim(chunk)).toBe(true);
      expect(await store.claim(after.chunk)).toBe(false);
    });

    check('a sealed chunk holding a placed block stays the store\'s until the block is released', async (_place, open) => {
      const store = await open();
      const other = await open();
      const held = await store.place(bytes('its record is not in the log yet'));
      const done = await store.place(bytes('its record is'));
      await done.written;
      await done.release();
      await store.seal();
      // Neither another store nor this one may take it: compaction would remove the held block.
      expect(await other.claim(held.ref.chunk)).toBe(false);
      expect(await store.claim(held.ref.chunk)).toBe(false);
      expect((await store.append(bytes('after the seal'))).chunk).not.toBe(held.ref.chunk);
      await held.release();
      await held.release();
      expect(await other.claim(held.ref.chunk)).toBe(true);
      expect(text(other.read(held.ref))).toBe('its record is not in the log yet');
    });

    check('a retired chunk is read by reference no more, except by stores that hold it until they forget it', async (_place, open) => {
      const writer = await open();
      const old = await writer.append(bytes('an old block'));
      await writer.sync();
      await writer.close();
      const holder = await open();
      expect(text(holder.read(old))).toBe('an old block');
      const compactor = await open();
      expect(await compactor.claim(old.chunk)).toBe(true);
      const moved = await compactor.append(bytes('an old block'));
      await compactor.sync();
      await compactor.retire(old.chunk);
      expect((await compactor.listChunks()).map((c) => c.chunk)).not.toContain(old.chunk);
      expect(codeOf(() => compactor.read(old))).toBe('BLOCK_MISSING');
      const fresh = await open();
      expect(codeOf(() => fresh.read(old))).toBe('BLOCK_MISSING');
      expect(text(fresh.read(moved))).toBe('an old block');
      // A store that had it open reads on until it lets go.
      expect(text(holder.read(old))).toBe('an old block');
      holder.forget(old.chunk);
      expect(codeOf(() => holder.read(old))).toBe('BLOCK_MISSING');
      expect(await rejectionCode(compactor.retire(moved.chunk))).toBe('INVALID_ARGUMENT');
    });

    check('retire refuses a chunk the store did not claim, and removes nothing', async (_place, open) => {
      const writer = await open();
      const other = await open();
      const live = await writer.append(bytes('a live block another store appends to'));
      expect(await rejectionCode(other.retire(live.chunk))).toBe('INVALID_ARGUMENT');
      await writer.seal();
      // Sealed, but claimed by no one: still not the other store's to retire.
      expect(await rejectionCode(other.retire(live.chunk))).toBe('INVALID_ARGUMENT');
      const fresh = await open();
      expect(text(fresh.read(live))).toBe('a live block another store appends to');
      expect((await fresh.listChunks()).map((c) => c.chunk)).toContain(live.chunk);
    });

    check('after forget, a chunk that is still there is read again by name', async (_place, open) => {
      const writer = await open();
      const ref = await writer.append(bytes('still here'));
      await writer.seal();
      const reader = await open();
      expect(text(reader.read(ref))).toBe('still here');
      reader.forget(ref.chunk);
      expect(text(reader.read(ref))).toBe('still here');
      writer.forget(ref.chunk);
      expect(text(writer.read(ref))).toBe('still here');
    });

    const unknown = [...skipped].filter((title) => !known.has(title));
    if (unknown.length > 0) {
      throw new Error(`[memmapfs] [testkit] blockStoreSuite('${name}') was asked to skip checks it does not have: ${unknown.map((title) => JSON.stringify(title)).join(', ')}.`);
    }
  });
}
