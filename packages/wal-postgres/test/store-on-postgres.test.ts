import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MemMapFS, type AgentState } from '@memmapfs/core';
import { describe, expect, inject, it } from 'vitest';
import { withClient } from './support/places.js';
import { INSTALL_ADVICE } from './support/postgres-server.js';
import { allMemories, fileSystemWith, hostsTestBed, longText, memoryTexts, openHost, readStream, storeOptions } from './support/stores.js';

const postgres = inject('postgres');

const ids = (hits: Array<{ id: number }>) => hits.map((hit) => hit.id).sort((x, y) => x - y);

/**
 * Everything a host reads of the store: memories, KV, streams (their length and SHA-256), state and
 * counts (not `lastLsn`: a host that opens a root for the first time appends a record of its own, its
 * claim of chunk numbers).
 */
async function everything(fs: MemMapFS, streams: string[]) {
  const memories = await allMemories(fs);
  // The synchronous reads (listKv, getKv, getState, stats) see other hosts' writes once caught up.
  await fs.catchUp();
  const kv: Record<string, unknown> = {};
  for (const key of fs.listKv()) kv[key] = fs.getKv(key);
  const bytes: Record<string, string> = {};
  for (const key of streams) {
    const stream = await readStream(fs, key);
    bytes[key] = `${stream.length} bytes, sha256 ${createHash('sha256').update(stream).digest('hex')}`;
  }
  const { memories: count, kvKeys, streams: streamCount } = fs.stats();
  return { memories, kv, streams: bytes, state: fs.getState(), stats: { memories: count, kvKeys, streams: streamCount } };
}

/** A synchronous read (getKv, getState, listKv, stats) after catching up with the log, as core's README says to. */
async function caughtUp<T>(fs: MemMapFS, read: () => T): Promise<T> {
  await fs.catchUp();
  return read();
}

/** Makes the copy at `root` pass for the folder it was copied from (a disk cloned whole keeps its device and inode numbers). */
async function passAsSameDisk(root: string): Promise<void> {
  const saved = JSON.parse(await readFile(join(root, 'host.json'), 'utf8')) as Record<string, unknown>;
  const identity = await stat(join(root, 'blocks'), { bigint: true });
  await writeFile(join(root, 'host.json'), JSON.stringify({ ...saved, device: String(identity.dev), inode: String(identity.ino) }));
}

/** Puts the checkpoints and manifest of the cache at `from` in place of those of the cache at `to`. */
async function putCheckpoints(from: string, to: string): Promise<void> {
  for (const name of await readdir(join(to, 'checkpoints'))) await rm(join(to, 'checkpoints', name));
  for (const name of await readdir(join(from, 'checkpoints'))) await cp(join(from, 'checkpoints', name), join(to, 'checkpoints', name));
  await cp(join(from, 'state.manifest'), join(to, 'state.manifest'));
}

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  const { connectionString } = postgres;
  const { roots, opened, newPlace, open, close: closeOpened } = hostsTestBed(connectionString, 'store');
  /** A store with memories and a checkpoint, and a copy of its host's cache folder (host.json names the original's). */
  const copiedCache = async () => {
    const place = newPlace();
    const rootA = await roots.make('a');
    const a = await open(rootA, place, 'a');
    const ids = await a.appendMemories(Array.from({ length: 5 }, (_, i) => ({ text: `written before the copy ${i}` })));
    await a.checkpoint();
    await closeOpened(a);
    const rootCopy = await roots.make('copy');
    await cp(rootA, rootCopy, { recursive: true });
    return { place, rootCopy, ids };
  };
  /** Every file under `root`: its size and modification time. */
  const folderState = async (root: string) => {
    const state: Record<string, string> = {};
    for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      const info = await stat(path);
      state[path] = `${info.size} ${info.mtimeMs}`;
    }
    return state;
  };

  describe('a store on the PostgreSQL log, several roots in one process', () => {
    it('a root opened after another reads everything it wrote, exactly (a memory of 200 KiB too), and finds its memories by their words', async () => {
      const place = newPlace();
      const a = await open(await roots.make('a'), place, 'a');
      const small = await a.appendMemory('The user prefers dark mode in every editor', ['preference', 'ui'], { meta: { source: 'chat', weight: 0.5, nested: { list: [1, 'two', null, true] } } });
      const big = `${longText(200 * 1024, 7)} quokkabig`;
      const bigId = await a.appendMemory(big, ['large']);
      const batch = await a.appendMemories([
        { text: 'Grüße aus Köln, 東京 🌸 — unicode survives', namespace: 'user-42/notes' },
        { text: 'the second of the batch mentions a walrus', tags: ['t'] },
        { text: `${longText(70 * 1024, 3)} capybaraseventy` },
      ]);
      const profile = { name: 'Ada', langs: ['en', 'fr'], bytes: new Uint8Array([0, 1, 255]), deep: { n: -1.5, empty: [] } };
      await a.setKv('profile', profile);
      await a.setKv('counter', 42);
      const streamBytes = randomBytes(100 * 1024);
      await a.appendStream('transcript', 'hello ');
      await a.appendStream('transcript', streamBytes);
      await a.appendStream('transcript', 'bye');
      const state: AgentState = { status: 'working', activeMemoryCount: 5, lastUpdatedId: bigId, extra: { step: 3, note: 'ok' } };
      await a.updateState(state);
      const written = await allMemories(a);
      expect(written.map((memory) => memory.id)).toEqual([small, bigId, ...batch]);

      const b = await open(await roots.make('b'), place, 'b');
      expect(await allMemories(b)).toEqual(written);
      for (const memory of written) expect(await b.getMemory(memory.id)).toEqual(memory);
      expect((await b.getMemory(bigId))?.text).toBe(big);
      expect((await b.getMemory(batch[2]!))?.text.length).toBe(70 * 1024 + ' capybaraseventy'.length);
      expect(await caughtUp(b, () => b.getKv('profile'))).toEqual(profile);
      expect(b.getKv('counter')).toBe(42);
      expect(b.listKv()).toEqual(['counter', 'profile']);
      expect(await readStream(b, 'transcript')).toEqual(Buffer.concat([Buffer.from('hello '), streamBytes, Buffer.from('bye')]));
      expect(b.getState()).toEqual(state);
      expect(ids(await b.queryMemory('dark mode'))).toEqual([small]);
      expect(ids(await b.queryMemory('quokkabig'))).toEqual([bigId]);
      expect(ids(await b.queryMemory('capybaraseventy'))).toEqual([batch[2]]);
      expect(ids(await b.queryMemory('walrus', { tags: ['t'] }))).toEqual([batch[1]]);
      expect((await b.listMemories({ namespace: 'user-42' })).memories.map((memory) => memory.text)).toEqual(['Grüße aus Köln, 東京 🌸 — unicode survives']);
      // (b's open appended its claim of chunk numbers: a catches up with it.)
      const stats = await caughtUp(b, () => b.stats());
      expect([stats.memories, stats.kvKeys, stats.streams, stats.lastLsn]).toEqual([5, 2, 1, (await caughtUp(a, () => a.stats())).lastLsn]);
    }, 60_000);

    it.each([
      ['each root with a connection of its own, as on two machines', 'a', 'b'],
      ['both roots on one connection string, in one process', undefined, undefined],
    ])("read-your-writes (%s): a call on one root that starts after the other's write resolved sees it: appends, updates, deletions, streams; KV and state after catchUp()", async (_, hostA, hostB) => {
      const place = newPlace();
      // Both open before anything is written: what they read of each other comes after their open.
      const a = await open(await roots.make('a'), place, hostA);
      const b = await open(await roots.make('b'), place, hostB);
      let stream = '';
      for (let i = 0; i < 12; i++) {
        const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a];
        const text = `note ${i} about topic${i}x${i % 4 === 3 ? ` ${longText(80 * 1024, i + 1)}` : ''}`;
        const id = await writer.appendMemory(text, [`round-${i}`]);
        expect((await reader.getMemory(id))?.text, `round ${i}: the new memory`).toBe(text);
        expect(ids(await reader.queryMemory(`topic${i}x`)), `round ${i}: the new memory by its word`).toEqual([id]);

        const updated = `note ${i} rewritten as subject${i}y`;
        await writer.updateMemory(id, { text: updated, tags: ['updated'] });
        const seen = await reader.getMemory(id);
        expect([seen?.text, seen?.tags], `round ${i}: the update`).toEqual([updated, ['updated']]);
        expect(ids(await reader.queryMemory(`subject${i}y`)), `round ${i}: the update by its word`).toEqual([id]);
        expect(ids(await reader.queryMemory(`topic${i}x`)), `round ${i}: the old word`).toEqual([]);

        // The reader changes it back the other way: the writer sees that too.
        // (It keeps the text: the record points at the block as the reader holds it, in its own chunk files.)
        await reader.updateMemory(id, { meta: { round: i } });
        expect(await writer.getMemory(id), `round ${i}: the other root's update`).toMatchObject({ text: updated, meta: { round: i } });

        if (i % 3 === 2) {
          expect(await writer.deleteMemory(id)).toBe(true);
          expect(await reader.getMemory(id), `round ${i}: the deletion`).toBeUndefined();
          expect(await reader.hasMemory(id)).toBe(false);
          expect(ids(await reader.queryMemory(`subject${i}y`)), `round ${i}: the deleted memory by its word`).toEqual([]);
          expect((await memoryTexts(reader)).map(([x]) => x), `round ${i}: the list after the deletion`).not.toContain(id);
          expect(await reader.deleteMemory(id), `round ${i}: nothing left to delete`).toBe(false);
          await expect(reader.updateMemory(id, { text: 'too late' })).rejects.toMatchObject({ code: 'MEMORY_NOT_FOUND' });
        }

        await writer.setKv(`key-${i}`, { i, text });
        expect(await caughtUp(reader, () => reader.getKv(`key-${i}`)), `round ${i}: KV`).toEqual({ i, text });
        if (i > 0) {
          expect(await writer.deleteKv(`key-${i - 1}`)).toBe(true);
          expect(await caughtUp(reader, () => reader.getKv(`key-${i - 1}`)), `round ${i}: KV deletion`).toBeUndefined();
        }
        await writer.appendStream('shared', `(${i})`);
        stream += `(${i})`;
        expect((await readStream(reader, 'shared')).toString(), `round ${i}: stream`).toBe(stream);
        const merged = await writer.mergeState({ lastUpdatedId: id, extra: { round: i } });
        expect(await caughtUp(reader, () => reader.getState()), `round ${i}: state`).toEqual(merged);
      }
      const final = await allMemories(a);
      expect(await allMemories(b)).toEqual(final);
      expect(final.map((memory) => memory.id)).toHaveLength(8);
      expect(a.listKv()).toEqual(['key-11']);
      expect(b.listKv()).toEqual(['key-11']);
      // A root opened afterwards replays the same: the updates that kept a text written elsewhere included.
      const c = await open(await roots.make('c'), place, hostA === undefined ? undefined : 'c');
      expect(await allMemories(c)).toEqual(final);
    }, 90_000);

    it('two roots appending at once: every id is unique, and both list the same memories, each with its text', async () => {
      const place = newPlace();
      const a = await open(await roots.make('a'), place, 'a');
      const b = await open(await roots.make('b'), place, 'b');
      const appends = (fs: MemMapFS, who: string) => [
        ...Array.from({ length: 40 }, (_, i) => {
          const text = i === 7 ? `${who} concurrent big ${longText(100 * 1024, i + who.length)}` : `${who} concurrent single ${i}`;
          return fs.appendMemory(text).then((id) => [[id, text]] as Array<[number, string]>);
        }),
        ...Array.from({ length: 10 }, (_, i) => {
          const texts = [0, 1, 2].map((k) => `${who} concurrent batch ${i}.${k}`);
          return fs.appendMemories(texts.map((text) => ({ text }))).then((got) => got.map((id, k) => [id, texts[k]!] as [number, string]));
        }),
      ];
      const written = (await Promise.all([...appends(a, 'host-a'), ...appends(b, 'host-b')])).flat().sort((x, y) => x[0] - y[0]);
      expect(written).toHaveLength(2 * (40 + 30));
      expect(new Set(written.map(([id]) => id)).size).toBe(written.length);
      expect(await memoryTexts(a)).toEqual(written);
      expect(await memoryTexts(b)).toEqual(written);
    }, 60_000);

    it('a root closed and reopened, and a brand-new root, replay the log: everything is there, what other roots wrote meanwhile too', async () => {
      const place = newPlace();
      const rootA = await roots.make('a');
      let a = await open(rootA, place, 'a');
      const b = await open(await roots.make('b'), place, 'b');
      const kept = await a.appendMemories([{ text: 'kept as written', tags: ['x'] }, { text: 'to be rewritten' }, { text: 'to be deleted' }, { text: `a large one ${longText(150 * 1024, 5)}` }]);
      await a.updateMemory(kept[1]!, { text: 'rewritten by a', meta: { v: 2 } });
      await a.deleteMemory(kept[2]!);
      await a.setKv('k', 'v');
      await a.setKv('gone', 1);
      await a.deleteKv('gone');
      await a.appendStream('s', randomBytes(90 * 1024));
      await a.updateState({ status: 'a-was-here', activeMemoryCount: 3, lastUpdatedId: kept[3]!, extra: {} });
      await b.appendMemory(`from b ${longText(120 * 1024, 9)}`);
      const before = await everything(a, ['s']);
      expect(await everything(b, ['s'])).toEqual(before);

      await a.close();
      // While a is closed, b writes on: a learns of it only from the log.
      const fromB = await b.appendMemory(`written while a was closed ${longText(100 * 1024, 11)}`, ['late']);
      await b.updateMemory(kept[0]!, { text: 'kept, rewritten by b' });
      await b.deleteMemory(kept[1]!);
      await b.setKv('k', { changed: true });
      await b.appendStream('s', 'tail');
      await b.updateState({ status: 'b-was-here', activeMemoryCount: 4, lastUpdatedId: fromB, extra: { by: 'b' } });
      const after = await everything(b, ['s']);
      expect(after).not.toEqual(before);
      const lastBefore = b.stats().lastLsn;

      a = await open(rootA, place, 'a');
      expect(await everything(a, ['s'])).toEqual(after);
      const c = await open(await roots.make('c'), place, 'c');
      expect(await everything(c, ['s'])).toEqual(after);
      expect((await c.getMemory(fromB))?.text).toBe(`written while a was closed ${longText(100 * 1024, 11)}`);

      // All three write on: new ids come after the old ones, and each sees the others' writes.
      const next = await a.appendMemory('after the reopen');
      expect(next).toBeGreaterThan(lastBefore);
      expect((await c.getMemory(next))?.text).toBe('after the reopen');
      const fromC = await c.appendMemory('from the new root');
      expect((await a.getMemory(fromC))?.text).toBe('from the new root');
      expect((await b.getMemory(fromC))?.text).toBe('from the new root');
      expect(await everything(a, ['s'])).toEqual(await everything(c, ['s']));

      // A brand-new root opened with no other host open replays it all too.
      const final = await everything(c, ['s']);
      await Promise.all([a.close(), b.close(), c.close()]);
      const d = await open(await roots.make('d'), place, 'd');
      expect(await everything(d, ['s'])).toEqual(final);
    }, 90_000);

    it('readOnly reads this host\'s cache and follows the log: it sees every host\'s writes, writes nothing anywhere, and refuses to write', async () => {
      const place = newPlace();
      const rootA = await roots.make('a');
      const a = await open(rootA, place, 'a');
      const first = await a.appendMemories(Array.from({ length: 30 }, (_, i) => ({ text: `before the checkpoint ${i} ${longText(i === 3 ? 80 * 1024 : 500, i + 1)}` })));
      await a.checkpoint();
      const afterCheckpoint = await a.appendMemory('after the checkpoint of a');
      await a.setKv('k', 'v1');
      // Beside a writable process of the same host.
      const ro = await open(rootA, place, 'a-ro', { readOnly: true });
      expect(await allMemories(ro)).toEqual(await allMemories(a));
      expect(await caughtUp(ro, () => ro.getKv('k'))).toBe('v1');
      const b = await open(await roots.make('b'), place, 'b');
      const fromB = await b.appendMemory(`from host b ${longText(70 * 1024, 5)}`);
      expect((await ro.getMemory(fromB))?.text).toBe((await b.getMemory(fromB))?.text);
      for (const write of [() => ro.appendMemory('no'), () => ro.setKv('k', 'v2'), () => ro.deleteMemory(first[0]!), () => ro.compact(), () => ro.checkpoint(), () => ro.publishSnapshot()]) {
        await expect(write()).rejects.toMatchObject({ code: 'READ_ONLY' });
      }
      await closeOpened(ro);

      // Alone on the folder: not a byte of it changes, whatever the log brings meanwhile.
      await closeOpened(a);
      const before = await folderState(rootA);
      const alone = await open(rootA, place, 'a-alone', { readOnly: true });
      const later = await b.appendMemories([{ text: 'while only a reader has the folder open' }, { text: `big ${longText(90 * 1024, 9)}` }]);
      await b.deleteMemory(afterCheckpoint);
      await b.catchUp();
      expect(await everything(alone, [])).toEqual(await everything(b, []));
      expect((await alone.getMemory(later[1]!))?.text).toBe((await b.getMemory(later[1]!))?.text);
      expect(await alone.getMemory(afterCheckpoint)).toBeUndefined();
      expect((await alone.queryMemory('reader folder')).map((hit) => hit.id)).toContain(later[0]);
      await closeOpened(alone);
      expect(await folderState(rootA)).toEqual(before);

      // No cache in the folder, or no such store: STORE_NOT_FOUND, saying what to do.
      const empty = await roots.make('empty');
      const noCache = await MemMapFS.init(empty, storeOptions(place, 'x', { readOnly: true })).then(() => undefined, (error: unknown) => error);
      expect(noCache).toMatchObject({ code: 'STORE_NOT_FOUND' });
      expect((noCache as Error).message).toMatch(/without readOnly/);
      expect(await readdir(empty)).toEqual([]);
      await expect(MemMapFS.init(empty, storeOptions({ ...place, store: `${place.store}_none` }, 'y', { readOnly: true }))).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
    }, 90_000);

    it('readOnly on a cache another copy of it opened since (a disk cloned): its checkpoint and chunk files are not trusted, and the log is read instead', async () => {
      const place = newPlace();
      const rootA = await roots.make('a');
      const a = await open(rootA, place, 'a');
      const ids = await a.appendMemories(Array.from({ length: 20 }, (_, i) => ({ text: `original ${i} ${longText(2000, i + 1)}` })));
      await a.checkpoint();
      await closeOpened(a);
      const rootCopy = await roots.make('copy');
      await cp(rootA, rootCopy, { recursive: true });
      await passAsSameDisk(rootCopy);
      // The copy opens (the log now vouches for it, not for the original) and writes where the original would.
      const copy = await open(rootCopy, place, 'copy');
      await copy.updateMemory(ids[0]!, { text: 'changed by the copy' });
      const fromCopy = await copy.appendMemory('new in the copy');
      await closeOpened(copy);
      // Whatever the original folder's chunk files hold now (zeros here), they are not read.
      for (const name of await readdir(join(rootA, 'blocks'))) {
        if (name.startsWith('chunk_')) await writeFile(join(rootA, 'blocks', name), Buffer.alloc((await stat(join(rootA, 'blocks', name))).size));
      }
      const reader = await open(rootA, place, 'a-ro', { readOnly: true });
      expect((await reader.getMemory(ids[0]!))?.text).toBe('changed by the copy');
      expect((await reader.getMemory(fromCopy))?.text).toBe('new in the copy');
      expect((await reader.getMemory(ids[5]!))?.text).toBe(`original 5 ${longText(2000, 6)}`);
    }, 60_000);

    it('a host that used up its 4,096 chunk numbers claims more, and it and a process of the same host write on, every host reading each block', async () => {
      const place = newPlace();
      const rootA = await roots.make('a');
      // One block per chunk file (4 KiB chunks, 3 KiB texts): 4,096 of them use up the first claim.
      const a = await open(rootA, place, 'a', { chunkSizeBytes: 4096, autoCompaction: false });
      const sibling = await open(rootA, place, 'a-sibling', { chunkSizeBytes: 4096, autoCompaction: false });
      const text = (i: number) => `block ${i} ${longText(3000, (i % 50) + 1)}`;
      const ids: number[] = [];
      for (let i = 0; i < 4200; i += 200) ids.push(...(await a.appendMemories(Array.from({ length: 200 }, (_, k) => ({ text: text(i + k) })))));
      const claim = JSON.parse(await readFile(join(rootA, 'host.json'), 'utf8')) as { first: number; end: number; earlier?: number[][] };
      expect(claim.earlier).toHaveLength(1);
      expect(claim.first).toBeGreaterThanOrEqual(claim.earlier![0]![1]!);
      // The sibling, still on the first claim, finds it used up too and takes the new one.
      const fromSibling = await sibling.appendMemories(Array.from({ length: 20 }, (_, k) => ({ text: `sibling ${k} ${longText(3000, k + 3)}` })));
      const b = await open(await roots.make('b'), place, 'b');
      for (const [k, id] of ids.entries()) if (k % 97 === 0 || k >= 4090) expect((await b.getMemory(id))?.text).toBe(text(k));
      for (const [k, id] of fromSibling.entries()) expect((await b.getMemory(id))?.text).toBe(`sibling ${k} ${longText(3000, k + 3)}`);
      // The folder opens again with both claims its own.
      await closeOpened(a);
      await closeOpened(sibling);
      const again = await open(rootA, place, 'a', { chunkSizeBytes: 4096 });
      const later = await again.appendMemory('after the reopen');
      expect((await b.getMemory(later))?.text).toBe('after the reopen');
      expect((await again.getMemory(ids[0]!))?.text).toBe(text(0));
    }, 120_000);

    it('a cache copied to another folder drops the checkpoints copied, claims chunk numbers of its own and replays the log: both copies then write without ever placing a block where the other did', async () => {
      const place = newPlace();
      const rootA = await roots.make('a');
      const a = await open(rootA, place, 'a');
      const before = await a.appendMemories(Array.from({ length: 20 }, (_, i) => ({ text: `written before the copy ${i} ${longText(3000, i + 1)}` })));
      await a.checkpoint();
      await a.close();
      opened.splice(opened.indexOf(a), 1);
      const rootCopy = await roots.make('copy');
      await cp(rootA, rootCopy, { recursive: true });
      // Chunk files older than the copied checkpoint (a copy taken while the cache was written): the copy must not trust it.
      for (const name of await readdir(join(rootCopy, 'blocks'))) await rm(join(rootCopy, 'blocks', name));
      const copied = (await readdir(join(rootCopy, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-'));
      expect(copied.length).toBeGreaterThan(0);
      const original = await open(rootA, place, 'a');
      const copy = await open(rootCopy, place, 'copy');
      // (The copy's checkpoint files go with its manifest: none is taken later in place of an unusable newer one.)
      expect((await readdir(join(rootCopy, 'checkpoints'))).filter((name) => copied.includes(name))).toEqual([]);
      const claimOf = async (root: string) => JSON.parse(await readFile(join(root, 'host.json'), 'utf8')) as { first: number; end: number; cache: string };
      const [claimA, claimCopy] = [await claimOf(rootA), await claimOf(rootCopy)];
      expect(claimCopy.cache).not.toBe(claimA.cache);
      expect(claimCopy.first >= claimA.end || claimCopy.end <= claimA.first).toBe(true);
      const written = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => (i % 2 === 0 ? original : copy).appendMemory(`after the copy ${i} ${longText(5000, 100 + i)}`)));
      const expected = new Map<number, string>();
      for (const m of await allMemories(original)) expected.set(m.id, m.text);
      expect([...expected.keys()]).toEqual([...before, ...written].sort((x, y) => x - y));
      for (const fs of [original, copy]) {
        for (const [id, text] of expected) expect((await fs.getMemory(id))?.text).toBe(text);
      }
    });

    it("two processes open a copied cache at once: the one slow to drop the copy's checkpoint does not drop the one the other published meanwhile", async () => {
      const { place, rootCopy } = await copiedCache();
      // The first process, once it has read host.json (the copy's, which vouches for nothing here),
      // waits until the second one has opened the copy and published a checkpoint of its own.
      let pending = false;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const slowFiles = fileSystemWith('readFile', async (readFile, path, ...rest) => {
        const read = await (readFile as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
        if (!pending && path.endsWith('host.json')) {
          pending = true;
          await gate;
        }
        return read;
      });
      const slow = open(rootCopy, place, 'slow', { fileSystem: slowFiles });
      while (!pending) await new Promise((resolve) => setTimeout(resolve, 10));
      const fast = await open(rootCopy, place, 'fast');
      const id = await fast.appendMemory('written once the copy opened');
      await fast.checkpoint();
      const published = await readFile(join(rootCopy, 'state.manifest'), 'utf8');
      release();
      const other = await slow;
      expect(await readFile(join(rootCopy, 'state.manifest'), 'utf8').catch(() => 'no manifest')).toBe(published);
      expect((await other.getMemory(id))?.text).toBe('written once the copy opened');
    }, 60_000);

    it("a copied cache's checkpoint files go before its manifest: an open that fails between leaves the manifest, and the next open drops them", async () => {
      const { place, rootCopy, ids } = await copiedCache();
      const copied = (await readdir(join(rootCopy, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-'));
      const failing = fileSystemWith('unlink', async (unlink, path) => {
        if (basename(path).startsWith('checkpoint-')) throw Object.assign(new Error(`EIO: i/o error, unlink '${path}'`), { code: 'EIO' });
        return unlink(path);
      });
      await expect(open(rootCopy, place, 'copy', { fileSystem: failing })).rejects.toMatchObject({ code: 'IO_ERROR' });
      const copy = await open(rootCopy, place, 'copy');
      expect((await readdir(join(rootCopy, 'checkpoints'))).filter((name) => copied.includes(name))).toEqual([]);
      expect((await copy.getMemory(ids[0]!))?.text).toBe('written before the copy 0');
    }, 60_000);

    it("a copied cache whose manifest's version cannot be read (too many open files, say) is opened all the same: it replays the log, dropping nothing", async () => {
      const { place, rootCopy, ids } = await copiedCache();
      const files = fileSystemWith('open', async (open, path, ...rest) => {
        if (path.endsWith('state.manifest')) throw Object.assign(new Error(`EMFILE: too many open files, open '${path}'`), { code: 'EMFILE' });
        return (open as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
      });
      const copy = await open(rootCopy, place, 'copy', { fileSystem: files });
      expect((await copy.getMemory(ids[4]!))?.text).toBe('written before the copy 4');
    }, 60_000);

    it('a host.json whose claim the log does not hold (its record is another) makes the cache claim again', async () => {
      const place = newPlace();
      const rootA = await roots.make('a');
      const a = await open(rootA, place, 'a');
      await a.appendMemory('one');
      await a.close();
      opened.splice(opened.indexOf(a), 1);
      const saved = JSON.parse(await readFile(join(rootA, 'host.json'), 'utf8')) as { openedLsn: number; first: number; cache: string };
      // As if the claim's commit had been lost and its LSN taken by another record.
      await writeFile(join(rootA, 'host.json'), JSON.stringify({ ...saved, openedLsn: saved.openedLsn + 1 }));
      const again = await open(rootA, place, 'a');
      const now = JSON.parse(await readFile(join(rootA, 'host.json'), 'utf8')) as { openedLsn: number; first: number; cache: string };
      expect(now.cache).not.toBe(saved.cache);
      expect(now.first).toBeGreaterThan(saved.first);
      const id = await again.appendMemory('two');
      expect((await again.getMemory(id))?.text).toBe('two');
    });

    it('a cache put back from an older copy of itself (same folder, same host) is not vouched for by the log: it opens as a new cache, and reads what was written after the copy', async () => {
      const place = newPlace();
      const root = await roots.make('a');
      let a = await open(root, place, 'a');
      await a.appendMemories(Array.from({ length: 10 }, (_, i) => ({ text: `before the copy ${i} ${longText(2000, i + 1)}` })));
      await a.checkpoint();
      await a.close();
      opened.splice(opened.indexOf(a), 1);
      const older = await roots.make('older');
      await cp(root, older, { recursive: true });
      a = await open(root, place, 'a');
      const later = await a.appendMemories(Array.from({ length: 10 }, (_, i) => ({ text: `after the copy ${i} ${longText(2000, i + 50)}` })));
      await a.checkpoint();
      const expected = await memoryTexts(a);
      await a.close();
      opened.splice(opened.indexOf(a), 1);
      const before = JSON.parse(await readFile(join(root, 'host.json'), 'utf8')) as { cache: string };
      // The older copy's files put back in place (the folders stay: same device and inode, same host name).
      for (const folder of ['blocks', 'checkpoints']) {
        for (const name of await readdir(join(root, folder))) await rm(join(root, folder, name));
        for (const name of await readdir(join(older, folder))) await cp(join(older, folder, name), join(root, folder, name));
      }
      for (const name of ['host.json', 'state.manifest']) await cp(join(older, name), join(root, name));
      const back = await open(root, place, 'a');
      const after = JSON.parse(await readFile(join(root, 'host.json'), 'utf8')) as { cache: string };
      expect(after.cache).not.toBe(before.cache);
      expect(await memoryTexts(back)).toEqual(expected);
      for (const id of later) expect((await back.getMemory(id))?.text).toBe(expected.find(([known]) => known === id)![1]);
      const more = await back.appendMemory('written by the cache opened anew');
      expect((await back.getMemory(more))?.text).toBe('written by the cache opened anew');
    });

    it('a disk cloned while its cache runs (same host name, same folder identity): the clone that opens is vouched for, and the original stops writing with STORE_REPLACED; reopened, it opens as a new cache', async () => {
      const place = newPlace();
      const rootA = await roots.make('a');
      const a = await open(rootA, place, 'a');
      const before = await a.appendMemories(Array.from({ length: 8 }, (_, i) => ({ text: `before the clone ${i} ${longText(3000, i + 1)}` })));
      await a.checkpoint();
      // The clone: the folder copied while `a` runs, its host.json naming the copy's folder as if it were the same disk.
      const rootClone = await roots.make('clone');
      await cp(rootA, rootClone, { recursive: true });
      await passAsSameDisk(rootClone);
      const clone = await open(rootClone, place, 'clone');
      const savedA = JSON.parse(await readFile(join(rootA, 'host.json'), 'utf8')) as { cache: string };
      expect((JSON.parse(await readFile(join(rootClone, 'host.json'), 'utf8')) as { cache: string }).cache).toBe(savedA.cache);
      const byClone = await clone.appendMemory(`written by the clone ${longText(4000, 77)}`);
      // The original learns of the clone's open before its next write lands, and refuses it.
      await expect(a.appendMemory('written by the original after the clone opened')).rejects.toMatchObject({ code: 'STORE_REPLACED' });
      await expect(a.setKv('k', 1)).rejects.toMatchObject({ code: 'STORE_REPLACED' });
      await expect(a.getMemory(before[0]!)).rejects.toMatchObject({ code: 'STORE_REPLACED' });
      await a.close();
      opened.splice(opened.indexOf(a), 1);
      // Reopened, the original's folder is a new cache, with every memory (the clone's too) readable.
      const again = await open(rootA, place, 'a');
      expect((JSON.parse(await readFile(join(rootA, 'host.json'), 'utf8')) as { cache: string }).cache).not.toBe(savedA.cache);
      const expected = await memoryTexts(clone);
      expect(expected.map(([id]) => id)).toEqual([...before, byClone]);
      expect(await memoryTexts(again)).toEqual(expected);
      const more = await Promise.all([again.appendMemory(`again ${longText(3000, 5)}`), clone.appendMemory(`clone ${longText(3000, 6)}`)]);
      for (const fs of [again, clone]) {
        for (const id of more) expect((await fs.getMemory(id))?.text).toBeDefined();
        expect(await memoryTexts(fs)).toEqual(await memoryTexts(again));
      }
    });

    it('two opens of one cache folder (processes of one host) both keep writing: an open of its own cache by a sibling does not stop a running one', async () => {
      const place = newPlace();
      const root = await roots.make('a');
      const first = await open(root, place, 'a1');
      const one = await first.appendMemory(`first ${longText(2000, 1)}`);
      const second = await open(root, place, 'a2');
      const two = await second.appendMemory(`second ${longText(2000, 2)}`);
      const three = await first.appendMemory(`first again ${longText(2000, 3)}`);
      const third = await open(root, place, 'a3');
      const four = await first.appendMemory(`first once more ${longText(2000, 4)}`);
      for (const fs of [first, second, third]) {
        for (const id of [one, two, three, four]) expect((await fs.getMemory(id))?.text).toBeDefined();
      }
    });

    it('an open that committed its record and crashed before rewriting host.json (its nonce still pending there, with those of opens that crashed after it) does not make the cache distrust itself', async () => {
      const place = newPlace();
      const root = await roots.make('a');
      let a = await open(root, place, 'a');
      await a.appendMemories(Array.from({ length: 5 }, (_, i) => ({ text: `kept ${i} ${longText(2000, i + 1)}` })));
      await a.checkpoint();
      await a.close();
      opened.splice(opened.indexOf(a), 1);
      const first = JSON.parse(await readFile(join(root, 'host.json'), 'utf8')) as { cache: string; openedLsn: number; nonce?: string };
      a = await open(root, place, 'a');
      await a.close();
      opened.splice(opened.indexOf(a), 1);
      const second = JSON.parse(await readFile(join(root, 'host.json'), 'utf8')) as { cache: string; openedLsn: number; nonce: string };
      expect(second.openedLsn).toBeGreaterThan(first.openedLsn);
      // host.json as if the second open had crashed right after its commit, and a third had then crashed
      // before committing: the earlier open, with both nonces under way.
      await writeFile(join(root, 'host.json'), JSON.stringify({ ...first, pending: [second.nonce, 'cafebabecafebabe'] }));
      const manifest = await readFile(join(root, 'state.manifest'), 'utf8');
      a = await open(root, place, 'a');
      const third = JSON.parse(await readFile(join(root, 'host.json'), 'utf8')) as { cache: string; openedLsn: number; pending?: string[] };
      expect(third.cache).toBe(first.cache);
      expect(third.openedLsn).toBeGreaterThan(second.openedLsn);
      expect(third.pending).toBeUndefined();
      expect(await readFile(join(root, 'state.manifest'), 'utf8')).toBe(manifest);
      // A pending nonce the log never committed is not taken for the last open.
      await a.close();
      opened.splice(opened.indexOf(a), 1);
      await writeFile(join(root, 'host.json'), JSON.stringify({ ...second, pending: ['feedfacefeedface'] }));
      await open(root, place, 'a');
      expect((JSON.parse(await readFile(join(root, 'host.json'), 'utf8')) as { cache: string }).cache).not.toBe(first.cache);
    });

    it('a checkpoint keeps the last open of every cache: a folder whose process saw a clone open and checkpointed is still not vouched for', async () => {
      const place = newPlace();
      const rootA = await roots.make('a');
      const a = await open(rootA, place, 'a');
      await a.appendMemory(`before ${longText(2000, 1)}`);
      await a.checkpoint();
      await a.close();
      opened.splice(opened.indexOf(a), 1);
      const saved = JSON.parse(await readFile(join(rootA, 'host.json'), 'utf8')) as { cache: string };
      const rootClone = await roots.make('clone');
      await cp(rootA, rootClone, { recursive: true });
      await passAsSameDisk(rootClone);
      const clone = await open(rootClone, place, 'clone');
      await clone.appendMemory(`by the clone ${longText(2000, 2)}`);
      // A fresh root replays the clone's open and checkpoints it; its checkpoint and manifest then stand in for rootA's.
      const witnessRoot = await roots.make('witness');
      const witness = await open(witnessRoot, place, 'w');
      await witness.getMemory(1);
      await witness.checkpoint();
      await witness.close();
      opened.splice(opened.indexOf(witness), 1);
      await putCheckpoints(witnessRoot, rootA);
      const back = await open(rootA, place, 'a');
      expect((JSON.parse(await readFile(join(rootA, 'host.json'), 'utf8')) as { cache: string }).cache).not.toBe(saved.cache);
      expect(await memoryTexts(back)).toEqual(await memoryTexts(clone));
    });

    it("a block of another host that cannot be written to this host's chunk files is read from its copy in memory meanwhile, and written once it can be", async () => {
      const place = newPlace();
      const a = await open(await roots.make('a'), place, 'a');
      const texts = Array.from({ length: 3 }, (_, i) => `written by a ${i} ${longText(3000, i + 1)}`);
      const ids = await a.appendMemories(texts.map((text) => ({ text })));
      const rootB = await roots.make('b');
      // Where b must write a's blocks (a's first chunk files), something that is not a file: every write there fails.
      const aChunks = ['chunk_0000.bin', 'chunk_0001.bin', 'chunk_0002.bin'];
      for (const name of aChunks) await mkdir(join(rootB, 'blocks', name), { recursive: true });
      const warnings: string[] = [];
      const listen = (warning: Error & { code?: string }) => { if (warning.code === 'MEMMAPFS_BLOCK_WRITE_FAILED') warnings.push(warning.message); };
      process.on('warning', listen);
      try {
        const b = await open(rootB, place, 'b');
        for (const [i, id] of ids.entries()) expect((await b.getMemory(id))?.text).toBe(texts[i]);
        await expect(b.checkpoint()).rejects.toMatchObject({ code: 'BLOCK_MISSING' });
        for (const name of aChunks) await rm(join(rootB, 'blocks', name), { recursive: true });
        await new Promise((resolve) => setTimeout(resolve, 5100));
        await b.checkpoint();
        await b.close();
        opened.splice(opened.indexOf(b), 1);
        const again = await open(rootB, place, 'b');
        for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text).toBe(texts[i]);
      } finally {
        process.off('warning', listen);
      }
      expect(warnings.length).toBeGreaterThan(0);
    }, 30_000);

    it('a new host starts from the snapshot another host published, and the log drops the records it covers: the records before it are never read, and everything reads the same', async () => {
      const place = newPlace();
      const a = await open(await roots.make('a'), place, 'a');
      // A host that was there before the snapshot, with a checkpoint of its own, and away when the log drops what the snapshot covers.
      const rootC = await roots.make('c');
      const c = await open(rootC, place, 'c');
      const byC = await c.appendMemory(`written by c before the snapshot ${longText(2000, 3)}`);
      await c.checkpoint();
      await c.close();
      opened.splice(opened.indexOf(c), 1);
      const ids = await a.appendMemories(Array.from({ length: 40 }, (_, i) => ({ text: `before the snapshot ${i} ${longText(i === 7 ? 200 * 1024 : 1500, i + 1)}`, tags: [`t${i % 3}`] })));
      await a.deleteMemory(ids[3]!);
      await a.updateMemory(ids[4]!, { text: `updated before the snapshot ${longText(2500, 99)}` });
      await a.setKv('profile', { name: 'Ada', bytes: new Uint8Array([0, 1, 255]) });
      await a.appendStream('transcript', randomBytes(70 * 1024));
      await a.appendStream('transcript', 'and more');
      await a.updateState({ status: 'snapshotting', activeMemoryCount: 39, lastUpdatedId: ids[4]!, extra: {} });
      const published = await a.publishSnapshot();
      expect(published?.lsn).toBeGreaterThan(40);
      expect(published!.bytes).toBeGreaterThan(200 * 1024);
      // An older snapshot than the one kept is not kept.
      expect(await a.publishSnapshot()).toBeUndefined();
      const firstHeld = async () => withClient(connectionString, async (client) => Number((await client.query('SELECT first_lsn FROM memmapfs_wal_logs WHERE store = $1', [place.store])).rows[0].first_lsn));
      // The first snapshot drops nothing: the records it covers stay until the next one.
      expect(await firstHeld()).toBe(1);
      const after = await a.appendMemory(`after the snapshot ${longText(1800, 7)}`);
      await a.deleteMemory(ids[5]!);
      const next = await a.publishSnapshot();
      expect(next!.lsn).toBeGreaterThan(published!.lsn);
      await a.setKv('counter', 7);
      // The second drops every record the first covers (no open host had yet to read them).
      expect(await firstHeld()).toBe(published!.lsn + 1);
      const rootB = await roots.make('b');
      const b = await open(rootB, place, 'b');
      expect(await everything(b, ['transcript'])).toEqual(await everything(a, ['transcript']));
      expect((await b.getMemory(ids[7]!))?.text.length).toBeGreaterThan(200 * 1024);
      expect((await b.getMemory(after))?.text).toContain('after the snapshot');
      expect(await b.getMemory(ids[5]!)).toBeUndefined();
      expect((await b.queryMemory('updated', { limit: 5 })).map((hit) => hit.id)).toEqual([ids[4]]);
      // b writes, a reads; b reopens and reads the same.
      const fromB = await b.appendMemory(`written by b ${longText(1200, 8)}`);
      expect((await a.getMemory(fromB))?.text).toContain('written by b');
      await b.close();
      opened.splice(opened.indexOf(b), 1);
      const again = await open(rootB, place, 'b');
      expect(await everything(again, ['transcript'])).toEqual(await everything(a, ['transcript']));
      expect((await again.getMemory(fromB))?.text).toContain('written by b');
      // c comes back: its checkpoint is older than what the log holds, so it starts from the snapshot,
      // keeps its claim (the log vouches for it still), and reads and writes as before.
      const claimOfC = JSON.parse(await readFile(join(rootC, 'host.json'), 'utf8')) as { cache: string };
      const back = await open(rootC, place, 'c');
      expect((JSON.parse(await readFile(join(rootC, 'host.json'), 'utf8')) as { cache: string }).cache).toBe(claimOfC.cache);
      expect(await everything(back, ['transcript'])).toEqual(await everything(a, ['transcript']));
      expect((await back.getMemory(byC))?.text).toContain('written by c before the snapshot');
      const laterByC = await back.appendMemory(`written by c after coming back ${longText(1500, 4)}`);
      expect((await a.getMemory(laterByC))?.text).toContain('after coming back');
    });

    it('a damaged snapshot is not used (a warning says so); once the log dropped what it covers, a new host is told to publish a new one, and opens from that', async () => {
      const place = newPlace();
      const a = await open(await roots.make('a'), place, 'a');
      await a.appendMemories(Array.from({ length: 20 }, (_, i) => ({ text: `memory ${i} ${longText(1500, i + 1)}` })));
      await a.publishSnapshot();
      await a.appendMemory('between the snapshots');
      // The second snapshot lets the log drop what the first covers.
      const published = await a.publishSnapshot();
      // A byte of the checkpoint's memory rows changed where the snapshot is kept.
      await withClient(connectionString, (client) => client.query("UPDATE memmapfs_wal_snapshots SET bytes = overlay(bytes placing '\\xff'::bytea from 24 + 160 + 9 for 1) WHERE store = $1 AND lsn = $2 AND part = 0", [place.store, published!.lsn]));
      const warnings: string[] = [];
      const listen = (warning: Error & { code?: string }) => { if (warning.code === 'MEMMAPFS_SNAPSHOT_UNUSABLE') warnings.push(warning.message); };
      process.on('warning', listen);
      try {
        const refused = await openHost(await roots.make('b'), place, 'b').then(() => undefined, (error: Error) => error);
        expect(refused).toMatchObject({ code: 'WAL_TRUNCATED', message: expect.stringMatching(/publish a new snapshot/) });
      } finally {
        process.off('warning', listen);
      }
      expect(warnings.join('\n')).toMatch(/damaged/);
      await a.appendMemory('one more, so that a newer snapshot can be kept');
      expect((await a.publishSnapshot())?.lsn).toBeGreaterThan(published!.lsn);
      const b = await open(await roots.make('b'), place, 'b');
      expect(await memoryTexts(b)).toEqual(await memoryTexts(a));
    });

    it('a cache folder whose host.json belongs to another store opens on a store with a snapshot as a new cache of it', async () => {
      const first = newPlace();
      const root = await roots.make('x');
      const onFirst = await open(root, first, 'x');
      await onFirst.appendMemory(`in the first store ${longText(1500, 1)}`);
      await onFirst.close();
      opened.splice(opened.indexOf(onFirst), 1);
      const second = newPlace();
      const a = await open(await roots.make('a'), second, 'a');
      await a.appendMemories(Array.from({ length: 5 }, (_, i) => ({ text: `in the second store ${i} ${longText(1500, i + 10)}` })));
      await a.publishSnapshot();
      await a.appendMemory('between the snapshots');
      await a.publishSnapshot();
      const onSecond = await open(root, second, 'x');
      expect(await memoryTexts(onSecond)).toEqual(await memoryTexts(a));
      const id = await onSecond.appendMemory('written by the folder, now a cache of the second store');
      expect((await a.getMemory(id))?.text).toBe('written by the folder, now a cache of the second store');
    });

    it('snapshots by policy (autoSnapshot): after a checkpoint, once the log grew everyRecords past the newest snapshot, a host publishes one by itself', async () => {
      const place = newPlace();
      const a = await open(await roots.make('a'), place, 'a', { autoSnapshot: { everyRecords: 10 } });
      const newest = async () => withClient(connectionString, async (client) => (await client.query('SELECT max(lsn) AS lsn FROM memmapfs_wal_snapshots WHERE store = $1', [place.store])).rows[0].lsn as string | null);
      await a.appendMemories(Array.from({ length: 5 }, (_, i) => ({ text: `few ${i}` })));
      await a.checkpoint();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await newest()).toBeNull();
      await a.appendMemories(Array.from({ length: 20 }, (_, i) => ({ text: `more ${i} ${longText(500, i)}` })));
      await a.checkpoint();
      for (let tries = 0; tries < 100 && (await newest()) === null; tries++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(Number(await newest())).toBeGreaterThanOrEqual(25);
      const b = await open(await roots.make('b'), place, 'b');
      expect(await memoryTexts(b)).toEqual(await memoryTexts(a));
      await expect(MemMapFS.init(await roots.make('bad'), storeOptions(place, 'bad', { autoSnapshot: { everyRecords: 0 } }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('publishSnapshot on a local store rejects with NOT_SUPPORTED', async () => {
      const local = await MemMapFS.init(await roots.make('local'), storeOptions(newPlace(), undefined, { wal: undefined }));
      opened.push(local);
      await expect(local.publishSnapshot()).rejects.toMatchObject({ code: 'NOT_SUPPORTED' });
    });

    it('a folder holds one kind of store: a local store is not opened as a cache of a shared log, nor a cache as a local store', async () => {
      const place = newPlace();
      const local = await roots.make('local');
      const store = await MemMapFS.init(local, storeOptions(place, undefined, { wal: undefined }));
      await store.appendMemory('a local memory');
      await store.close();
      await expect(MemMapFS.init(local, storeOptions(place, 'a'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      const cacheRoot = await roots.make('cache');
      const cache = await open(cacheRoot, place, 'a');
      await cache.appendMemory('a shared memory');
      await cache.close();
      opened.splice(opened.indexOf(cache), 1);
      await expect(MemMapFS.init(cacheRoot, storeOptions(place, undefined, { wal: undefined }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      // Both still open as what they are.
      const again = await MemMapFS.init(local, storeOptions(place, undefined, { wal: undefined }));
      expect((await again.listMemories()).memories.map((m) => m.text)).toEqual(['a local memory']);
      await again.close();
    });

    it("watchState and subscribeState on one root hear the states another root sets, without that root reading anything", async () => {
      const place = newPlace();
      const a = await open(await roots.make('a'), place, 'a');
      const b = await open(await roots.make('b'), place, 'b');
      const states: AgentState[] = [
        { status: 'first', activeMemoryCount: 1, lastUpdatedId: 0, extra: {} },
        { status: 'second', activeMemoryCount: 2, lastUpdatedId: 0, extra: { n: 2 } },
        { status: 'third', activeMemoryCount: 3, lastUpdatedId: 0, extra: { n: 3, last: true } },
      ];
      const heard: AgentState[] = [];
      const listened: AgentState[] = [];
      const unsubscribe = b.subscribeState((state) => listened.push(state));
      // Heard within 10 s, or the loop fails with the signal's TimeoutError.
      const watching = (async () => {
        for await (const state of b.watchState({ signal: AbortSignal.timeout(10_000) })) {
          heard.push(state);
          if (state.status === 'third') return;
        }
      })();
      await a.updateState(states[0]!);
      expect(await a.mergeState({ status: 'second', activeMemoryCount: 2, extra: { n: 2 } })).toEqual(states[1]);
      await a.updateState(states[2]!);
      await watching;
      expect(heard).toEqual(states);
      const deadline = Date.now() + 10_000;
      while (listened.length < states.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(listened).toEqual(states);
      unsubscribe();
      expect(await caughtUp(b, () => b.getState())).toEqual(states[2]);
    }, 30_000);
  });
}
