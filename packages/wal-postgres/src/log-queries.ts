import { RECORD_COLUMNS } from './log-tables.js';

// SQL of the PostgreSQL log's reads and commits that is more than a line.

/** Records read per query: at most this many, and no more payload bytes than `PAGE_BYTES` (one record at least). */
const PAGE_RECORDS = 1_000;
const PAGE_BYTES = 8 * 1024 * 1024;

/**
 * How a transaction that takes the writer lock begins: in READ COMMITTED whatever the server's or role's
 * default, so that a statement after the lock sees every record committed before it was granted (a
 * snapshot taken before the wait would not, and REPEATABLE READ or SERIALIZABLE refuse the lock of a
 * row another host changed meanwhile).
 */
export const BEGIN = 'BEGIN ISOLATION LEVEL READ COMMITTED';

/**
 * Makes the transaction's commit wait for PostgreSQL's WAL flush when the server's or role's default is
 * not to (`synchronous_commit = off`); a stronger setting (`remote_apply`, …) stays.
 */
export const DURABLE_COMMIT = "SELECT set_config('synchronous_commit', 'on', true) WHERE current_setting('synchronous_commit') = 'off';";

/** The checksum of the record at an LSN (`$2`), of the store of the log's row `l`: whether the record a log has last is still there. */
export const checksumAt = (lsn: string) => `(SELECT checksum FROM memmapfs_wal_records h WHERE h.store = l.store AND h.lsn = ${lsn}) AS have_checksum`;

/**
 * Records of store `store` (an SQL expression, `$1` unless given) after `after` (`$2`), up to `to`, in order, a page at a time: `PAGE_RECORDS` at most, and no payload
 * bytes past `PAGE_BYTES` after the first (the running sum stops the scan; payloads past it are not
 * read); then the rest of the append the page ends in, whatever its size: a page always ends with an
 * append, so no reader ever reports (or resumes after) half of one. The LSNs held have no gap, so the
 * page's range is bounded by count as well: the plan is an index range scan whatever the statistics say
 * (with a range bounded by `to` only, a planner that believed it held few rows read and sorted all of it).
 */
const pageQuery = (to: string, store = '$1', after = '$2') => `
WITH page AS (
  SELECT ${RECORD_COLUMNS} FROM (
    SELECT ${RECORD_COLUMNS}, sum(octet_length(payload)) OVER (ORDER BY lsn ROWS UNBOUNDED PRECEDING) - octet_length(payload) AS before
    FROM memmapfs_wal_records WHERE store = ${store} AND lsn > ${after} AND lsn <= least(${to}, ${after} + ${PAGE_RECORDS}) ORDER BY lsn LIMIT ${PAGE_RECORDS}
  ) cut WHERE before < ${PAGE_BYTES}
)
SELECT ${RECORD_COLUMNS} FROM page
UNION ALL
SELECT ${RECORD_COLUMNS} FROM memmapfs_wal_records
WHERE store = ${store} AND lsn > (SELECT max(lsn) FROM page) AND lsn <= (SELECT commit_end FROM page ORDER BY lsn DESC LIMIT 1)
ORDER BY lsn`;

/** Records after `$2` up to `$3` (see `pageQuery`). */
export const PAGE_QUERY = pageQuery('$3');

/**
 * Records after `after` up to the log's last LSN, of the store named by the SQL literal `store`, as
 * SQL without parameters: the statement after a commit's `SELECT … FOR UPDATE` in the same round trip.
 * (It reads the log's row anew: in READ COMMITTED each statement sees what committed before it began,
 * so, once the row's lock is held, every record committed before.)
 */
export const pageAfterLocked = (store: string, after: number) => pageQuery(`(SELECT last_lsn FROM memmapfs_wal_logs WHERE store = ${store})`, store, String(after));

/**
 * The log's row (identity, last LSN) with the page of records after `$2` up to that last LSN: one round
 * trip per follower read. (The page's bound is read by a subquery of the same statement, so it sees the
 * row as the statement does.)
 */
export const FOLLOW_QUERY = `
SELECT l.log_id, l.first_lsn, l.last_lsn, l.held_bytes, ${checksumAt('$2')}, r.lsn, r.commit_end, r.type, r.checksum, r.payload
FROM memmapfs_wal_logs l LEFT JOIN (${pageQuery('(SELECT last_lsn FROM memmapfs_wal_logs WHERE store = $1)')}) r ON true
WHERE l.store = $1 ORDER BY r.lsn`;
