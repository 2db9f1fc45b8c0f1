import { describe, expect, inject, it } from 'vitest';
import { postgresWal } from '../src/index.js';
import { breakFollower, dropStore, entry, followerOf, freshStore, text, withClient, type FollowerInside } from './support/places.js';
import { INSTALL_ADVICE } from './support/postgres-server.js';
import { hostsTestBed } from './support/stores.js';

const postgres = inject('postgres');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  const { connectionString } = postgres;

  const blip = (follower: FollowerInside, retryDelay: number) => breakFollower(connectionString, follower, retryDelay);
  const leases = (store: string) => withClient(connectionString, async (client) => (await client.query('SELECT count(*)::int AS n FROM memmapfs_wal_readers WHERE store = $1', [store])).rows[0].n as number);

  describe("a log's reading position, while its connection is made again", () => {
    it('holds what the log has yet to read while its follower connects again: retention elsewhere keeps it', async () => {
      const store = freshStore('lease');
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const seen: string[] = [];
      const reader = await postgresWal({ connectionString, store })({ codec: 'msgpack', readOnly: true, onCommit: (records) => seen.push(...records.map(text)) });
      try {
        await writer.append([entry('one')]);
        expect(await reader.fence()).toBe(1);
        await blip(followerOf(reader), 1_500);
        // Meanwhile another host appends and lets the log drop everything it has read itself.
        await writer.append([entry('two')]);
        await writer.append([entry('three')]);
        // (Its position moves at most once a second: it may still hold record 1.)
        expect(await writer.truncateBefore(writer.lastLsn + 1)).toBeLessThanOrEqual(2);
        await sleep(2_000);
        expect(await reader.fence()).toBe(3);
        expect(seen).toEqual(['one', 'two', 'three']);
      } finally {
        await reader.close().catch(() => undefined);
        await writer.close();
        await dropStore(connectionString, store);
      }
    }, 30_000);

    it('holds records for positionLeaseMs only once the log is gone without closing, and not at all once it closed', async () => {
      const store = freshStore('lease');
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const gone = await postgresWal({ connectionString, store, positionLeaseMs: 3_000 })({ codec: 'msgpack', readOnly: true });
      const closing = await postgresWal({ connectionString, store })({ codec: 'msgpack', readOnly: true });
      try {
        await writer.append([entry('one')]);
        expect(await gone.fence()).toBe(1);
        expect(await closing.fence()).toBe(1);
        expect(await leases(store)).toBe(3);
        await closing.close();
        expect(await leases(store)).toBe(2);
        // A host that vanished: its session ends, and it never connects again.
        await blip(followerOf(gone), 3_600_000);
        await writer.append([entry('two')]);
        expect(await writer.truncateBefore(writer.lastLsn + 1)).toBeLessThanOrEqual(2);
        // (Up to a quarter more than positionLeaseMs: it runs that long past its last renewal.)
        await sleep(4_000);
        expect(await writer.truncateBefore(writer.lastLsn + 1)).toBe(3);
        // (Its lease ran out, and the truncation removed it.)
        expect(await leases(store)).toBe(1);
      } finally {
        await gone.close().catch(() => undefined);
        await closing.close().catch(() => undefined);
        await writer.close();
        await dropStore(connectionString, store);
      }
    }, 30_000);

    it('refuses a positionLeaseMs that is not a whole number of milliseconds from 100', () => {
      for (const positionLeaseMs of [0, 99, 1.5, -1, Number.NaN, '60000' as unknown as number]) {
        expect(() => postgresWal({ connectionString, store: 'x', positionLeaseMs }), String(positionLeaseMs)).toThrow(/positionLeaseMs must be a whole number of milliseconds from 100/);
      }
    });
  });

  const { roots, newPlace, open } = hostsTestBed(connectionString, 'lease');
  describe('a host whose connection is lost a moment while another publishes two snapshots', () => {
    it('reads on once connected again: every memory is there', async () => {
      const place = newPlace();
      const a = await open(await roots.make('a'), place, 'a');
      const b = await open(await roots.make('b'), place, 'b');
      const firstId = await a.appendMemory('first');
      expect((await b.getMemory(firstId))?.text).toBe('first');
      await blip((b as unknown as { engine: { wal: { follower: FollowerInside } } }).engine.wal.follower, 1_500);
      const second = await a.appendMemory('second');
      await a.publishSnapshot();
      const third = await a.appendMemory('third');
      await a.publishSnapshot();
      await sleep(2_000);
      expect((await b.getMemory(third))?.text).toBe('third');
      expect((await b.getMemory(second))?.text).toBe('second');
    }, 60_000);
  });
}
