import {
  AppendProgress,
  applyFailure,
  describeThrown,
  isWalError,
  MAX_PAYLOAD_SIZE,
  MAX_RECORD_TYPE,
  WalError,
  type AppendOptions,
  type CommittedRecord,
  type Durability,
  type WalEntry,
  type WalHeader,
  type WalOpener,
  type WalOpenOptions,
  type WalRecord,
  type WriteAheadLog,
} from '@memmapfs/wal';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { LogFollower } from './log-follower.js';
import {
  DROP_EXPIRED_LEASES,
  END_LEASE,
  LOG_ROW_COLUMNS,
  LOWEST_LEASE,
  LOWEST_POSITION,
  MAX_POSITION,
  RECORD_COLUMNS,
  channelOf,
  checksumSeed,
  decodeLogRow,
  decodeRecordRows,
  leasesUnavailable,
  recordChecksum,
  storeTagOf,
  type LogRow,
  type RecordRow,
} from './log-tables.js';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_LOCK_TIMEOUT_MS, MAX_LOCK_TIMEOUT_MS, OpenerFailure, readAtOpen, readRecords, validateOpenOptions } from './log-open.js';
import { PostgresLogSnapshots } from './log-snapshots.js';
import { BEGIN, DURABLE_COMMIT, FOLLOW_QUERY, PAGE_QUERY, checksumAt, pageAfterLocked } from './log-queries.js';
import { dropFailedDependencies, takeBatch, type PendingAppend } from './pending-appends.js';
import { checkout } from './pool-checkout.js';
import { describeServer, isConnectionLoss, postgresError } from './postgres-errors.js';
import { joinProcessLogs, shareCommitted, type SameProcessLog } from './same-process-logs.js';

/** Where a PostgreSQL log lives. */
export interface PostgresWalOptions {
  /**
   * A libpq-style URL: `postgresql://user:password@host:5432/database`, or for a Unix socket
   * `postgresql://user@/database?host=/run/postgresql`.
   */
  readonly connectionString: string;
  /**
   * The name of the log in that database. Every store shares the `memmapfs_wal_*` tables, each with
   * rows of its own; hosts that open the same name share one log.
   */
  readonly store: string;
  /**
   * How long PostgreSQL lets a commit's transaction sit idle before it ends it, freeing the log's
   * writer lock: a host that stopped inside a commit (power lost, network gone, process frozen) holds
   * every other host's appends back no longer. Its append then fails with nothing written. A commit is
   * idle only while its process applies records other hosts committed before it. Default 60,000.
   */
  readonly idleInTransactionTimeoutMs?: number;
  /**
   * How long the log's reading position outlives its connection to PostgreSQL: retention
   * (`truncateBefore`, a snapshot's) keeps the records this log has yet to read while it is connected,
   * and this long after its connection was lost (a network blip, a server restart), so that it reads
   * on once connected again. A host that went away without closing the log holds records back this
   * long. Default 60,000.
   */
  readonly positionLeaseMs?: number;
}

/** Rows per INSERT statement of a commit (the statement's parameters stay far below PostgreSQL's 65,535). */
const INSERT_ROWS = 500;
/** A commit of at most `INSERT_ROWS` records and this many payload bytes sends its rows, counter and COMMIT in one round trip. */
const INLINE_BYTES = 64 * 1024;
/** Records of other processes kept in memory, fetched ahead of `refresh()`, before the follower waits for it. */
const AHEAD_RECORDS = 10_000;
const AHEAD_BYTES = 32 * 1024 * 1024;
/** How long the follower leaves reading to a commit under way, which reads what was committed before it. */
const LEAVE_TO_COMMIT_MS = 250;
/** How long a log's reading position outlives its connection by default (`positionLeaseMs`). */
const DEFAULT_POSITION_LEASE_MS = 60_000;
/** How often at most the follower moves its reader position (retention keeps a little more meanwhile). */
const POSITION_EVERY_MS = 1_000;
/** Rows one statement of `truncateBefore` deletes (each its own transaction, outside the writer lock). */
const DROP_BATCH = 10_000;
/**
 * Deletes the records of store `store` in the LSN range that starts at the lowest one from `from` and
 * before `before` and spans `DROP_BATCH` LSNs (at most that many rows), and takes their bytes off the
 * log's count; only while the store's log is still `logId` with its bound at `before` or past it. Ranges
 * of the primary key only: a plan is an index range scan whatever the statistics say (an `IN (SELECT …
 * LIMIT)` became a join of the rows to themselves when the planner believed the store held one row).
 * `low`: where the range began (null: nothing left below `before`); the next batch starts `DROP_BATCH`
 * past it. In READ COMMITTED whatever the server's default (see `BEGIN`), with its values written in, as
 * one simple query with its COMMIT: the log's row, which its UPDATE locks and every append waits for,
 * is let go of in the same round trip.
 */
function dropBelow(store: string, before: number, from: number, logId: string): string {
  if (!Number.isSafeInteger(before) || !Number.isSafeInteger(from)) throw new Error(`dropBelow: LSNs must be integers, got ${before} and ${from}`);
  const name = pg.escapeLiteral(store);
  return `${BEGIN};
WITH low AS (
  SELECT min(lsn) AS lsn FROM memmapfs_wal_records WHERE store = ${name} AND lsn >= ${from} AND lsn < ${before}
    AND EXISTS (SELECT 1 FROM memmapfs_wal_logs WHERE store = ${name} AND log_id = ${pg.escapeLiteral(logId)} AND first_lsn >= ${before})
), gone AS (
  DELETE FROM memmapfs_wal_records WHERE store = ${name} AND lsn >= (SELECT lsn FROM low) AND lsn < least(${before}, (SELECT lsn FROM low) + ${DROP_BATCH})
  RETURNING octet_length(payload) AS bytes
), held AS (
  UPDATE memmapfs_wal_logs SET held_bytes = held_bytes - (SELECT coalesce(sum(bytes), 0) FROM gone) WHERE store = ${name} AND (SELECT count(*) FROM gone) > 0 RETURNING held_bytes
)
SELECT (SELECT held_bytes FROM held) AS held, (SELECT lsn FROM low) AS low;
COMMIT`;
}
/**
 * The last record from `$3` (the log's bound) and before LSN `$2` of store `$1` that ends an append
 * before `$2`: the append holding `$2` begins after it. Walks back from `$2` through that append's
 * records only.
 */
const END_BEFORE = 'SELECT lsn FROM memmapfs_wal_records WHERE store = $1 AND lsn >= $3 AND lsn < $2 AND commit_end < $2 ORDER BY lsn DESC LIMIT 1';
/** How long a commit whose connection broke is looked after (its outcome asked of the server) before the log gives up. */
const OUTCOME_WAIT_MS = 30_000;
/**
 * The factory of logs in PostgreSQL: `postgresWal({ connectionString, store })` is a `WalOpener`, what
 * a store is given to run on a log shared by every host that can reach the database.
 *
 * @example
 * const open = postgresWal({ connectionString: 'postgresql://app@db/memories', store: 'agents' });
 * const wal = await open({ codec: 'msgpack', onCommit: (records) => apply(records) });
 */
export function postgresWal(options: PostgresWalOptions): WalOpener {
  if (typeof options?.connectionString !== 'string' || options.connectionString === '') {
    throw new WalError('INVALID_ARGUMENT', 'postgresWal: connectionString must be a PostgreSQL connection string, e.g. postgresql://user:password@host:5432/database.');
  }
  // (Not echoed: a connection string may hold a password. pg reads another form as a URL it is not.)
  if (!/^(postgres(ql)?|socket):/i.test(options.connectionString.trim())) {
    throw new WalError('INVALID_ARGUMENT', 'postgresWal: connectionString must be a PostgreSQL URL, e.g. postgresql://user:password@host:5432/database (over a Unix socket: postgresql:///database?host=/var/run/postgresql); the string given is not one (libpq\'s key=value form is not read).');
  }
  if (typeof options.store !== 'string' || options.store === '') {
    throw new WalError('INVALID_ARGUMENT', "postgresWal: store must be a non-empty name (e.g. 'agents'): hosts that open the same name share one log.");
  }
  const idle = options.idleInTransactionTimeoutMs;
  if (idle !== undefined && (!Number.isSafeInteger(idle) || idle < 1 || idle > MAX_LOCK_TIMEOUT_MS)) {
    throw new WalError('INVALID_ARGUMENT', `postgresWal: idleInTransactionTimeoutMs must be a whole number of milliseconds from 1 to ${MAX_LOCK_TIMEOUT_MS}; got ${JSON.stringify(idle)}.`);
  }
  const lease = options.positionLeaseMs;
  if (lease !== undefined && (!Number.isSafeInteger(lease) || lease < 100 || lease > MAX_LOCK_TIMEOUT_MS)) {
    throw new WalError('INVALID_ARGUMENT', `postgresWal: positionLeaseMs must be a whole number of milliseconds from 100 to ${MAX_LOCK_TIMEOUT_MS}; got ${JSON.stringify(lease)}.`);
  }
  const { connectionString, store } = options;
  return (walOptions) => PostgresWal.open({ connectionString, store, ...(idle === undefined ? {} : { idleInTransactionTimeoutMs: idle }), ...(lease === undefined ? {} : { positionLeaseMs: lease }) }, walOptions);
}

/**
 * The `WriteAheadLog` contract over PostgreSQL. An append is one transaction that locks the store's row
 * in `memmapfs_wal_logs` (`SELECT … FOR UPDATE`: the writer lock, waited for up to `lockTimeoutMs`),
 * numbers the records after its `last_lsn`, inserts them and advances `last_lsn`: transactions commit in
 * LSN order, so a follower reading `WHERE lsn > last` never steps over a record committed later. The
 * appends queued in this process while a transaction runs share the next one (group commit). Each
 * commit NOTIFYs the store's channel with the new last LSN; every open log LISTENs there and fetches
 * the new records ahead, so that `refresh()` can report them synchronously.
 */
export class PostgresWal implements WriteAheadLog, SameProcessLog {
  readonly readOnly: boolean;
  readonly snapshots: PostgresLogSnapshots;
  private readonly seed: number;
  private readonly name: string;
  private readonly durability: Durability;
  private readonly batchIntervalMs: number;
  private readonly lockTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  /** The last LSN reported through `onCommit`. */
  private reported: number;
  /** Records after `reported`, in order and without a gap, read ahead of `refresh()`: up to `have`. */
  private ahead: CommittedRecord[] = [];
  private aheadBytes = 0;
  private have: number;
  /** The checksum of the record at `have` (undefined when it is not known: none yet, or dropped by retention before the open). */
  private haveChecksum: number | undefined;
  /** The highest last LSN heard of (notifications, commits of this process). */
  private heardLsn: number;
  /** Commits may have gone unheard (at open, after a reconnection): the follower reads on whatever it heard. */
  private behind = true;
  private heldBytes: number;
  private queue: PendingAppend[] = [];
  private committing: Promise<void> | undefined;
  /** How far the queued appends' commits have got: what a flush waits for. */
  private readonly progress = new AppendProgress();
  /** The flush under way, if any: a flush called meanwhile waits for it. */
  private flushing: Promise<void> | undefined;
  /**
   * The first LSN of this process's commit whose COMMIT is under way: the follower may read its rows
   * before the COMMIT returns, and must leave them to the commit (which reports them with their contexts).
   */
  private committingFrom: number | undefined;
  private fetching: Promise<void> | undefined;
  /** When the transaction of the commit under way began (undefined between them). */
  private transactionSince: number | undefined;
  private leaveTimer: NodeJS.Timeout | undefined;
  /** Records were committed with `synchronous_commit = off` since the last flush. */
  private unflushed = false;
  /**
   * Every record up to this LSN is durable in PostgreSQL: this log's last synchronous commit, or what
   * its last flush covered. Records other hosts committed with `synchronous_commit` off may be visible,
   * read and reported before they are: a flush must cover them too (a checkpoint covers what was
   * reported), not only this log's own relaxed commits.
   */
  private durableThrough = 0;
  private batchTimer: NodeJS.Timeout | undefined;
  private positionTimer: NodeJS.Timeout | undefined;
  private heldPosition = 0;
  private positionMovedAt = 0;
  private failure: WalError | undefined;
  private closed = false;
  private reporting = false;
  /** Said once: this role cannot read the readers' leases. */
  private leasesWarned = false;
  private readonly leaveProcess: () => void;

  private constructor(
    private readonly config: PostgresWalOptions,
    private readonly server: string,
    private readonly pool: pg.Pool,
    private readonly follower: LogFollower,
    readonly header: WalHeader,
    row: LogRow,
    lastChecksum: number | undefined,
    private readonly options: WalOpenOptions,
  ) {
    this.readOnly = options.readOnly === true;
    this.seed = checksumSeed(header.logId);
    this.name = `PostgreSQL log '${config.store}' at ${server}`;
    this.idleTimeoutMs = config.idleInTransactionTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.snapshots = new PostgresLogSnapshots(pool, config.store, header.logId, this.name, server, this.idleTimeoutMs);
    this.durability = options.durability ?? 'sync';
    this.batchIntervalMs = options.batchIntervalMs ?? 50;
    this.lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    this.reported = row.lastLsn;
    this.have = row.lastLsn;
    this.haveChecksum = lastChecksum;
    this.heardLsn = row.lastLsn;
    this.heldBytes = row.heldBytes;
    this.leaveProcess = joinProcessLogs(config.connectionString, config.store, this);
    follower.attach({
      heard: (lsn) => this.heard(lsn),
      reconnected: () => {
        this.heldPosition = 0;
        this.behind = true;
        this.fetchAhead();
      },
      nextNeeded: () => this.have + 1,
    });
    // Whatever was committed between the reading at open and now, and the position.
    this.fetchAhead();
  }

  /** Opens (or creates) the log of `config.store`; see `postgresWal`. */
  static async open(config: PostgresWalOptions, options: WalOpenOptions): Promise<PostgresWal> {
    validateOpenOptions(options);
    const server = describeServer(config.connectionString);
    const name = `PostgreSQL log '${config.store}' at ${server}`;
    const pool = new pg.Pool({ connectionString: config.connectionString, max: 4, idleTimeoutMillis: 30_000, allowExitOnIdle: true, application_name: 'memmapfs' });
    // An idle connection that breaks is dropped by the pool; the next request makes a new one.
    pool.on('error', () => undefined);
    const lease = { store: config.store, reader: randomBytes(8).toString('hex'), ms: config.positionLeaseMs ?? DEFAULT_POSITION_LEASE_MS };
    const follower = new LogFollower(config.connectionString, channelOf(config.store), storeTagOf(config.store), lease);
    try {
      // Listening (and holding every record from retention) before anything is read: no commit after the
      // reading below goes unheard.
      await follower.start(0);
      const { header, row, lastChecksum } = await readAtOpen(pool, config, options, name);
      // (Once the tables are there: a lease is a row.)
      await follower.startLease();
      return new PostgresWal(config, server, pool, follower, header, row, lastChecksum, options);
    } catch (error) {
      await follower.close();
      await pool.end().catch(() => undefined);
      throw error instanceof OpenerFailure ? error.failure : postgresError(error, `Opening ${name}`, server);
    }
  }

  get lastLsn(): number {
    return this.reported;
  }

  /** Payload bytes of the records the log holds, as this process last saw it. */
  get size(): number {
    return this.heldBytes;
  }

  append(entries: readonly WalEntry[], options: AppendOptions = {}): Promise<number[]> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.readOnly) return Promise.reject(new WalError('READ_ONLY', `${this.name} was opened read-only; open the store without readOnly to write.`));
    if (this.failure) return Promise.reject(this.failure);
    let bytes = 0;
    const copies: WalEntry[] = [];
    for (const entry of entries) {
      if (!Number.isInteger(entry.type) || entry.type < 1 || entry.type > MAX_RECORD_TYPE) {
        return Promise.reject(new WalError('INVALID_ARGUMENT', `Record type must be an integer from 1 to ${MAX_RECORD_TYPE}; got ${entry.type}.`));
      }
      if (!(entry.payload instanceof Uint8Array)) {
        return Promise.reject(new WalError('INVALID_ARGUMENT', `A record payload must be a Uint8Array (e.g. a Buffer); got ${entry.payload === null ? 'null' : typeof entry.payload}.`));
      }
      if (entry.payload.byteLength > MAX_PAYLOAD_SIZE) {
        return Promise.reject(new WalError('WAL_RECORD_TOO_LARGE', `A record of ${entry.payload.byteLength} bytes exceeds the ${MAX_PAYLOAD_SIZE}-byte maximum.`));
      }
      bytes += entry.payload.byteLength;
      copies.push({ ...entry, payload: Buffer.from(entry.payload) });
    }
    if (copies.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ entries: copies, bytes, check: options.check, resolve, reject });
      this.progress.queuedOne();
      this.committing ??= this.commitQueued();
    });
  }

  async flush(): Promise<void> {
    if (this.readOnly) return;
    if (this.failure) throw this.failure;
    // (The appends made before, not those that keep coming after: a writer that never pauses would hold it back for good.)
    await this.progress.settled();
    if (this.failure) throw this.failure;
    // A flush under way cleared the flag before its commit made anything durable: this one waits for it
    // (whatever it covers is then durable), and looks at the flag after it.
    while (this.flushing) await this.flushing.catch(() => undefined);
    if (!this.unflushed && this.reported <= this.durableThrough) return;
    const run = this.flushNow();
    this.flushing = run;
    try {
      await run;
    } finally {
      if (this.flushing === run) this.flushing = undefined;
    }
  }

  /** Makes every commit so far durable: a synchronous commit that writes. */
  private async flushNow(): Promise<void> {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    await this.options.beforeSync?.();
    // A synchronous commit that writes (a no-op update of the log's row) flushes PostgreSQL's WAL up to
    // it, so past every commit made before with synchronous_commit off, by any host: each of them
    // released the row's lock before this update could take it.
    this.unflushed = false;
    const covered = this.reported;
    // (And every record it holds must still be there as it was: a crash of the server may have lost the
    // relaxed commits since the last flush, which a flush after it would otherwise vouch for.)
    const at = this.have;
    const checksum = this.haveChecksum;
    let results: pg.QueryResult[];
    try {
      results = (await this.pool.query(`${BEGIN}; SET LOCAL lock_timeout = '${Math.max(1, this.lockTimeoutMs)}ms'; ${DURABLE_COMMIT}
        UPDATE memmapfs_wal_logs SET last_lsn = last_lsn WHERE store = ${pg.escapeLiteral(this.config.store)};
        SELECT log_id, first_lsn, last_lsn, ${checksumAt(String(at))} FROM memmapfs_wal_logs l WHERE store = ${pg.escapeLiteral(this.config.store)}; COMMIT`)) as unknown as pg.QueryResult[];
    } catch (error) {
      this.unflushed = true;
      throw postgresError(error, `Flushing ${this.name}`, this.server, 'Records appended under durability batch or none may not be durable yet; flush again.');
    }
    // (The last statement before the COMMIT: DURABLE_COMMIT is a SELECT too.)
    const row = results.findLast((result) => result.command === 'SELECT')?.rows[0];
    this.checkIdentity(row?.log_id);
    this.checkContinuity(at, checksum, row!);
    this.durableThrough = Math.max(this.durableThrough, covered);
  }

  /**
   * Reports, through `onCommit`, the records other processes committed that this log has already
   * fetched (the follower reads them as soon as a commit's notification arrives) and those other logs of
   * this process committed; never waits for the server. What is not fetched yet is reported by a later
   * `refresh()`; `fence()` waits for everything committed before it.
   */
  refresh(): number {
    if (this.closed) return 0;
    if (this.failure) throw this.failure;
    if (this.reporting) return 0;
    const count = this.report();
    if (this.behind || this.heardLsn > this.have) this.fetchAhead();
    return count;
  }

  async fence(): Promise<number> {
    if (this.closed) throw this.closedError();
    if (this.failure) throw this.failure;
    let target: number;
    try {
      const at = this.have;
      const checksum = this.haveChecksum;
      const { rows } = await this.pool.query(`SELECT log_id, first_lsn, last_lsn, ${checksumAt('$2')} FROM memmapfs_wal_logs l WHERE store = $1`, [this.config.store, at]);
      this.checkIdentity(rows[0]?.log_id);
      this.checkContinuity(at, checksum, rows[0]!);
      target = Number(rows[0]!.last_lsn);
      while (this.have < target) {
        if (this.awaitsOwnCommit) {
          await this.committing;
          continue;
        }
        const page = await this.pool.query(PAGE_QUERY, [this.config.store, this.have, target]);
        if (page.rows.length === 0) throw this.missing(this.have + 1);
        this.takeRows(decodeRecordRows(page.rows, this.seed, this.name));
      }
    } catch (error) {
      if (isWalError(error) && error.code !== 'IO_ERROR' && error.code !== 'LOCK_TIMEOUT') this.failure ??= error;
      throw postgresError(error, `Reading ${this.name}`, this.server);
    }
    if (!this.reporting) this.report();
    return Math.max(this.reported, target);
  }

  readFrom(lsn: number): AsyncIterableIterator<WalRecord> {
    // Up to the last LSN committed at the call (in any process): asked of the server now, read when the iteration starts.
    const head = this.closed || this.failure ? undefined : this.pool.query('SELECT log_id, first_lsn, last_lsn FROM memmapfs_wal_logs WHERE store = $1', [this.config.store]);
    head?.catch(() => undefined);
    const read = async function* (this: PostgresWal): AsyncGenerator<WalRecord> {
      if (this.closed) throw this.closedError();
      if (this.failure) throw this.failure;
      if (!head) throw this.closedError();
      if (!Number.isSafeInteger(lsn) || lsn < 1) throw new WalError('INVALID_ARGUMENT', `readFrom: lsn must be a positive integer; got ${lsn}.`);
      let first: number;
      let end: number;
      try {
        const { rows } = await head;
        this.checkIdentity(rows[0]?.log_id);
        first = Number(rows[0]!.first_lsn);
        end = Number(rows[0]!.last_lsn);
      } catch (error) {
        throw postgresError(error, `Reading ${this.name}`, this.server);
      }
      const query = (after: number) => this.pool.query(PAGE_QUERY, [this.config.store, after, end]);
      const removed = (at: number) => new WalError('WAL_TRUNCATED', `Records from ${at} on were removed from ${this.name} while they were being read (a checkpoint let the log drop them). Read again.`, { lsn: at });
      for await (const record of readRecords(query, Math.max(lsn, first), end, this.seed, this.name, removed, this.server)) {
        if (this.closed) throw this.closedError();
        yield record;
      }
    };
    return read.call(this);
  }

  async truncateBefore(lsn: number): Promise<number> {
    if (this.closed) throw this.closedError();
    if (this.readOnly) throw new WalError('READ_ONLY', `${this.name} was opened read-only; open the store without readOnly to write.`);
    if (this.failure) throw this.failure;
    if (!Number.isSafeInteger(lsn) || lsn < 1) throw new WalError('INVALID_ARGUMENT', `truncateBefore: lsn must be a positive integer; got ${lsn}.`);
    // This process's own position first, so that it does not hold back what it has read itself.
    await this.movePosition(true).catch(() => undefined);
    const store = this.config.store;
    let client: pg.PoolClient | undefined;
    let broken: unknown;
    let oldest: number;
    let committing = false;
    try {
      client = await checkout(this.pool);
      // (A process stopped while it holds the writer lock here lets go of it once PostgreSQL ends its session.)
      const results = (await client.query(`${BEGIN}; SET LOCAL lock_timeout = '${Math.max(1, this.lockTimeoutMs)}ms'; SET LOCAL idle_in_transaction_session_timeout = '${this.idleTimeoutMs}ms';
        SELECT ${LOG_ROW_COLUMNS} FROM memmapfs_wal_logs WHERE store = ${pg.escapeLiteral(store)} FOR UPDATE`)) as unknown as pg.QueryResult[];
      const row = results.at(-1)!.rows[0];
      this.checkIdentity(row?.log_id);
      const log = decodeLogRow(row!);
      const lowest = (await client.query(LOWEST_POSITION, [storeTagOf(store).toString()])).rows[0]?.lowest;
      const leased = await this.lowestLease(client);
      const held = (position: unknown) => (position === null || position === undefined ? Number.MAX_SAFE_INTEGER : Number(position));
      // Records from `lsn` on stay, and every record some open log still has to read: one connected
      // (its position lock), or one whose connection was lost a moment ago (its lease).
      const keep = Math.min(lsn, log.lastLsn + 1, held(lowest), held(leased));
      oldest = log.firstLsn;
      if (keep > log.firstLsn) {
        // Whole appends only: the oldest record held begins the append that holds `keep`.
        if (keep > log.lastLsn) oldest = log.lastLsn + 1;
        else {
          const before = (await client.query(END_BEFORE, [store, keep, log.firstLsn])).rows[0]?.lsn;
          // (None: every record held before `keep` is of its append.)
          oldest = before === undefined ? log.firstLsn : Number(before) + 1;
        }
        // Under the writer lock only the bound moves: deleting a long history there would hold every append back.
        await client.query('UPDATE memmapfs_wal_logs SET first_lsn = $2 WHERE store = $1', [store, oldest]);
      }
      committing = true;
      await client.query('COMMIT');
    } catch (error) {
      broken = isConnectionLoss(error) ? error : undefined;
      await client?.query('ROLLBACK').catch(() => undefined);
      // (A COMMIT whose reply was lost may have taken effect.)
      const outcome = committing && broken ? 'The bound of the records kept may have moved (the connection broke as the change was committed); the rows below it were not deleted. Call it again: it finds the bound where it stands.' : 'Nothing was dropped.';
      throw postgresError(error, `Dropping old records of ${this.name}`, this.server, outcome);
    } finally {
      client?.release(broken as Error | undefined);
    }
    // The rows below the bound, no longer read by anyone, a batch per statement (rows an earlier call
    // cut short left behind go too).
    try {
      for (let from = 0; from < oldest; ) {
        const results = (await this.pool.query(dropBelow(store, oldest, from, this.header.logId))) as unknown as pg.QueryResult[];
        const rows = results[1]!.rows;
        this.heldBytes = rows[0]?.held === null || rows[0]?.held === undefined ? this.heldBytes : Number(rows[0].held);
        if (rows[0]?.low === null || rows[0]?.low === undefined) break;
        from = Number(rows[0].low) + DROP_BATCH;
      }
    } catch (error) {
      throw postgresError(error, `Deleting the records of ${this.name} before ${oldest}`, this.server, 'They are no longer read; the next shortening deletes them.');
    }
    return oldest;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.readOnly && !this.failure) {
        // (Every append made before the close is done, and those made while it waits.)
        while (this.committing) await this.committing;
        await this.flush();
      }
    } finally {
      this.closed = true;
      clearTimeout(this.batchTimer);
      clearTimeout(this.positionTimer);
      clearTimeout(this.leaveTimer);
      this.leaveProcess();
      await this.fetching?.catch(() => undefined);
      // (A follower closed while it connected again could not end its lease: ended here.)
      if (!(await this.follower.close())) await this.pool.query(END_LEASE, [this.config.store, this.follower.lease.reader]).catch(() => undefined);
      await this.pool.end().catch(() => undefined);
    }
  }

  /** @internal Records another log of this process just committed to this store. */
  tookCommitted(records: readonly CommittedRecord[]): void {
    // (Past the limit of what is kept ahead, the follower reads them from the server once refresh() made room.)
    if (!this.aheadFull) this.take(records.map((record) => ({ ...record, context: undefined })));
    if (this.ahead.length > 0) this.announce();
    this.heard(records.at(-1)!.lsn);
  }

  get logId(): string {
    return this.header.logId;
  }

  // ——— following ———

  private heard(lsn: number): void {
    if (lsn > this.heardLsn) this.heardLsn = lsn;
    if (this.heardLsn > this.have) this.fetchAhead();
    else this.schedulePosition();
  }

  /** The next record to read is this process's own, whose COMMIT is under way. */
  private get awaitsOwnCommit(): boolean {
    return this.committingFrom !== undefined && this.have + 1 >= this.committingFrom;
  }

  private get aheadFull(): boolean {
    return this.ahead.length >= AHEAD_RECORDS || this.aheadBytes >= AHEAD_BYTES;
  }

  /** Reads the records heard of ahead of `refresh()`, on the follower's connection, one fetch at a time. */
  private fetchAhead(): void {
    if (this.fetching || this.closed || this.failure || this.aheadFull || this.awaitsOwnCommit || !this.follower.connected) return;
    // A commit of this process reads what others committed before it in its first round trip: while
    // one is under way (not for long), the follower does not read the same records too. With many
    // writing hosts, every commit would otherwise have each of them run a read.
    if (this.transactionSince !== undefined) {
      const wait = LEAVE_TO_COMMIT_MS - (performance.now() - this.transactionSince);
      if (wait > 0) {
        // (Read then, should the commit still be waiting for the lock: what was heard is not left until it ends.)
        this.leaveTimer ??= setTimeout(() => {
          this.leaveTimer = undefined;
          if (this.behind || this.heardLsn > this.have) this.fetchAhead();
        }, Math.ceil(wait));
        this.leaveTimer.unref();
        return;
      }
    }
    this.fetching = (async () => {
      try {
        while (!this.closed && !this.aheadFull && (this.behind || this.heardLsn > this.have)) {
          this.behind = false;
          const at = this.have;
          const checksum = this.haveChecksum;
          const { rows } = await this.follower.query(FOLLOW_QUERY, [this.config.store, at]);
          this.checkIdentity(rows[0]?.log_id);
          this.checkContinuity(at, checksum, rows[0]!);
          const last = Number(rows[0]!.last_lsn);
          this.heldBytes = Number(rows[0]!.held_bytes);
          this.heardLsn = Math.max(this.heardLsn, last);
          const records = rows[0]!.lsn === null ? [] : decodeRecordRows(rows, this.seed, this.name);
          if (records.length === 0 && last > this.have) throw this.missing(this.have + 1);
          this.takeRows(records);
          if (this.ahead.length > 0) this.announce();
          // This process's own commit is next: it reports its records itself, then reads on (`committed`).
          if (this.awaitsOwnCommit) break;
        }
        await this.movePosition(false);
      } catch (error) {
        // A lost connection: the follower connects again and says so (`reconnected`), which reads on from
        // here; anything else stops the log.
        if (isConnectionLoss(error)) this.behind = true;
        else if (!this.closed) this.failure ??= postgresError(error, `Following ${this.name}`, this.server);
        return;
      } finally {
        this.fetching = undefined;
      }
      if (this.heardLsn > this.have) this.fetchAhead();
    })();
  }

  /** Moves the reader position this process holds to the next record it needs (at most once a second unless `now`). */
  /**
   * The lowest position of the store's leases that still run (null: none), those that ran out removed;
   * null too, with a warning once, where this role may not read them (retention then goes by the
   * position locks alone). In the writer lock's transaction: a savepoint keeps it going on a refusal.
   */
  private async lowestLease(client: pg.PoolClient): Promise<unknown> {
    await client.query('SAVEPOINT leases');
    try {
      const lowest = (await client.query(LOWEST_LEASE, [this.config.store])).rows[0]?.lowest;
      await client.query('RELEASE SAVEPOINT leases');
      // (Housekeeping, which a role that may read the leases but not delete them goes without.)
      await client.query('SAVEPOINT expired');
      await client.query(DROP_EXPIRED_LEASES, [this.config.store]).then(
        () => client.query('RELEASE SAVEPOINT expired'),
        (error: unknown) => {
          if (!leasesUnavailable(error)) throw error;
          return client.query('ROLLBACK TO SAVEPOINT expired');
        },
      );
      return lowest;
    } catch (error) {
      if (!leasesUnavailable(error)) throw error;
      await client.query('ROLLBACK TO SAVEPOINT leases');
      if (!this.leasesWarned) {
        this.leasesWarned = true;
        process.emitWarning(`${this.name}: retention cannot read the readers' leases (${(error as Error).message}): it keeps only what connected readers hold, so a host whose connection drops a moment may find records gone. Create memmapfs_wal_readers, or grant this role SELECT, INSERT, UPDATE and DELETE on it.`, { code: 'MEMMAPFS_LEASES_UNAVAILABLE' });
      }
      return null;
    }
  }

  private async movePosition(now: boolean): Promise<void> {
    const next = Math.min(this.have + 1, MAX_POSITION);
    if (next === this.heldPosition || this.closed) return;
    if (!now && Date.now() - this.positionMovedAt < POSITION_EVERY_MS) {
      this.schedulePosition();
      return;
    }
    this.positionMovedAt = Date.now();
    await this.follower.hold(next);
    this.heldPosition = next;
  }

  private schedulePosition(): void {
    if (this.positionTimer || this.closed || this.have + 1 === this.heldPosition) return;
    this.positionTimer = setTimeout(() => {
      this.positionTimer = undefined;
      this.movePosition(true).catch(() => undefined);
    }, POSITION_EVERY_MS);
    this.positionTimer.unref();
  }

  /** Rows read from the server after `have`: kept (ones already held are skipped); a record missing before them is `WAL_TRUNCATED`. */
  private takeRows(rows: readonly RecordRow[]): void {
    const from = this.committingFrom ?? Number.POSITIVE_INFINITY;
    const gap = this.take(rows.filter((row) => row.lsn < from).map(({ commitEnd: _, ...record }) => ({ ...record, context: undefined })));
    if (gap) throw this.missing(this.have + 1);
  }

  /** Keeps the records that follow on from `have` (ones already held are skipped). Returns whether one was left out for a gap before it. */
  private take(records: readonly CommittedRecord[]): boolean {
    for (const record of records) {
      if (record.lsn <= this.have) continue;
      if (record.lsn !== this.have + 1) return true;
      this.ahead.push(record);
      this.aheadBytes += record.payload.byteLength;
      this.have = record.lsn;
      this.haveChecksum = record.checksum;
    }
    return false;
  }

  /** Tells the opener (`onAvailable`) that records were read ahead, once until they are reported. */
  private announce(): void {
    if (this.announced || !this.options.onAvailable) return;
    this.announced = true;
    queueMicrotask(() => {
      if (this.closed || this.failure) return;
      try {
        this.options.onAvailable?.();
      } catch {
        // (The opener's to handle: its next refresh says what failed.)
      }
    });
  }

  /** An `onAvailable` call is pending or was made for records not yet reported. */
  private announced = false;

  /** Reports, through `onCommit`, the records read ahead. Returns how many. */
  private report(): number {
    if (this.ahead.length === 0 || this.reporting) return 0;
    const records = this.ahead;
    this.ahead = [];
    this.aheadBytes = 0;
    this.announced = false;
    this.reported = records.at(-1)!.lsn;
    this.reporting = true;
    try {
      this.options.onCommit?.(records);
    } catch (error) {
      // They count as reported: the log stops rather than go on past records its opener did not take.
      this.failure ??= applyFailure(error, (described) => `${this.name}: records ${records[0]!.lsn} to ${records.at(-1)!.lsn} could not be applied (${described}). Reopen the store.`);
      throw error;
    } finally {
      this.reporting = false;
    }
    return records.length;
  }

  // ——— appending ———

  private async commitQueued(): Promise<void> {
    // Never done before `append` has stored the promise in `committing` (see the file log).
    await null;
    while (this.queue.length > 0) {
      const batch = takeBatch(this.queue);
      try {
        if (this.failure) throw this.failure;
        const ready = await dropFailedDependencies(batch);
        if (ready.length === 0) continue;
        await this.options.beforeSync?.();
        await this.commit(ready);
      } catch (error) {
        const failure = isWalError(error) ? error : new WalError('WAL_FAILED', `Appending to ${this.name} failed: ${describeThrown(error)}.`, { cause: error });
        for (const pending of batch) pending.reject(failure);
      } finally {
        this.progress.endedSome(batch.length);
      }
    }
    this.committing = undefined;
  }

  /**
   * One transaction for `batch`: locks the counter, reports what other processes committed before it
   * (so that a precondition sees it), runs the precondition, inserts the records, advances the counter,
   * notifies, commits. Rejects the appends when nothing was committed (the log stays usable); when the
   * connection broke during COMMIT, asks the server how the transaction ended.
   */
  private async commit(batch: PendingAppend[]): Promise<void> {
    const store = this.config.store;
    const relaxed = this.durability !== 'sync';
    let client: pg.PoolClient | undefined;
    let broken: unknown;
    let xid: string | undefined;
    let committing = false;
    let first = 0;
    /** The rows of the records: LSN, end of their append, type, checksum, payload. */
    const rows: unknown[][] = [];
    /** Written into every row of the transaction: how `outcomeOf` tells them from another host's identical records. */
    const token = randomBytes(8).readBigInt64LE().toString();
    try {
      client = await checkout(this.pool);
      this.transactionSince = performance.now();
      const at = this.have;
      const checksum = this.haveChecksum;
      // 'sync' sees to synchronous_commit itself: a server or role default of off must not weaken it.
      const name = pg.escapeLiteral(store);
      // The writer lock, and in the same round trip the records committed before it that this process
      // has yet to read (what the follower has not fetched yet).
      const results = (await client.query(`${BEGIN}; SET LOCAL lock_timeout = '${Math.max(1, this.lockTimeoutMs)}ms'; SET LOCAL idle_in_transaction_session_timeout = '${this.idleTimeoutMs}ms'; ${relaxed ? 'SET LOCAL synchronous_commit = off;' : DURABLE_COMMIT}
        SELECT ${LOG_ROW_COLUMNS}, ${checksumAt(String(at))}, txid_current()::text AS xid FROM memmapfs_wal_logs l WHERE store = ${name} FOR UPDATE;
        ${pageAfterLocked(name, at)}`)) as unknown as pg.QueryResult[];
      const row = results.at(-2)!.rows[0];
      this.checkIdentity(row?.log_id);
      this.checkContinuity(at, checksum, row!);
      xid = String(row!.xid);
      const counter = Number(row!.last_lsn);
      const unread = results.at(-1)!.rows;
      if (unread.length > 0) this.takeRows(decodeRecordRows(unread, this.seed, this.name));
      while (this.have < counter) {
        // (Far behind: reported a page at a time, so that what is held in memory stays bounded.)
        this.report();
        const page = await client.query(PAGE_QUERY, [store, this.have, counter]);
        if (page.rows.length === 0) throw this.missing(this.have + 1);
        this.takeRows(decodeRecordRows(page.rows, this.seed, this.name));
      }
      const check = batch[0]!.check;
      if (check) {
        // Every record before the counter is reported before the precondition runs, which sees them.
        this.report();
        if (this.reported !== counter) throw this.reportedInside(counter);
        try {
          check();
        } catch (refusal) {
          await client.query('ROLLBACK');
          batch[0]!.reject(refusal);
          return;
        }
      }
      // (Without a precondition, the records before the counter are reported after the COMMIT, with this
      // commit's own, in LSN order: applying them does not hold every other host's appends back.)
      first = counter + 1;
      let lsn = first;
      let bytes = 0;
      for (const pending of batch) {
        const commitEnd = lsn + pending.entries.length - 1;
        for (const entry of pending.entries) {
          rows.push([lsn, commitEnd, entry.type, recordChecksum(this.seed, lsn, entry.type, entry.payload), entry.payload]);
          lsn++;
        }
        bytes += pending.bytes;
      }
      const last = lsn - 1;
      // The counter, the notification (sent at commit) and the COMMIT in the last round trip; a small
      // commit's rows go with them, as literals (a statement that fails skips those after it: nothing is
      // committed), a larger commit's before, as parameters.
      let tail = `UPDATE memmapfs_wal_logs SET last_lsn = ${last}, held_bytes = held_bytes + ${bytes} WHERE store = ${name}; SELECT pg_notify(${pg.escapeLiteral(channelOf(store))}, '${last}'); COMMIT`;
      if (rows.length <= INSERT_ROWS && bytes <= INLINE_BYTES) {
        const values = rows.map(([l, end, type, sum, payload]) => `(${name}, ${token}, ${l}, ${end}, ${type}, ${sum}, decode('${(payload as Buffer).toString('hex')}', 'hex'))`).join(', ');
        tail = `INSERT INTO memmapfs_wal_records (store, commit_token, ${RECORD_COLUMNS}) VALUES ${values}; ${tail}`;
      } else {
        for (let at = 0; at < rows.length; at += INSERT_ROWS) {
          const chunk = rows.slice(at, at + INSERT_ROWS);
          const values = chunk.map((_, i) => `($1, $2, $${i * 5 + 3}, $${i * 5 + 4}, $${i * 5 + 5}, $${i * 5 + 6}, $${i * 5 + 7})`).join(', ');
          await client.query(`INSERT INTO memmapfs_wal_records (store, commit_token, ${RECORD_COLUMNS}) VALUES ${values}`, [store, token, ...chunk.flat()]);
        }
      }
      committing = true;
      this.committingFrom = first;
      await client.query(tail);
      // (Committed: whatever fails from here on, an `onCommit` that throws, is no connection broken in a commit.)
      committing = false;
      this.committingFrom = undefined;
      this.transactionSince = undefined;
      this.committed(batch, first, bytes, relaxed);
    } catch (error) {
      if (isConnectionLoss(error)) broken = error;
      if (committing && xid !== undefined && broken) {
        // COMMIT was sent and the connection broke: the transaction may or may not have committed.
        client?.release(broken as Error);
        client = undefined;
        const outcome = await this.outcomeOf(xid, first, rows.length, token, error);
        if (outcome === 'committed') {
          this.committed(batch, first, batch.reduce((sum, pending) => sum + pending.bytes, 0), relaxed);
          return;
        }
      } else {
        await client?.query('ROLLBACK').catch(() => undefined);
      }
      // (Failed meanwhile, an onCommit that threw while this commit caught up under the lock, say: no retry helps.)
      const refused = this.failure ?? postgresError(error, `Appending to ${this.name}`, this.server, 'Nothing of this append was written; retry it.');
      if (refused.code !== 'IO_ERROR' && refused.code !== 'LOCK_TIMEOUT') this.failure ??= refused;
      for (const pending of batch) pending.reject(refused);
    } finally {
      this.committingFrom = undefined;
      client?.release(broken as Error | undefined);
      // Records of other hosts this commit read under the lock and did not report: the opener is told.
      if (this.ahead.length > 0) this.announce();
      if (this.transactionSince !== undefined) {
        this.transactionSince = undefined;
        if (this.behind || this.heardLsn > this.have) this.fetchAhead();
      }
    }
  }

  /** The batch committed at `first`: reported through `onCommit` (with the appends' contexts), resolved, shared with this process's other logs. */
  private committed(batch: PendingAppend[], first: number, bytes: number, relaxed: boolean): void {
    const records: CommittedRecord[] = [];
    const lsns: number[][] = [];
    let lsn = first;
    for (const pending of batch) {
      const mine: number[] = [];
      for (const entry of pending.entries) {
        records.push({ lsn, offset: lsn, checksum: recordChecksum(this.seed, lsn, entry.type, entry.payload), type: entry.type, payload: entry.payload, context: entry.context });
        mine.push(lsn++);
      }
      lsns.push(mine);
    }
    this.heldBytes += bytes;
    this.take(records);
    this.heardLsn = Math.max(this.heardLsn, lsn - 1);
    if (relaxed) {
      this.unflushed = true;
      if (this.durability === 'batch') this.armBatchFlush();
    } else {
      // (A synchronous commit is durable with every commit before it: they took the row's lock first.)
      this.durableThrough = Math.max(this.durableThrough, lsn - 1);
    }
    try {
      this.report();
    } finally {
      batch.forEach((pending, i) => pending.resolve(lsns[i]!));
      shareCommitted(this.config.connectionString, this.config.store, this, records);
      this.schedulePosition();
      if (this.heardLsn > this.have) this.fetchAhead();
    }
  }

  /** Under 'batch': a flush within `batchIntervalMs`, tried again after the same delay while one fails. */
  private armBatchFlush(): void {
    this.batchTimer ??= setTimeout(() => {
      this.batchTimer = undefined;
      this.flush().catch(() => {
        if (this.unflushed && !this.closed && !this.failure) this.armBatchFlush();
      });
    }, this.batchIntervalMs);
  }

  /**
   * Whether the transaction `xid`, whose connection broke during its COMMIT, committed its `count`
   * records from `first` (rows carrying its `token`). Asked of the server until it answers, for up to
   * `OUTCOME_WAIT_MS` (then the log fails: `WAL_FAILED`): first `txid_status`, until the transaction is
   * no longer in progress; then the rows themselves, since after a crash of the server an id that never
   * reached its disk is handed out again (or is "in the future"), and its status is another's. Aborted
   * only when other rows sit at those LSNs or the log ends before them; when its rows are gone past
   * them (retention), the outcome cannot be known, and the log fails with `WAL_FAILED`.
   */
  private async outcomeOf(xid: string, first: number, count: number, token: string, cause: unknown): Promise<'committed' | 'aborted'> {
    // (A server that never got the whole of the commit's last query ends the transaction, idle, only
    // after idleTimeoutMs: asked until then at least.)
    const waitMs = Math.max(OUTCOME_WAIT_MS, this.idleTimeoutMs + 5_000);
    const deadline = Date.now() + waitMs;
    let delay = 50;
    for (;;) {
      try {
        let running = false;
        try {
          const { rows } = await this.pool.query('SELECT txid_status($1::bigint) AS status', [xid]);
          running = rows[0]?.status === 'in progress';
        } catch (error) {
          // 22023: "transaction ID … is in the future": the server crashed before the id reached its disk.
          if ((error as { code?: string }).code !== '22023') throw error;
        }
        if (!running) {
          const { rows } = await this.pool.query('SELECT commit_token::text AS token FROM memmapfs_wal_records WHERE store = $1 AND lsn >= $2 AND lsn < $3', [this.config.store, first, first + count]);
          // A transaction's rows are all or nothing: one of them (retention may have dropped the others) says it committed.
          if (rows.some((row) => row.token === token)) return 'committed';
          if (rows.length > 0) return 'aborted';
          const log = await this.pool.query('SELECT last_lsn FROM memmapfs_wal_logs WHERE store = $1', [this.config.store]);
          if (log.rows[0] && Number(log.rows[0].last_lsn) < first) return 'aborted';
          this.failure ??= new WalError('WAL_FAILED', `${this.name}: the connection broke while an append was being committed, and its records (from ${first}) are no longer in the log, which goes past them (retention dropped them, or the log's row was removed): it may have been written. Close the store and open it again, and check whether the append took effect before repeating it.`, { cause });
          throw this.failure;
        }
      } catch (error) {
        if (isWalError(error)) throw error;
        // The server is not back yet.
      }
      if (Date.now() > deadline) {
        this.failure ??= new WalError('WAL_FAILED', `${this.name}: the connection broke while an append was being committed, and PostgreSQL could not be asked for ${Math.round(waitMs / 1000)} s whether it took effect. Its records may or may not be in the log: close the store and open it again.`, { cause });
        throw this.failure;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 1_000);
    }
  }

  // ——— helpers ———

  private checkIdentity(logId: unknown): void {
    if (logId === this.header.logId) return;
    this.failure ??= new WalError('WAL_REPLACED', logId === undefined
      ? `${this.name} was removed from the database (its row in memmapfs_wal_logs is gone): what this process reads is no longer current. Close the store and open it again.`
      : `${this.name} was replaced by another log (log ${String(logId)}, this process has ${this.header.logId} open): what this process reads is no longer current. Close the store and open it again.`);
    throw this.failure;
  }

  /**
   * Fails the log when PostgreSQL no longer holds what this log took as committed: its last record (at
   * `at`, with `checksum`) gone or another in its place, or the log's last LSN before it. A commit made
   * with `synchronous_commit = off` and lost in a crash of the server hands its LSNs out again, and this
   * log, which skips what it has, would never see the records that replaced it.
   */
  private checkContinuity(at: number, checksum: number | undefined, row: Record<string, unknown>): void {
    if (at === 0) return;
    const found = row.have_checksum;
    const lost = Number(row.last_lsn) < at
      || (found === null || found === undefined ? Number(row.first_lsn) <= at : checksum !== undefined && Number(found) !== checksum);
    if (!lost) return;
    this.failure ??= new WalError('WAL_FAILED', `${this.name}: PostgreSQL lost committed records (record ${at}, which this process has taken as committed, is no longer in the log as it was: a crash of the server after commits made with durability 'batch' or 'none'). Reopen the store: what was derived from them must be rebuilt.`, { lsn: at });
    throw this.failure;
  }

  /** An append made from inside `onCommit`: the records before `counter` cannot be reported before it. */
  private reportedInside(counter: number): WalError {
    return new WalError('WAL_FAILED', `${this.name}: records before ${counter + 1} could not be reported before this append (an append made from inside onCommit?).`);
  }

  private missing(lsn: number): WalError {
    return new WalError('WAL_TRUNCATED', `${this.name}: record ${lsn} is no longer held (retention dropped it while this process was not connected to read it). Close the store and open it again.`, { lsn });
  }

  private closedError(): WalError {
    return new WalError('WAL_CLOSED', `${this.name} is closed.`);
  }
}

