import { closeSync, constants as fsConstants, openSync, readSync, writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { crc32c } from './crc32c.js';
import { pathNamesDescriptor } from './file-identity.js';
import { loadLockBinding, lockAddonAdvice, type LockBinding } from './lock-binding.js';
import { describeThrown } from './thrown-value.js';
import { WalError, ioError } from './wal-error.js';
import type { WalFileSystem } from './file-wal.js';
import { LOG_ID_SIZE, WAL_HEADER_SIZE, isIntactWalHeader } from './wal-header.js';
import { monotonicMs } from './monotonic-clock.js';

const MAGIC = Buffer.from('MMFSHEAD', 'ascii');
/** How long a writer waits for the lock by default before `LOCK_TIMEOUT`. */
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

/** The file locks' addon did not load: `readOnly`, for an open that reads (the store's readers take locks too). */
function addonMissing(cause: unknown, readOnly = false): WalError {
  const what = readOnly ? 'Cannot open the store, even read-only (its readers take file locks too)' : 'Cannot take the writer lock';
  return new WalError('ADDON_MISSING', `${what}: ${lockAddonAdvice(cause)}`, { cause });
}

/** Whether `promise` settles (resolving) before `deadline` (a `monotonicMs()` time); rejects with its error. */
async function withinDeadline(promise: Promise<void>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - monotonicMs()));
  });
  try {
    return await Promise.race([promise.then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}
/** How long an open waits for a commit under way under a head file the path no longer names (see `released`). */
const REPLACED_HEAD_WAIT_MS = 10_000;
/** Head files open in this process, by absolute path. */
const openHeads = new Map<string, Promise<HeadFile>>();
const MARKER_SIZE = 52;
const MARKER_SEGMENT_OFFSET = 40;
const MARKER_CRC_OFFSET = 48;
/** The marker of format 3 (before segments): 44 bytes, its checksum at byte 40. */
const LEGACY_MARKER_SIZE = 44;
const LEGACY_CRC_OFFSET = 40;
/** Where the copy of the log's header lives in the head file. */
const HEADER_COPY_OFFSET = 64;

function parseMarker(buf: Buffer): CommitMarker | undefined {
  if (buf.length < MARKER_SIZE || !buf.subarray(0, 8).equals(MAGIC) || buf.readUInt32LE(MARKER_CRC_OFFSET) !== crc32c(buf.subarray(0, MARKER_CRC_OFFSET))) return undefined;
  return { offset: buf.readDoubleLE(8), lsn: buf.readDoubleLE(16), logId: buf.toString('hex', 24, 24 + LOG_ID_SIZE), segment: buf.readDoubleLE(MARKER_SEGMENT_OFFSET) };
}

function parseHeaderCopy(buf: Buffer): Buffer | undefined {
  const copy = buf.subarray(HEADER_COPY_OFFSET, HEADER_COPY_OFFSET + WAL_HEADER_SIZE);
  return isIntactWalHeader(copy) ? Buffer.from(copy) : undefined;
}

/** What the head file at `path` holds, read without creating or locking anything: the commit marker and the copy of the log's header. */
export async function readHeadFile(path: string, files: Pick<WalFileSystem, 'readFile'> = { readFile }): Promise<{ marker: CommitMarker | undefined; headerCopy: Buffer | undefined }> {
  try {
    const buf = await files.readFile(path);
    return { marker: parseMarker(buf), headerCopy: parseHeaderCopy(buf) };
  } catch {
    return { marker: undefined, headerCopy: undefined };
  }
}

/**
 * How far the log is committed: every record up to here is durable and may be shown to readers. A
 * lower bound: the marker is not fsynced, so after a power loss it may name an earlier point.
 */
export interface CommitMarker {
  /** The segment `offset` is in: the LSN of its first record. Every record of earlier segments is committed. */
  readonly segment: number;
  /** Offset, in that segment's file, just past the last committed record. */
  readonly offset: number;
  /** LSN of the last committed record. */
  readonly lsn: number;
  /** Identity of the log it describes (its header's log id); a new log (repair, compaction) has another. */
  readonly logId: string;
}

/**
 * The head file (`state.head`) beside the log: the writer lock and the commit marker in one file that
 * is never replaced.
 *
 * - Lock: an exclusive lock on the file, held through its one read-write descriptor (see `LockBinding`:
 *   it belongs to that open file description). The kernel releases it when its holder exits or is
 *   killed, so a crashed writer never leaves the store locked.
 * - Commit marker (52 bytes, little-endian): magic "MMFSHEAD" | committed offset f64 | committed LSN
 *   f64 | log id (16 bytes) | segment (first LSN) f64 | CRC32C of bytes 0–47. Written by the writer, under the lock, after the
 *   records up to it are durable; read by every process before it shows records to its readers. A lower
 *   bound: when missing, damaged or stale, a writer rebuilds it from the log under the lock.
 * - Header copy (64 bytes at offset 64): the log's header, written durably when the log is created or
 *   replaced, so that a log whose header was damaged can be rebuilt by repair.
 */
export class HeadFile {
  private readonly locks: LockBinding;
  private held = false;
  private users = 1;
  private readonly queue: Array<() => void> = [];
  /** Reused by every marker write (each is one synchronous write, under the lock); the magic never changes. */
  private readonly markerBuffer = Buffer.concat([MAGIC, Buffer.alloc(MARKER_SIZE - MAGIC.length)]);
  private markerLogId: string | undefined;

  private constructor(private readonly handle: FileHandle | undefined, readonly path: string, files: WalFileSystem, private readonly readOnly = false) {
    this.locks = loadLockBinding();
    this.writeSync = files.writeSync?.bind(files) ?? writeSync;
  }

  /** Writes the marker: the seam's `writeSync` when it has one. */
  private readonly writeSync: NonNullable<WalFileSystem['writeSync']>;

  /**
   * Opens the head file only to read the commit marker, creating nothing (for a store opened read-only,
   * maybe on a read-only file system); a missing file reads as no marker. Such a head cannot lock.
   */
  static async openForReading(path: string, files: WalFileSystem): Promise<HeadFile> {
    try {
      loadLockBinding();
    } catch (error) {
      throw addonMissing(error, true);
    }
    try {
      return new HeadFile(await files.open(path, 'r'), path, files, true);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new HeadFile(undefined, path, files, true);
      throw ioError(`Cannot open ${path}`, error);
    }
  }

  /** The descriptor, for the operations only a writer does. */
  private get fd(): number {
    if (this.readOnly || !this.handle) throw new WalError('READ_ONLY', `${this.path} was opened read-only: this process cannot take the writer lock.`);
    return this.handle.fd;
  }

  /**
   * Opens (creating when needed, never truncating) the head file at `path`. Stores of one process on the
   * same folder share one head file: one descriptor (a second one would be refused the lock the first
   * holds), one queue in front of the lock, and so at most one blocking lock request per process (each
   * holds a thread until the kernel answers).
   */
  static async open(path: string, files: WalFileSystem): Promise<HeadFile> {
    const key = resolve(path);
    for (let shared = openHeads.get(key); shared; shared = openHeads.get(key)) {
      const head = await shared.catch(() => undefined);
      // (Another open put a head file of its own in the map meanwhile: that one is looked at.)
      if (openHeads.get(key) !== shared) continue;
      // Only while the path still names it: one removed or replaced by hand under an open store holds no
      // lock anyone else takes, nor a marker anyone reads. The stores using it stop writing
      // (`replacedHere`), and this one gets the head file at the path.
      if (head && head.users > 0) {
        if (head.isAt(key)) {
          head.users++;
          return head;
        }
        head.replacedHere = true;
        // (A commit under way under it ends first: none can start after, and none then writes beside this one's.)
        await head.released(REPLACED_HEAD_WAIT_MS);
        if (openHeads.get(key) !== shared) continue;
      }
      break;
    }
    const opening = HeadFile.openFile(key, files);
    openHeads.set(key, opening);
    try {
      const head = await opening;
      head.shared = opening;
      return head;
    } catch (error) {
      if (openHeads.get(key) === opening) openHeads.delete(key);
      throw error;
    }
  }

  /** The entry of `openHeads` this head file is shared through. */
  private shared: Promise<HeadFile> | undefined;

  /** Set when another open of this process found the path naming another file: this one is no longer the store's. */
  private replacedHere = false;

  /**
   * Whether the head file's path still names this very file: not removed, nor another put in its
   * place (whose lock other processes take, and whose marker they read). A read-only head says yes.
   */
  isCurrent(): boolean {
    return !this.replacedHere && (this.readOnly || !this.handle || this.isAt(this.path));
  }

  /**
   * Whether the head file's path still names the file this process reads the commit marker from (for a
   * writer, `isCurrent`); yes while a reader has none yet (it opens the one a writer makes).
   */
  namesWhatIsRead(): boolean {
    if (!this.readOnly) return this.isCurrent();
    const fd = this.handle?.fd ?? this.lateFd;
    return fd === undefined || pathNamesDescriptor(this.path, fd) !== 'other';
  }

  /** Whether `path` names this very file; an error other than its absence says nothing against it. */
  private isAt(path: string): boolean {
    return pathNamesDescriptor(path, this.fd) !== 'other';
  }

  /** Whether another open of this process found the path naming another file (no stat: for every commit). */
  get replacedInProcess(): boolean {
    return this.replacedHere;
  }

  private static async openFile(path: string, files: WalFileSystem): Promise<HeadFile> {
    let loadError: unknown;
    try {
      loadLockBinding();
    } catch (error) {
      loadError = error;
    }
    if (loadError) throw addonMissing(loadError);
    try {
      return new HeadFile(await files.open(path, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644), path, files);
    } catch (error) {
      throw ioError(`Cannot open ${path}`, error);
    }
  }

  /**
   * Takes the writer lock if it is free at once (no caller in this process holds it, and no other
   * process does); returns whether it did. Saves the commit of an uncontended lock a promise.
   */
  tryLock(): boolean {
    // Not while a blocking request is with the kernel: it may already be granted to this descriptor, with
    // its callback (which lets go of a grant nobody waits for) still to run.
    if (this.held || this.grant || !this.lockAtOnce()) return false;
    this.held = true;
    return true;
  }

  /**
   * Takes the writer lock, waiting for the holder to release it (or die), for at most `timeoutMs`
   * (then `LOCK_TIMEOUT`: a holder that is stopped or stuck must not block everyone forever). Callers
   * in this process queue first (the lock is shared by everything using this descriptor); then a
   * non-blocking attempt, and only a contended lock costs a waiting thread.
   */
  async lock(timeoutMs: number = DEFAULT_LOCK_TIMEOUT_MS): Promise<void> {
    const deadline = monotonicMs() + timeoutMs;
    if (this.held) {
      const turn = new Promise<void>((resolve) => this.queue.push(resolve));
      if (!(await withinDeadline(turn, deadline))) {
        // Our turn may still come: pass it straight on.
        void turn.then(() => this.handOver());
        throw this.timeoutError(timeoutMs);
      }
    }
    this.held = true;
    try {
      if (!this.grant && this.lockAtOnce()) return;
      this.waitingForGrant++;
      try {
        if (!(await withinDeadline(this.requestGrant(), deadline))) throw this.timeoutError(timeoutMs);
      } finally {
        this.waitingForGrant--;
      }
    } catch (error) {
      this.handOver();
      throw error;
    }
  }

  /** The blocking lock request with the kernel (one per process at a time: each holds a thread, and cannot be called off). */
  private grant: Promise<void> | undefined;
  /** Callers waiting for `grant`; when it comes with none left (they timed out), it is let go at once. */
  private waitingForGrant = 0;

  private requestGrant(): Promise<void> {
    this.grant ??= new Promise<void>((resolve, reject) => {
      this.locks.waitForExclusive(this.fd).then(
        () => {
          this.grant = undefined;
          if (this.waitingForGrant === 0 && !this.held) {
            try {
              this.locks.unlock(this.fd);
            } catch {
              // Closed meanwhile: the lock went with the file's last descriptor.
            }
          }
          resolve();
        },
        (error: unknown) => {
          this.grant = undefined;
          reject(this.lockError(error));
        },
      );
    });
    this.grant.catch(() => undefined);
    return this.grant;
  }

  private timeoutError(timeoutMs: number): WalError {
    return new WalError('LOCK_TIMEOUT', `Waited ${timeoutMs} ms for the writer lock on ${this.path}: another process holds it and does not let go (it may be stopped or stuck). Reads keep working. Find it with \`fuser ${this.path}\`, or raise lockTimeoutMs.`);
  }

  /** A non-blocking exclusive lock: false when another process (or another descriptor) holds it. */
  private lockAtOnce(): boolean {
    try {
      return this.locks.tryLock(this.fd, 'exclusive');
    } catch (error) {
      throw this.lockError(error);
    }
  }

  /** Releases the writer lock, to the next caller in this process if one waits. */
  unlock(): void {
    try {
      this.locks.unlock(this.fd);
    } catch {
      // Closing the file releases it too; an unlock can only fail on a closed descriptor.
    }
    this.handOver();
  }

  private handOver(): void {
    const next = this.queue.shift();
    if (next) next();
    else {
      this.held = false;
      for (const released of this.releaseWaiters.splice(0)) released();
    }
  }

  /** Waiting for the lock to be let go of in this process (see `released`). */
  private releaseWaiters: Array<() => void> = [];

  /**
   * Resolves once no caller of this process holds or waits for the lock, or after `timeoutMs`: a head
   * file the path no longer names, before another takes its place, lets a commit under way under it end
   * (the next ones fail: see `replacedHere`).
   */
  async released(timeoutMs: number): Promise<void> {
    if (!this.held) return;
    await withinDeadline(new Promise<void>((resolve) => this.releaseWaiters.push(resolve)), monotonicMs() + timeoutMs);
  }

  /** Reads the commit marker; `undefined` when the file is empty or the marker is damaged or torn. */
  readMarker(): CommitMarker | undefined {
    const buf = Buffer.alloc(MARKER_SIZE);
    let read: number;
    try {
      const fd = this.handle?.fd ?? this.lateDescriptor();
      if (fd === undefined) return undefined;
      read = readSync(fd, buf, 0, MARKER_SIZE, 0);
    } catch {
      return undefined;
    }
    return read < MARKER_SIZE ? undefined : parseMarker(buf);
  }

  /**
   * Whether the file holds a commit marker of the format before segments (44 bytes, its checksum at
   * byte 40): written by a process of an earlier release, which cannot follow segments.
   */
  hasLegacyMarker(): boolean {
    const buf = Buffer.alloc(LEGACY_MARKER_SIZE);
    try {
      const fd = this.handle?.fd ?? this.lateDescriptor();
      if (fd === undefined || readSync(fd, buf, 0, LEGACY_MARKER_SIZE, 0) < LEGACY_MARKER_SIZE) return false;
    } catch {
      return false;
    }
    return buf.subarray(0, 8).equals(MAGIC) && buf.readUInt32LE(LEGACY_CRC_OFFSET) === crc32c(buf.subarray(0, LEGACY_CRC_OFFSET)) && !this.readMarker();
  }

  /** A head file missing when a reader opened the store may be created by a writer later: look again. */
  private lateFd: number | undefined;

  private lateDescriptor(): number | undefined {
    if (this.lateFd === undefined && this.readOnly) {
      try {
        this.lateFd = openSync(this.path, 'r');
      } catch {
        return undefined;
      }
    }
    return this.lateFd;
  }

  /**
   * Writes the commit marker (under the lock). Not fsynced: after a crash the log itself is the truth.
   * A synchronous 52-byte write into the page cache (about a microsecond) rather than a trip to the
   * I/O thread pool on every commit: it never waits for the disk.
   */
  writeMarker(marker: CommitMarker): void {
    const buf = this.markerBuffer;
    buf.writeDoubleLE(marker.offset, 8);
    buf.writeDoubleLE(marker.lsn, 16);
    buf.writeDoubleLE(marker.segment, MARKER_SEGMENT_OFFSET);
    if (this.markerLogId !== marker.logId) {
      buf.write(marker.logId, 24, LOG_ID_SIZE, 'hex');
      this.markerLogId = marker.logId;
    }
    buf.writeUInt32LE(crc32c(buf.subarray(0, MARKER_CRC_OFFSET)), MARKER_CRC_OFFSET);
    try {
      this.writeSync(this.fd, buf, 0, MARKER_SIZE, 0);
    } catch (error) {
      throw new WalError('WAL_FAILED', `Writing the commit marker ${this.path} failed: ${describeThrown(error)}`, { cause: error });
    }
  }

  /** Makes what was written to this file (the commit marker) durable: fdatasync. */
  async sync(): Promise<void> {
    const handle = this.handle;
    if (this.readOnly || !handle) throw new WalError('READ_ONLY', `${this.path} was opened read-only.`);
    try {
      await handle.datasync();
    } catch (error) {
      throw ioError(`Syncing ${this.path} failed`, error);
    }
  }

  /** The copy of the log's header kept in this file, if it is there and intact. */
  readHeaderCopy(): Buffer | undefined {
    const buf = Buffer.alloc(HEADER_COPY_OFFSET + WAL_HEADER_SIZE);
    try {
      if (!this.handle) return undefined;
      readSync(this.handle.fd, buf, 0, buf.length, 0);
    } catch {
      return undefined;
    }
    return parseHeaderCopy(buf);
  }

  /** Keeps a copy of the log's header (under the lock), durably: written, then fdatasynced. */
  async writeHeaderCopy(header: Uint8Array): Promise<void> {
    const handle = this.handle;
    if (this.readOnly || !handle) throw new WalError('READ_ONLY', `${this.path} was opened read-only.`);
    try {
      let written = 0;
      while (written < header.byteLength) {
        written += (await handle.write(header, written, header.byteLength - written, HEADER_COPY_OFFSET + written)).bytesWritten;
      }
      await handle.datasync();
    } catch (error) {
      throw ioError(`Writing the header copy in ${this.path} failed`, error);
    }
  }

  /** Lets go of this user's share; the file is closed when the last store of the process closes it. */
  async close(): Promise<void> {
    if (--this.users > 0) return;
    if (!this.readOnly && openHeads.get(this.path) === this.shared) openHeads.delete(this.path);
    const closeFile = async () => {
      await this.handle?.close().catch(() => undefined);
      if (this.lateFd !== undefined) closeSync(this.lateFd);
    };
    // A blocking lock request still with the kernel holds the descriptor's number, not the file: closed
    // now, the number could go to a file opened next, and the wait would lock that one. The file is
    // closed once the request ends (granted, the lock is let go of at once: nobody waits for it).
    if (this.grant) void this.grant.catch(() => undefined).then(closeFile);
    else await closeFile();
  }

  private lockError(error: unknown): WalError {
    return new WalError('WAL_FAILED', `Cannot take the writer lock on ${this.path}: ${describeThrown(error)}`, { cause: error });
  }
}
