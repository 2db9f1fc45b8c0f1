import { constants as fsConstants } from 'node:fs';
import * as nodeFileSystem from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { WAL_FORMAT_VERSION, WAL_HEADER_SIZE, decodeWalHeader, encodeWalHeader } from './wal-header.js';
import { frameSize, writeFrame, MAX_PAYLOAD_SIZE } from './wal-frame.js';
import { scanLog } from './log-scan.js';
import { WalError } from './wal-error.js';
import type { Durability, WalEntry, WalHeader, WalRecord, WriteAheadLog } from './write-ahead-log.js';

/** Options of `openFileWal`. */
export interface FileWalOptions {
  /** Path of the log file, e.g. `<root>/state.wal`. */
  path: string;
  /** Codec name written into the header of a new log. An existing log keeps its own (see `header`). */
  codec: string;
  /** Create the file when it does not exist. Default `true`. */
  create?: boolean;
  /** When appends are durable. Default `'sync'`. */
  durability?: Durability;
  /** Under `'batch'`: the longest time between a write and its fsync. Default 50 ms. */
  batchIntervalMs?: number;
  /**
   * Called before each fsync of the log, e.g. to fsync the data files its records point to, so that
   * those bytes are durable before the records that reference them.
   */
  beforeSync?: () => Promise<void>;
  /** The file operations the log uses. Default `node:fs/promises`; tests pass one that injects faults. */
  fileSystem?: WalFileSystem;
}

/** The subset of `node:fs/promises` the log uses: a seam for fault injection. */
export type WalFileSystem = Pick<typeof nodeFileSystem, 'open' | 'readFile' | 'rename'>;

/** What `openFileWal` found on disk. */
export interface WalRecovery {
  /** Every valid record, in LSN order; payloads are views into one buffer holding the log. */
  readonly records: WalRecord[];
  /** True when the file did not exist and was created. */
  readonly created: boolean;
  /** Bytes of torn tail that were cut off the end of the log. */
  readonly truncatedBytes: number;
}

interface PendingAppend {
  readonly frames: Buffer;
  readonly lsns: number[];
  readonly resolve: (lsns: number[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Opens (or creates) a log file, recovers it and returns it ready for appends, with every valid
 * record. A torn tail is truncated; damage followed by valid records fails with `WAL_CORRUPT`.
 */
export async function openFileWal(options: FileWalOptions): Promise<{ wal: FileWal; recovery: WalRecovery }> {
  const { path } = options;
  const files = options.fileSystem ?? nodeFileSystem;
  let created = false;
  let image: Buffer;
  try {
    image = await files.readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || options.create === false) throw ioError(`Cannot read ${path}`, error);
    const header = encodeWalHeader({ formatVersion: WAL_FORMAT_VERSION, codec: options.codec });
    await createFileDurably(path, header, files);
    image = header;
    created = true;
  }
  const header = decodeWalHeader(image, path);
  const scan = scanLog(image, WAL_HEADER_SIZE, 1, path);
  let handle: FileHandle;
  try {
    handle = await files.open(path, writeFlags(options.durability ?? 'sync'));
    if (scan.tornBytes > 0) {
      await handle.truncate(scan.end);
      await handle.datasync();
    }
  } catch (error) {
    throw ioError(`Cannot open ${path} for writing`, error);
  }
  const wal = new FileWal(handle, header, scan.end, scan.lastLsn, options);
  return { wal, recovery: { records: scan.records, created, truncatedBytes: scan.tornBytes } };
}

/**
 * The write-ahead log in one file. Appends are queued; one commit at a time writes every queued
 * frame with a single write and (under `'sync'`) a single fdatasync, so concurrent appends share
 * the cost: group commit.
 */
export class FileWal implements WriteAheadLog {
  readonly header: WalHeader;
  private writtenSize: number;
  private writtenLsn: number;
  private nextLsn: number;
  private queue: PendingAppend[] = [];
  private committing: Promise<void> | undefined;
  private unsynced = false;
  private batchTimer: NodeJS.Timeout | undefined;
  private failure: WalError | undefined;
  private closed = false;
  private readonly durability: Durability;
  private readonly batchIntervalMs: number;

  /** @internal Use `openFileWal`. */
  constructor(
    private readonly handle: FileHandle,
    header: WalHeader,
    size: number,
    lastLsn: number,
    private readonly options: FileWalOptions,
  ) {
    this.header = header;
    this.writtenSize = size;
    this.writtenLsn = lastLsn;
    this.nextLsn = lastLsn + 1;
    this.durability = options.durability ?? 'sync';
    this.batchIntervalMs = options.batchIntervalMs ?? 50;
  }

  get lastLsn(): number {
    return this.writtenLsn;
  }

  get size(): number {
    return this.writtenSize;
  }

  append(entries: readonly WalEntry[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new WalError('WAL_CLOSED', `${this.options.path} is closed.`));
    if (this.failure) return Promise.reject(this.failure);
    let total = 0;
    for (const entry of entries) {
      if (!Number.isInteger(entry.type) || entry.type < 1 || entry.type > 255) {
        return Promise.reject(new WalError('INVALID_ARGUMENT', `Record type must be an integer from 1 to 255; got ${entry.type}.`));
      }
      if (entry.payload.byteLength > MAX_PAYLOAD_SIZE) {
        return Promise.reject(new WalError('WAL_RECORD_TOO_LARGE', `A record of ${entry.payload.byteLength} bytes exceeds the ${MAX_PAYLOAD_SIZE}-byte maximum.`));
      }
      total += frameSize(entry);
    }
    const frames = Buffer.allocUnsafe(total);
    const lsns: number[] = [];
    let offset = 0;
    for (const entry of entries) {
      const lsn = this.nextLsn++;
      offset = writeFrame(frames, offset, lsn, entry);
      lsns.push(lsn);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ frames, lsns, resolve, reject });
      this.committing ??= this.commitQueued();
    });
  }

  async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    while (this.committing) await this.committing;
    if (this.failure) throw this.failure;
    if (this.unsynced) await this.syncNow();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      clearTimeout(this.batchTimer);
      await this.handle.close().catch(() => undefined);
    }
  }

  private async commitQueued(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        if (this.failure) throw this.failure;
        const bytes = batch.length === 1 ? batch[0]!.frames : Buffer.concat(batch.map((p) => p.frames));
        const durableWrite = writesAreDurable(this.durability);
        if (durableWrite) await this.runBeforeSync();
        await this.writeAll(bytes, this.writtenSize);
        this.writtenSize += bytes.length;
        this.writtenLsn = batch.at(-1)!.lsns.at(-1) ?? this.writtenLsn;
        if (!durableWrite) {
          this.unsynced = true;
          if (this.durability === 'sync') await this.syncNow();
          else if (this.durability === 'batch') this.scheduleBatchSync();
        }
        for (const pending of batch) pending.resolve(pending.lsns);
      } catch (error) {
        this.failure ??= error instanceof WalError ? error : new WalError('WAL_FAILED', `Writing ${this.options.path} failed: ${(error as Error).message}. Records from the failed commit may be lost; reopen the store to recover.`, { cause: error });
        for (const pending of batch) pending.reject(this.failure);
      }
    }
    this.committing = undefined;
  }

  private async writeAll(bytes: Buffer, position: number): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written, position + written);
      written += bytesWritten;
    }
  }

  private async syncNow(): Promise<void> {
    this.unsynced = false;
    await this.runBeforeSync();
    try {
      await this.handle.datasync();
    } catch (error) {
      this.failure ??= new WalError('WAL_FAILED', `fsync of ${this.options.path} failed: ${(error as Error).message}. Reopen the store to recover.`, { cause: error });
      throw this.failure;
    }
  }

  private async runBeforeSync(): Promise<void> {
    try {
      if (this.options.beforeSync) await this.options.beforeSync();
    } catch (error) {
      this.failure ??= new WalError('WAL_FAILED', `Syncing the data of ${this.options.path} failed: ${(error as Error).message}. Reopen the store to recover.`, { cause: error });
      throw this.failure;
    }
  }

  private scheduleBatchSync(): void {
    if (this.batchTimer) return;
    this.batchTimer = setTimeout(() => {
      this.batchTimer = undefined;
      this.flush().catch(() => undefined);
    }, this.batchIntervalMs);
    this.batchTimer.unref();
  }
}

/**
 * Under `'sync'`, the log is opened with O_DSYNC where the platform has it: each write returns once it
 * is durable, one round trip to the I/O thread pool instead of a write and an fdatasync.
 */
function writeFlags(durability: Durability): string | number {
  const { O_RDWR, O_DSYNC } = fsConstants;
  return durability === 'sync' && O_DSYNC !== undefined ? O_RDWR | O_DSYNC : 'r+';
}

/** Whether writes through a handle opened by `openFileWal` are durable when they return. */
function writesAreDurable(durability: Durability): boolean {
  return typeof writeFlags(durability) === 'number';
}

/** Creates `path` holding `bytes`: write to a temporary file, fsync it, rename it into place, fsync the folder. */
export async function createFileDurably(path: string, bytes: Uint8Array, files: WalFileSystem = nodeFileSystem): Promise<void> {
  const temp = `${dirname(path)}/.${basename(path)}.${process.pid}.tmp`;
  try {
    const handle = await files.open(temp, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await files.rename(temp, path);
    const dir = await files.open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (error) {
    throw ioError(`Cannot create ${path}`, error);
  }
}

function ioError(message: string, cause: unknown): WalError {
  return new WalError('WAL_FAILED', `${message}: ${(cause as Error).message}`, { cause });
}
