/**
 * When an appended record is durable. See `FileWalOptions.durability`.
 * - `'sync'`: `append` resolves after the record is fdatasynced (group commit shares one fsync).
 * - `'batch'`: `append` resolves after the write; an fdatasync follows within `batchIntervalMs`.
 * - `'none'`: fdatasync only on `flush()` and `close()`.
 */
export type Durability = 'sync' | 'batch' | 'none';

/** A record to append: a type tag chosen by the caller and opaque payload bytes. */
export interface WalEntry {
  /** Record type, 1 to 255. The log does not interpret it. */
  readonly type: number;
  /** Payload bytes; the log copies them before `append` returns. */
  readonly payload: Uint8Array;
}

/** A record read back from the log. */
export interface WalRecord extends WalEntry {
  /** Log sequence number: 1 for the first record, +1 for each record after. */
  readonly lsn: number;
  /** Byte offset of the record's frame in the log file. */
  readonly offset: number;
}

/** What the log's header says. */
export interface WalHeader {
  /** On-disk format version of the log. */
  readonly formatVersion: number;
  /** Name of the codec the payloads were written with (the log itself never decodes them). */
  readonly codec: string;
}

/**
 * An append-only log of typed, checksummed, numbered records. Payloads are bytes: the log is
 * codec-agnostic. Appends are serialized in LSN order; concurrent appends share one write and one
 * fsync (group commit).
 */
export interface WriteAheadLog {
  /** The header read or written when the log was opened. */
  readonly header: WalHeader;
  /** LSN of the last record written to the file (durable under `'sync'` once its append resolved). */
  readonly lastLsn: number;
  /** Size of the log file in bytes, up to the end of the last written record. */
  readonly size: number;
  /**
   * Appends records in order and returns their LSNs. Under `'sync'` the promise resolves only when the
   * records are durable. Rejects with a `WalError` (code `WAL_FAILED`) when the write or fsync fails;
   * the log then refuses every further append.
   */
  append(entries: readonly WalEntry[]): Promise<number[]>;
  /** Makes every record appended so far durable, whatever the durability mode. */
  flush(): Promise<void>;
  /** Flushes and closes the file. Further calls fail with `WAL_CLOSED`. */
  close(): Promise<void>;
}
