import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chunkStore } from '@memmapfs/blocks';
import { MemMapError, type MemMapFS, type WalOpener } from '@memmapfs/core';
import { postgresWal } from '../src/index.js';
import { describe, expect, inject, it } from 'vitest';
import { INSTALL_ADVICE } from './support/postgres-server.js';
import { allMemories, hostConnection, hostsTestBed, longText, readStream, type StorePlace } from './support/stores.js';

const postgres = inject('postgres');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** The chunk files of a host cache. */
const chunkFiles = async (root: string) => (await readdir(join(root, 'blocks'))).filter((name) => name.startsWith('chunk_')).sort();

/** What a host reads: every live memory and the stream `s`. */
async function contents(fs: MemMapFS) {
  await fs.catchUp();
  return { memories: await allMemories(fs), stream: (await readStream(fs, 's')).toString('hex'), kv: fs.getKv('k') };
}

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  const bed = hostsTestBed(postgres.connectionString, 'compact');
  const { roots, newPlace, close: closeHost } = bed;
  const open = (root: string, place: StorePlace, host: string, extra?: Record<string, unknown>) => bed.open(root, place, host, { autoCompaction: false, ...extra });

  /** A store whose host `a` (at `rootA`, 128 KiB chunks) has a live chunk, then a wholly dead one, the highest. */
  const hostWithDeadHighestChunk = async () => {
    const place = newPlace();
    const rootA = await roots.make('a');
    const a = await open(rootA, place, 'a', { chunkSizeBytes: 128 * 1024 });
    await a.appendMemory(`kept ${longText(100 * 1024, 9)}`);
    const dead = await a.appendMemory(`dead ${longText(100 * 1024, 4)}`);
    await a.deleteMemory(dead);
    await closeHost(a);
    return { place, rootA };
  };
  /** Runs a compaction of `root` in a process of its own, killed with -9 in its grace, once the checkpoint covering its move is published. */
  const compactAndDieInGrace = async (place: StorePlace, root: string) => {
    const child = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, fileURLToPath(new URL('./support/compact-and-die.ts', import.meta.url)), JSON.stringify({ ...place, root, name: 'a-dying', chunkSizeBytes: 128 * 1024 })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (data: Buffer) => (out += data.toString()));
    const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
    expect(out).toContain('compacting');
    expect(out).not.toContain('compacted');
    expect(signal).toBe('SIGKILL');
  };

  describe('compaction of a store on the PostgreSQL log', () => {
    it("rewrites this host's chunk files: every host moves to the copies and removes the old files, and a new host replays it all", async () => {
      const place = newPlace();
      const rootA = await roots.make('a');
      const rootB = await roots.make('b');
      // Small chunks, so that the deleted memories fill chunk files of their own.
      const a = await open(rootA, place, 'a', { chunkSizeBytes: 256 * 1024 });
      const b = await open(rootB, place, 'b', { chunkSizeBytes: 256 * 1024 });
      const ids = await a.appendMemories(Array.from({ length: 120 }, (_, i) => ({ text: `memory ${i} of host a ${longText(3000, i + 1)}`, tags: [`t${i % 3}`] })));
      const streamBytes = randomBytes(50 * 1024);
      await a.appendStream('s', streamBytes);
      await a.setKv('k', { n: 1 });
      const fromB = await b.appendMemory(`written by host b ${longText(2000, 999)}`);
      // Two thirds die: deleted, or replaced by an update.
      for (const [i, id] of ids.entries()) {
        if (i % 3 === 0) await a.deleteMemory(id);
        else if (i % 3 === 1) await a.updateMemory(id, { text: `memory ${i} updated zebra${i}x ${longText(200, i)}` });
      }
      await b.catchUp();
      const before = await contents(a);
      expect(await contents(b)).toEqual(before);
      const chunksBefore = await chunkFiles(rootA);

      const report = await a.compact();
      expect(report.chunksRewritten).toBeGreaterThan(0);
      expect(report.blocksMoved).toBeGreaterThan(0);
      expect(report.chunkBytesAfter).toBeLessThan(report.chunkBytesBefore * 0.75);
      const chunksAfter = await chunkFiles(rootA);
      const retired = chunksBefore.filter((name) => !chunksAfter.includes(name));
      expect(retired.length).toBe(report.chunksRewritten);

      // Both hosts read the same, every text exact, and search still finds by words.
      expect(await contents(a)).toEqual(before);
      expect(await contents(b)).toEqual(before);
      expect((await b.queryMemory('zebra4x')).map((hit) => hit.id)).toEqual([ids[4]]);
      expect((await b.getMemory(fromB))?.text).toContain('written by host b');
      // Host b removes the rewritten files from its cache too (when it lets go of them, at the latest on close).
      await closeHost(b);
      const onB = await chunkFiles(rootB);
      for (const name of retired) expect(onB).not.toContain(name);
      // Writes go on, on both, and a host that replays the whole log from a new folder reads the same.
      const b2 = await open(rootB, place, 'b', { chunkSizeBytes: 256 * 1024 });
      expect(await contents(b2)).toEqual(before);
      const later = await b2.appendMemory('after the compaction');
      expect((await a.getMemory(later))?.text).toBe('after the compaction');
      const rootC = await roots.make('c');
      const c = await open(rootC, place, 'c');
      expect(await contents(c)).toEqual(await contents(a));
      await closeHost(c);
      for (const name of retired) expect(await chunkFiles(rootC)).not.toContain(name);
    }, 90_000);

    it('moves more than one record carries (MiBs of live blocks) in several records, and every host reads each block exactly', async () => {
      const place = newPlace();
      const a = await open(await roots.make('a'), place, 'a', { chunkSizeBytes: 1024 * 1024 });
      const b = await open(await roots.make('b'), place, 'b');
      const texts = Array.from({ length: 80 }, (_, i) => `big ${i} ${longText(100 * 1024, i + 11)}`);
      const ids: number[] = [];
      for (const text of texts) ids.push(await a.appendMemory(text));
      for (const id of ids.filter((_, i) => i % 2 === 1)) await a.deleteMemory(id);
      const report = await a.compact();
      // About 4 MiB of live blocks: the copies of several records.
      expect(report.blocksMoved).toBeGreaterThan(40 * 0.8);
      expect(report.chunksRewritten).toBeGreaterThan(2);
      const c = await open(await roots.make('c'), place, 'c');
      for (const host of [a, b, c]) {
        await host.catchUp();
        const live = await allMemories(host);
        expect(live.map((memory) => memory.id)).toEqual(ids.filter((_, i) => i % 2 === 0));
        for (const memory of live) expect(memory.text).toBe(texts[ids.indexOf(memory.id)]);
      }
    }, 120_000);

    it("takes only this host's chunk files: another host's, with dead bytes, are left to it", async () => {
      const place = newPlace();
      const a = await open(await roots.make('a'), place, 'a', { chunkSizeBytes: 256 * 1024 });
      const b = await open(await roots.make('b'), place, 'b', { chunkSizeBytes: 256 * 1024 });
      const ids = await b.appendMemories(Array.from({ length: 60 }, (_, i) => ({ text: `host b ${i} ${longText(3000, i + 7)}` })));
      for (const id of ids.slice(0, 50)) await b.deleteMemory(id);
      await a.catchUp();
      const byA = await a.compact();
      expect(byA.chunksRewritten).toBe(0);
      const byB = await b.compact();
      expect(byB.chunksRewritten).toBeGreaterThan(0);
      await a.catchUp();
      expect((await allMemories(a)).map((memory) => memory.id)).toEqual(ids.slice(50));
      for (const memory of await allMemories(a)) expect(memory.text).toBe((await b.getMemory(memory.id))?.text);
    }, 90_000);

    it('a compaction whose retired chunk the removal keeps (found in use) lets go of it: a process of the host may take it again', async () => {
      const place = newPlace();
      const rootB = await roots.make('b');
      const b = await open(rootB, place, 'b', { chunkSizeBytes: 256 * 1024 });
      const ids = await b.appendMemories(Array.from({ length: 60 }, (_, i) => ({ text: `host b ${i} ${longText(3000, i + 7)}` })));
      for (const id of ids.slice(0, 50)) await b.deleteMemory(id);
      const before = await chunkFiles(rootB);
      // The removal finds every retired chunk in use again, and keeps it.
      const references = (b as unknown as { engine: { references: { isRetired(chunk: number): boolean } } }).engine.references;
      references.isRetired = () => false;
      expect((await b.compact()).chunksRewritten).toBeGreaterThan(0);
      const kept = (await chunkFiles(rootB)).filter((name) => before.includes(name));
      expect(kept).toEqual(before);
      const other = await chunkStore(join(rootB, 'blocks'))({ reader: 'read' });
      try {
        for (const name of kept) expect(await other.claim(Number(/\d+/.exec(name)![0])), name).toBe(true);
      } finally {
        await other.close();
      }
      expect((await allMemories(b)).map((memory) => memory.id)).toEqual(ids.slice(50));
    }, 90_000);

    it('a compaction killed in its grace, after the checkpoint that covers it, leaves its retired chunk files behind: no process appends to them again, and the next open removes them', async () => {
      const place = newPlace();
      const rootA = await roots.make('a');
      // One block of 100 KiB per chunk file: deleting them all leaves three chunks wholly dead, the highest among them.
      const a = await open(rootA, place, 'a', { chunkSizeBytes: 128 * 1024 });
      const texts = [0, 1, 2].map((i) => `dead ${i} ${longText(100 * 1024, i + 3)}`);
      const kept = await a.appendMemory(`kept ${longText(100 * 1024, 9)}`);
      const ids = [];
      for (const text of texts) ids.push(await a.appendMemory(text));
      for (const id of ids) await a.deleteMemory(id);
      const chunksBefore = await chunkFiles(rootA);
      await closeHost(a);
      // A process of the same host, open all along (its removal of the retired files waits for the grace).
      const sibling = await open(rootA, place, 'a-sibling', { chunkSizeBytes: 128 * 1024 });
      await compactAndDieInGrace(place, rootA);
      // The retired chunk files are still there (the grace was cut short), and the sibling, writing now,
      // appends to none of them (the highest had room for its block).
      const sizes = async () => Promise.all(chunksBefore.slice(1).map(async (name) => (await stat(join(rootA, 'blocks', name)).catch(() => undefined))?.size));
      const sizesBefore = await sizes();
      expect(sizesBefore.filter((size) => size !== undefined).length).toBe(3);
      await sibling.catchUp();
      const fromSibling = await sibling.appendMemory('written by the sibling in the grace');
      expect(await sizes()).toEqual(sizesBefore);
      await closeHost(sibling);

      // The folder opens again: the files its checkpoint says are retired are removed, and new blocks go elsewhere.
      const again = await open(rootA, place, 'a', { chunkSizeBytes: 128 * 1024 });
      const fresh = await again.appendMemory('written after the kill');
      const afterReopen = await chunkFiles(rootA);
      const retired = chunksBefore.filter((name) => !afterReopen.includes(name));
      expect(retired.length).toBe(3);
      // A new host replays the log (the retirement, then the new memory) and reads it.
      const c = await open(await roots.make('c'), place, 'c');
      expect((await c.getMemory(fresh))?.text).toBe('written after the kill');
      expect((await c.getMemory(kept))?.text).toBe(`kept ${longText(100 * 1024, 9)}`);
      expect((await again.getMemory(fresh))?.text).toBe('written after the kill');
      expect((await c.getMemory(fromSibling))?.text).toBe('written by the sibling in the grace');
    }, 60_000);

    it('a process of the host that has not applied a retirement yet appends to the retired chunk: the chunk lives again on every host, and no host removes its block', async () => {
      const { place, rootA } = await hostWithDeadHighestChunk();
      // A process of the same host whose log hands it the records late (as a follower that lags).
      let paused = true;
      const held: Array<() => void> = [];
      const lagging: WalOpener = (options) => postgresWal({ connectionString: hostConnection(place.connectionString, 'a-lagging'), store: place.store })({
        ...options,
        ...(options.onCommit ? { onCommit: (records) => (paused ? held.push(() => options.onCommit!(records)) : options.onCommit!(records)) } : {}),
      });
      const sibling = await open(rootA, place, 'a-lagging', { chunkSizeBytes: 128 * 1024, wal: lagging });
      paused = true;
      await compactAndDieInGrace(place, rootA);
      // The sibling has not applied the retirement: it takes the highest chunk file (the retired one) for its block.
      const retiredFile = join(rootA, 'blocks', (await chunkFiles(rootA)).at(-1)!);
      const sizeBefore = (await stat(retiredFile)).size;
      const placed = await sibling.appendMemory('placed in the retired chunk');
      expect((await stat(retiredFile)).size).toBeGreaterThan(sizeBefore);
      paused = false;
      for (const deliver of held.splice(0)) deliver();
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect((await sibling.getMemory(placed))?.text).toBe('placed in the retired chunk');
      await closeHost(sibling);
      // A process of the host opening from the dead compactor's checkpoint (which covers the retirement),
      // and a new host replaying the log, both keep the chunk and read the block.
      const again = await open(rootA, place, 'a', { chunkSizeBytes: 128 * 1024 });
      expect((await again.getMemory(placed))?.text).toBe('placed in the retired chunk');
      const c = await open(await roots.make('c'), place, 'c');
      expect((await c.getMemory(placed))?.text).toBe('placed in the retired chunk');
      await closeHost(c);
      await closeHost(again);
      const reopened = await open(rootA, place, 'a', { chunkSizeBytes: 128 * 1024 });
      expect((await reopened.getMemory(placed))?.text).toBe('placed in the retired chunk');
    }, 60_000);

    it('a process of the host that is slow to hear of a retirement takes no retired chunk: it catches up with the log once it holds a chunk\'s lock', async () => {
      const { place, rootA } = await hostWithDeadHighestChunk();
      // Its log hears of other processes' records late (the notices that make it look are lost), but a fence still reads the server.
      let deaf = false;
      const slow: WalOpener = async (options) => {
        const log = await postgresWal({ connectionString: hostConnection(place.connectionString, 'a-slow'), store: place.store })(options);
        return new Proxy(log, {
          get(target, key) {
            if (key === 'refresh' && deaf) return () => 0;
            const value = Reflect.get(target, key, target) as unknown;
            return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        });
      };
      const sibling = await open(rootA, place, 'a-slow', { chunkSizeBytes: 128 * 1024, wal: slow });
      deaf = true;
      await compactAndDieInGrace(place, rootA);
      const retiredFile = join(rootA, 'blocks', (await chunkFiles(rootA)).at(-1)!);
      const sizeBefore = (await stat(retiredFile)).size;
      const placed = await sibling.appendMemory('placed after the retirement');
      expect((await stat(retiredFile)).size).toBe(sizeBefore);
      deaf = false;
      expect((await sibling.getMemory(placed))?.text).toBe('placed after the retirement');
    }, 60_000);

    it("a host's checkpoint after another host compacted writes again, before its fsync, the moved blocks it wrote into its chunk files", async () => {
      type Ref = { chunk: number; offset: number; length: number; crc: number };
      type Engine = { memories: { get(id: number): { ref: Ref } }; blocks: { syncAll(options?: { rewrite?: readonly Ref[] }): Promise<void> } };
      const place = newPlace();
      const a = await open(await roots.make('a'), place, 'a', { chunkSizeBytes: 256 * 1024 });
      const b = await open(await roots.make('b'), place, 'b', { chunkSizeBytes: 256 * 1024 });
      const ids = await a.appendMemories(Array.from({ length: 120 }, (_, i) => ({ text: `memory ${i} ${longText(3000, i + 1)}` })));
      for (const [i, id] of ids.entries()) if (i % 3 !== 2) await a.deleteMemory(id);
      await b.catchUp();
      await b.checkpoint();
      expect((await a.compact()).blocksMoved).toBeGreaterThan(0);
      await b.catchUp();
      const engine = (b as unknown as { engine: Engine }).engine;
      const moved = ids.filter((_, i) => i % 3 === 2).map((id) => engine.memories.get(id).ref);
      const rewritten: Ref[] = [];
      const syncAll = engine.blocks.syncAll.bind(engine.blocks);
      engine.blocks.syncAll = async (options) => {
        rewritten.push(...(options?.rewrite ?? []));
        return syncAll(options);
      };
      // (The checkpoint covers the record of the moves: host b never writes those blocks from the log again.)
      await b.checkpoint();
      const key = (ref: Ref) => `${ref.chunk}:${ref.offset}+${ref.length}`;
      const written = new Set(rewritten.map(key));
      expect(moved.filter((ref) => !written.has(key(ref))).map(key)).toEqual([]);
      await closeHost(a);
      await closeHost(b);
    }, 90_000);

    it('erase is refused on a shared log, saying why, and the store goes on', async () => {
      const place = newPlace();
      const a = await open(await roots.make('a'), place, 'a');
      const id = await a.appendMemory('secret words');
      await a.deleteMemory(id);
      const refused = await a.compact({ erase: true }).then(() => undefined, (error: unknown) => error);
      expect(refused).toBeInstanceOf(MemMapError);
      expect(refused).toMatchObject({ code: 'NOT_SUPPORTED' });
      expect((refused as Error).message).toMatch(/erase/);
      expect((await a.getMemory(await a.appendMemory('still writes')))?.text).toBe('still writes');
    });
  });
}
