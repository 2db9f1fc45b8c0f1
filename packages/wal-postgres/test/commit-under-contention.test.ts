import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { postgresWal } from '../src/index.js';
import { channelOf, checksumSeed, recordChecksum } from '../src/log-tables.js';
import { INSTALL_ADVICE } from './support/postgres-server.js';
import { dropStore, entry, freshStore, text } from './support/places.js';

const postgres = inject('postgres');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function connect(connectionString: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  return client;
}

/** As another host would, inside `client`'s open transaction (which then holds the writer lock): writes record last + 1. */
async function writeAsOtherHost(client: pg.Client, store: string, body: string, notify = true): Promise<number> {
  const { rows } = await client.query('SELECT log_id, last_lsn FROM memmapfs_wal_logs WHERE store = $1 FOR UPDATE', [store]);
  const lsn = Number(rows[0].last_lsn) + 1;
  const payload = Buffer.from(body);
  const checksum = recordChecksum(checksumSeed(rows[0].log_id), lsn, 1, payload);
  await client.query('INSERT INTO memmapfs_wal_records (store, lsn, commit_end, type, checksum, payload) VALUES ($1, $2, $2, 1, $3, $4)', [store, lsn, checksum, payload]);
  await client.query('UPDATE memmapfs_wal_logs SET last_lsn = $2, held_bytes = held_bytes + $3 WHERE store = $1', [store, lsn, payload.length]);
  if (notify) await client.query('SELECT pg_notify($1, $2)', [channelOf(store), String(lsn)]);
  return lsn;
}

/** The backend process of `client`'s connection. */
async function pidOf(client: pg.Client): Promise<number> {
  return (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
}

/**
 * Polls from `observer` (a connection of its own: statistics views keep one snapshot per transaction)
 * until a session other than `pids` waits for a lock one of `pids` holds or waits for: a query is
 * queued behind them, which no sleep of a given length can promise on a loaded machine.
 */
async function queuedBehind(observer: pg.Client, pids: number[]): Promise<void> {
  const query = 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE NOT (pid = ANY($1::int[])) AND pg_blocking_pids(pid) && $1::int[]';
  for (const deadline = Date.now() + 10_000; ; await sleep(5)) {
    if ((await observer.query(query, [pids])).rows[0].n > 0) return;
    if (Date.now() > deadline) throw new Error(`no session queued behind ${pids.join(', ')} within 10 s`);
  }
}

/** Polls `holds` every 10 ms for up to `ms`; whether it came true. */
async function eventually(holds: () => boolean, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(10)) if (holds()) return true;
  return holds();
}

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  const { connectionString } = postgres;

  describe('postgres log, commits that wait for the writer lock', () => {
    it("fetch what another host commits meanwhile: a commit that keeps waiting does not keep the records it would read from the follower", async () => {
      /** One try; 'raced' when the append took the lock before y (see below), and nothing was shown. */
      const attempt = async (): Promise<'shown' | 'raced'> => {
        const store = freshStore('waiting');
        const seen: string[] = [];
        let available = 0;
        const a = await postgresWal({ connectionString, store })({ codec: 'msgpack', onCommit: (records) => seen.push(...records.map((r) => `${r.lsn}:${text(r)}`)), onAvailable: () => available++ });
        await a.fence(); // (a pool connection ready: the append's transaction begins at once)
        const x = await connect(connectionString);
        const y = await connect(connectionString);
        const observer = await connect(connectionString);
        try {
          const [xPid, yPid] = [await pidOf(x), await pidOf(y)];
          await x.query('BEGIN');
          await x.query('SELECT 1 FROM memmapfs_wal_logs WHERE store = $1 FOR UPDATE', [store]);
          await y.query('BEGIN');
          const yLocked = y.query('SELECT last_lsn FROM memmapfs_wal_logs WHERE store = $1 FOR UPDATE', [store]); // next in line
          await queuedBehind(observer, [xPid]);
          const appended = a.append([entry('a1')]);
          await queuedBehind(observer, [xPid, yPid]); // a's transaction has begun, behind y
          await writeAsOtherHost(x, store, 'x1');
          await x.query('COMMIT'); // y takes the lock and keeps it; a's follower hears of x1
          // x updated the row both wait for: each then follows it to its new version, and on a loaded
          // machine the append may get there first (PostgreSQL keeps no queue across an update). Then it
          // committed x1 with its own record, which shows nothing here: tried again.
          if (Number((await yLocked).rows[0].last_lsn) !== 1) {
            await y.query('ROLLBACK');
            await appended;
            return 'raced';
          }
          // (No refresh() meanwhile, which would fetch it: the follower alone.)
          expect(await eventually(() => available > 0, 5_000), 'x1 never announced while the commit waited').toBe(true);
          expect(a.refresh()).toBe(1);
          expect(seen).toEqual(['1:x1']);
          await y.query('ROLLBACK');
          expect(await appended).toEqual([2]);
          expect(seen).toEqual(['1:x1', '2:a1']);
          return 'shown';
        } finally {
          await x.end();
          await y.end();
          await observer.end();
          await a.close();
          await dropStore(connectionString, store);
        }
      };
      let outcome = await attempt();
      for (let tries = 1; outcome === 'raced' && tries < 10; tries++) outcome = await attempt();
      expect(outcome, 'the append took the lock before y in ten tries').toBe('shown');
    }, 60_000);

    it("announce other hosts' records they read under the lock when they then fail", async () => {
      const store = freshStore('failing');
      const seen: string[] = [];
      let available = 0;
      const a = await postgresWal({ connectionString, store })({ codec: 'msgpack', onCommit: (records) => seen.push(...records.map((r) => `${r.lsn}:${text(r)}`)), onAvailable: () => available++ });
      const x = await connect(connectionString);
      const observer = await connect(connectionString);
      try {
        const xPid = await pidOf(x);
        await x.query('BEGIN');
        await x.query('SELECT 1 FROM memmapfs_wal_logs WHERE store = $1 FOR UPDATE', [store]);
        const appended = a.append([entry('a1')]).then(() => 'written', (error: { code?: string }) => error.code);
        await queuedBehind(observer, [xPid]);
        await writeAsOtherHost(x, store, 'x1');
        // A stray row at 2 (a crashed writer's leftovers, say): a's INSERT fails after its first round trip.
        await x.query("INSERT INTO memmapfs_wal_records (store, lsn, commit_end, type, checksum, payload) VALUES ($1, 2, 2, 1, 0, '\\x00')", [store]);
        await x.query('COMMIT');
        expect(await appended).toBe('IO_ERROR');
        expect(await eventually(() => available > 0 || seen.length > 0, 5_000), 'x1 neither reported nor announced').toBe(true);
        a.refresh();
        expect(seen).toEqual(['1:x1']);
        await x.query('DELETE FROM memmapfs_wal_records WHERE store = $1 AND lsn = 2', [store]);
      } finally {
        await x.end();
        await observer.end();
        await a.close();
        await dropStore(connectionString, store);
      }
    }, 30_000);

    it('refuse with WAL_FAILED, not a retry, an append whose catch-up under the lock meets an onCommit that throws', async () => {
      const store = freshStore('refusing');
      let calls = 0;
      const a = await postgresWal({ connectionString, store })({ codec: 'msgpack', onCommit: (records) => {
        if (records.some((record) => text(record) === 'x1')) {
          calls++;
          throw new Error('cannot apply x1');
        }
      } });
      await a.fence();
      const x = await connect(connectionString);
      try {
        // (Written without a notification: the follower does not fetch it; the append reads it under the lock.)
        await x.query('BEGIN');
        await writeAsOtherHost(x, store, 'x1', false);
        await x.query('COMMIT');
        const outcome = await a.append([entry('a1')], { check: () => undefined }).then(() => 'written', (error: { code?: string }) => error.code);
        expect(calls).toBe(1);
        expect(outcome).toBe('WAL_FAILED');
        await expect(a.append([entry('a2')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
      } finally {
        await x.end();
        await a.close().catch(() => undefined);
        await dropStore(connectionString, store);
      }
    }, 30_000);

    it('a flush that gives up on the writer lock (LOCK_TIMEOUT) leaves no connection of the pool in its aborted transaction: what follows works', async () => {
      const store = freshStore('flush-timeout');
      const a = await postgresWal({ connectionString, store })({ codec: 'msgpack', durability: 'none', lockTimeoutMs: 200 });
      await a.append([entry('relaxed')]);
      const holder = await connect(connectionString);
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT * FROM memmapfs_wal_logs WHERE store = $1 FOR UPDATE', [store]);
        await expect(a.flush()).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
        await holder.query('COMMIT');
        // Every connection the pool may hand out next: none is left in the failed transaction.
        await a.flush();
        for (let i = 0; i < 6; i++) {
          await a.append([entry(`after ${i}`)]);
          await a.flush();
        }
        expect(a.lastLsn).toBe(7);
      } finally {
        await holder.end();
        await a.close();
        await dropStore(connectionString, store);
      }
    }, 30_000);

    it.each(['serializable', 'repeatable\\ read'])('take turns with every append written when the server begins transactions as %s', async (level) => {
      const store = freshStore('isolation');
      const options = `&options=${encodeURIComponent(`-c default_transaction_isolation=${level}`)}`;
      const a = await postgresWal({ connectionString: connectionString + options, store })({ codec: 'msgpack' });
      const b = await postgresWal({ connectionString: `${connectionString}${options}&application_name=other`, store })({ codec: 'msgpack' });
      const refused: string[] = [];
      const run = async (log: typeof a, name: string) => {
        for (let i = 0; i < 40; i++) await log.append([entry(`${name}${i}`)]).catch((error: Error) => refused.push(error.message));
      };
      await Promise.all([run(a, 'a'), run(b, 'b')]);
      await a.fence();
      expect(refused).toEqual([]);
      expect(a.lastLsn).toBe(80);
      await a.close();
      await b.close();
      await dropStore(connectionString, store);
    }, 60_000);

    it.each(['serializable', 'repeatable\\ read'])('open beside appends, cut the history and publish snapshots at once when the server begins transactions as %s', async (level) => {
      const store = freshStore('isolation');
      const at = (name: string) => `${connectionString}&options=${encodeURIComponent(`-c default_transaction_isolation=${level}`)}&application_name=${name}`;
      const a = await postgresWal({ connectionString: at('a'), store })({ codec: 'msgpack' });
      let appending = true;
      const appends = (async () => {
        for (let i = 0; appending; i++) await a.append([entry(`a${i}`)]);
      })();
      try {
        // Hosts joining while `a` appends (each claims the log's row if missing, outside the writer lock).
        const failures: string[] = [];
        for (let i = 0; i < 12; i++) {
          await postgresWal({ connectionString: at(`joining${i}`), store })({ codec: 'msgpack', recoverWithoutLock: true }).then((log) => log.close(), (error: Error) => failures.push(error.message));
        }
        expect(failures).toEqual([]);
        // History cut while `a` appends: every row below the bound goes.
        await sleep(100);
        const bound = Math.floor(a.lastLsn / 2);
        expect(await a.truncateBefore(bound)).toBe(bound);
        const below = await connect(connectionString);
        try {
          const { rows } = await below.query('SELECT count(*)::int AS n FROM memmapfs_wal_records WHERE store = $1 AND lsn < $2', [store, bound]);
          expect(rows[0].n).toBe(0);
        } finally {
          await below.end();
        }
        // Two snapshots of one position at once: one is kept, the other is told so, neither fails.
        const position = a.lastLsn;
        const outcomes = await Promise.all([1, 2].map(() => a.snapshots!.put(position, (async function* () { yield new Uint8Array([1, 2, 3]); })())));
        expect(outcomes.sort()).toEqual([false, true]);
      } finally {
        appending = false;
        await appends.catch(() => undefined);
        await a.close();
        await dropStore(connectionString, store);
      }
    }, 60_000);
  });
}
