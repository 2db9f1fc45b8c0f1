import pg from 'pg';
import { END_LEASE, leasesUnavailable, positionKey, RENEW_LEASE, RENEW_LEASE_RELAXED } from './log-tables.js';
import { isConnectionLoss } from './postgres-errors.js';

/** What a follower tells its log. */
export interface FollowerEvents {
  /** A commit made the log's last LSN `lsn` (a NOTIFY payload: a position, never record bytes). */
  heard(lsn: number): void;
  /** The connection was lost and is back: commits may have been missed, read on from where the log is. */
  reconnected(): void;
  /** The next LSN this process still needs: the position held after a reconnect. */
  nextNeeded(): number;
}

/** A log's lease on its reading position: a row of `memmapfs_wal_readers` (see `CREATE_TABLES`). */
export interface PositionLease {
  readonly store: string;
  /** The log's own name among the store's readers (random). */
  readonly reader: string;
  /** How long the lease outlives the last renewal before a lost connection, at least (it is renewed every quarter of that). */
  readonly ms: number;
}

/**
 * The connection a log follows the store on: it LISTENs on the store's channel, so that each commit
 * wakes it, and holds the log's reader position (a shared advisory lock, see `positionKey`), so that
 * retention (`truncateBefore`, in any process) keeps what this process has not read yet. The lock goes
 * with the connection: a lease on the same position (a row, written at each move and renewed) keeps
 * those records for `lease.ms` more. Records are read on it too, one query at a time. A lost connection
 * is made again with a growing delay (to 2 s), and the log is told so that it reads what it missed.
 */
export class LogFollower {
  private client: pg.Client | undefined;
  private heldKey: string | undefined;
  /** The position `heldKey` holds. */
  private heldPosition: number | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  /** The lease's row was written on the connection now made (durably): later renewals need not wait for a flush. */
  private leaseWritten = false;
  /** The queries on the connection, one after another (see `query`). */
  private queries: Promise<void> = Promise.resolve();
  /** Until when (this process's clock) no lease is written: the last write was refused (no table, no right). */
  private leaseRefusedUntil = 0;
  private closing = false;
  private retryDelay = 100;
  private retryTimer: NodeJS.Timeout | undefined;
  /** A reconnection is under way (waiting, or connecting): no second one starts meanwhile. */
  private reconnecting = false;
  /** The moves of the position, one after another (two at once would each release the old one, and one would never be released). */
  private holding: Promise<void> = Promise.resolve();
  private events: FollowerEvents | undefined;
  /** The highest LSN heard of before a log was attached. */
  private heardEarly = 0;

  constructor(
    private readonly connectionString: string,
    private readonly channel: string,
    private readonly tag: bigint,
    readonly lease: PositionLease,
  ) {}

  /** Connects, LISTENs and holds `position` (0 holds every record). Rejects when the server cannot be reached. */
  async start(position: number): Promise<void> {
    await this.connect(position);
  }

  /**
   * Writes the lease on the position held, and from now on at each move of the position and every
   * quarter of its length. Called once the tables are there. A lease that cannot be written (a
   * read-only role, tables of an earlier release opened read-only) leaves the position lock alone to
   * hold the records: nothing fails.
   */
  async startLease(): Promise<void> {
    if (this.leaseTimer === undefined && !this.closing) {
      this.leaseTimer = setInterval(() => void this.renewLease(), this.renewEveryMs);
      this.leaseTimer.unref();
    }
    await this.renewLease();
  }

  private get renewEveryMs(): number {
    return Math.max(25, Math.floor(this.lease.ms / 4));
  }

  private async renewLease(): Promise<void> {
    const position = this.heldPosition;
    const client = this.client;
    if (this.leaseTimer === undefined || position === undefined || !client || Date.now() < this.leaseRefusedUntil) return;
    // Runs this long past the renewal: at least `ms` past the last renewal before a connection is lost.
    const values = [this.lease.store, this.lease.reader, position, this.lease.ms + this.renewEveryMs];
    try {
      // A write that makes the row is a durable commit (a crash must not lose a log's only lease: a lost
      // connection takes the lock too); a renewal a crash loses leaves the one before, on a lower position.
      if (!this.leaseWritten || (await this.query(RENEW_LEASE_RELAXED, values)).rows[0]?.inserted === true) await this.query(RENEW_LEASE, values);
      if (this.client === client) this.leaseWritten = true;
    } catch (error) {
      this.leaseWritten = false;
      // (Asked again only once a lease's length has passed: refusals would fill the server's log. The
      // position lock holds meanwhile; the table or the right may come, with an upgrade or a grant.)
      if (leasesUnavailable(error)) this.leaseRefusedUntil = Date.now() + this.lease.ms;
    }
  }

  /** From now on, notifications and reconnections go to `events`. */
  attach(events: FollowerEvents): void {
    this.events = events;
    if (this.heardEarly > 0) events.heard(this.heardEarly);
  }

  /** Whether the follower is connected now. */
  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Runs a query on the follower's connection. */
  async query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    const client = this.client;
    if (!client) throw Object.assign(new Error('Connection terminated: the follower is reconnecting'), { code: 'ECONNRESET' });
    // One at a time: reads, position moves and lease writes share the connection (pg would queue
    // them itself, but warns that it will not for long).
    const run = this.queries.then(async () => {
      try {
        return await client.query(text, values);
      } catch (error) {
        // A connection that broke between two queries may not have said so yet: it is made again now.
        if (isConnectionLoss(error)) this.lost(client);
        throw error;
      }
    });
    this.queries = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Holds `position` (the next LSN still needed) in place of the one held before; moves run one at a time, in call order. */
  hold(position: number): Promise<void> {
    const moved = this.holding.then(() => this.move(position));
    this.holding = moved.catch(() => undefined);
    return moved;
  }

  private async move(position: number): Promise<void> {
    const key = positionKey(this.tag, position);
    if (key === this.heldKey) return;
    const client = this.client;
    const before = this.heldKey;
    // The new position is taken before the old one goes: retention never sees this process hold neither.
    if (before === undefined) await this.query('SELECT pg_advisory_lock_shared($1::bigint)', [key]);
    else await this.query('SELECT pg_advisory_lock_shared($1::bigint), pg_advisory_unlock_shared($2::bigint)', [key, before]);
    // (A connection made again meanwhile holds nothing yet.)
    if (this.client !== client) return;
    this.heldKey = key;
    this.heldPosition = position;
    // The lease moves on only once the lock holds the new position.
    await this.renewLease();
  }

  /** Closes the connection, ending the lease on it; resolves whether the lease is ended (or was never written). */
  async close(): Promise<boolean> {
    this.closing = true;
    clearTimeout(this.retryTimer);
    const leasing = this.leaseTimer !== undefined;
    clearInterval(this.leaseTimer);
    this.leaseTimer = undefined;
    const client = this.client;
    this.client = undefined;
    // (Not connected: the log ends the lease on a connection of its own.)
    if (!client) return !leasing;
    // (After the queries under way: one at a time.)
    await this.queries;
    // Positions go with the session anyway; released first, so that a truncation right after sees them gone.
    const ended = !leasing || (await client.query(END_LEASE, [this.lease.store, this.lease.reader]).then(() => true, () => false));
    await client.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
    await client.end().catch(() => undefined);
    return ended;
  }

  private async connect(position: number): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, application_name: 'memmapfs follower' });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => {
      const lsn = Number(message.payload);
      if (!Number.isSafeInteger(lsn)) return;
      if (this.events) this.events.heard(lsn);
      else this.heardEarly = Math.max(this.heardEarly, lsn);
    });
    try {
      await client.connect();
      const replaced = this.client;
      this.client = client;
      this.heldKey = undefined;
      this.heldPosition = undefined;
      this.leaseWritten = false;
      // Never two connections: one this replaces would hold a position and outlive close().
      if (replaced) replaced.end().catch(() => undefined);
      await client.query(`LISTEN "${this.channel}"`);
      await this.hold(position);
    } catch (error) {
      if (this.client === client) this.client = undefined;
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.heldKey = undefined;
    this.heldPosition = undefined;
    client.end().catch(() => undefined);
    this.retry();
  }

  /** Connects again after a delay; while one reconnection is under way, a loss (of the connection it makes) is left to it. */
  private retry(): void {
    if (this.closing || this.reconnecting) return;
    this.reconnecting = true;
    this.retryTimer = setTimeout(() => {
      this.connect(this.events?.nextNeeded() ?? 0).then(
        () => {
          this.reconnecting = false;
          this.retryDelay = 100;
          if (this.closing) void this.close();
          else if (!this.client) this.retry(); // lost again before this was told
          else this.events?.reconnected();
        },
        () => {
          this.reconnecting = false;
          this.retryDelay = Math.min(this.retryDelay * 2, 2_000);
          this.retry();
        },
      );
    }, this.retryDelay);
    this.retryTimer.unref();
  }
}
