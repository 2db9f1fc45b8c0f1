import { describe, expect, inject, it } from 'vitest';
import type { WriteAheadLog } from '@memmapfs/wal';
import { postgresWal } from '../src/index.js';
import { entry, freshStore, serverOfItsOwn, text, withClient } from './support/places.js';
import { INSTALL_ADVICE } from './support/postgres-server.js';

const postgres = inject('postgres');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const followerOf = (wal: WriteAheadLog) => (wal as unknown as { follower: { retryDelay: number } }).follower;

/** `body` again while it fails with IO_ERROR (the server coming back). */
async function retrying<T>(body: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await body();
    } catch (error) {
      if ((error as { code?: string }).code !== 'IO_ERROR' || i > 100) throw error;
      await sleep(100);
    }
  }
}

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  const ownServer = serverOfItsOwn(postgres);

  describe('a lease and a crash of the server', () => {
    it('a log opened just before a crash keeps what it has yet to read while it connects again (its lease survives the crash)', async () => {
      const { connectionString } = ownServer();
      await withClient(connectionString, async (client) => {
        await client.query("ALTER SYSTEM SET wal_writer_delay = '10s'");
        await client.query('SELECT pg_reload_conf()');
      });
      const store = freshStore('crash');
      const writer = await postgresWal({ connectionString: `${connectionString}&application_name=writer`, store })({ codec: 'msgpack' });
      await writer.append([entry('one')]);
      await writer.append([entry('two')]);
      const seen: string[] = [];
      const reader = await postgresWal({ connectionString: `${connectionString}&application_name=reader`, store })({ codec: 'msgpack', readOnly: true, onCommit: (records) => seen.push(...records.map(text)) });
      expect(await reader.fence()).toBe(2);
      await sleep(300);
      const leases = await withClient(connectionString, async (client) => (await client.query('SELECT count(*)::int AS n FROM memmapfs_wal_readers WHERE store = $1', [store])).rows[0].n);
      expect(leases).toBe(2);
      // The reader is slow to connect again (a host whose network is still out).
      followerOf(reader).retryDelay = 60_000;
      await ownServer().restart('immediate');
      const after = await withClient(connectionString, async (client) => (await client.query('SELECT count(*)::int AS n FROM memmapfs_wal_readers WHERE store = $1', [store])).rows[0].n);
      // The writer appends and shortens the log to what it has read itself (a snapshot's truncateBefore).
      await retrying(() => writer.append([entry('three')]));
      // (The writer's own follower connected again, so that its position moves on.)
      for (let i = 0; i < 100 && !(writer as unknown as { follower: { connected: boolean } }).follower.connected; i++) await sleep(50);
      const kept = await retrying(() => writer.truncateBefore(writer.lastLsn + 1));
      let read: unknown;
      try {
        read = await retrying(() => reader.fence());
      } catch (error) {
        read = (error as { code?: string }).code;
      }
      try {
        // (Its lease may be one written before its last position move, a renewal the crash lost: lower, so more is kept.)
        expect(kept).toBeLessThanOrEqual(3);
        expect({ leasesAfterCrash: after, read, seen }).toEqual({ leasesAfterCrash: 2, read: 3, seen: ['three'] });
      } finally {
        await reader.close().catch(() => undefined);
        await writer.close().catch(() => undefined);
        await withClient(connectionString, async (client) => {
          await client.query('ALTER SYSTEM RESET wal_writer_delay');
          await client.query('SELECT pg_reload_conf()');
        });
      }
    }, 60_000);
  });
}
