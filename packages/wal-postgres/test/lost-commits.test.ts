import { describe, expect, inject, it } from 'vitest';
import { postgresWal } from '../src/index.js';
import { checksumSeed, recordChecksum } from '../src/log-tables.js';
import { INSTALL_ADVICE } from './support/postgres-server.js';
import { dropStore, entry, freshStore, text, withClient } from './support/places.js';

const postgres = inject('postgres');

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  const { connectionString } = postgres;

  /**
   * What a crash of the server does to a commit made with synchronous_commit off that had not reached
   * its disk: its row is gone and the counter goes back to before it.
   */
  const loseLastRecord = (store: string, lsn: number) => withClient(connectionString, async (client) => {
    await client.query('DELETE FROM memmapfs_wal_records WHERE store = $1 AND lsn = $2', [store, lsn]);
    await client.query('UPDATE memmapfs_wal_logs SET last_lsn = $2 WHERE store = $1', [store, lsn - 1]);
  });

  describe('postgres log, commits PostgreSQL lost', () => {
    it("a follower whose last record was lost and replaced by another host's fails with WAL_FAILED instead of skipping the replacement, and so does the writer", async () => {
      const store = freshStore('lost');
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack', durability: 'none' });
      const seen: string[] = [];
      // Logs standing for other hosts (other connection strings: no hand-over within this process).
      const follower = await postgresWal({ connectionString: `${connectionString}&application_name=follower`, store })({ codec: 'msgpack', readOnly: true, onCommit: (records) => seen.push(...records.map(text)) });
      await writer.append([entry('kept')]);
      await writer.append([entry('lost')]);
      expect(await follower.fence()).toBe(2);
      await loseLastRecord(store, 2);
      const other = await postgresWal({ connectionString: `${connectionString}&application_name=other`, store })({ codec: 'msgpack' });
      expect(await other.append([entry('replacement')])).toEqual([2]);
      expect(await other.append([entry('next')])).toEqual([3]);

      const failure = await follower.fence().then(() => undefined, (error: { code?: string; message?: string }) => error);
      expect(failure?.code).toBe('WAL_FAILED');
      expect(failure?.message).toMatch(/PostgreSQL lost committed records.*Reopen the store/);
      expect(() => follower.refresh()).toThrow(/PostgreSQL lost committed records/);
      expect(seen).toEqual(['kept', 'lost']);
      await expect(writer.append([entry('more')])).rejects.toMatchObject({ code: 'WAL_FAILED', message: expect.stringMatching(/PostgreSQL lost committed records/) });
      await follower.close();
      await writer.close();
      await other.close();
      await dropStore(connectionString, store);
    });

    it('a follower whose last record was replaced fails at its next read, a writer whose last record was lost (the counter went back) at its next append', async () => {
      const store = freshStore('lost');
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack', durability: 'batch' });
      const follower = await postgresWal({ connectionString: `${connectionString}&application_name=follower`, store })({ codec: 'msgpack', readOnly: true });
      await writer.append([entry('kept'), entry('lost')]);
      expect(await follower.fence()).toBe(2);
      // The record at the follower's position replaced by a valid, different one (as another host's append would be).
      await withClient(connectionString, async (client) => {
        const { rows } = await client.query('SELECT log_id FROM memmapfs_wal_logs WHERE store = $1', [store]);
        const payload = Buffer.from('replacement');
        await client.query('UPDATE memmapfs_wal_records SET payload = $3, checksum = $4 WHERE store = $1 AND lsn = $2', [store, 2, payload, recordChecksum(checksumSeed(String(rows[0].log_id)), 2, 1, payload)]);
      });
      await expect(follower.fence()).rejects.toMatchObject({ code: 'WAL_FAILED' });
      await loseLastRecord(store, 2);
      await expect(writer.append([entry('more')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
      await follower.close();
      await writer.close();
      await dropStore(connectionString, store);
    });
  });
}
