import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { postgresWal } from '../src/index.js';
import { breakFollower, dropStore, entry, followerOf, freshStore, text, withClient, type FollowerInside } from './support/places.js';
import { INSTALL_ADVICE } from './support/postgres-server.js';

const postgres = inject('postgres');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  const { connectionString } = postgres;
  /** The connection string of `database` as `user`. */
  const as = (user: string, database: string) => connectionString.replace('postgresql://postgres@/postgres?', `postgresql://${user}@/${database}?`);

  /** A database of its own (tables are per database), and a role with DML rights only. */
  async function freshDatabase(): Promise<{ db: string; role: string }> {
    const suffix = randomBytes(4).toString('hex');
    const db = `leases_${suffix}`;
    const role = `app_${suffix}`;
    await withClient(connectionString, async (client) => {
      await client.query(`CREATE DATABASE ${db}`);
      await client.query(`CREATE ROLE ${role} LOGIN`);
    });
    return { db, role };
  }
  /** Grants DML on the three tables of the earlier release (what a DBA granted before this one). */
  const grantOldTables = (db: string, role: string) =>
    withClient(as('postgres', db), (client) => client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON memmapfs_wal_logs, memmapfs_wal_records, memmapfs_wal_snapshots TO ${role}`));

  const blip = (follower: FollowerInside, retryDelay: number) => breakFollower(connectionString, follower, retryDelay);

  describe('leases, roles and the tables of an earlier release', () => {
    it('a writable role without rights on memmapfs_wal_readers still shortens the log (by the position locks alone)', async () => {
      const { db, role } = await freshDatabase();
      const store = freshStore('roles');
      // The tables made by an owner (all of them, this release's included).
      const owner = await postgresWal({ connectionString: as('postgres', db), store })({ codec: 'msgpack' });
      await owner.close();
      await grantOldTables(db, role);
      const wal = await postgresWal({ connectionString: as(role, db), store })({ codec: 'msgpack' });
      try {
        await wal.append([entry('one')]);
        await wal.append([entry('two')]);
        // (It failed with "permission denied for table memmapfs_wal_readers", every time.)
        expect(await wal.truncateBefore(wal.lastLsn + 1)).toBe(3);
      } finally {
        await wal.close().catch(() => undefined);
      }
    }, 30_000);

    it('tables of the earlier release: a writable open by a role that does not own them (DML granted) still opens', async () => {
      const { db, role } = await freshDatabase();
      const store = freshStore('roles');
      const owner = await postgresWal({ connectionString: as('postgres', db), store })({ codec: 'msgpack' });
      await owner.append([entry('one')]);
      await owner.close();
      // As the earlier release left them: no memmapfs_wal_readers.
      await withClient(as('postgres', db), (client) => client.query('DROP TABLE IF EXISTS memmapfs_wal_readers'));
      await grantOldTables(db, role);
      const seen: string[] = [];
      // (It ran every statement that makes the tables, which such a role may not: the open failed.)
      const wal = await postgresWal({ connectionString: as(role, db), store })({ codec: 'msgpack', recover: async (records) => {
        for await (const record of records) seen.push(text(record));
      } });
      try {
        expect(seen).toEqual(['one']);
        expect(await wal.append([entry('two')])).toEqual([2]);
      } finally {
        await wal.close();
      }
    }, 30_000);

    it('tables of the earlier release: the first writable open does not stall every other host behind an ALTER TABLE of memmapfs_wal_records', async () => {
      const { db } = await freshDatabase();
      const store = freshStore('upgrade');
      const other = await postgresWal({ connectionString: as('postgres', db), store })({ codec: 'msgpack' });
      await other.append([entry('one')]);
      await withClient(as('postgres', db), (client) => client.query('DROP TABLE IF EXISTS memmapfs_wal_readers'));
      // A third host reads the records in a transaction meanwhile (an open's REPEATABLE READ replay, say).
      const { Client } = (await import('pg')).default;
      const reading = new Client({ connectionString: as('postgres', db) });
      await reading.connect();
      await reading.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await reading.query('SELECT count(*) FROM memmapfs_wal_records');
      const opening = postgresWal({ connectionString: as('postgres', db), store })({ codec: 'msgpack' });
      opening.catch(() => undefined);
      await sleep(500);
      try {
        // The host already open appends on (it waited behind an ALTER TABLE of the records, then LOCK_TIMEOUT).
        const appended = await Promise.race([other.append([entry('two')]).then(() => 'appended', (error: { code?: string }) => `failed ${error.code}`), sleep(3_000).then(() => 'stalled')]);
        expect(appended).toBe('appended');
      } finally {
        await reading.query('ROLLBACK');
        await reading.end();
        await (await opening.catch(() => undefined))?.close();
        await other.close().catch(() => undefined);
      }
    }, 30_000);
  });

  describe('closing a log', () => {
    it('gives its lease up at once, also while its follower is connecting again', async () => {
      const store = freshStore('close');
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const reader = await postgresWal({ connectionString, store })({ codec: 'msgpack', readOnly: true });
      try {
        await writer.append([entry('one')]);
        expect(await reader.fence()).toBe(1);
        await blip(followerOf(reader), 3_600_000);
        await reader.close();
        await writer.append([entry('two')]);
        await writer.append([entry('three')]);
        // (The closed log's lease held records for positionLeaseMs.)
        expect(await writer.truncateBefore(writer.lastLsn + 1)).toBe(4);
      } finally {
        await reader.close().catch(() => undefined);
        await writer.close();
        await dropStore(connectionString, store);
      }
    }, 30_000);
  });

  describe('how long a lease outlives a lost connection', () => {
    it('holds records for positionLeaseMs after the connection is lost, however long after a renewal', async () => {
      const store = freshStore('ttl');
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const reader = await postgresWal({ connectionString, store, positionLeaseMs: 4_000 })({ codec: 'msgpack', readOnly: true });
      try {
        await writer.append([entry('one')]);
        expect(await reader.fence()).toBe(1);
        // Just before the reader's next renewal (every 1 s here), its connection goes.
        await sleep(2_950);
        await blip(followerOf(reader), 3_600_000);
        const lostAt = Date.now();
        await writer.append([entry('two')]);
        // 3.5 s after the loss: within positionLeaseMs (4 s), the records are still held.
        await sleep(3_500 - (Date.now() - lostAt));
        expect(await writer.truncateBefore(writer.lastLsn + 1)).toBeLessThanOrEqual(2);
      } finally {
        await reader.close().catch(() => undefined);
        await writer.close();
        await dropStore(connectionString, store);
      }
    }, 30_000);
  });

  describe('leases through an upgrade, and with fewer rights', () => {
    it('a read-only log opened before the leases table exists writes its lease once a writable open of this release made it', async () => {
      const { db } = await freshDatabase();
      const url = as('postgres', db);
      const store = freshStore('upgrade');
      const first = await postgresWal({ connectionString: url, store })({ codec: 'msgpack' });
      await first.append([entry('one')]);
      await first.close();
      // Tables as the earlier release left them.
      await withClient(url, (client) => client.query('DROP TABLE memmapfs_wal_readers'));
      const seen: string[] = [];
      // (Another connection string: not handed the writer's commits in this process, as on another host.)
      const reader = await postgresWal({ connectionString: `${url}&application_name=other`, store, positionLeaseMs: 2_000 })({ codec: 'msgpack', readOnly: true, onCommit: (records) => seen.push(...records.map(text)) });
      const writer = await postgresWal({ connectionString: url, store })({ codec: 'msgpack' });
      try {
        expect(await reader.fence()).toBe(1);
        // Refused at its open, the reader asks again a lease's length later.
        await sleep(3_000);
        const rows = await withClient(url, async (client) => (await client.query('SELECT count(*)::int AS n FROM memmapfs_wal_readers WHERE store = $1', [store])).rows[0].n);
        await blip(followerOf(reader), 1_500);
        await writer.append([entry('two')]);
        await writer.append([entry('three')]);
        const kept = await writer.truncateBefore(writer.lastLsn + 1);
        await sleep(2_500);
        const fenced = await reader.fence().then(String, (error: { code?: string }) => `failed ${error.code}`);
        expect({ rows, kept, fenced, seen }).toEqual({ rows: 2, kept: 2, fenced: '3', seen: ['two', 'three'] });
      } finally {
        await reader.close().catch(() => undefined);
        await writer.close().catch(() => undefined);
      }
    }, 40_000);

    it('a writer role that may read the leases but not delete them keeps the records a disconnected reader leases', async () => {
      const { db, role } = await freshDatabase();
      const url = as('postgres', db);
      const store = freshStore('no-delete');
      const owner = await postgresWal({ connectionString: url, store })({ codec: 'msgpack' });
      await owner.close();
      await withClient(url, async (client) => {
        await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON memmapfs_wal_logs, memmapfs_wal_records, memmapfs_wal_snapshots TO ${role}`);
        await client.query(`GRANT SELECT, INSERT, UPDATE ON memmapfs_wal_readers TO ${role}`);
      });
      const writer = await postgresWal({ connectionString: as(role, db), store })({ codec: 'msgpack' });
      const reader = await postgresWal({ connectionString: `${url}&application_name=other`, store, positionLeaseMs: 10_000 })({ codec: 'msgpack', readOnly: true });
      try {
        await writer.append([entry('one')]);
        expect(await reader.fence()).toBe(1);
        // (Its position moves at most once a second.)
        await sleep(1_100);
        await reader.fence();
        await blip(followerOf(reader), 3_600_000);
        await writer.append([entry('two')]);
        await writer.append([entry('three')]);
        // The reader's lease (from record 2, 10 s) is one this role may read: records from 2 on stay.
        expect(await writer.truncateBefore(writer.lastLsn + 1)).toBeLessThanOrEqual(2);
      } finally {
        await reader.close().catch(() => undefined);
        await writer.close().catch(() => undefined);
      }
    }, 40_000);
  });
}
