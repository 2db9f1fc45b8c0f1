import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { postgresWal } from '../src/index.js';
import { storeTagOf } from '../src/log-tables.js';
import { INSTALL_ADVICE } from './support/postgres-server.js';
import { dropStore, freshStore, withClient } from './support/places.js';

const postgres = inject('postgres');
const entry = (text: string, context?: unknown) => ({ type: 1, payload: Buffer.from(text), context });
const text = (record: { payload: Uint8Array }) => Buffer.from(record.payload).toString();

type Query = (this: pg.Client, ...args: unknown[]) => Promise<unknown>;
const query = pg.Client.prototype.query as unknown as Query;

/** The statements a query sends before its COMMIT ('' for a COMMIT alone), or undefined for a query without one. */
function beforeCommit(sql: unknown): string | undefined {
  if (typeof sql !== 'string') return undefined;
  const match = /^(?:([\s\S]*);)?\s*COMMIT$/.exec(sql.trim());
  return match ? (match[1] ?? '') : undefined;
}

/**
 * The next COMMIT sent on any connection (alone, or ending a query, whose statements before it run)
 * runs `meanwhile` (given that connection) instead, then its connection breaks: the writer cannot
 * tell whether the transaction took effect, and asks the server.
 */
function breakNextCommit(meanwhile: (client: pg.Client) => Promise<void>): void {
  (pg.Client.prototype as unknown as { query: Query }).query = function (this: pg.Client, ...args: unknown[]) {
    const before = beforeCommit(args[0]);
    if (before === undefined) return query.apply(this, args);
    (pg.Client.prototype as unknown as { query: Query }).query = query;
    return (before === '' ? Promise.resolve() : query.call(this, before)).then(() => meanwhile(this)).then(() => {
      (this as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      throw new Error('Connection terminated unexpectedly');
    });
  };
}

/** The next COMMIT sent on any connection (alone, or ending a query) waits for `meanwhile` (its transaction idle on the server), then goes out. */
function holdNextCommit(meanwhile: () => Promise<void>): void {
  (pg.Client.prototype as unknown as { query: Query }).query = function (this: pg.Client, ...args: unknown[]) {
    if (beforeCommit(args[0]) === undefined) return query.apply(this, args);
    (pg.Client.prototype as unknown as { query: Query }).query = query;
    return meanwhile().then(() => query.apply(this, args));
  };
}

/** The next query of a small commit (its rows, then COMMIT) runs its statements before COMMIT or none of them, then its connection breaks. */
function breakSmallCommit(runStatements: boolean): void {
  (pg.Client.prototype as unknown as { query: Query }).query = function (this: pg.Client, ...args: unknown[]) {
    const sql = typeof args[0] === 'string' ? args[0].trim() : '';
    const parts = /^(INSERT[\s\S]*);\s*COMMIT$/.exec(sql);
    if (!parts) return query.apply(this, args);
    (pg.Client.prototype as unknown as { query: Query }).query = query;
    return (runStatements ? query.call(this, parts[1]) : Promise.resolve()).then(() => {
      (this as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      throw new Error('Connection terminated unexpectedly');
    });
  };
}

/** The next COMMIT sent alone goes out and takes effect, then its connection breaks before the reply is read. */
function breakAfterCommit(): void {
  (pg.Client.prototype as unknown as { query: Query }).query = function (this: pg.Client, ...args: unknown[]) {
    if (beforeCommit(args[0]) !== '') return query.apply(this, args);
    (pg.Client.prototype as unknown as { query: Query }).query = query;
    return query.apply(this, args).then(() => {
      (this as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      throw new Error('Connection terminated unexpectedly');
    });
  };
}

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  const { connectionString } = postgres;
  afterEach(() => {
    (pg.Client.prototype as unknown as { query: Query }).query = query;
  });

  describe('postgres log, a host stopped inside a commit', () => {
    it('holds the writer lock no longer than idleInTransactionTimeoutMs: PostgreSQL ends its transaction, another host appends, and its own append fails with nothing written', async () => {
      const store = freshStore('idle');
      const a = await postgresWal({ connectionString, store, idleInTransactionTimeoutMs: 1_000 })({ codec: 'msgpack' });
      // (Without the timeout, b would wait its whole lockTimeoutMs and fail with LOCK_TIMEOUT.)
      const b = await postgresWal({ connectionString: `${connectionString}&application_name=other`, store })({ codec: 'msgpack', lockTimeoutMs: 30_000 });
      let acked: number[] | undefined;
      holdNextCommit(async () => {
        acked = await b.append([entry('written by b')]);
      });
      const refused = await a.append([entry('written by a, stopped before COMMIT')]).then(() => undefined, (error: { code?: string }) => error);
      expect(acked).toEqual([1]);
      expect(refused?.code).toMatch(/IO_ERROR|WAL_FAILED/);
      const seen: string[] = [];
      for await (const record of b.readFrom(1)) seen.push(text(record));
      expect(seen).toEqual(['written by b']);
      await a.close().catch(() => undefined);
      await b.close();
      await dropStore(connectionString, store);
    }, 60_000);
  });

  // A small commit sends its rows with its COMMIT; a large one sends them first, then the COMMIT alone.
  describe.each([
    ['small', ''],
    ['large', ' '.repeat(100_000)],
  ])('postgres log, a %s append whose connection broke during COMMIT', (_, padding) => {
    const entry = (text: string, context?: unknown) => ({ type: 1, payload: Buffer.from(text + padding), context });
    const text = (record: { payload: Uint8Array }) => Buffer.from(record.payload).toString().trimEnd();

    it("is not taken for committed when another host's identical record sits at its LSN", async () => {
      const store = freshStore('outcome');
      const mine: string[] = [];
      const a = await postgresWal({ connectionString, store })({ codec: 'msgpack', onCommit: (records) => mine.push(...records.map((r) => `${r.lsn}:${text(r)}:${String(r.context)}`)) });
      const b = await postgresWal({ connectionString: `${connectionString}&application_name=other`, store })({ codec: 'msgpack' });
      let acked: number[] | undefined;
      breakNextCommit(async (client) => {
        await query.call(client, 'ROLLBACK'); // a's transaction did not commit…
        acked = await b.append([entry('incr counter', 'b')]); // …and b wrote the same record at the same LSN
      });
      const refused = await a.append([entry('incr counter', 'a')]).then(() => undefined, (error: { code?: string; message?: string }) => error);
      expect(acked).toEqual([1]);
      expect(refused?.code).toBe('IO_ERROR');
      expect(refused?.message).toContain('Nothing of this append was written');
      await a.fence();
      expect(mine).toEqual(['1:incr counter:undefined']);
      await a.close();
      await b.close();
      await dropStore(connectionString, store);
    });

    it('is not said to be unwritten when retention dropped its rows before the writer asked: WAL_FAILED, it may have been written', async () => {
      const store = freshStore('outcome');
      const a = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const b = await postgresWal({ connectionString: `${connectionString}&application_name=other`, store })({ codec: 'msgpack' });
      await a.append([entry('first')]);
      let kept: number | undefined;
      breakNextCommit(async (client) => {
        await query.call(client, 'COMMIT'); // a's transaction committed
        // A crash takes every session, and so every reader position, with it (and their leases run out
        // before a is back); b is back first and drops everything.
        await withClient(connectionString, async (admin) => {
          await admin.query(
            `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) >> 43 = $1`,
            [storeTagOf(store).toString()],
          );
          await admin.query('DELETE FROM memmapfs_wal_readers WHERE store = $1', [store]);
        });
        kept = await b.truncateBefore(1_000_000);
      });
      const refused = await a.append([entry('committed, then dropped')]).then(() => undefined, (error: { code?: string; message?: string }) => error);
      expect(kept).toBe(3);
      expect(refused?.code).toBe('WAL_FAILED');
      expect(refused?.message).toMatch(/may have been written/);
      expect(refused?.message).not.toContain('Nothing of this append was written');
      await a.close();
      await b.close();
      await dropStore(connectionString, store);
    });
  });

  describe('postgres log, retention whose connection broke as it committed', () => {
    it('does not say nothing was dropped: the bound may have moved, and a later call finds it where it stands', async () => {
      const store = freshStore('cut');
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      for (let i = 0; i < 10; i++) await wal.append([entry(`r${i}`)]);
      breakAfterCommit();
      const refused = (await wal.truncateBefore(5).then(() => undefined, (error: Error & { code?: string }) => error))!;
      expect(refused.code).toBe('IO_ERROR');
      expect(refused.message).not.toMatch(/Nothing was dropped/);
      expect(refused.message).toMatch(/may have/);
      // (It had: the bound moved.)
      expect(await wal.truncateBefore(5)).toBe(5);
      expect(((await wal.readFrom(1).next()).value as { lsn: number }).lsn).toBe(5);
      await wal.close();
      await dropStore(connectionString, store);
    }, 60_000);
  });

  describe('postgres log, a small commit whose connection broke before its COMMIT', () => {
    it.each([false, true])('is refused as unwritten (its statements run: %s), and the log goes on without a gap', async (runStatements) => {
      const store = freshStore('broken');
      const seen: string[] = [];
      const a = await postgresWal({ connectionString, store })({ codec: 'msgpack', onCommit: (records) => seen.push(...records.map((r) => `${r.lsn}:${text(r)}`)) });
      const b = await postgresWal({ connectionString: `${connectionString}&application_name=other`, store })({ codec: 'msgpack' });
      await b.append([entry('b1')]);
      breakSmallCommit(runStatements);
      const refused = await a.append([entry('lost')]).then(() => undefined, (error: { code?: string }) => error);
      expect(refused?.code).toBe('IO_ERROR');
      await b.append([entry('b2')]);
      expect(await a.append([entry('a2')])).toEqual([3]);
      await a.fence();
      expect(seen).toEqual(['1:b1', '2:b2', '3:a2']);
      await a.close();
      await b.close();
      await dropStore(connectionString, store);
    }, 60_000);
  });
}
