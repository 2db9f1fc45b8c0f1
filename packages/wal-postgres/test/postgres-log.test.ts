import { writeAheadLogSuite } from '@memmapfs/testkit';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { postgresWal, type PostgresWal } from '../src/index.js';
import { INSTALL_ADVICE } from './support/postgres-server.js';
import { storeTagOf } from '../src/log-tables.js';
import { PAGE_QUERY } from '../src/log-queries.js';
import { dropStore, entry, freshStore, serverOfItsOwn, storePlace, text, withClient } from './support/places.js';

const postgres = inject('postgres');

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  const { connectionString } = postgres;

  // The contract every log meets, unchanged: nothing is left out.
  writeAheadLogSuite('postgres log', async () => storePlace(connectionString));

  describe('postgres log, snapshots kept with it', () => {
    const bytesOf = async (pieces: AsyncIterable<Uint8Array>) => {
      const all: Buffer[] = [];
      for await (const piece of pieces) all.push(Buffer.from(piece));
      return Buffer.concat(all);
    };
    async function* inPieces(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
    }

    it('keeps the newest snapshot whole (parts of 4 MiB), refuses an older one, and a reader started before a newer one is put reads its own to the end', async () => {
      const store = freshStore();
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      expect(await wal.snapshots!.latest()).toBeUndefined();
      const first = Buffer.from(Array.from({ length: 9 * 1024 * 1024 + 5 }, (_, i) => (i * 31) % 251));
      expect(await wal.snapshots!.put(10, inPieces(first, 100_000))).toBe(true);
      const kept = await wal.snapshots!.latest();
      expect({ lsn: kept?.lsn, size: kept?.size }).toEqual({ lsn: 10, size: first.length });
      expect((await bytesOf(kept!.read())).equals(first)).toBe(true);
      expect(await wal.snapshots!.put(10, inPieces(Buffer.from('same lsn'), 3))).toBe(false);
      expect(await wal.snapshots!.put(9, inPieces(Buffer.from('older'), 3))).toBe(false);
      // A reader part-way through the snapshot of 10 while 12's is put (and 10's dropped) reads 10's whole.
      const reading = (await wal.snapshots!.latest())!.read()[Symbol.asyncIterator]();
      const head = await reading.next();
      expect(await wal.snapshots!.put(12, inPieces(Buffer.from('twelve'), 2))).toBe(true);
      const rest: Buffer[] = [Buffer.from(head.value as Uint8Array)];
      for (let next = await reading.next(); !next.done; next = await reading.next()) rest.push(Buffer.from(next.value));
      expect(Buffer.concat(rest).equals(first)).toBe(true);
      const newest = await wal.snapshots!.latest();
      expect(newest?.lsn).toBe(12);
      expect((await bytesOf(newest!.read())).toString()).toBe('twelve');
      expect(await withClient(connectionString, async (client) => Number((await client.query('SELECT count(DISTINCT lsn) AS n FROM memmapfs_wal_snapshots WHERE store = $1', [store])).rows[0].n))).toBe(1);
      await wal.close();
      await dropStore(connectionString, store);
    });

    it('a put whose bytes fail part-way keeps nothing of them: the snapshot kept before stays the newest', async () => {
      const store = freshStore();
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      expect(await wal.snapshots!.put(5, inPieces(Buffer.from('five'), 2))).toBe(true);
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield Buffer.alloc(5 * 1024 * 1024, 1);
        throw new Error('the disk the snapshot was read from failed');
      }
      await expect(wal.snapshots!.put(8, failing())).rejects.toThrow(/disk the snapshot was read from failed/);
      const newest = await wal.snapshots!.latest();
      expect(newest?.lsn).toBe(5);
      expect((await bytesOf(newest!.read())).toString()).toBe('five');
      await wal.close();
      await dropStore(connectionString, store);
    });
  });

  describe('postgres log, retention of a long history', () => {
    it('truncateBefore moves the bound under the writer lock and deletes the rows below it in batches after: every row below goes, the bytes held are counted right, and appends go on meanwhile', async () => {
      const store = freshStore();
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      for (let batch = 0; batch < 5; batch++) await wal.append(Array.from({ length: 5_000 }, (_, i) => entry(`r${batch * 5_000 + i + 1}`)));
      const sizeBefore = wal.size;
      const [oldest] = await Promise.all([wal.truncateBefore(20_001), wal.append([entry('during')])]);
      expect(oldest).toBe(20_001);
      const left = await withClient(connectionString, async (client) => (await client.query('SELECT count(*) AS n, min(lsn) AS first, sum(octet_length(payload)) AS bytes FROM memmapfs_wal_records WHERE store = $1', [store])).rows[0]);
      expect({ n: Number(left.n), first: Number(left.first) }).toEqual({ n: 5_001, first: 20_001 });
      const held = await withClient(connectionString, async (client) => Number((await client.query('SELECT held_bytes FROM memmapfs_wal_logs WHERE store = $1', [store])).rows[0].held_bytes));
      expect(held).toBe(Number(left.bytes));
      expect(wal.size).toBeLessThan(sizeBefore);
      const first = await (async () => {
        for await (const record of wal.readFrom(1)) return record.lsn;
        return undefined;
      })();
      expect(first).toBe(20_001);
      await wal.close();
      await dropStore(connectionString, store);
    }, 60_000);

    it('two logs truncating to different bounds while both append, over sparse rows left below first_lsn: nothing at or above the bound goes, nothing below stays, held_bytes is the bytes present', async () => {
      const store = freshStore();
      const a = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const b = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      // Appends of uneven sizes (a bound falls inside one): 1..60,000 or so.
      const starts: number[] = [];
      for (let i = 0; i < 24; i++) starts.push((await a.append(Array.from({ length: i % 3 === 0 ? 1 : 4_999 }, (_, j) => entry(`a${i}-${j}`))))[0]!);
      await b.fence();
      // Deletes cut short before: first_lsn at the start of an append, and below it every third row left.
      const first = starts[8]!;
      await withClient(connectionString, async (client) => {
        await client.query('UPDATE memmapfs_wal_logs SET first_lsn = $2 WHERE store = $1', [store, first]);
        await client.query(`WITH gone AS (DELETE FROM memmapfs_wal_records WHERE store = $1 AND lsn < $2 AND lsn % 3 <> 0 RETURNING octet_length(payload) AS bytes)
          UPDATE memmapfs_wal_logs SET held_bytes = held_bytes - (SELECT sum(bytes) FROM gone) WHERE store = $1`, [store, first]);
      });
      const keepA = starts[14]! + 17;
      const keepB = starts[10]! + 4_000;
      const [oldA, oldB] = await Promise.all([
        a.truncateBefore(keepA),
        b.truncateBefore(keepB),
        a.append(Array.from({ length: 3_000 }, (_, j) => entry(`during-a${j}`))),
        b.append(Array.from({ length: 3_000 }, (_, j) => entry(`during-b${j}`))),
      ]);
      expect(oldA).toBe(starts[14]);
      // (B's bound is below A's: B returns its own append start, or first_lsn when A moved it first.)
      expect([starts[10], starts[14]]).toContain(oldB);
      const state = await withClient(connectionString, async (client) => ({
        log: (await client.query('SELECT first_lsn, last_lsn, held_bytes FROM memmapfs_wal_logs WHERE store = $1', [store])).rows[0],
        rows: (await client.query('SELECT count(*) AS n, min(lsn) AS lo, max(lsn) AS hi, sum(octet_length(payload)) AS bytes FROM memmapfs_wal_records WHERE store = $1', [store])).rows[0],
      }));
      const firstLsn = Number(state.log.first_lsn);
      const lastLsn = Number(state.log.last_lsn);
      expect(firstLsn).toBe(Math.max(oldA, oldB));
      // Every record from first_lsn to last_lsn is there, none below.
      expect({ n: Number(state.rows.n), lo: Number(state.rows.lo), hi: Number(state.rows.hi) }).toEqual({ n: lastLsn - firstLsn + 1, lo: firstLsn, hi: lastLsn });
      expect(Number(state.log.held_bytes)).toBe(Number(state.rows.bytes));
      await a.close();
      await b.close();
      await dropStore(connectionString, store);
    }, 120_000);
  });

  describe('postgres log, retention on a table whose statistics predate the store', () => {
    // (A server of its own: its statistics and autovacuum are this test's, not those of the other test files.)
    const ownServer = serverOfItsOwn(postgres);

    it('truncateBefore deletes a long history row by row once, when the planner believes the store holds one row: a plan joining the rows below the bound to themselves took minutes a batch', async () => {
      const { connectionString } = ownServer();
      const store = freshStore();
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      // 300,000 rows of twenty other stores, analysed before this store has any: autovacuum analyses
      // again only past 10% more rows, which the 25,000 below stay under.
      await withClient(connectionString, async (client) => {
        await client.query("INSERT INTO memmapfs_wal_records (store, lsn, commit_end, type, checksum, payload) SELECT 'filler-' || (g % 20), g, g, 1, 0, '\\x00' FROM generate_series(1, 300000) g");
        await client.query('ANALYZE memmapfs_wal_records');
      });
      for (let batch = 0; batch < 5; batch++) await wal.append(Array.from({ length: 5_000 }, (_, i) => entry(`r${batch * 5_000 + i + 1}`)));
      expect(await wal.truncateBefore(20_001)).toBe(20_001);
      const left = await withClient(connectionString, async (client) => (await client.query('SELECT count(*) AS n, min(lsn) AS first FROM memmapfs_wal_records WHERE store = $1', [store])).rows[0]);
      expect({ n: Number(left.n), first: Number(left.first) }).toEqual({ n: 5_000, first: 20_001 });
      await wal.close();
    }, 30_000);
  });

  describe('postgres log, reading from a table whose statistics predate the store', () => {
    const ownServer = serverOfItsOwn(postgres);

    it('a page of records reads about a page of rows, not the rest of the log, when the planner believes the range holds few rows', async () => {
      const { connectionString } = ownServer();
      const store = freshStore();
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      await wal.close();
      await withClient(connectionString, async (client) => {
        // 200 other stores (more than the 100 most common values ANALYZE keeps) of 1,500 records, whose
        // logs reach LSN 200,000, analysed before this store has a row; then this store's 200,000
        // records (appends of 50), under the 10% more rows that make autovacuum analyse again.
        await client.query(`INSERT INTO memmapfs_wal_records (store, lsn, commit_end, type, checksum, payload)
          SELECT 'other-' || (g % 200), 198500 + g / 200 + 1 - (g % 200) * 990, 198500 + g / 200 + 1 - (g % 200) * 990, 1, 0, '\\x00' FROM generate_series(0, 299999) g`);
        await client.query('ANALYZE memmapfs_wal_records');
        await client.query(`INSERT INTO memmapfs_wal_records (store, lsn, commit_end, type, checksum, payload)
          SELECT $1, g, ((g - 1) / 50 + 1) * 50, 1, 0, repeat('x', 200)::bytea FROM generate_series(1, 200000) g`, [store]);
        const rowsRead = async (after: number) => {
          const plan = (await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${PAGE_QUERY}`, [store, after, 200_000])).rows[0]['QUERY PLAN'][0].Plan;
          let most = 0;
          const walk = (node: Record<string, unknown>) => {
            if (node['Relation Name'] === 'memmapfs_wal_records') most = Math.max(most, Number(node['Actual Rows']));
            for (const child of (node.Plans as Array<Record<string, unknown>> | undefined) ?? []) walk(child);
          };
          walk(plan);
          return most;
        };
        // A page is 1,000 records and the rest of the append it ends in (a plan that sorted the rest of
        // the log read 50,000 rows for the page after 150,000).
        for (const after of [0, 100_000, 150_000, 180_000]) expect(await rowsRead(after), `the page after ${after}`).toBeLessThanOrEqual(1_001);
      });
    }, 60_000);
  });

  describe('postgres log, beyond the suite', () => {
    it('wakes a follower in another log through LISTEN/NOTIFY: refresh reports records fetched without any call to the server', async () => {
      const store = freshStore();
      const open = postgresWal({ connectionString, store });
      const writer = await open({ codec: 'msgpack' });
      const seen: string[] = [];
      // A log of another "process": no in-process hand-over, as if it ran elsewhere.
      const follower = (await postgresWal({ connectionString: `${connectionString}&application_name=other`, store })({ codec: 'msgpack', onCommit: (records) => seen.push(...records.map(text)) })) as PostgresWal;
      await writer.append([entry('one'), entry('two')]);
      const deadline = Date.now() + 5_000;
      while (seen.length < 2 && Date.now() < deadline) {
        follower.refresh();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(seen).toEqual(['one', 'two']);
      expect(follower.lastLsn).toBe(2);
      await follower.close();
      await writer.close();
      await dropStore(connectionString, store);
    });

    it('commits a small append in two round trips: the writer lock with what other hosts committed before it, then the rows with the COMMIT; their records are reported first, in order', async () => {
      const store = freshStore();
      const seen: string[] = [];
      const a = await postgresWal({ connectionString, store })({ codec: 'msgpack', onCommit: (records) => seen.push(...records.map((r) => `${r.lsn}:${text(r)}`)) });
      const b = await postgresWal({ connectionString: `${connectionString}&application_name=other`, store })({ codec: 'msgpack' });
      await b.append([entry('b1'), entry('b2')]);
      await b.append([entry('b3')]);
      type Query = (this: pg.Client, ...args: unknown[]) => Promise<unknown>;
      const query = pg.Client.prototype.query as unknown as Query;
      const sent: Array<{ client: pg.Client; sql: string }> = [];
      (pg.Client.prototype as unknown as { query: Query }).query = function (this: pg.Client, ...args: unknown[]) {
        sent.push({ client: this, sql: typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string })?.text) });
        return query.apply(this, args);
      };
      let lsns: number[];
      try {
        lsns = await a.append([entry('a1')]);
      } finally {
        (pg.Client.prototype as unknown as { query: Query }).query = query;
      }
      const writer = sent.find((q) => q.sql.includes('FOR UPDATE'))!.client;
      const mine = sent.filter((q) => q.client === writer).map((q) => q.sql);
      expect(mine).toHaveLength(2);
      expect(mine[1]).toMatch(/INSERT INTO memmapfs_wal_records[\s\S]*COMMIT$/);
      expect(lsns).toEqual([4]);
      expect(seen).toEqual(['1:b1', '2:b2', '3:b3', '4:a1']);
      await a.close();
      await b.close();
      await dropStore(connectionString, store);
    });

    it('reports whole appends only: a follower never stops inside another log\'s append, however many records or bytes it holds', async () => {
      const store = freshStore();
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const batchEnds: number[] = [];
      const seen: number[] = [];
      const follower = await postgresWal({ connectionString: `${connectionString}&application_name=far-host`, store })({
        codec: 'msgpack',
        onCommit: (records) => {
          seen.push(...records.map((r) => r.lsn));
          batchEnds.push(records.at(-1)!.lsn);
        },
      });
      // One append of 2,500 small records (more than a page of 1,000), then one of 12 records of 1 MiB (more than a page of 8 MiB).
      await writer.append(Array.from({ length: 2_500 }, (_, i) => entry(`small ${i}`)));
      const mib = 'm'.repeat(1024 * 1024);
      await writer.append(Array.from({ length: 12 }, (_, i) => entry(`${i} ${mib}`)));
      const deadline = Date.now() + 20_000;
      while (seen.length < 2_512 && Date.now() < deadline) {
        follower.refresh();
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      expect(seen).toEqual(Array.from({ length: 2_512 }, (_, i) => i + 1));
      expect(batchEnds.every((end) => end === 2_500 || end === 2_512), `batches ended at ${batchEnds.join(', ')}`).toBe(true);
      // A fence reads whole appends too; and so does readFrom.
      const again = await postgresWal({ connectionString: `${connectionString}&application_name=fencing-host`, store })({ codec: 'msgpack', recover: async (records) => { for await (const _ of records) void _; } });
      await again.close();
      await follower.close();
      await writer.close();
      await dropStore(connectionString, store);
    }, 60_000);

    it('an onCommit that throws fails the log with WAL_FAILED: the records after the refused one are never skipped', async () => {
      const store = freshStore();
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const applied: string[] = [];
      const follower = await postgresWal({ connectionString: `${connectionString}&application_name=refusing-host`, store })({
        codec: 'msgpack',
        onCommit: (records) => {
          for (const record of records) {
            if (text(record) === 'refused') throw new Error('cannot apply this one');
            applied.push(text(record));
          }
        },
      });
      await writer.append([entry('first')]);
      await follower.fence();
      follower.refresh();
      await writer.append([entry('refused'), entry('after it')]);
      // (A fence reports what it read: the refusal comes out of it.)
      await expect(follower.fence()).rejects.toThrow('cannot apply this one');
      await writer.append([entry('later')]);
      expect(() => follower.refresh()).toThrow(expect.objectContaining({ code: 'WAL_FAILED' }));
      await expect(follower.fence()).rejects.toMatchObject({ code: 'WAL_FAILED' });
      await expect(follower.append([entry('no')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
      expect(applied).toEqual(['first']);
      await follower.close().catch(() => undefined);
      await writer.close();
      await dropStore(connectionString, store);
    });

    it('an onCommit that throws a revoked Proxy fails the log with WAL_FAILED all the same', async () => {
      const store = freshStore();
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const revoked = Proxy.revocable({}, {});
      revoked.revoke();
      let calls = 0;
      const follower = await postgresWal({ connectionString: `${connectionString}&application_name=revoking-host`, store })({
        codec: 'msgpack',
        onCommit: (records) => {
          if (records.length === 0) return;
          calls++;
          throw revoked.proxy;
        },
      });
      await writer.append([entry('first')]);
      // (The first report throws what onCommit threw: caught here, as a matcher cannot look at a revoked Proxy.)
      const outcome = await follower.fence().then(() => 'resolved', () => 'rejected');
      expect(outcome).toBe('rejected');
      expect(() => follower.refresh()).toThrow(expect.objectContaining({ code: 'WAL_FAILED' }));
      await expect(follower.append([entry('no')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
      expect(calls).toBe(1);
      await follower.close().catch(() => undefined);
      await writer.close();
      await dropStore(connectionString, store);
    });

    it('a writable open whose recover needs no lock lets other logs append during its replay, and announces their records after it (onAvailable)', async () => {
      const store = freshStore();
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      await writer.append([entry('before 1'), entry('before 2')]);
      let release!: () => void;
      const replaying = new Promise<void>((resolve) => (release = resolve));
      let entered!: () => void;
      const inRecover = new Promise<void>((resolve) => (entered = resolve));
      const recovered: string[] = [];
      const reported: string[] = [];
      let announced = 0;
      const opening = postgresWal({ connectionString: `${connectionString}&application_name=host-b`, store })({
        codec: 'msgpack',
        lockTimeoutMs: 1_000,
        recoverWithoutLock: true,
        recover: async (records) => {
          for await (const record of records) recovered.push(text(record));
          entered();
          await replaying;
        },
        onCommit: (records) => reported.push(...records.map(text)),
        onAvailable: () => announced++,
      });
      await inRecover;
      // Under the writer lock this append would wait for the replay, and time out after lockTimeoutMs.
      const [during] = await writer.append([entry('during the replay')], {});
      expect(during).toBe(3);
      release();
      const opened = await opening;
      expect(recovered).toEqual(['before 1', 'before 2']);
      const deadline = Date.now() + 5_000;
      while (announced === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(announced).toBeGreaterThan(0);
      opened.refresh();
      expect(reported).toEqual(['during the replay']);
      const [after] = await opened.append([entry('after')]);
      expect(after).toBe(4);
      await opened.close();
      await writer.close();
      await dropStore(connectionString, store);
    });

    it('a writable open holds the writer lock through its recover unless told it needs none', async () => {
      const store = freshStore();
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack', lockTimeoutMs: 300 });
      await writer.append([entry('before')]);
      let release!: () => void;
      const replaying = new Promise<void>((resolve) => (release = resolve));
      let entered!: () => void;
      const inRecover = new Promise<void>((resolve) => (entered = resolve));
      const opening = postgresWal({ connectionString: `${connectionString}&application_name=host-b`, store })({
        codec: 'msgpack',
        recover: async (records) => {
          for await (const _ of records) void _;
          entered();
          await replaying;
        },
      });
      await inRecover;
      const refused = await writer.append([entry('during')]).then(() => 'written', (error: { code?: string }) => error.code);
      expect(refused).toBe('LOCK_TIMEOUT');
      release();
      await (await opening).close();
      await writer.close().catch(() => undefined);
      await dropStore(connectionString, store);
    });

    it("reports this log's own records with their contexts, though its follower may read them before the COMMIT returns", async () => {
      const store = freshStore();
      const reported: Array<[number, unknown]> = [];
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack', onCommit: (records) => reported.push(...records.map((r) => [r.lsn, r.context] as [number, unknown])) });
      const other = await postgresWal({ connectionString: `${connectionString}&application_name=other`, store })({ codec: 'msgpack' });
      const appends: Array<Promise<number[]>> = [];
      for (let i = 0; i < 300; i++) {
        appends.push(wal.append([{ ...entry(`mine ${i}`), context: i }]));
        if (i % 10 === 0) appends.push(other.append([entry(`other ${i}`)]));
        if (i % 25 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await Promise.all(appends);
      await wal.fence();
      const mine = reported.filter(([, context]) => context !== undefined);
      expect(mine.map(([, context]) => context)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      expect(reported.map(([lsn]) => lsn)).toEqual(Array.from({ length: 330 }, (_, i) => i + 1));
      await other.close();
      await wal.close();
      await dropStore(connectionString, store);
    });

    it('a writer waiting longer than lockTimeoutMs for the writer lock fails with LOCK_TIMEOUT and stays usable', async () => {
      const store = freshStore();
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack', lockTimeoutMs: 200 });
      await withClient(connectionString, async (client) => {
        await client.query('BEGIN');
        await client.query('SELECT last_lsn FROM memmapfs_wal_logs WHERE store = $1 FOR UPDATE', [store]);
        const refused = await wal.append([entry('blocked')]).then(() => undefined, (error: { code?: string; message?: string }) => error);
        expect(refused?.code).toBe('LOCK_TIMEOUT');
        expect(refused?.message).toContain('lockTimeoutMs');
        await client.query('ROLLBACK');
      });
      expect(await wal.append([entry('after')])).toEqual([1]);
      await wal.close();
      await dropStore(connectionString, store);
    });

    it('reads a long log a page at a time, and readFrom starts at the oldest record held after retention', async () => {
      const store = freshStore();
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const lsns = await Promise.all(Array.from({ length: 2_500 }, (_, i) => wal.append([entry(`r${i + 1}`)])));
      expect(lsns.flat()).toEqual(Array.from({ length: 2_500 }, (_, i) => i + 1));
      let count = 0;
      for await (const record of wal.readFrom(1)) expect(record.lsn).toBe(++count);
      expect(count).toBe(2_500);
      expect(await wal.truncateBefore(2_000)).toBe(2_000);
      const first = (await wal.readFrom(1).next()).value as { lsn: number };
      expect(first.lsn).toBe(2_000);
      await wal.close();
      await dropStore(connectionString, store);
    });

    it('keeps the records of one append together across retention: the oldest record held begins an append', async () => {
      const store = freshStore();
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      await wal.append([entry('a'), entry('b'), entry('c')]);
      await wal.append([entry('d')]);
      expect(await wal.truncateBefore(2)).toBe(1);
      expect(await wal.truncateBefore(4)).toBe(4);
      await wal.close();
      await dropStore(connectionString, store);
    });

    it('a record changed in its table is WAL_CORRUPT, never handed over', async () => {
      const store = freshStore();
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      await wal.append([entry('intact'), entry('tampered')]);
      await wal.close();
      await withClient(connectionString, (client) => client.query("UPDATE memmapfs_wal_records SET payload = 'changed'::bytea WHERE store = $1 AND lsn = 2", [store]));
      const reopened = postgresWal({ connectionString, store })({ codec: 'msgpack', recover: async (records) => { for await (const _ of records); } });
      await expect(reopened).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
      await dropStore(connectionString, store);
    });

    it('a log whose row was replaced is WAL_REPLACED on the next look', async () => {
      const store = freshStore();
      const wal = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      await wal.append([entry('one')]);
      await dropStore(connectionString, store);
      const other = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      await expect(wal.fence()).rejects.toMatchObject({ code: 'WAL_REPLACED' });
      await expect(wal.append([entry('two')])).rejects.toMatchObject({ code: 'WAL_REPLACED' });
      await wal.close();
      await other.close();
      await dropStore(connectionString, store);
    });

    it('two moves of the reader position at once leave one position held, which never holds retention back', async () => {
      const store = freshStore();
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const reader = await postgresWal({ connectionString: `${connectionString}&application_name=other`, store })({ codec: 'msgpack' });
      for (let i = 0; i < 5; i++) await writer.append([entry(`r${i}`)]);
      await reader.fence();
      // Two retention calls at once (a checkpoint timer and a shutdown checkpoint) each move the reader's position first.
      await Promise.all([reader.truncateBefore(3), reader.truncateBefore(3)]);
      for (let i = 0; i < 5; i++) await writer.append([entry(`s${i}`)]);
      await reader.fence();
      await reader.truncateBefore(1);
      expect(await writer.truncateBefore(11)).toBe(11);
      const positions = await withClient(connectionString, async (client) => (await client.query(
        `SELECT ((classid::bigint << 32) | objid::bigint) & ((1::bigint << 43) - 1) AS position FROM pg_locks
         WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND ((classid::bigint << 32) | objid::bigint) >> 43 = $1 ORDER BY position`,
        [storeTagOf(store).toString()],
      )).rows.map((row) => Number(row.position)));
      expect(positions).toEqual([11, 11]); // the writer's and the reader's, and no other
      await reader.close();
      await writer.close();
      await dropStore(connectionString, store);
    });

    it("readFrom reads up to the server's last LSN at the call, though this log has not reported it yet", async () => {
      const store = freshStore();
      const writer = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const reader = await postgresWal({ connectionString: `${connectionString}&application_name=other`, store })({ codec: 'msgpack' });
      await writer.append([entry('one'), entry('two')]);
      await writer.append([entry('three')]);
      const read: string[] = [];
      for await (const record of reader.readFrom(1)) read.push(text(record));
      expect(read).toEqual(['one', 'two', 'three']);
      expect(reader.lastLsn).toBe(0);
      await reader.close();
      await writer.close();
      await dropStore(connectionString, store);
    });

    it("under 'batch', a background flush that failed is tried again", async () => {
      const store = freshStore();
      let calls = 0;
      const wal = await postgresWal({ connectionString, store })({
        codec: 'msgpack',
        durability: 'batch',
        batchIntervalMs: 10,
        beforeSync: () => {
          // The first call is the append's transaction, the second its background flush: refused once.
          if (++calls === 2) throw new Error('not now');
        },
      });
      await wal.append([entry('a')]);
      const deadline = Date.now() + 2_000;
      while (calls < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(calls).toBe(3);
      await wal.close();
      await dropStore(connectionString, store);
    });

    it("'sync' commits synchronously though the session's default synchronous_commit is off", async () => {
      const store = freshStore();
      const relaxedByDefault = `${connectionString}&options=${encodeURIComponent('-c synchronous_commit=off')}`;
      const sync = await postgresWal({ connectionString: relaxedByDefault, store })({ codec: 'msgpack' });
      const trigger = `note_sync_${store.replace(/\W/g, '_')}`;
      await withClient(connectionString, (client) => client.query(`
        CREATE TABLE IF NOT EXISTS memmapfs_test_sync_seen (store text, setting text);
        CREATE OR REPLACE FUNCTION memmapfs_test_note_sync() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN INSERT INTO memmapfs_test_sync_seen VALUES (NEW.store, current_setting('synchronous_commit')); RETURN NEW; END $$;
        CREATE TRIGGER ${trigger} AFTER INSERT ON memmapfs_wal_records FOR EACH ROW WHEN (NEW.store = ${pg.escapeLiteral(store)}) EXECUTE FUNCTION memmapfs_test_note_sync();`));
      try {
        const none = await postgresWal({ connectionString: relaxedByDefault, store })({ codec: 'msgpack', durability: 'none' });
        await sync.append([entry('sync')]);
        await none.append([entry('none')]);
        await none.close();
        const seen = await withClient(relaxedByDefault, async (client) => ({
          defaults: (await client.query("SELECT current_setting('synchronous_commit') AS setting")).rows[0].setting,
          settings: (await client.query('SELECT setting FROM memmapfs_test_sync_seen WHERE store = $1', [store])).rows.map((row) => row.setting),
        }));
        expect(seen).toEqual({ defaults: 'off', settings: ['on', 'off'] });
      } finally {
        await withClient(connectionString, (client) => client.query(`DROP TRIGGER ${trigger} ON memmapfs_wal_records`));
      }
      await sync.close();
      await dropStore(connectionString, store);
    });

    it('refuses a connection string that is not a PostgreSQL URL (libpq key=value, another scheme) before it connects', () => {
      for (const given of ['host=/tmp dbname=memories', 'http://localhost/memories', 'localhost:5432/memories']) {
        expect(() => postgresWal({ connectionString: given, store: 'agents' }), given).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('postgresql://') }));
      }
      for (const given of ['postgresql:///memories?host=/var/run/postgresql', 'postgres://app@db/memories', 'socket:/var/run/postgresql?db=memories']) expect(() => postgresWal({ connectionString: given, store: 'agents' }), given).not.toThrow();
    });

    it('refuses a lockTimeoutMs past what PostgreSQL takes (2^31 - 1 ms) with INVALID_ARGUMENT', async () => {
      const open = postgresWal({ connectionString, store: freshStore() });
      await expect(open({ codec: 'msgpack', lockTimeoutMs: 2 ** 31 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('lockTimeoutMs') });
    });

    it('says what to do when PostgreSQL is not there, or the store does not exist', async () => {
      const nowhere = postgresWal({ connectionString: 'postgresql://postgres@/postgres?host=/nonexistent-memmapfs-socket', store: 'x' });
      const refused = await nowhere({ codec: 'msgpack' }).then(() => undefined, (error: { code?: string; message?: string }) => error);
      expect(refused?.code).toBe('IO_ERROR');
      expect(refused?.message).toMatch(/Is PostgreSQL running at \/nonexistent-memmapfs-socket\/postgres/);
      const missing = await postgresWal({ connectionString, store: freshStore() })({ codec: 'msgpack', readOnly: true }).then(() => undefined, (error: { code?: string; message?: string }) => error);
      expect(missing).toMatchObject({ code: 'WAL_NOT_FOUND' });
      expect(missing?.message).toContain('Open it once without readOnly');
      const notCreated = await postgresWal({ connectionString, store: freshStore() })({ codec: 'msgpack', create: false }).then(() => undefined, (error: { code?: string; message?: string }) => error);
      expect(notCreated).toMatchObject({ code: 'WAL_NOT_FOUND', message: expect.stringContaining('memmapfs init --postgres') });
      expect(() => postgresWal({ connectionString, store: '' })).toThrow(/store must be a non-empty name/);
    });
  });
}
