import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postgresWal, type PostgresWal } from '../src/index.js';
import { freshStore, withClient } from './support/places.js';
import { INSTALL_ADVICE, startServer, type TestServer } from './support/postgres-server.js';

const postgres = inject('postgres');
const text = (record: { payload: Uint8Array }) => Buffer.from(record.payload).toString();
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  // A server of its own: the restart must not cut the connections of the other test files.
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer(postgres.bin, postgres.template);
  });
  afterAll(async () => {
    await server?.remove();
  });

  describe('postgres log, server restarts', () => {
    it('a crash and restart of PostgreSQL while appending: appends fail with a clear IO_ERROR or succeed, nothing acknowledged is lost, followers catch up', async () => {
      const { connectionString } = server;
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
      await server.restart('immediate', 1_000);
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
  });
}
