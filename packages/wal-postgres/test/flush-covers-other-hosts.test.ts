import * as nodeFileSystem from 'node:fs/promises';
import { join } from 'node:path';
import type { MemMapFS } from '@memmapfs/core';
import { describe, expect, inject, it } from 'vitest';
import { postgresWal } from '../src/index.js';
import { entry, freshStore, serverOfItsOwn, withClient } from './support/places.js';
import { INSTALL_ADVICE } from './support/postgres-server.js';
import { fileSystemWith, openHost, tempRoots } from './support/stores.js';

const postgres = inject('postgres');

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  // (A server of its own: it is crashed, and its WAL writer slowed down so that commits made with
  // synchronous_commit off stay unflushed until then.)
  const ownServer = serverOfItsOwn(postgres);
  const roots = tempRoots();
  const slowWalWriter = async (connectionString: string) => {
    await withClient(connectionString, async (client) => {
      await client.query("ALTER SYSTEM SET wal_writer_delay = '10s'");
      await client.query('SELECT pg_reload_conf()');
    });
  };
  const logRow = (connectionString: string, store: string) =>
    withClient(connectionString, async (client) => {
      const { rows } = await client.query('SELECT first_lsn, last_lsn FROM memmapfs_wal_logs WHERE store = $1', [store]);
      return { first: Number(rows[0].first_lsn), last: Number(rows[0].last_lsn) };
    });

  /**
   * A host cache at `root` whose checkpoint covers a record the log then loses, as a server restored
   * from an older backup would (the log had dropped its first records for two snapshots before).
   */
  const cacheAheadOfLog = async (place: { connectionString: string; store: string }, root: string) => {
    const a = await openHost(root, place, 'a');
    const kept = await a.appendMemory('kept: the snapshot holds it');
    await a.publishSnapshot();
    const after = await a.appendMemory('kept: after the snapshot');
    await a.publishSnapshot();
    const lost = await a.appendMemory('lost with the server');
    await a.checkpoint();
    await a.close();
    const stale = await checkpointFiles(root);
    const { first, last } = await logRow(place.connectionString, place.store);
    expect(first).toBeGreaterThan(1);
    await withClient(place.connectionString, async (client) => {
      await client.query('DELETE FROM memmapfs_wal_records WHERE store = $1 AND lsn = $2', [place.store, last]);
      await client.query('UPDATE memmapfs_wal_logs SET last_lsn = $2 WHERE store = $1', [place.store, last - 1]);
    });
    return { kept, after, lost, stale };
  };
  /** The bytes of the checkpoint files of the cache at `root`. */
  const checkpointFiles = async (root: string) => {
    const folder = join(root, 'checkpoints');
    const names = (await nodeFileSystem.readdir(folder)).filter((name) => name.startsWith('checkpoint-'));
    return Promise.all(names.map((name) => nodeFileSystem.readFile(join(folder, name))));
  };

  /** A file system whose first read of a host.json waits `ms` (an open slow to read it, the other's reads going on). */
  const hostJsonReadLate = (ms: number) => {
    let delayed = false;
    const files = fileSystemWith('readFile', async (readFile, path, ...rest) => {
      if (!delayed && path.endsWith('host.json')) {
        delayed = true;
        await new Promise((resolve) => setTimeout(resolve, ms));
      }
      return (readFile as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
    });
    return { files, delayed: () => delayed };
  };

  describe("postgres log, flush of another host's records", () => {
    it("flush makes durable the records of other hosts this log reported, not only its own: a server crash after it keeps them", async () => {
      const { connectionString } = ownServer();
      await slowWalWriter(connectionString);
      const store = freshStore('flush');
      const b = await postgresWal({ connectionString: `${connectionString}&application_name=b`, store })({ codec: 'msgpack', durability: 'none' });
      const seen: number[] = [];
      const a = await postgresWal({ connectionString: `${connectionString}&application_name=a`, store })({ codec: 'msgpack', onCommit: (records) => seen.push(...records.map((r) => r.lsn)) });
      await a.append([entry('durable')]);
      expect(await b.append([entry('made durable by the other log')])).toEqual([2]);
      expect(await a.fence()).toBe(2);
      expect(seen).toEqual([1, 2]);
      // What `flush` promises: every record appended so far durable, whoever appended it.
      await a.flush();
      await ownServer().restart('immediate');
      expect((await logRow(connectionString, store)).last).toBe(2);
      await a.close().catch(() => undefined);
      await b.close().catch(() => undefined);
    });

    it('a flush after a crash of the server that lost records it was to make durable fails with WAL_FAILED, never resolves', async () => {
      const { connectionString } = ownServer();
      await slowWalWriter(connectionString);
      const store = freshStore('flush-lost');
      const b = await postgresWal({ connectionString: `${connectionString}&application_name=b`, store })({ codec: 'msgpack', durability: 'none' });
      const a = await postgresWal({ connectionString: `${connectionString}&application_name=a`, store })({ codec: 'msgpack' });
      await a.append([entry('durable')]);
      expect(await b.append([entry('lost by the crash')])).toEqual([2]);
      expect(await a.fence()).toBe(2);
      await ownServer().restart('immediate');
      expect((await logRow(connectionString, store)).last).toBe(1);
      // (B's own relaxed commit, and A's report of it: neither may be said to be durable now.)
      for (const log of [b, a]) {
        for (let i = 0; i < 2; i++) await expect(log.flush()).rejects.toMatchObject({ code: 'WAL_FAILED', message: expect.stringMatching(/PostgreSQL lost committed records/) });
      }
      await a.close().catch(() => undefined);
      await b.close().catch(() => undefined);
    });

    it("a host's checkpoint covering another host's memory appended under durability 'none' holds after a server crash: the cache reopens with it", async () => {
      const { connectionString } = ownServer();
      await slowWalWriter(connectionString);
      const place = { connectionString, store: freshStore('flush-store') };
      const a = await openHost(await roots.make('a'), place, 'a');
      const rootA = a.root;
      const b = await openHost(await roots.make('b'), place, 'b', { durability: 'none' });
      try {
        await a.appendMemory('one');
        await a.publishSnapshot();
        await a.appendMemory('two');
        await a.publishSnapshot();
        const id = await b.appendMemory('acknowledged under none, then checkpointed by another host');
        expect((await a.getMemory(id))?.text).toBe('acknowledged under none, then checkpointed by another host');
        // "Resolves once it is durable": what it covers, another host's record included.
        await a.checkpoint();
        await a.close();
        await ownServer().restart('immediate');
        const again = await openHost(rootA, place, 'a');
        expect((await again.getMemory(id))?.text).toBe('acknowledged under none, then checkpointed by another host');
        expect((await again.queryMemory('two', { limit: 5 })).map((hit) => hit.text)).toContain('two');
        await again.close();
      } finally {
        await b.close().catch(() => undefined);
        await roots.removeAll();
      }
    }, 60_000);

    it("a cache whose checkpoint covers records the log no longer holds (a server restored from an older backup) is rebuilt from the log's snapshot, not refused for good", async () => {
      const { connectionString } = ownServer();
      const place = { connectionString, store: freshStore('behind') };
      const root = await roots.make('a');
      try {
        const { kept, after, lost, stale } = await cacheAheadOfLog(place, root);
        // (Read-only first, it only leaves the cache unused: the log, which dropped its first records, is not enough without it.)
        expect(await openHost(root, place, 'a', { readOnly: true }).then(async (fs) => fs.close(), (error: { code?: string }) => error.code)).toBe('WAL_TRUNCATED');
        const again = await openHost(root, place, 'a');
        expect([(await again.getMemory(kept))?.text, (await again.getMemory(after))?.text, await again.getMemory(lost)]).toEqual(['kept: the snapshot holds it', 'kept: after the snapshot', undefined]);
        // (The checkpoint files of the cache dropped went with it: none can be taken up again later.)
        expect(stale.length).toBeGreaterThan(0);
        for (const bytes of await checkpointFiles(root)) expect(stale.some((old) => old.equals(bytes))).toBe(false);
        const next = await again.appendMemory('written after the rebuild');
        await again.checkpoint();
        await again.close();
        for (const readOnly of [true, false]) {
          const later = await openHost(root, place, 'a', { readOnly });
          expect([(await later.getMemory(kept))?.text, await later.getMemory(lost), (await later.getMemory(next))?.text], `readOnly: ${readOnly}`).toEqual(['kept: the snapshot holds it', undefined, 'written after the rebuild']);
          await later.close();
        }
      } finally {
        await roots.removeAll();
      }
    }, 60_000);

    it('two writable opens of one host racing to remake such a cache end on the same cache: the later drop does not undo the earlier one', async () => {
      const { connectionString } = ownServer();
      const place = { connectionString, store: freshStore('behind-race') };
      const root = await roots.make('a');
      try {
        const { kept } = await cacheAheadOfLog(place, root);
        // The second open reads the stale manifest, then host.json only after the first has remade the cache.
        const late = hostJsonReadLate(3000);
        const [first, second] = await Promise.all([openHost(root, place, 'a'), openHost(root, place, 'a', { fileSystem: late.files })]);
        expect(late.delayed()).toBe(true);
        const own = (fs: MemMapFS) => (fs as unknown as { engine: { hostBlocks: { own: { first: number } } } }).engine.hostBlocks.own.first;
        expect(own(second)).toBe(own(first));
        const id = await first.appendMemory('written by the first after the second opened');
        await first.checkpoint();
        await Promise.all([first.close(), second.close()]);
        const again = await openHost(root, place, 'a');
        expect([(await again.getMemory(id))?.text, (await again.getMemory(kept))?.text]).toEqual(['written by the first after the second opened', 'kept: the snapshot holds it']);
        expect(own(again)).toBe(own(first));
        await again.close();
      } finally {
        await roots.removeAll();
      }
    }, 60_000);

    it('such a cache opened from an older checkpoint than the manifest names (that one gone) is made again too, not refused as changed on every try', async () => {
      const { connectionString } = ownServer();
      const place = { connectionString, store: freshStore('behind-fallback') };
      const root = await roots.make('a');
      try {
        const a = await openHost(root, place, 'a');
        const one = await a.appendMemory('one');
        await a.publishSnapshot();
        await a.appendMemory('two');
        await a.publishSnapshot();
        await a.appendMemory('three');
        await a.checkpoint();
        const folder = join(root, 'checkpoints');
        const checkpoints = async () => (await nodeFileSystem.readdir(folder)).filter((name) => name.startsWith('checkpoint-')).sort();
        const older = (await checkpoints()).at(-1)!;
        const olderBytes = await nodeFileSystem.readFile(join(folder, older));
        await a.appendMemory('four');
        await a.checkpoint();
        await a.close();
        // The older checkpoint back beside the manifest, which names the newest one, gone.
        const newest = (await checkpoints()).at(-1)!;
        await nodeFileSystem.writeFile(join(folder, older), olderBytes);
        await nodeFileSystem.unlink(join(folder, newest));
        // The server as a backup from before the older checkpoint's record left it.
        const olderLsn = Number(/(\d+)/.exec(older)![1]);
        await withClient(connectionString, async (client) => {
          await client.query('DELETE FROM memmapfs_wal_records WHERE store = $1 AND lsn >= $2', [place.store, olderLsn]);
          await client.query('UPDATE memmapfs_wal_logs SET last_lsn = $2 WHERE store = $1', [place.store, olderLsn - 1]);
        });
        const again = await openHost(root, place, 'a');
        expect((await again.getMemory(one))?.text).toBe('one');
        await again.close();
      } finally {
        await roots.removeAll();
      }
    }, 60_000);

    it('an open that read the stale manifest does not drop the cache a sibling made again and checkpointed at the same LSN (a file of the same name)', async () => {
      const { connectionString } = ownServer();
      const place = { connectionString, store: freshStore('behind-aba') };
      const root = await roots.make('a');
      try {
        await cacheAheadOfLog(place, root);
        // The second open reads the stale manifest, then host.json only once the first has made the
        // cache again (its first record, the claim, takes the lost record's LSN) and checkpointed it.
        const late = hostJsonReadLate(3000);
        const secondOpen = openHost(root, place, 'a', { fileSystem: late.files });
        await new Promise((resolve) => setTimeout(resolve, 300));
        const first = await openHost(root, place, 'a');
        await first.checkpoint();
        const made = JSON.parse(await nodeFileSystem.readFile(join(root, 'host.json'), 'utf8')) as { cache: string };
        const second = await secondOpen;
        expect(late.delayed()).toBe(true);
        const own = (fs: MemMapFS) => (fs as unknown as { engine: { hostBlocks: { own: { first: number } } } }).engine.hostBlocks.own.first;
        expect((JSON.parse(await nodeFileSystem.readFile(join(root, 'host.json'), 'utf8')) as { cache: string }).cache).toBe(made.cache);
        expect(own(second)).toBe(own(first));
        await Promise.all([first.close(), second.close()]);
      } finally {
        await roots.removeAll();
      }
    }, 60_000);
  });
}
