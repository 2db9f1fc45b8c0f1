import { WalError, type LogSnapshot, type LogSnapshots } from '@memmapfs/wal';
import type pg from 'pg';
import { BEGIN } from './log-queries.js';
import { checkout } from './pool-checkout.js';
import { isConnectionLoss, postgresError } from './postgres-errors.js';

/** Bytes per row of `memmapfs_wal_snapshots`: a snapshot is stored, and read back, a part at a time. */
const PART_BYTES = 4 * 1024 * 1024;

/**
 * The snapshots of one store's log, in `memmapfs_wal_snapshots` (one row per part of 4 MiB): a
 * snapshot is written in one transaction, which also drops the older ones, so a reader sees a whole
 * snapshot or none; it is read back in one REPEATABLE READ transaction, a part per query.
 */
export class PostgresLogSnapshots implements LogSnapshots {
  constructor(
    private readonly pool: pg.Pool,
    private readonly store: string,
    /** The log's id: snapshots of an earlier log of the same store name are neither read nor kept. */
    private readonly logId: string,
    private readonly name: string,
    private readonly server: string,
    /** PostgreSQL ends a transaction of these left idle this long (a process stopped mid-way): its lock goes with it. */
    private readonly idleTimeoutMs: number,
  ) {}

  async put(lsn: number, bytes: AsyncIterable<Uint8Array>): Promise<boolean> {
    if (!Number.isSafeInteger(lsn) || lsn < 1) throw new WalError('INVALID_ARGUMENT', `A snapshot covers a record: its LSN must be a positive integer, got ${JSON.stringify(lsn)}.`);
    const client = await checkout(this.pool);
    let broken: unknown;
    try {
      // (READ COMMITTED: the check below sees the snapshots committed before the lock was granted.)
      await client.query(`${BEGIN}; SET LOCAL idle_in_transaction_session_timeout = '${this.idleTimeoutMs}ms'`);
      // One writer of snapshots of this store at a time (a transaction-level lock: released with it).
      await client.query("SELECT pg_advisory_xact_lock(hashtext('memmapfs-snapshot:' || $1))", [this.store]);
      // (A process of a log that another took the place of must not drop that log's snapshots.)
      const current = await client.query('SELECT log_id FROM memmapfs_wal_logs WHERE store = $1', [this.store]);
      if (current.rows[0]?.log_id !== this.logId) throw new WalError('WAL_REPLACED', `${this.name} was replaced by another log (${String(current.rows[0]?.log_id ?? 'none')}): no snapshot of this one is kept. Close the store and open it again.`);
      await client.query('DELETE FROM memmapfs_wal_snapshots WHERE store = $1 AND log_id <> $2', [this.store, this.logId]);
      const { rows } = await client.query('SELECT max(lsn) AS newest FROM memmapfs_wal_snapshots WHERE store = $1', [this.store]);
      if (rows[0]?.newest !== null && rows[0]?.newest !== undefined && Number(rows[0].newest) >= lsn) {
        await client.query('ROLLBACK');
        return false;
      }
      let part = 0;
      for await (const piece of parts(bytes)) {
        await client.query('INSERT INTO memmapfs_wal_snapshots (store, lsn, part, log_id, bytes) VALUES ($1, $2, $3, $4, $5)', [this.store, lsn, part++, this.logId, piece]);
      }
      await client.query('DELETE FROM memmapfs_wal_snapshots WHERE store = $1 AND lsn < $2', [this.store, lsn]);
      await client.query('COMMIT');
      return true;
    } catch (error) {
      if (isConnectionLoss(error)) broken = error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw error instanceof WalError ? error : postgresError(error, `Keeping a snapshot of ${this.name}`, this.server);
    } finally {
      client.release(broken as Error | undefined);
    }
  }

  async latest(): Promise<LogSnapshot | undefined> {
    const { rows } = await this.pool.query(
      'SELECT lsn, count(*) AS parts, sum(octet_length(bytes)) AS size FROM memmapfs_wal_snapshots WHERE store = $1 AND log_id = $2 GROUP BY lsn ORDER BY lsn DESC LIMIT 1',
      [this.store, this.logId],
    ).catch((error: unknown) => {
      // (Tables of an earlier release, opened without creating anything: no snapshot was ever kept.)
      if ((error as { code?: string })?.code === '42P01') return { rows: [] };
      throw postgresError(error, `Reading the snapshots of ${this.name}`, this.server);
    });
    if (!rows[0]) return undefined;
    const lsn = Number(rows[0].lsn);
    const count = Number(rows[0].parts);
    const size = Number(rows[0].size);
    const read = () => this.readParts(lsn, count);
    return { lsn, size, read };
  }

  private async *readParts(lsn: number, count: number): AsyncGenerator<Uint8Array> {
    const client = await checkout(this.pool);
    let broken: unknown;
    let ended = false;
    try {
      await client.query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL idle_in_transaction_session_timeout = '${this.idleTimeoutMs}ms'`);
      for (let part = 0; part < count; part++) {
        const { rows } = await client.query('SELECT bytes FROM memmapfs_wal_snapshots WHERE store = $1 AND lsn = $2 AND part = $3', [this.store, lsn, part]);
        if (!rows[0]) throw new WalError('WAL_TRUNCATED', `The snapshot of record ${lsn} of ${this.name} was dropped while it was read (a newer one took its place): read the newest again.`, { lsn });
        yield rows[0].bytes as Buffer;
      }
      await client.query('COMMIT');
      ended = true;
    } catch (error) {
      if (isConnectionLoss(error)) broken = error;
      throw error instanceof WalError ? error : postgresError(error, `Reading a snapshot of ${this.name}`, this.server);
    } finally {
      // (Also when the reader stopped early: the connection goes back to the pool with no transaction open.)
      if (!ended) await client.query('ROLLBACK').catch(() => undefined);
      client.release(broken as Error | undefined);
    }
  }
}

/** `bytes` in pieces of `PART_BYTES` (the last one shorter). */
async function* parts(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  let buffer = Buffer.allocUnsafe(PART_BYTES);
  let filled = 0;
  for await (const chunk of bytes) {
    let at = 0;
    while (at < chunk.byteLength) {
      const take = Math.min(PART_BYTES - filled, chunk.byteLength - at);
      buffer.set(chunk.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === PART_BYTES) {
        yield buffer;
        buffer = Buffer.allocUnsafe(PART_BYTES);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buffer.subarray(0, filled);
}
