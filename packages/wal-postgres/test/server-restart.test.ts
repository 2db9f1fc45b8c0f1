import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { postgresWal, type PostgresWal } from '../src/index.js';
import { storeTagOf } from '../src/log-tables.js';
import { freshStore, serverOfItsOwn, withClient } from './support/places.js';
import { INSTALL_ADVICE } from './support/postgres-server.js';

const postgres = inject('postgres');
const text = (record: { payload: Uint8Array }) => Buffer.from(record.payload).toString();
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  // (A server of its own: it is restarted.)
  const ownServer = serverOfItsOwn(postgres);

  describe('postgres log, server restarts', () => {
    it('a crash and restart of PostgreSQL while appending: appends fail with a clear IO_ERROR or succeed, nothing acknowledged is lost, followers catch up', async () => {
      const { connectionString } = ownServer();
      const store = freshStore('restart');
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack', lockTimeoutMs: 2_000 });
      const seen: number[] = [];
      // A follower standing for another host (another connection string: no hand-over within this process).
      const follower = (await postgresWal({ connectionString: `${connectionString}&application_name=follower`, store })({ codec: 'msgpack', readOnly: true, onCommit: (records) => seen.push(...records.map((r) => r.lsn)) })) as PostgresWal;
      const acked = new Map<number, string>();
      const errors: Array<{ code?: string; message?: string }> = [];
      let restarted = false;
      let afterRestart = 0;
      let i = 0;
      const writer = async (w: number) => {
        while (afterRestart < 40) {
          const value = `w${w}-${i++}`;
          try {
            const [lsn] = await wal.append([{ type: 1, payload: Buffer.from(value) }]);
            acked.set(lsn!, value);
            if (restarted) afterRestart++;
          } catch (error) {
            errors.push(error as { code?: string; message?: string });
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
      };
      const writers = Promise.all([0, 1, 2, 3].map(writer));
      while (acked.size < 50) await new Promise((resolve) => setTimeout(resolve, 5));
      await ownServer().restart('immediate', 1_000);
      restarted = true;
      await writers;

      // Appends during the outage failed, each saying what to do, and none broke the log for good (40
      // appends succeeded after it). (A commit cut during its COMMIT waits for the server instead, and
      // learns from it whether it took effect: when the crash hits one, there may be no error at all.)
      for (const error of errors) {
        expect(error.code).toBe('IO_ERROR');
        expect(error.message).toMatch(/Is PostgreSQL running at|Nothing of this append was written/);
      }
      // Every acknowledged record is in the log, at its LSN; the log has no gap.
      const rows = await withClient(connectionString, async (client) => (await client.query("SELECT lsn::int AS lsn, convert_from(payload, 'UTF8') AS text FROM memmapfs_wal_records WHERE store = $1 ORDER BY lsn", [store])).rows as Array<{ lsn: number; text: string }>);
      expect(rows.map((row) => row.lsn)).toEqual(range(1, rows.length));
      const byLsn = new Map(rows.map((row) => [row.lsn, row.text]));
      for (const [lsn, value] of acked) expect(byLsn.get(lsn)).toBe(value);
      // The follower reconnected on its own and reads on without a gap.
      const last = await follower.fence();
      expect(last).toBe(rows.length);
      expect(seen).toEqual(range(1, last));
      const read: string[] = [];
      for await (const record of follower.readFrom(1)) read.push(text(record));
      expect(read).toEqual(rows.map((row) => row.text));
      await follower.close();
      await wal.close();
    });

    it('a follower whose new connection breaks right after it was made keeps one connection, and none after close', async () => {
      const { connectionString } = ownServer();
      const store = freshStore('reconnect');
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const followers = () => withClient(connectionString, async (client) => Number((await client.query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'memmapfs follower'")).rows[0].n));
      type Query = (this: pg.Client, ...args: unknown[]) => Promise<unknown>;
      const prototype = pg.Client.prototype as unknown as { query: Query };
      const query = prototype.query;
      // The server goes away again right after accepting the reconnection (as during a restart).
      prototype.query = function (this: pg.Client, ...args: unknown[]) {
        if (typeof args[0] === 'string' && args[0].startsWith('LISTEN')) {
          prototype.query = query;
          setImmediate(() => (this as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy());
        }
        return query.apply(this, args);
      };
      try {
        expect(await followers()).toBe(1);
        await withClient(connectionString, (client) => client.query(
          `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) >> 43 = $1`,
          [storeTagOf(store).toString()],
        ));
        const deadline = Date.now() + 5_000;
        while (prototype.query !== query && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
        await new Promise((resolve) => setTimeout(resolve, 600)); // the retries after it: 100 ms, then 200 ms
        expect(await followers()).toBe(1);
        expect(await wal.append([{ type: 1, payload: Buffer.from('after') }])).toEqual([1]);
        await wal.close();
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(await followers()).toBe(0);
      } finally {
        prototype.query = query;
      }
    });

    it("a commit under durability 'none' that a crash of PostgreSQL lost: the follower that reported it and its writer fail with WAL_FAILED, never skip the record that took its LSN", async () => {
      const { connectionString } = ownServer();
      // PostgreSQL's WAL writer flushes commits made with synchronous_commit off only every 10 s now: a crash loses them.
      await withClient(connectionString, async (client) => {
        await client.query("ALTER SYSTEM SET wal_writer_delay = '10s'");
        await client.query('SELECT pg_reload_conf()');
      });
      try {
        const store = freshStore('diverge');
        const first = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
        await first.append([{ type: 1, payload: Buffer.from('durable') }]);
        await first.close();
        const relaxed = await postgresWal({ connectionString, store })({ codec: 'msgpack', durability: 'none' });
        const seen: string[] = [];
        const follower = await postgresWal({ connectionString: `${connectionString}&application_name=follower`, store })({ codec: 'msgpack', readOnly: true, onCommit: (records) => seen.push(...records.map(text)) });
        expect(await relaxed.append([{ type: 1, payload: Buffer.from('acknowledged, then lost') }])).toEqual([2]);
        expect(await follower.fence()).toBe(2);
        await ownServer().restart('immediate');
        const other = await postgresWal({ connectionString: `${connectionString}&application_name=other`, store })({ codec: 'msgpack' });
        expect(await other.append([{ type: 1, payload: Buffer.from('took its LSN') }])).toEqual([2]);
        expect(await other.append([{ type: 1, payload: Buffer.from('next') }])).toEqual([3]);
        await expect(follower.fence()).rejects.toMatchObject({ code: 'WAL_FAILED', message: expect.stringMatching(/PostgreSQL lost committed records/) });
        expect(seen).toEqual(['acknowledged, then lost']);
        await expect(relaxed.append([{ type: 1, payload: Buffer.from('more') }])).rejects.toMatchObject({ code: 'WAL_FAILED' });
        await follower.close();
        await relaxed.close();
        await other.close();
      } finally {
        await withClient(connectionString, async (client) => {
          await client.query('ALTER SYSTEM RESET wal_writer_delay');
          await client.query('SELECT pg_reload_conf()');
        });
      }
    });
  });
}
