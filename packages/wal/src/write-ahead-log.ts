/**
 * When an appended record is durable. See `FileWalOptions.durability`.
 * - `'sync'`: `append` resolves after the record is fdatasynced (group commit shares one fsync).
 * - `'batch'`: `append` resolves after the write; an fdatasync follows within `batchIntervalMs`.
 * - `'none'`: fdatasync only on `flush()` and `close()`.
 */
export type Durability = 'sync' | 'batch' | 'none';

/** A record to append: a type tag chosen by the caller and opaque payload bytes. */
export interface WalEntry {
  /** Record type, 1 to 127. The log does not interpret it. */
  readonly type: number;
  /**
   * Payload bytes. The log may read them until the append settles (the file log copies them when it
   * writes, after `after` resolved): the caller does not change them before.
   */
  readonly payload: Uint8Array;
  /**
   * Work the record depends on (e.g. writing the data it points to). The record is written only after
   * it resolves, and outside the writer lock; if it rejects, nothing of the append is written and it
   * rejects with that error.
   */
  readonly after?: Promise<unknown>;
  /** Anything the caller wants handed back with the record when it is committed (`onCommit`). */
  readonly context?: unknown;
}

/** Options of `WriteAheadLog.append`. */
export interface AppendOptions {
  /**
   * A precondition, checked under the writer lock once every record committed before this append (by
   * any process) has been reported through `onCommit`, and before anything of it is written. If it
   * throws, nothing is written and `append` rejects with what it threw (the log stays usable). An
   * append with a check is committed on its own, not grouped with others.
   */
  readonly check?: () => void;
}

/** A record as `onCommit` reports it: read back or just written, with the caller's context for its own. */
export interface CommittedRecord extends WalRecord {
  /** The `context` of the entry, for records this log appended; `undefined` for other processes' records. */
  readonly context: unknown;
}

/** A record read back from the log. */
export interface WalRecord {
  /** Record type, 1 to 127. */
  readonly type: number;
  /** Payload bytes. */
  readonly payload: Uint8Array;
  /** Log sequence number: 1 for the first record, +1 for each record after. */
  readonly lsn: number;
  /**
   * Where the log finds the record again: for a log in a file, the byte offset of its frame. Opaque to
   * callers, which only hand it back (`WalOpenOptions.resumeAfter`).
   */
  readonly offset: number;
  /**
   * The checksum of the record's frame. With the log's id and the LSN it tells this very record from
   * one that took its LSN after a crash cut the log (e.g. to key a snapshot of derived data).
   */
  readonly checksum: number;
}

/**
 * A record named so that the log can find it again and tell it from one that took its place: its LSN,
 * its position (`WalRecord.offset`) and its frame checksum.
 */
export interface WalPosition {
  readonly lsn: number;
  readonly offset: number;
  readonly checksum: number;
}

/** Where the records handed to `recover` begin. */
export interface RecoveryStart {
  /**
   * The LSN of the record before the first one `recover` is handed: the record `resumeAfter` named when
   * the log resumed after it; otherwise 0 when it is handed every record, or the LSN before the oldest
   * record the log still holds when retention dropped older ones.
   */
  readonly after: number;
}

/** What the log's header says. */
export interface WalHeader {
  /** On-disk format version of the log. */
  readonly formatVersion: number;
  /** Name of the codec the payloads were written with (the log itself never decodes them). */
  readonly codec: string;
  /**
   * The log's identity: 32 hex digits, random, chosen when the log is created (a rewritten log gets a
   * new one). Everything derived from the log (a search snapshot, a checkpoint) records it, and so is
   * never used with another log.
   */
  readonly logId: string;
}

/**
 * An append-only log of typed, checksummed, numbered records, shared by every process that opens it.
 * Payloads are bytes: the log is codec-agnostic. Appends from all processes are serialized by a
 * writer lock and numbered in order; concurrent appends of one process share one write and one fsync
 * (group commit). Every committed record, this process's or another's, is reported once, in LSN order,
 * through `onCommit`.
 */
export interface WriteAheadLog {
  /** The header read or written when the log was opened. */
  readonly header: WalHeader;
  /** LSN of the last record written to the file (durable under `'sync'` once its append resolved). */
  readonly lastLsn: number;
  /** Size in bytes of the part of the log appended to now (for a log in files, its current segment), up to the end of its last record. */
  readonly size: number;
  /** Opened to read and follow only: `append` fails with `READ_ONLY`. */
  readonly readOnly: boolean;
  /**
   * Appends records in order and returns their LSNs; a call made after another (awaited or not) gets
   * the higher LSNs, the records handed over as it is called. Under `'sync'` the promise resolves only when the
   * records are durable. The records of one call are all or nothing: after a crash in the middle of
   * writing them, recovery keeps none of them. Rejects with a `WalError` (code `WAL_FAILED`) when the write or fsync fails;
   * the log then refuses every further append.
   */
  append(entries: readonly WalEntry[], options?: AppendOptions): Promise<number[]>;
  /**
   * Makes every record appended so far durable, whatever the durability mode: this handle's, and those
   * of other handles (other processes, other hosts) it has reported through `onCommit`, which a
   * checkpoint of what was applied may cover. A log that has `checkCurrent` checks it too. Waits for the
   * appends made before the call, not for those made after it (a writer that never pauses does not hold
   * a flush back).
   */
  flush(): Promise<void>;
  /**
   * Reads records other processes have committed since the last look and reports them through
   * `onCommit`, without taking the lock. Synchronous: a stat-sized read when nothing changed.
   * Returns how many records it reported. Throws rather than go stale without a word: `WAL_FAILED`
   * after a failed write, `WAL_REPLACED` when another log took this one's place, `WAL_CORRUPT` when
   * committed records cannot be read, `WAL_HEADER_INVALID` when a sealed segment's header is damaged
   * or names another first record.
   */
  refresh(): number;
  /**
   * A fence for read-your-writes: resolves once every record committed (by any process) before the
   * call has been reported through `onCommit`, with the LSN of the last one. For a log in a local file
   * this is `refresh()`; a log on a server reads up to the position the server had reached.
   */
  fence(): Promise<number>;
  /**
   * Reads the committed records with an LSN of at least `lsn`, in order, up to the last one committed
   * when the call was made; when retention removed records from `lsn` on, from the oldest one the log
   * still holds. Records are read a window at a time, never the whole log at once; a record's payload
   * may be a view into its window: copy what you keep for long. Fails with `WAL_TRUNCATED` when records
   * are removed while they are being read.
   */
  readFrom(lsn: number): AsyncIterableIterator<WalRecord>;
  /**
   * Retention: lets the log drop the records before `lsn` (e.g. everything a checkpoint of the tables
   * covers). It keeps what it must: for a log in files, a segment some process still reads, and the
   * segment records are appended to (which it seals, so that new records start a new one). Returns the
   * LSN of the oldest record it still holds. An open whose `resumeAfter` names a dropped record still
   * resumes when the log holds the record right after it.
   */
  truncateBefore(lsn: number): Promise<number>;
  /**
   * (Optional: a log that can be replaced under a process, as one in files can.) Throws `WAL_REPLACED`
   * when another log took this one's place, or none is there any more: for what is published over the
   * log (a checkpoint), asked just before. Synchronous and cheap: it waits for nothing.
   */
  checkCurrent?(): void;
  /**
   * Flushes and closes the log. Further `append`, `fence`, `readFrom` and `truncateBefore` calls fail
   * with `WAL_CLOSED`; `refresh` reports nothing and `flush` has nothing left to do (both return as
   * they would with nothing new).
   */
  close(): Promise<void>;
  /**
   * (Optional: a log that is not a local file.) Snapshots of the state its records build, kept with
   * the log, from which a new reader starts rather than from the first record.
   */
  readonly snapshots?: LogSnapshots;
}

/**
 * Snapshots kept with a log: opaque bytes, each standing for the state the log's records build up to
 * one LSN. The log never reads them; whoever wrote one knows its format.
 */
export interface LogSnapshots {
  /**
   * Keeps `bytes` (read once, in order) as the snapshot of the state after record `lsn`, and drops the
   * older ones; resolves `true` once it is durable, or `false`, keeping nothing, when a snapshot of
   * `lsn` or later is kept already. A failure keeps nothing either.
   */
  put(lsn: number, bytes: AsyncIterable<Uint8Array>): Promise<boolean>;
  /**
   * The newest snapshot: the LSN it covers, its size in bytes, and its bytes in order (read from one
   * consistent view: a snapshot put meanwhile does not cut it short).
   */
  latest(): Promise<LogSnapshot | undefined>;
}

/** A snapshot kept with a log (see `LogSnapshots.latest`). */
export interface LogSnapshot {
  readonly lsn: number;
  readonly size: number;
  /** Its bytes, in pieces, in order. */
  read(): AsyncIterable<Uint8Array>;
}

/**
 * What every kind of log is opened with. An implementation adds where it lives (a file path, a
 * connection string) when it makes its `WalOpener`.
 */
export interface WalOpenOptions {
  /** Codec name written into the header of a new log; an existing log keeps its own (see `header`). */
  codec: string;
  /** Create the log when it does not exist. Default `true`. */
  create?: boolean;
  /** Open to read and follow only; nothing is written anywhere, and `append` fails with `READ_ONLY`. */
  readOnly?: boolean;
  /** When appends are durable. Default `'sync'`. */
  durability?: Durability;
  /** Under `'batch'`: the longest time between a write and its fsync. Default 50 ms. */
  batchIntervalMs?: number;
  /** Longest wait for the writer lock before `LOCK_TIMEOUT`. Default 10,000 ms. */
  lockTimeoutMs?: number;
  /**
   * Called before each fsync of the log, e.g. to fsync the data files its records point to, so that
   * those bytes are durable before the records that reference them.
   */
  beforeSync?: () => Promise<void> | void;
  /**
   * Called synchronously with every record committed after the open, in LSN order: this log's own
   * (once written; durable under `'sync'`) and other processes' (as this log catches up with them).
   */
  onCommit?: (records: CommittedRecord[]) => void;
  /**
   * Called when records other processes committed are at hand: the next `refresh()` reports them.
   * For followers that must be told (a log on a server, whose new records arrive over the network); a
   * log that other processes change through local files need not call it (its followers watch them).
   */
  onAvailable?: () => void;
  /**
   * Called once on open, under the writer lock (read-only: without it), with every committed record
   * and the header, before any other process may commit: where to rebuild what is derived from the
   * records, and to repair what they point to before anyone can write next to it. The records are read
   * a window at a time as the hook consumes them (never all in memory at once); a commit torn by a
   * crash is never among them, and damage rejects the iteration with `WAL_CORRUPT` (`WAL_HEADER_INVALID`
   * for a sealed segment's damaged or misnamed header). A record's payload
   * may be a view into memory shared with the other records read with it: copy what you keep for long.
   * A rejection fails the open.
   */
  recover?: (records: AsyncIterable<WalRecord>, header: WalHeader, start: RecoveryStart) => Promise<void> | void;
  /**
   * `recover` needs no writer lock: what it repairs is the opener's alone (a host's own files beside a
   * log that hosts share). A log whose writer lock holds back every host's appends may then hand the
   * records over from a snapshot, while others keep committing (their records follow through
   * `onCommit`), rather than hold the lock through a long replay. A log may take the lock anyway (the
   * file log does).
   */
  recoverWithoutLock?: boolean;
  /**
   * A record the caller has everything up to (e.g. the last record a checkpoint of derived tables
   * covers). When the log holds that very record, `recover` is handed only the records after it
   * (`start.after` is its LSN) and open reads only those; otherwise every record (`start.after` is 0).
   * Records before it are not read at open, so damage to them is not looked for there: a full
   * verification reads every record. When the log no longer holds it (retention dropped it), the open
   * resumes at the record right after it if the log holds that one; otherwise at the oldest record it
   * holds (`start.after` says which).
   */
  resumeAfter?: WalPosition;
  /**
   * (A log that keeps snapshots: `WriteAheadLog.snapshots`.) Called at open, before `recover`, when
   * `resumeAfter` is not given, or the log no longer holds the records right after it, and the log
   * keeps a snapshot (newer than `resumeAfter`) whose following records it holds: with the newest one
   * and the log's header. The opener installs it and resolves with the position of the record it
   * covers, which then stands for `resumeAfter`; or with `undefined`, to go on without it.
   */
  fromSnapshot?: (snapshot: LogSnapshot, header: WalHeader) => Promise<WalPosition | undefined>;
}

/** Opens (or creates) one log: how a store is given the log it runs on. */
export type WalOpener = (options: WalOpenOptions) => Promise<WriteAheadLog>;
