import { WalError, newLogId, type RecoveryStart, type WalHeader, type WalOpenOptions, type WalRecord } from '@memmapfs/wal';
import type pg from 'pg';
import { BEGIN, PAGE_QUERY } from './log-queries.js';
import { LOG_ROW_COLUMNS, POSTGRES_LOG_FORMAT, checksumSeed, decodeLogRow, decodeRecordRows, ensureTables, tablesExist, type LogRow, type RecordRow } from './log-tables.js';
import { PostgresLogSnapshots } from './log-snapshots.js';
import { checkout, inReadCommitted } from './pool-checkout.js';
import { describeServer, isConnectionLoss, postgresError } from './postgres-errors.js';
import type { PostgresWalOptions } from './postgres-wal.js';

// Opening a PostgreSQL log: its options checked, its row read (or created), its records handed to `recover`.

export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
/** How long PostgreSQL lets a transaction of the log sit idle by default (see `idleInTransactionTimeoutMs`). */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** The largest `lockTimeoutMs`: PostgreSQL's `lock_timeout` is a 32-bit number of milliseconds. */
export const MAX_LOCK_TIMEOUT_MS = 2 ** 31 - 1;

/** Throws `INVALID_ARGUMENT` for open options a PostgreSQL log cannot take. */
export function validateOpenOptions(options: WalOpenOptions): void {
  const durability = options.durability ?? 'sync';
  if (!['sync', 'batch', 'none'].includes(durability)) {
    throw new WalError('INVALID_ARGUMENT', `durability must be 'sync', 'batch' or 'none'; got ${JSON.stringify(durability)}.`);
  }
  const lockTimeout = options.lockTimeoutMs;
  if (lockTimeout !== undefined && (!Number.isFinite(lockTimeout) || lockTimeout < 0 || lockTimeout > MAX_LOCK_TIMEOUT_MS)) {
    throw new WalError('INVALID_ARGUMENT', `lockTimeoutMs must be a number of milliseconds from 0 to ${MAX_LOCK_TIMEOUT_MS} (PostgreSQL's lock_timeout); got ${JSON.stringify(lockTimeout)}.`);
  }
  const interval = options.batchIntervalMs;
  if (interval !== undefined && (!Number.isFinite(interval) || interval <= 0)) {
    throw new WalError('INVALID_ARGUMENT', `batchIntervalMs must be a positive number of milliseconds; got ${JSON.stringify(interval)}.`);
  }
}

/**
 * Reads (or creates) the log's row and hands its records to `recover`: a writer under the writer lock
 * (the row locked for the whole reading), a read-only open, or a writer whose `recover` needs no lock
 * (`recoverWithoutLock`), in one snapshot of the database.
 */
export async function readAtOpen(pool: pg.Pool, config: PostgresWalOptions, options: WalOpenOptions, name: string): Promise<{ header: WalHeader; row: LogRow; lastChecksum: number | undefined }> {
  const { store } = config;
  const server = describeServer(config.connectionString);
  const absent = () => new WalError('WAL_NOT_FOUND', `There is no ${name}. Open it once without ${options.readOnly ? 'readOnly' : 'create: false'} to create it (from a shell: \`memmapfs init --postgres URL --store ${config.store}\`).`);
  const client = await checkout(pool);
  let broken: unknown;
  try {
    if (options.readOnly || options.create === false) {
      if (!(await tablesExist(client))) throw absent();
    } else {
      await ensureTables(client);
    }
    // (Before the reading below: the snapshot covers a record that reading sees.)
    options = await startFromSnapshot(pool, config, options, name, server);
    if (options.readOnly) {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    } else {
      const createRow: [string, unknown[]] = [
        'INSERT INTO memmapfs_wal_logs (store, format_version, codec, log_id, first_lsn, last_lsn, held_bytes) VALUES ($1, $2, $3, $4, 1, 0, 0) ON CONFLICT (store) DO NOTHING',
        [store, POSTGRES_LOG_FORMAT, options.codec, newLogId()],
      ];
      if (options.recoverWithoutLock) {
        // The records from one snapshot, the row not locked: appends of other hosts go on meanwhile,
        // and the follower reads on from the snapshot's last LSN.
        if (options.create !== false) await inReadCommitted(client, ...createRow);
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      } else {
        await client.query(`${BEGIN}; SET LOCAL lock_timeout = '${Math.max(1, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS)}ms'`);
        if (options.create !== false) await client.query(...createRow);
      }
    }
    const locked = !options.readOnly && !options.recoverWithoutLock;
    const { rows } = await client.query(`SELECT ${LOG_ROW_COLUMNS} FROM memmapfs_wal_logs WHERE store = $1${locked ? ' FOR UPDATE' : ''}`, [store]);
    if (!rows[0]) throw absent();
    const row = decodeLogRow(rows[0]);
    if (row.header.formatVersion > POSTGRES_LOG_FORMAT) {
      throw new WalError('WAL_FORMAT_UNSUPPORTED', `${name} is of table format ${row.header.formatVersion}; this release of @memmapfs/wal-postgres reads format ${POSTGRES_LOG_FORMAT} only. Upgrade @memmapfs/wal-postgres.`);
    }
    const seed = checksumSeed(row.header.logId);
    const after = await resumePoint(client, store, row, options);
    const query = (from: number) => client.query(PAGE_QUERY, [store, from, row.lastLsn]);
    const corrupt = (lsn: number) => new WalError('WAL_CORRUPT', `${name}: record ${lsn} is missing from memmapfs_wal_records, though the log's row says it holds records ${row.firstLsn} to ${row.lastLsn}. Rows were deleted outside MemMapFS: restore the table from a backup.`, { lsn });
    await handOver(readRecords(query, after + 1, row.lastLsn, seed, name, corrupt, server), row.header, options.recover, { after });
    const last = await client.query('SELECT checksum FROM memmapfs_wal_records WHERE store = $1 AND lsn = $2', [store, row.lastLsn]);
    await client.query('COMMIT');
    const lastChecksum = last.rows[0] ? Number(last.rows[0].checksum) : undefined;
    return { header: row.header, row, lastChecksum };
  } catch (error) {
    if (isConnectionLoss(error)) broken = error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release(broken as Error | undefined);
  }
}

/**
 * `options`, with `resumeAfter` the position the opener's `fromSnapshot` installed the newest snapshot
 * of the log at, when it asks for one and needs it (no `resumeAfter` of its own, or retention dropped
 * the records right after it), and the log keeps one whose following records it still holds.
 */
async function startFromSnapshot(pool: pg.Pool, config: PostgresWalOptions, options: WalOpenOptions, name: string, server: string): Promise<WalOpenOptions> {
  if (!options.fromSnapshot) return options;
  const { rows } = await pool.query(`SELECT ${LOG_ROW_COLUMNS} FROM memmapfs_wal_logs WHERE store = $1`, [config.store]).catch((error: unknown) => {
    throw postgresError(error, `Opening ${name}`, server);
  });
  if (!rows[0]) return options;
  const { header, firstLsn } = decodeLogRow(rows[0]);
  if (options.resumeAfter && options.resumeAfter.lsn + 1 >= firstLsn) return options;
  const snapshot = await new PostgresLogSnapshots(pool, config.store, header.logId, name, server, config.idleInTransactionTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS).latest();
  // (Retention never drops past the newest snapshot; should it have, the snapshot cannot help.)
  if (!snapshot || snapshot.lsn + 1 < firstLsn || (options.resumeAfter && snapshot.lsn <= options.resumeAfter.lsn)) return options;
  const position = await options.fromSnapshot(snapshot, header).catch((error: unknown) => {
    throw new OpenerFailure(error);
  });
  return position ? { ...options, resumeAfter: position } : options;
}

/**
 * The LSN `recover` is handed records after: that of `options.resumeAfter` when the log holds that very
 * record (same LSN, offset and checksum, the last record of its append), or when retention dropped it
 * and the oldest record held is the one right after it; otherwise the LSN before the oldest record held.
 */
async function resumePoint(client: pg.ClientBase, store: string, row: LogRow, options: WalOpenOptions): Promise<number> {
  const position = options.resumeAfter;
  const everything = row.firstLsn - 1;
  if (!position) return everything;
  const { lsn, offset, checksum } = position;
  if (!Number.isSafeInteger(lsn) || lsn < 1 || offset !== lsn || lsn > row.lastLsn) return everything;
  if (lsn < row.firstLsn) return lsn + 1 === row.firstLsn ? lsn : everything;
  const { rows } = await client.query('SELECT commit_end, checksum FROM memmapfs_wal_records WHERE store = $1 AND lsn = $2', [store, lsn]);
  const found = rows[0];
  if (!found || Number(found.commit_end) !== lsn || Number(found.checksum) !== checksum >>> 0) return everything;
  return lsn;
}

/**
 * The records from `from` to `to`, read a page at a time through `query` (records after the LSN it is
 * given), each checked; a record missing in between is `gap(lsn)`.
 */
export async function* readRecords(
  query: (after: number) => Promise<pg.QueryResult>,
  from: number,
  to: number,
  seed: number,
  name: string,
  gap: (lsn: number) => WalError,
  server: string,
): AsyncGenerator<WalRecord> {
  let next = from;
  while (next <= to) {
    let page: RecordRow[];
    try {
      page = decodeRecordRows((await query(next - 1)).rows, seed, name);
    } catch (error) {
      throw postgresError(error, `Reading ${name}`, server);
    }
    if (page.length === 0) throw gap(next);
    for (const { commitEnd: _, ...record } of page) {
      if (record.lsn !== next) throw gap(next);
      next++;
      yield record;
    }
  }
}

/**
 * What the opener's own code (`recover`, `fromSnapshot`) threw at open: handed back to it as it is,
 * not taken for PostgreSQL's answer. (A failure reading the records it was given stays the log's.)
 */
export class OpenerFailure extends Error {
  constructor(readonly failure: unknown) {
    super('the opener failed');
  }
}

/** Gives the records to `recover` (which may stop early: it is given `next` only, never `return`). */
async function handOver(records: AsyncGenerator<WalRecord>, header: WalHeader, recover: WalOpenOptions['recover'], start: RecoveryStart): Promise<void> {
  const read = new Set<unknown>();
  const next = () => records.next().catch((error: unknown) => {
    read.add(error);
    throw error;
  });
  try {
    await recover?.({ [Symbol.asyncIterator]: () => ({ next }) }, header, start);
  } catch (error) {
    throw read.has(error) ? error : new OpenerFailure(error);
  } finally {
    await records.return(undefined);
  }
}
