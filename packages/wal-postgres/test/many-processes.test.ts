import { describe, expect, inject, it } from 'vitest';
import { postgresWal } from '../src/index.js';
import { startLogChild } from './support/child-process.js';
import { dropStore, freshStore, withClient } from './support/places.js';
import { INSTALL_ADVICE } from './support/postgres-server.js';

const postgres = inject('postgres');
const text = (record: { payload: Uint8Array }) => Buffer.from(record.payload).toString();
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Every row of a store: LSN, the LSN its append ends at, and the first 40 characters of its text; and the log's counter. */
async function rowsOf(connectionString: string, store: string) {
  return withClient(connectionString, async (client) => {
    const rows = (await client.query("SELECT lsn::int AS lsn, commit_end::int AS end, left(convert_from(payload, 'UTF8'), 40) AS text FROM memmapfs_wal_records WHERE store = $1 ORDER BY lsn", [store])).rows as Array<{ lsn: number; end: number; text: string }>;
    const last = Number((await client.query('SELECT last_lsn FROM memmapfs_wal_logs WHERE store = $1', [store])).rows[0].last_lsn);
    return { rows, last };
  });
}

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  const { connectionString } = postgres;

  describe('postgres log, several processes', () => {
    it('two processes appending at once to one store: LSNs contiguous, nothing lost, each sees every record once, in order', async () => {
      const store = freshStore('two');
      const children = ['a', 'b'].map((name) => startLogChild({ mode: 'append', connectionString, store, name, count: 150, concurrency: 6, total: 600 }));
      const results = await Promise.all(children.map((child) => child.line<{ mine: Array<[number, string]>; seen: Array<[number, string]> }>((line) => 'mine' in line)));
      for (const child of children) expect(await child.exited).toBe(0);
      const mine = results.flatMap((result) => result.mine).sort((x, y) => x[0] - y[0]);
      // Each child appended 150 appends of 1–3 records: 300 records each.
      expect(mine).toHaveLength(600);
      expect(mine.map(([lsn]) => lsn)).toEqual(range(1, 600));
      expect(new Set(mine.map(([, value]) => value)).size).toBe(600);
      // Each process was told of every record, its own and the other's, once and in LSN order.
      for (const { seen } of results) expect(seen).toEqual(mine);
      const { rows, last } = await rowsOf(connectionString, store);
      expect(last).toBe(600);
      expect(rows.map((row) => [row.lsn, row.text])).toEqual(mine);
      await dropStore(connectionString, store);
    });

    it('a follower never skips an LSN: an append held open inside its transaction keeps a later one from committing before it', async () => {
      const store = freshStore('order');
      const follower = await postgresWal({ connectionString, store })({ codec: 'msgpack' });
      const seen: number[] = [];
      const watcher = await postgresWal({ connectionString: `${connectionString}&application_name=watcher`, store })({ codec: 'msgpack', onCommit: (records) => seen.push(...records.map((r) => r.lsn)) });
      const slow = startLogChild({ mode: 'slow', connectionString, store, name: 'slow', holdMs: 2_000, waitForGo: true });
      const fast = startLogChild({ mode: 'append', connectionString, store, name: 'fast', count: 3, concurrency: 3, waitForGo: true });
      await Promise.all([slow.line((line) => line.ready === true), fast.line((line) => line.ready === true)]);
      slow.go();
      await slow.line((line) => line.locked === true);
      // The slow append holds LSN 1 (the counter row) uncommitted; a second process's appends start now.
      fast.go();
      const during: number[] = [];
      const until = Date.now() + 700;
      while (Date.now() < until) {
        during.push(await follower.fence());
        watcher.refresh();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // Nothing committed while the first transaction held the counter: no follower saw a later LSN before it.
      expect(Math.max(...during)).toBe(0);
      expect(seen).toEqual([]);
      const slowResult = await slow.line<{ lsns: number[] }>((line) => 'lsns' in line);
      const fastResult = await fast.line<{ mine: Array<[number, string]> }>((line) => 'mine' in line);
      expect(slowResult.lsns).toEqual([1]);
      expect(fastResult.mine.map(([lsn]) => lsn).sort((x, y) => x - y)).toEqual(range(2, 1 + fastResult.mine.length));
      const last = await follower.fence();
      const deadline = Date.now() + 5_000;
      while (seen.length < last && Date.now() < deadline) {
        watcher.refresh();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(seen).toEqual(range(1, last));
      await watcher.close();
      await follower.close();
      await dropStore(connectionString, store);
    });

    it('kill -9 of a writer in the middle of its appends leaves no part of an append committed, and the writer lock free', async () => {
      const store = freshStore('kill');
      const acked: number[] = [];
      for (let round = 0; round < 3; round++) {
        const writer = startLogChild({ mode: 'forever', connectionString, store, name: `w${round}`, size: 64 * 1024 });
        await writer.line((line) => Array.isArray(line.acked) && writer.lines.length > 5 + round * 3);
        await new Promise((resolve) => setTimeout(resolve, 17 * (round + 1)));
        writer.process.kill('SIGKILL');
        expect(await writer.exited).toBe('SIGKILL');
        for (const line of writer.lines) acked.push(...(((line as { acked?: number[] }).acked) ?? []));
      }
      const { rows, last } = await rowsOf(connectionString, store);
      // Contiguous, every append whole (4 records, ending where their rows say), every acknowledged record there.
      expect(rows.map((row) => row.lsn)).toEqual(range(1, last));
      expect(last % 4).toBe(0);
      for (const row of rows) expect(row.end).toBe(Math.ceil(row.lsn / 4) * 4);
      const held = new Set(rows.map((row) => row.lsn));
      expect(acked.filter((lsn) => !held.has(lsn))).toEqual([]);
      // The lock died with its holder: another writer appends right after.
      const next = await postgresWal({ connectionString, store })({ codec: 'msgpack', lockTimeoutMs: 2_000 });
      const recovered: string[] = [];
      expect(await next.append([{ type: 1, payload: Buffer.from('after the kills') }])).toEqual([last + 1]);
      for await (const record of next.readFrom(last)) recovered.push(text(record).slice(0, 15));
      expect(recovered).toEqual([rows.at(-1)!.text.slice(0, 15), 'after the kills']);
      await next.close();
      await dropStore(connectionString, store);
    });
  });
}
