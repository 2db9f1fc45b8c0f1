import { createHash } from 'node:crypto';
import { crc32c, WalError, type WalHeader, type WalRecord } from '@memmapfs/wal';
import type pg from 'pg';

/** Version of the table layout below, written into each log's row (`WalHeader.formatVersion`). */
export const POSTGRES_LOG_FORMAT = 1;

/**
 * The tables every store in a database shares, keyed by store name:
 * - `memmapfs_wal_logs`: one row per store, the header (`format_version`, `codec`, `log_id`), the
 *   oldest LSN held (`first_lsn`), the payload bytes held, and `last_lsn`, the counter an append locks
 *   (`FOR UPDATE`) and advances in its transaction: the writer lock, and what numbers the records.
 * - `memmapfs_wal_records`: one row per record; `commit_end` is the LSN of the last record of the
 *   append it came with (the records of one append are all or nothing, and a resume point must end one);
 *   `commit_token` a random number of the transaction that wrote it, by which a writer whose connection
 *   broke during COMMIT recognises its own rows (another host may have written the same records there).
 * - `memmapfs_wal_snapshots`: the snapshots kept with a store's log (`LogSnapshots`), a row per part of
 *   4 MiB, the newest only once it is whole, with the id of the log it belongs to (a store's log made
 *   anew under the same name does not take an older log's snapshot).
 * - `memmapfs_wal_readers`: a lease per open log (`reader`, random) on the next LSN it still needs, until
 *   `expires_at` (the server's clock): retention keeps those records while the lease runs, so that a
 *   reader whose connection, and with it its position lock, was lost a moment still finds them.
 */
export const CREATE_TABLES = `
CREATE TABLE IF NOT EXISTS memmapfs_wal_logs (
  store text PRIMARY KEY,
  format_version integer NOT NULL,
  codec text NOT NULL,
  log_id text NOT NULL,
  first_lsn bigint NOT NULL,
  last_lsn bigint NOT NULL,
  held_bytes bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS memmapfs_wal_records (
  store text NOT NULL,
  lsn bigint NOT NULL,
  commit_end bigint NOT NULL,
  type smallint NOT NULL,
  checksum bigint NOT NULL,
  payload bytea NOT NULL,
  commit_token bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (store, lsn)
);
ALTER TABLE memmapfs_wal_records ADD COLUMN IF NOT EXISTS commit_token bigint NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS memmapfs_wal_snapshots (
  store text NOT NULL,
  lsn bigint NOT NULL,
  part integer NOT NULL,
  log_id text NOT NULL,
  bytes bytea NOT NULL,
  PRIMARY KEY (store, lsn, part)
);`;

/** The readers' leases (see `CREATE_TABLES`): made on their own, by a role that may, when missing. */
export const CREATE_READERS = `
CREATE TABLE IF NOT EXISTS memmapfs_wal_readers (
  store text NOT NULL,
  reader text NOT NULL,
  next_lsn bigint NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (store, reader)
)`;

/**
 * Taken (for its transaction) by whoever creates the tables, so that two first opens do not race: an
 * advisory lock of the two-key form, which reader positions (the one-key form) never use.
 */
const CREATE_TABLES_LOCK = [0x6d656d6d, 0x77616c] as const;

/** The log's row, as read at open or by an append. */
export interface LogRow {
  readonly header: WalHeader;
  readonly firstLsn: number;
  readonly lastLsn: number;
  readonly heldBytes: number;
}

export const LOG_ROW_COLUMNS = 'format_version, codec, log_id, first_lsn, last_lsn, held_bytes';

export function decodeLogRow(row: Record<string, unknown>): LogRow {
  return {
    header: { formatVersion: Number(row.format_version), codec: String(row.codec), logId: String(row.log_id) },
    firstLsn: Number(row.first_lsn),
    lastLsn: Number(row.last_lsn),
    heldBytes: Number(row.held_bytes),
  };
}

export const RECORD_COLUMNS = 'lsn, commit_end, type, checksum, payload';

/** A record as its row holds it: the record, and where its append ends. */
export interface RecordRow extends WalRecord {
  readonly commitEnd: number;
}

/**
 * The records of rows read back, each checked against its checksum (over the log's id, its LSN, type
 * and payload): a row changed by hand, or moved to another LSN or log, is `WAL_CORRUPT`, never a record.
 */
export function decodeRecordRows(rows: readonly Record<string, unknown>[], seed: number, where: string): RecordRow[] {
  return rows.map((row) => {
    const lsn = Number(row.lsn);
    const type = Number(row.type);
    const payload = row.payload as Buffer;
    const checksum = Number(row.checksum);
    if (recordChecksum(seed, lsn, type, payload) !== checksum) {
      throw new WalError('WAL_CORRUPT', `${where}: record ${lsn} does not match its checksum: its row in memmapfs_wal_records was changed outside MemMapFS. Restore the table from a backup.`, { lsn, offset: lsn });
    }
    return { lsn, offset: lsn, checksum, type, payload, commitEnd: Number(row.commit_end) };
  });
}

/** What every record checksum of a log starts from: the CRC32C of its id. */
export function checksumSeed(logId: string): number {
  return crc32c(Buffer.from(logId, 'hex'));
}

/** CRC32C of the record's LSN and type, then its payload, continuing from the log's seed. */
export function recordChecksum(seed: number, lsn: number, type: number, payload: Uint8Array): number {
  const head = Buffer.alloc(9);
  head.writeBigUInt64LE(BigInt(lsn), 0);
  head.writeUInt8(type, 8);
  return crc32c(payload, crc32c(head, seed));
}

/** The LISTEN/NOTIFY channel of a store: a fixed-length identifier whatever the store's name. */
export function channelOf(store: string): string {
  return `memmapfs_wal_${createHash('sha256').update(store).digest('hex').slice(0, 32)}`;
}

/**
 * Reader positions are session-level shared advisory locks, key = store tag (20 bits) · 2^43 + the
 * next LSN the session still needs: they write nothing, and PostgreSQL drops them with the session.
 */
const POSITION_BITS = 43n;
export const MAX_POSITION = Number((1n << POSITION_BITS) - 1n);

export function storeTagOf(store: string): bigint {
  return BigInt(`0x${createHash('sha256').update(`memmapfs-position:${store}`).digest('hex').slice(0, 5)}`);
}

export function positionKey(tag: bigint, position: number): string {
  return ((tag << POSITION_BITS) | BigInt(Math.min(Math.max(position, 0), MAX_POSITION))).toString();
}

/** The lowest reader position of a store held by any live session of this database, or null. */
export const LOWEST_POSITION = `
SELECT min(((classid::bigint << 32) | objid::bigint) & ${(1n << POSITION_BITS) - 1n}) AS lowest
FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1 AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((classid::bigint << 32) | objid::bigint) >> ${POSITION_BITS} = $1`;

/** Writes a reader's lease (store, reader, next LSN, milliseconds it runs for), or renews it. */
export const RENEW_LEASE = `
INSERT INTO memmapfs_wal_readers (store, reader, next_lsn, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4::double precision / 1000))
ON CONFLICT (store, reader) DO UPDATE SET next_lsn = EXCLUDED.next_lsn, expires_at = EXCLUDED.expires_at`;

/**
 * `RENEW_LEASE` without waiting for the server to flush its WAL (`synchronous_commit` off for the
 * statement's own transaction): a renewal a crash loses leaves the lease written before it, on a lower
 * position.
 */
export const RENEW_LEASE_RELAXED = `
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
INSERT INTO memmapfs_wal_readers (store, reader, next_lsn, expires_at)
SELECT $1, $2, $3, now() + make_interval(secs => $4::double precision / 1000) FROM relaxed
ON CONFLICT (store, reader) DO UPDATE SET next_lsn = EXCLUDED.next_lsn, expires_at = EXCLUDED.expires_at
RETURNING (xmax = 0) AS inserted`;

/**
 * Whether a query failed for want of the readers' table, of rights on it, or of a session that may
 * write (a read-only role or a standby): leases are not to be had there, for now.
 */
export function leasesUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '42501' || code === '42P01' || code === '25006';
}

/** Ends a reader's lease (store, reader). */
export const END_LEASE = 'DELETE FROM memmapfs_wal_readers WHERE store = $1 AND reader = $2';

/** Removes a store's leases that ran out (store), but those being written now: it never waits. */
export const DROP_EXPIRED_LEASES = `
DELETE FROM memmapfs_wal_readers WHERE (store, reader) IN (
  SELECT store, reader FROM memmapfs_wal_readers WHERE store = $1 AND expires_at <= now() FOR UPDATE SKIP LOCKED)`;

/** The lowest next LSN of a store's leases that still run (store), or null. */
export const LOWEST_LEASE = 'SELECT min(next_lsn) AS lowest FROM memmapfs_wal_readers WHERE store = $1 AND expires_at > now()';

/**
 * Creates the tables when they are missing, or adds the columns of this release to older ones (under a
 * transaction-level advisory lock: two processes opening the first store of a database at once).
 */
export async function ensureTables(client: pg.ClientBase): Promise<void> {
  const { current, readers } = await tablesCurrent(client);
  if (!current) await underCreateLock(client, CREATE_TABLES);
  // (Leases are not needed to write the log: a role that may not make their table opens without them,
  // as it did with tables of an earlier release.)
  if (!readers) await underCreateLock(client, CREATE_READERS).catch(() => undefined);
}

async function underCreateLock(client: pg.ClientBase, statements: string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...CREATE_TABLES_LOCK]);
    await client.query(statements);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Whether the log's tables exist with every column this release writes (tables of an earlier layout
 * get them added), and whether the readers' table does.
 */
async function tablesCurrent(client: pg.ClientBase): Promise<{ current: boolean; readers: boolean }> {
  const { rows } = await client.query<{ present: boolean; readers: boolean }>(
    "SELECT to_regclass('memmapfs_wal_logs') IS NOT NULL AND to_regclass('memmapfs_wal_snapshots') IS NOT NULL AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('memmapfs_wal_records') AND attname = 'commit_token' AND NOT attisdropped) AS present, to_regclass('memmapfs_wal_readers') IS NOT NULL AS readers",
  );
  return { current: rows[0]?.present === true, readers: rows[0]?.readers === true };
}

export async function tablesExist(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ present: boolean }>(
    "SELECT to_regclass('memmapfs_wal_logs') IS NOT NULL AND to_regclass('memmapfs_wal_records') IS NOT NULL AS present",
  );
  return rows[0]?.present === true;
}
