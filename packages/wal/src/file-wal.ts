import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import * as nodeFileSystem from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CommitWrites, type CommitWriteLimits, type WriteSync } from './commit-writes.js';
import { AppendProgress } from './append-progress.js';
import { pathNamesDescriptor } from './file-identity.js';
import { HeadFile, type CommitMarker } from './head-file.js';
import { describeThrown } from './thrown-value.js';
import { WAL_FORMAT_VERSION, WAL_HEADER_SIZE, decodeWalHeader, encodeWalHeader, newLogId, type SegmentHeader } from './wal-header.js';
import { frameSeed, frameSize, readFrame, writeFrame, FRAME_HEADER_SIZE, MAX_PAYLOAD_SIZE, MAX_RECORD_TYPE } from './wal-frame.js';
import { LogFileScan } from './log-file-scan.js';
import { fdReader, listSealedSegments, misnamedSegment, openSegmentSync, sealedSegmentPath, shareSegment, tryTakeSegment, type PositionedReader } from './log-segments.js';
import { scanLog, type LogScan } from './log-scan.js';
import { WalError, applyFailure, ioError, isWalError } from './wal-error.js';
import type { AppendOptions, CommittedRecord, Durability, RecoveryStart, WalEntry, WalHeader, WalOpener, WalOpenOptions, WalPosition, WalRecord, WriteAheadLog } from './write-ahead-log.js';
import { monotonicMs } from './monotonic-clock.js';

/** Options of `openFileWal`: those of every log, and where this one lives. */
export interface FileWalOptions extends WalOpenOptions {
  /** Path of the segment appended to, e.g. `<root>/state.wal`. */
  path: string;
  /** Folder of the sealed segments. Default `<folder>/wal` beside `path`. */
  segmentsFolder?: string;
  /** The head file: writer lock and commit marker. Default `<folder>/state.head` beside the log. */
  headPath?: string;
  /** The file operations the log uses. Default `node:fs/promises`; tests pass one that injects faults. */
  fileSystem?: WalFileSystem;
  /** @internal When a commit writes its records from the event loop (see `CommitWrites`); tests set other limits. */
  commitWriteLimits?: CommitWriteLimits;
}

/** The log in the file at `path` (and its head file beside it), as a `WalOpener` for a store. */
export function fileWal(path: string, extra: Pick<FileWalOptions, 'headPath' | 'fileSystem'> = {}): WalOpener {
  return async (options) => (await openFileWal({ ...options, ...extra, path })).wal;
}

/**
 * The file operations the log uses: a seam for fault injection and crash simulation. The subset of
 * `node:fs/promises`, plus, optionally, `writeSync` of `node:fs` for the commit marker (a 52-byte write
 * into the page cache on every commit) and the operations that seal and remove segments (`link`,
 * `mkdir`, `unlink`); a seam without them has those done by `node:fs` directly. A seam with `writeSync`
 * also gets the records of small lone commits written with it (see `CommitWrites`); one without gets
 * every record written through its handles.
 */
export type WalFileSystem = Pick<typeof nodeFileSystem, 'open' | 'readFile' | 'rename'> & {
  writeSync?: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number;
} & Partial<Pick<typeof nodeFileSystem, 'link' | 'mkdir' | 'unlink'>>;

/** What `openFileWal` found on disk. (The records themselves go to `recover`, as they are read.) */
export interface WalRecovery {
  /** True when the file did not exist and was created. */
  readonly created: boolean;
  /** Bytes of torn tail that were cut off the end of the log. */
  readonly truncatedBytes: number;
}

interface PendingAppend {
  readonly entries: readonly WalEntry[];
  readonly check: (() => void) | undefined;
  readonly resolve: (lsns: number[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The segment a log reads and appends to: `state.wal`, or, for a process that has not caught up with a
 * roll yet, a segment sealed since.
 */
interface CurrentSegment {
  /** LSN of its first record. */
  readonly first: number;
  /** Descriptor for synchronous reads (the handle's, when there is one). */
  readonly fd: number;
  /**
   * For writes, fsyncs and truncation. A segment `refresh` stepped into (synchronously) has none until
   * the next commit opens one.
   */
  readonly handle: FileHandle | undefined;
}

/** Where the sealed segments of the log at `options.path` live. */
function segmentsFolderOf(options: FileWalOptions): string {
  return options.segmentsFolder ?? join(dirname(options.path), 'wal');
}

/**
 * Opens (or creates) a log, recovers it and returns it ready for appends, with every committed
 * record. Recovery runs under the writer lock: records another writer left unmarked are made durable
 * and kept, a torn tail is truncated, and damage followed by valid records fails with `WAL_CORRUPT`.
 */
export async function openFileWal(options: FileWalOptions): Promise<{ wal: FileWal; recovery: WalRecovery }> {
  const { path } = options;
  const files = options.fileSystem ?? nodeFileSystem;
  const durability = options.durability ?? 'sync';
  if (!['sync', 'batch', 'none'].includes(durability)) {
    throw new WalError('INVALID_ARGUMENT', `durability must be 'sync', 'batch' or 'none'; got ${JSON.stringify(durability)}.`);
  }
  const lockTimeout = options.lockTimeoutMs;
  if (lockTimeout !== undefined && (!Number.isFinite(lockTimeout) || lockTimeout < 0)) {
    throw new WalError('INVALID_ARGUMENT', `lockTimeoutMs must be a non-negative number of milliseconds; got ${JSON.stringify(lockTimeout)}.`);
  }
  const interval = options.batchIntervalMs;
  if (interval !== undefined && (!Number.isFinite(interval) || interval <= 0)) {
    throw new WalError('INVALID_ARGUMENT', `batchIntervalMs must be a positive number of milliseconds; got ${JSON.stringify(interval)}.`);
  }
  if (options.readOnly) return openReadOnly(options, files);
  // (Looked for before the head file, which the lock creates: an open that creates nothing writes nothing.)
  if (options.create === false && !(await logExists(path, files))) throw await missingLog(options, 'create: false');
  const head = await lockedHead(options.headPath ?? join(dirname(path), 'state.head'), files, options.lockTimeoutMs);
  let handle: FileHandle | undefined;
  try {
    let created = false;
    handle = await openLogFile(path, durability, files);
    if (!handle) {
      if (options.create === false) throw await missingLog(options, 'create: false');
      const lost = await lostLog(options);
      if (lost) throw lost;
      // Created under the writer lock: an opener waiting for the lock finds the log whole. Marked before
      // it takes its name: a writer of a log removed from under it (which writes only under the lock)
      // finds another log's marker from then on, even if this open dies before the name is taken.
      const logId = newLogId();
      const header = encodeWalHeader({ formatVersion: WAL_FORMAT_VERSION, codec: options.codec, logId, firstLsn: 1 });
      await createFileDurably(path, header, files, () => head.writeMarker({ segment: 1, offset: WAL_HEADER_SIZE, lsn: 0, logId }));
      await head.writeHeaderCopy(header);
      handle = await openLogFile(path, durability, files);
      if (!handle) throw new WalError('IO_ERROR', `${path} vanished as it was created.`);
      created = true;
    }
    if (head.hasLegacyMarker() && !tryTakeSegment(handle.fd)) {
      // A process of an earlier release writes this marker; it would neither follow segments nor see them.
      throw new WalError('WAL_IN_USE', `${path} is a log of the format before segments, and another process has it open: a process of an earlier MemMapFS release (the commit marker in state.head is of its format), or one of this release that opened it read-only. Close it, then open the store again: this open upgrades the log, which an earlier release cannot share.`);
    }
    shareSegment(handle.fd, path);
    // Read through the descriptor just locked and shared, never by path again: the file the path names
    // can only be replaced under the writer lock, which this process holds.
    // The header's copy is kept before the records are read: should they be damaged, verify and repair have it.
    const keepHeaderCopy = async (headerBytes: Buffer) => {
      if (!head.readHeaderCopy()?.equals(headerBytes)) await head.writeHeaderCopy(headerBytes);
    };
    const { header, seed, trusted, scan, positions, first } = await readLog(handle, head, options, { toMarker: false, onHeader: keepHeaderCopy });
    try {
      if (!trusted || trusted.offset < scan.end) {
        // Records past the marker were written by a writer that died before marking them: make them durable.
        await handle.datasync();
      }
      if (scan.tornBytes > 0) {
        await handle.truncate(scan.end);
        await handle.datasync();
      }
    } catch (error) {
      throw ioError(`Cannot recover ${path}`, error);
    }
    head.writeMarker({ segment: first, offset: scan.end, lsn: scan.lastLsn, logId: header.logId });
    const wal = new FileWal({ first, fd: handle.fd, handle }, head, header, seed, scan.end, scan.lastLsn, options, positions);
    // A log of the format before segments is sealed as it is and continues in a segment of this one:
    // a process of an earlier release then refuses to open it rather than write where nobody reads.
    if (header.formatVersion < WAL_FORMAT_VERSION) await wal.upgradeLocked();
    head.unlock();
    return { wal, recovery: { created, truncatedBytes: scan.tornBytes } };
  } catch (error) {
    head.unlock();
    await handle?.close().catch(() => undefined);
    await head.close();
    throw error;
  }
}

/**
 * Opens a log to read and follow it, writing nothing anywhere (no lock file, no recovery writes), e.g.
 * on a read-only file system. Only committed records are shown: up to the commit marker when there is
 * one for this log, else every whole record (a torn tail is left as it is, for a writer to cut).
 */
async function openReadOnly(options: FileWalOptions, files: WalFileSystem): Promise<{ wal: FileWal; recovery: WalRecovery }> {
  const { path } = options;
  const head = await HeadFile.openForReading(options.headPath ?? join(dirname(path), 'state.head'), files);
  let handle: FileHandle | undefined;
  try {
    try {
      handle = await files.open(path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw await missingLog(options, 'readOnly');
      throw ioError(`Cannot open ${path}`, error);
    }
    shareSegment(handle.fd, path);
    const { header, seed, scan, positions, first } = await readLog(handle, head, options, { toMarker: true });
    const wal = new FileWal({ first, fd: handle.fd, handle }, head, header, seed, scan.end, scan.lastLsn, options, positions);
    return { wal, recovery: { created: false, truncatedBytes: 0 } };
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await head.close();
    throw error;
  }
}

/**
 * Why there is no log file for an open that may not create one (`how`: the option that says so):
 * `WAL_CORRUPT` when sealed segments of a log are there (its current segment was lost), else
 * `WAL_NOT_FOUND`.
 */
async function missingLog(options: FileWalOptions, how: string): Promise<WalError> {
  return (await lostLog(options)) ?? new WalError('WAL_NOT_FOUND', `There is no log at ${options.path}. Open it once without ${how} to create it.`);
}

/** `WAL_CORRUPT` when the log file is missing though sealed segments of its log are there. */
async function lostLog(options: FileWalOptions): Promise<WalError | undefined> {
  const folder = segmentsFolderOf(options);
  if ((await listSealedSegments(folder)).length === 0) return undefined;
  return new WalError('WAL_CORRUPT', `${options.path} is missing, though sealed segments of its log are in ${folder}: the log's current segment was removed, or left out of a copy. Restore it from a backup; no new log is made in its place.`);
}

/** Whether a file is at `path` (a log, whatever state it is in). */
async function logExists(path: string, files: WalFileSystem): Promise<boolean> {
  try {
    await (await files.open(path, 'r')).close();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ioError(`Cannot look for ${path}`, error);
  }
}

/** Opens the log for reading and appending; `undefined` when it does not exist. */
async function openLogFile(path: string, durability: Durability, files: WalFileSystem): Promise<FileHandle | undefined> {
  try {
    return await files.open(path, writeFlags(durability));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(`Cannot open ${path} for writing`, error);
  }
}

/** The size of the file behind `handle` and its first `WAL_HEADER_SIZE` bytes (fewer if it is shorter). */
async function readHeader(handle: FileHandle, path: string): Promise<{ size: number; headerBytes: Buffer }> {
  try {
    const { size } = await handle.stat();
    const headerBytes = Buffer.alloc(Math.min(size, WAL_HEADER_SIZE));
    let done = 0;
    while (done < headerBytes.length) {
      const { bytesRead } = await handle.read(headerBytes, done, headerBytes.length - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return { size, headerBytes: headerBytes.subarray(0, done) };
  } catch (error) {
    throw ioError(`Cannot read ${path}`, error);
  }
}

/** Where a reading of the log begins: a segment, and a record's offset in it and LSN. */
interface ReadStart {
  readonly first: number;
  readonly offset: number;
  readonly lsn: number;
}

/**
 * Reads the log's header and records, the records going to `recover` as they come, a window at a time:
 * the sealed segments from the one where reading begins, then the current one through `handle`. A
 * writer (holding the lock) reads every whole commit of the current segment; a reader stops at the
 * commit marker (`toMarker`), when it names this log and segment. `onHeader` runs once the header of
 * the current segment is read and checked.
 */
async function readLog(handle: FileHandle, head: HeadFile, options: FileWalOptions, how: { toMarker: boolean; onHeader?: (headerBytes: Buffer) => Promise<void> }) {
  const { path, recover, resumeAfter } = options;
  const folder = segmentsFolderOf(options);
  // The marker first, then the log: a writer moves the marker only over records already written, so
  // everything it names is in the image read after it (read the other way round, a commit in between
  // would look like missing records).
  const marker = head.readMarker();
  const { size, headerBytes } = await readHeader(handle, path);
  const current = decodeWalHeader(headerBytes, path);
  await how.onHeader?.(headerBytes);
  const header: WalHeader = { formatVersion: current.formatVersion, codec: current.codec, logId: current.logId };
  const seed = frameSeed(header.logId);
  const trusted = marker && marker.logId === header.logId && marker.segment === current.firstLsn ? marker : undefined;
  const stopAt = how.toMarker ? trusted?.offset : undefined;
  const limit = Math.min(size, stopAt ?? size);
  const sealed = (await listSealedSegments(folder)).filter((first) => first < current.firstLsn);
  const firsts = [...sealed, current.firstLsn];
  let start: ReadStart | undefined;
  if (resumeAfter) {
    const holder = firsts.filter((first) => first <= resumeAfter.lsn).at(-1);
    if (holder === current.firstLsn) {
      const found = await findRecord(handle, limit, seed, resumeAfter);
      if (found) start = { first: holder, ...found };
    } else if (holder !== undefined) {
      let file: ReturnType<typeof openSegmentSync>;
      try {
        file = openSegmentSync(sealedSegmentPath(folder, holder), header.logId);
      } catch (error) {
        // (Its header damaged: the segment beginning right after the record will do, as below. Another
        // log's segment in its place still says the log was replaced.)
        if (!(error instanceof WalError && error.code === 'WAL_HEADER_INVALID') || !firsts.includes(resumeAfter.lsn + 1)) throw error;
      }
      if (file) {
        try {
          // (A header naming another first record is damaged too: passed over when the next segment will do.)
          const misnamed = file.header.firstLsn !== holder && firsts.includes(resumeAfter.lsn + 1);
          const found = misnamed ? undefined : await findRecord(fdReader(file.fd), file.size, seed, resumeAfter);
          if (found) start = { first: holder, ...found };
        } finally {
          closeSync(file.fd);
        }
      }
    }
    // The record itself may be gone with its segment: the next segment beginning right after it will do.
    if (!start && firsts.includes(resumeAfter.lsn + 1)) start = { first: resumeAfter.lsn + 1, offset: WAL_HEADER_SIZE, lsn: resumeAfter.lsn + 1 };
  }
  start ??= { first: firsts[0]!, offset: WAL_HEADER_SIZE, lsn: firsts[0]! };
  const positions = new LogPositions();
  // The record resumed after, too: a reader from it (the search index's catch-up, which checks it) starts there.
  if (resumeAfter && start.lsn === resumeAfter.lsn + 1 && start.first <= resumeAfter.lsn) positions.note(resumeAfter.lsn, start.first, resumeAfter.offset, true);
  if (start.offset > WAL_HEADER_SIZE) positions.note(start.lsn, start.first, start.offset, true);
  let scan: LogFileScan | undefined;
  const from = start;
  const records = async function* (): AsyncGenerator<WalRecord> {
    let next: ReadStart = from;
    // The segment read before is closed only once the next is open (and so locked): retention never
    // removes a segment after one a process still reads.
    let previous: number | undefined;
    try {
      for (const first of sealed) {
        if (first < from.first) continue;
        const segmentPath = sealedSegmentPath(folder, first);
        if (first !== next.first) throw missingRecords(segmentPath, next.lsn, first);
        const file = openSegmentSync(segmentPath, header.logId);
        if (!file) throw new WalError('WAL_TRUNCATED', `${segmentPath} was removed while it was being read (a checkpoint let the log drop it). Open the store again.`);
        if (previous !== undefined) closeSync(previous);
        previous = file.fd;
        if (file.header.firstLsn !== first) throw misnamedSegment(segmentPath, file.header.firstLsn, first);
        // A sealed segment was durable before the next one began: any bad frame in it is damage. (Zeros
        // after its last record, room a power loss brought back, are not; records lost to them show as
        // a gap before the next segment.)
        const segmentScan = new LogFileScan(fdReader(file.fd), file.size, seed, segmentPath, undefined, undefined, { offset: next.offset, lsn: next.lsn });
        for await (const commit of segmentScan.commits()) {
          for (const record of commit) {
            positions.note(record.lsn, first, record.offset);
            yield record;
          }
        }
        if (segmentScan.tornBytes > 0) {
          throw new WalError('WAL_CORRUPT', `${segmentPath}: record ${segmentScan.lastLsn + 1} at byte ${segmentScan.end} of this sealed segment is damaged. Run \`memmapfs verify\`.`, { lsn: segmentScan.lastLsn + 1, offset: segmentScan.end });
        }
        next = { first: segmentScan.lastLsn + 1, offset: WAL_HEADER_SIZE, lsn: segmentScan.lastLsn + 1 };
      }
      if (next.first !== current.firstLsn) throw missingRecords(path, next.lsn, current.firstLsn);
      scan = new LogFileScan(handle, size, seed, path, trusted?.offset, stopAt, { offset: next.offset, lsn: next.lsn }, trusted?.lsn);
      for await (const commit of scan.commits()) {
        for (const record of commit) {
          positions.note(record.lsn, current.firstLsn, record.offset);
          yield record;
        }
      }
    } finally {
      if (previous !== undefined) closeSync(previous);
    }
  };
  await handOver(records(), header, recover, { after: start.lsn - 1 });
  return { header, seed, trusted, scan: scan!, positions, first: current.firstLsn };
}

function missingRecords(path: string, from: number, to: number): WalError {
  return to > from
    ? new WalError('WAL_CORRUPT', `Records ${from} to ${to - 1} of the log are missing: no segment holds them before ${path}. Run \`memmapfs verify\`.`, { lsn: from })
    : new WalError('WAL_CORRUPT', `${path} begins at record ${to}, though the segment before it ends at record ${from - 1}. Run \`memmapfs verify\`.`, { lsn: to });
}

/**
 * Where the records after `position` begin, when the log holds that very record (same LSN and frame
 * checksum at that offset, the last record of its commit, within the first `limit` bytes): the offset
 * and LSN of the next one. `undefined` otherwise (the log was cut back, or replaced).
 */
async function findRecord(file: PositionedReader, limit: number, seed: number, position: WalPosition): Promise<{ offset: number; lsn: number } | undefined> {
  const { lsn, offset, checksum } = position;
  if (!Number.isSafeInteger(lsn) || lsn < 1 || !Number.isSafeInteger(offset) || offset < WAL_HEADER_SIZE || offset + FRAME_HEADER_SIZE > limit) return undefined;
  const read = async (length: number) => {
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await file.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf.subarray(0, done);
  };
  const frameHeader = await read(FRAME_HEADER_SIZE);
  if (frameHeader.length < FRAME_HEADER_SIZE) return undefined;
  const length = frameHeader.readUInt32LE(0);
  if (length > MAX_PAYLOAD_SIZE || offset + FRAME_HEADER_SIZE + length > limit) return undefined;
  const frame = readFrame(await read(FRAME_HEADER_SIZE + length), 0, seed, lsn);
  if (frame.kind !== 'record' || frame.continues || frame.record.checksum !== checksum >>> 0) return undefined;
  return { offset: offset + frame.end, lsn: lsn + 1 };
}

/** Gives the records to `recover` as they are read, then reads whatever it left, so that the scan reaches its end. */
async function handOver(records: AsyncGenerator<WalRecord>, header: WalHeader, recover: WalOpenOptions['recover'], start: RecoveryStart): Promise<void> {
  const next = () => records.next();
  try {
    // A hook that stops early (a `break`) must not end the scan: it is only given `next`, never `return`.
    await recover?.({ [Symbol.asyncIterator]: () => ({ next }) }, header, start);
    while (!(await next()).done) {
      // The scan must reach the end of the log: that is where a torn tail is told from damage.
    }
  } finally {
    // A hook that threw leaves the reading paused in a segment: its descriptor (and lock) go now.
    await records.return(undefined);
  }
}

/** Where every `EVERY`-th record begins: `readFrom` starts reading at the nearest one, not at the header. */
class LogPositions {
  static readonly EVERY = 1024;
  private readonly lsns: number[] = [];
  private readonly segments: number[] = [];
  private readonly offsets: number[] = [];

  /** Notes a committed record (they come in LSN order); `always`: even when it is not an `EVERY`-th one. */
  note(lsn: number, segment: number, offset: number, always = false): void {
    if ((always || lsn % LogPositions.EVERY === 1) && (this.lsns.length === 0 || lsn > this.lsns.at(-1)!)) {
      this.lsns.push(lsn);
      this.segments.push(segment);
      this.offsets.push(offset);
    }
  }

  /** The latest noted record at or before `lsn`: its LSN, segment and offset; `undefined` when none is. */
  before(lsn: number): ReadStart | undefined {
    let low = 0;
    let high = this.lsns.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.lsns[middle]! <= lsn) low = middle + 1;
      else high = middle;
    }
    return low === 0 ? undefined : { lsn: this.lsns[low - 1]!, first: this.segments[low - 1]!, offset: this.offsets[low - 1]! };
  }
}

/**
 * The write-ahead log in segment files, shared by every process that opens it. Appends are queued; one
 * commit at a time takes the writer lock, reads what other processes committed since (reporting it
 * through `onCommit`), numbers the queued records, writes them with a single write and (under `'sync'`)
 * makes them durable, advances the commit marker, and releases the lock: group commit per process,
 * serialized across processes. `truncateBefore` seals the current segment and removes old ones.
 */
export class FileWal implements WriteAheadLog {
  private currentHeader: WalHeader;
  /** Offset, in the current segment, just past the last record this process has seen committed (its own or others'). */
  private committedEnd: number;
  private committedLsn: number;
  /** Whether the marker has named this log since it was opened (see `refresh`). */
  private sawOwnMarker: boolean;
  /** Offset (in the current segment) up to which this process has made the log durable, and the LSN of the record that ends there. */
  private durableEnd: number;
  private durableLsn: number;
  private queue: PendingAppend[] = [];
  private committing: Promise<void> | undefined;
  /** How far the queued appends' commits have got: what a flush waits for. */
  private readonly progress = new AppendProgress();
  private batchTimer: NodeJS.Timeout | undefined;
  private failure: WalError | undefined;
  private closed = false;
  private readonly durability: Durability;
  private readonly batchIntervalMs: number;
  private readonly files: WalFileSystem;
  /** @internal Which way each commit writes its records. */
  readonly commitWrites: CommitWrites;
  private readonly segmentsFolder: string;
  /** Other processes' records are being reported through `onCommit` (see `refresh`). */
  private reporting = false;

  /** @internal Use `openFileWal`. */
  constructor(
    private segment: CurrentSegment,
    private readonly head: HeadFile,
    header: WalHeader,
    private readonly seed: number,
    end: number,
    lastLsn: number,
    private readonly options: FileWalOptions,
    private readonly positions: LogPositions = new LogPositions(),
  ) {
    this.currentHeader = header;
    this.committedEnd = end;
    this.durableEnd = end;
    this.durableLsn = lastLsn;
    this.sawOwnMarker = head.readMarker()?.logId === header.logId;
    this.committedLsn = lastLsn;
    this.durability = options.durability ?? 'sync';
    this.batchIntervalMs = options.batchIntervalMs ?? 50;
    this.files = options.fileSystem ?? nodeFileSystem;
    // (A seam without writeSync models the writes through its handles: never written around.)
    const writeNow = this.files.writeSync?.bind(this.files) ?? (this.files.open === nodeFileSystem.open ? writeSync : undefined);
    this.commitWrites = new CommitWrites(writeNow, options.commitWriteLimits);
    this.segmentsFolder = segmentsFolderOf(options);
  }

  get header(): WalHeader {
    return this.currentHeader;
  }

  get lastLsn(): number {
    return this.committedLsn;
  }

  /** Whether the log was opened read-only (see `FileWalOptions.readOnly`). */
  get readOnly(): boolean {
    return this.options.readOnly === true;
  }

  get size(): number {
    return this.committedEnd;
  }

  /** The LSN of the first record of the segment this process reads and appends to. */
  get segmentFirstLsn(): number {
    return this.segment.first;
  }

  append(entries: readonly WalEntry[], options: AppendOptions = {}): Promise<number[]> {
    if (this.closed) return Promise.reject(new WalError('WAL_CLOSED', `${this.options.path} is closed.`));
    if (this.options.readOnly) return Promise.reject(new WalError('READ_ONLY', `${this.options.path} was opened read-only; open the store without readOnly to write.`));
    if (this.failure) return Promise.reject(this.failure);
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
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ entries, check: options.check, resolve, reject });
      this.progress.queuedOne();
      this.committing ??= this.commitQueued();
    });
  }

  refresh(): number {
    if (this.closed) return 0;
    if (this.failure) throw this.failure;
    // A reader called back from `onCommit` (a state listener that reads, say): the records being
    // reported are not past yet, and reading them again would report them twice.
    if (this.reporting) return 0;
    // A head file removed or replaced (with a log of its own, say) would leave this process reading a
    // marker that never moves again: stale without a word. Looked at every `NAME_LOOK_MS` at most.
    if (this.headLookDue() && !this.head.namesWhatIsRead()) {
      if (this.options.readOnly) {
        this.failure ??= new WalError('WAL_REPLACED', `${this.head.path} was removed or replaced while this process had the log open: its commit marker is no longer the one writers move, so this process reads nothing newer. Close the store and open it again.`);
        throw this.failure;
      }
      this.failHeadReplaced();
    }
    const marker = this.head.readMarker();
    if (!marker) return 0;
    if (marker.logId !== this.header.logId) {
      // A marker of another log from before this process opened (a repair's marker lost with a power
      // loss, say) is no marker; one that took the place of this log's own means the log was replaced.
      if (!this.sawOwnMarker) return 0;
      throw this.replacedBy(`a commit marker of log ${marker.logId}`);
    }
    this.sawOwnMarker = true;
    let accepted = 0;
    if (marker.segment > this.segment.first) {
      accepted += this.followRolls(marker.segment);
      if (marker.segment !== this.segment.first) return accepted;
    } else if (marker.segment < this.segment.first) {
      return 0;
    }
    if (marker.offset <= this.committedEnd) return accepted;
    const buf = Buffer.allocUnsafe(marker.offset - this.committedEnd);
    const read = readAtOnce(this.segment.fd, buf, this.committedEnd);
    const scan = scanLog(buf.subarray(0, read), 0, this.committedLsn + 1, this.options.path, { seed: this.seed, onDamage: 'report', committedEnd: buf.length });
    accepted += this.acceptForeign(scan);
    // Everything up to a marker is durable (a writer moves it only then): the next frames this process
    // writes say so, and prove damage to these records if they are ever lost.
    this.durableEnd = Math.max(this.durableEnd, this.committedEnd);
    this.durableLsn = Math.max(this.durableLsn, this.committedLsn);
    if (scan.damage) {
      const { lsn, offset, reason } = scan.damage;
      throw new WalError('WAL_CORRUPT', `${this.options.path}: record ${lsn} at byte ${this.committedEnd - scan.end + offset} is damaged (${reason}), though the commit marker says it was committed. Close every process using the store and run \`memmapfs verify\`.`, { lsn, offset: this.committedEnd - scan.end + offset });
    }
    return accepted;
  }

  /**
   * Another process sealed the segment this process is in (and maybe more): reads the rest of each and
   * steps into the next, up to segment `target`, or as far as the next one is in place.
   */
  private followRolls(target: number): number {
    let accepted = 0;
    while (this.segment.first < target) {
      // Only once the next segment has taken state.wal's name is this one sealed for good: until then
      // (a sealer that died before its rename), a writer may still append here, under a new marker.
      if (this.isStateWal(this.segment.fd)) break;
      accepted += this.readRestOfSealed();
      const next = this.openNext();
      if (!next) break;
      this.switchTo(next);
    }
    return accepted;
  }

  /** Whether `state.wal` names the file open as `fd`. */
  private isStateWal(fd: number): boolean {
    return pathNamesDescriptor(this.options.path, fd) === 'same';
  }

  /** Reads the current segment to its end: it is sealed, so every record in it is committed. */
  private readRestOfSealed(): number {
    const size = fstatSync(this.segment.fd).size;
    if (size <= this.committedEnd) return 0;
    const buf = Buffer.allocUnsafe(size - this.committedEnd);
    const read = readAtOnce(this.segment.fd, buf, this.committedEnd);
    const scan = scanLog(buf.subarray(0, read), 0, this.committedLsn + 1, this.options.path, { seed: this.seed, onDamage: 'report' });
    const at = this.committedEnd;
    const accepted = this.acceptForeign(scan);
    this.durableEnd = this.committedEnd;
    this.durableLsn = this.committedLsn;
    if (scan.damage || scan.tornBytes > 0) {
      const lsn = scan.damage?.lsn ?? this.committedLsn + 1;
      const offset = at + (scan.damage?.offset ?? scan.end);
      throw new WalError('WAL_CORRUPT', `${this.options.path}: record ${lsn} at byte ${offset} of sealed segment ${this.segment.first} is damaged (${scan.damage?.reason ?? 'it is cut short'}). Close every process using the store and run \`memmapfs verify\`.`, { lsn, offset });
    }
    return accepted;
  }

  /**
   * The segment after the current one (which is sealed and read to its end), when it is in place:
   * `state.wal`, or a sealed segment when `state.wal` has moved on further. `undefined` while the
   * process sealing the current one has not put the next in place yet.
   */
  private openNext(): CurrentSegment | undefined {
    const first = this.committedLsn + 1;
    const live = openSegmentSync(this.options.path, this.header.logId);
    if (live) {
      if (live.header.firstLsn === first) return { first, fd: live.fd, handle: undefined };
      closeSync(live.fd);
      if (live.header.firstLsn === this.segment.first) return undefined;
      if (live.header.firstLsn < first) throw missingRecords(this.options.path, first, live.header.firstLsn);
    }
    const sealedPath = sealedSegmentPath(this.segmentsFolder, first);
    const sealed = openSegmentSync(sealedPath, this.header.logId);
    if (sealed) {
      if (sealed.header.firstLsn === first) return { first, fd: sealed.fd, handle: undefined };
      closeSync(sealed.fd);
      throw misnamedSegment(sealedPath, sealed.header.firstLsn, first);
    }
    if (live) throw new WalError('WAL_TRUNCATED', `Records from ${first} on were removed from the log before this process read them (a checkpoint let the log drop them). Close the store and open it again.`, { lsn: first });
    return undefined;
  }

  /** Moves to the next segment: everything before it is committed and durable. */
  private switchTo(next: CurrentSegment): void {
    const old = this.segment;
    this.segment = next;
    this.committedEnd = WAL_HEADER_SIZE;
    this.durableEnd = WAL_HEADER_SIZE;
    this.durableLsn = this.committedLsn;
    if (old.handle) void old.handle.close().catch(() => undefined);
    else closeSync(old.fd);
  }

  /**
   * Under the lock: a handle to write the current segment through, which must be `state.wal`. A
   * segment stepped into by `refresh` was opened to read only: it is opened again by path.
   */
  private async writableHandle(): Promise<FileHandle> {
    for (;;) {
      const current = this.segment;
      if (current.handle) return current.handle;
      const handle = await openLogFile(this.options.path, this.durability, this.files);
      if (!handle) throw new WalError('WAL_FAILED', `${this.options.path} is missing. Reopen the store.`);
      let moved = false;
      try {
        const named = await handle.stat();
        // (A refresh may have stepped on meanwhile: then the segment it is in now is the one to open.)
        moved = this.segment !== current;
        const mine = moved ? named : fstatSync(current.fd);
        if (!moved && (named.ino !== mine.ino || named.dev !== mine.dev)) {
          throw new WalError('WAL_FAILED', `${this.options.path} is not the segment the commit marker names (${current.first}). Reopen the store.`);
        }
        if (!moved) shareSegment(handle.fd, this.options.path);
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw error;
      }
      if (moved) {
        await handle.close().catch(() => undefined);
        continue;
      }
      closeSync(current.fd);
      this.segment = { first: current.first, fd: handle.fd, handle };
      return handle;
    }
  }

  async fence(): Promise<number> {
    if (this.closed) throw new WalError('WAL_CLOSED', `${this.options.path} is closed.`);
    this.refresh();
    return this.committedLsn;
  }

  readFrom(lsn: number): AsyncIterableIterator<WalRecord> {
    // Up to what is committed now, at the call (not at the first read).
    const endFirst = this.segment.first;
    const end = this.committedEnd;
    const lastLsn = this.committedLsn;
    const closed = () => new WalError('WAL_CLOSED', `${this.options.path} is closed.`);
    const read = async function* (this: FileWal): AsyncGenerator<WalRecord> {
      if (this.closed) throw closed();
      if (this.failure) throw this.failure;
      if (!Number.isSafeInteger(lsn) || lsn < 1) throw new WalError('INVALID_ARGUMENT', `readFrom: lsn must be a positive integer; got ${lsn}.`);
      const sealed = (await listSealedSegments(this.segmentsFolder)).filter((first) => first < endFirst);
      const oldest = sealed[0] ?? endFirst;
      const noted = this.positions.before(lsn);
      // (The segment that begins at or before `lsn` last: from the current one on, none sealed before it
      // is opened, which holds nothing from `lsn` on.)
      let at: ReadStart = noted && noted.first >= oldest ? noted : { first: Math.max(oldest, [...sealed, endFirst].filter((first) => first <= lsn).at(-1) ?? oldest), offset: WAL_HEADER_SIZE, lsn: 0 };
      if (at.lsn === 0) at = { ...at, lsn: at.first };
      // Each segment through a descriptor of its own, locked: the current one may be sealed and this
      // process move on while the reading goes on. The one before is closed once the next is open.
      let previous: number | undefined;
      try {
        for (;;) {
          if (this.closed) throw closed();
          const last = at.first === endFirst;
          const file = last ? this.openSegmentAt(endFirst) : openSegmentSync(sealedSegmentPath(this.segmentsFolder, at.first), this.header.logId);
          if (!file) throw new WalError('WAL_TRUNCATED', `Records from ${at.lsn} on were removed from the log while they were being read (a checkpoint let the log drop them). Read again.`, { lsn: at.lsn });
          if (previous !== undefined) closeSync(previous);
          previous = file.fd;
          // Every record up to `end` was committed: one that cannot be read back now is damage (WAL_CORRUPT).
          const limit = last ? end : file.size;
          // (Named as it is in errors: damage in a sealed segment is mended otherwise than in state.wal.)
          const scan = new LogFileScan(fdReader(file.fd), limit, this.seed, last ? this.options.path : sealedSegmentPath(this.segmentsFolder, at.first), limit, limit, { offset: at.offset, lsn: at.lsn });
          for await (const commit of scan.commits()) {
            for (const record of commit) {
              if (this.closed) throw closed();
              if (record.lsn > lastLsn) return;
              if (record.lsn >= lsn) yield record;
            }
          }
          if (last) return;
          at = { first: scan.lastLsn + 1, offset: WAL_HEADER_SIZE, lsn: scan.lastLsn + 1 };
        }
      } finally {
        if (previous !== undefined) closeSync(previous);
      }
    };
    return read.call(this);
  }

  /** Opens the segment beginning at `first`, which was current a moment ago: `state.wal`, or sealed since. */
  private openSegmentAt(first: number): { fd: number; size: number } | undefined {
    const live = openSegmentSync(this.options.path, this.header.logId);
    if (live?.header.firstLsn === first) return live;
    if (live) closeSync(live.fd);
    return openSegmentSync(sealedSegmentPath(this.segmentsFolder, first), this.header.logId);
  }

  /**
   * Lets the log drop the records before `lsn`: seals the current segment if it holds any of them (new
   * records go to a new one), then removes the sealed segments that hold only such records, oldest
   * first, stopping at one that a process still reads. Returns the LSN of the oldest record the log
   * still holds.
   */
  async truncateBefore(lsn: number): Promise<number> {
    if (this.closed) throw new WalError('WAL_CLOSED', `${this.options.path} is closed.`);
    if (this.options.readOnly) throw new WalError('READ_ONLY', `${this.options.path} was opened read-only; open the store without readOnly to write.`);
    if (this.failure) throw this.failure;
    if (!Number.isSafeInteger(lsn) || lsn < 1) throw new WalError('INVALID_ARGUMENT', `truncateBefore: lsn must be a positive integer; got ${lsn}.`);
    await this.head.lock(this.options.lockTimeoutMs);
    try {
      // (A lock no other process takes any more must not seal the log under a writer that holds the real one.)
      if (!this.head.isCurrent()) this.failHeadReplaced();
      await this.catchUpLocked();
      if (this.segment.first < lsn && this.committedLsn >= this.segment.first) await this.rollLocked();
      return await this.removeSealedBefore(lsn);
    } finally {
      this.head.unlock();
    }
  }

  /**
   * @internal Under the lock, caught up (at open): a log of an earlier format goes on in a segment of
   * this one. Its records are sealed as they are; an empty one is replaced by an empty segment.
   */
  async upgradeLocked(): Promise<void> {
    if (this.committedLsn >= this.segment.first) {
      await this.rollLocked();
    } else {
      await this.startSegmentLocked(this.segment.first);
    }
    this.currentHeader = { ...this.currentHeader, formatVersion: WAL_FORMAT_VERSION };
    this.head.writeMarker(this.marker());
  }

  /**
   * Under the lock, caught up: seals the current segment and makes a new, empty one `state.wal`. In this
   * order, so that a crash anywhere leaves a log every process reads right:
   * 1. the segment is made durable and linked as `wal/<first>.seg` (the folder fsynced);
   * 2. the marker names the new segment: a writer that takes the lock after a crash here finishes the roll;
   * 3. the new segment is written under a temporary name, fsynced, renamed over `state.wal`, the folder fsynced.
   */
  private async rollLocked(): Promise<void> {
    if (!this.head.isCurrent()) this.failHeadReplaced();
    const current = this.segment;
    const handle = await this.writableHandle();
    if (this.durableEnd < this.committedEnd) await this.syncNow();
    // A sealed segment ends with its last record: the room written ahead is cut off first, and the
    // file's size made durable whether this process cut it or not (a close cuts without an fsync).
    try {
      if (fstatSync(handle.fd).size > this.committedEnd) await handle.truncate(this.committedEnd);
      await handle.datasync();
    } catch (error) {
      throw ioError(`Cannot seal the log segment ${this.options.path}`, error);
    }
    const next = this.committedLsn + 1;
    try {
      const { mkdir = nodeFileSystem.mkdir, link = nodeFileSystem.link, unlink = nodeFileSystem.unlink } = this.files;
      const made = await mkdir(this.segmentsFolder, { recursive: true });
      if (made) await syncFolder(dirname(this.segmentsFolder), this.files);
      const sealedPath = sealedSegmentPath(this.segmentsFolder, current.first);
      try {
        await link(this.options.path, sealedPath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        // Linked already, by a roll that did not finish; anything else by that name is no segment of this log's chain.
        const [there, mine] = [await nodeFileSystem.stat(sealedPath), await handle.stat()];
        if (there.ino !== mine.ino || there.dev !== mine.dev) {
          await unlink(sealedPath);
          await link(this.options.path, sealedPath);
        }
      }
      await syncFolder(this.segmentsFolder, this.files);
    } catch (error) {
      throw ioError(`Cannot seal the log segment ${this.options.path}`, error);
    }
    this.head.writeMarker({ segment: next, offset: WAL_HEADER_SIZE, lsn: this.committedLsn, logId: this.header.logId });
    await this.startSegmentLocked(next);
  }

  /** Under the lock: makes a new, empty segment beginning at `first` take `state.wal`'s name, and moves to it. */
  private async startSegmentLocked(first: number): Promise<void> {
    const header = encodeWalHeader({ formatVersion: WAL_FORMAT_VERSION, codec: this.header.codec, logId: this.header.logId, firstLsn: first });
    await createFileDurably(this.options.path, header, this.files);
    await this.head.writeHeaderCopy(header);
    const opened = await openLogFile(this.options.path, this.durability, this.files);
    if (!opened) throw new WalError('WAL_FAILED', `${this.options.path} vanished as it was created.`);
    try {
      shareSegment(opened.fd, this.options.path);
    } catch (error) {
      await opened.close().catch(() => undefined);
      throw error;
    }
    this.switchTo({ first, fd: opened.fd, handle: opened });
  }

  /** Under the lock: removes the sealed segments that hold only records before `lsn` and that no process reads. */
  private async removeSealedBefore(lsn: number): Promise<number> {
    const firsts = (await listSealedSegments(this.segmentsFolder)).filter((first) => first < this.segment.first);
    let oldest = firsts[0] ?? this.segment.first;
    for (let i = 0; i < firsts.length; i++) {
      const first = firsts[i]!;
      const after = firsts[i + 1] ?? this.segment.first;
      if (after > lsn) break;
      const path = sealedSegmentPath(this.segmentsFolder, first);
      let fd: number;
      try {
        // Read-write, for the exclusive lock (Linux OFD locks need a descriptor open for writing).
        fd = openSync(path, 'r+');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`Cannot open ${path}`, error);
        oldest = after;
        continue;
      }
      try {
        // A process reading this segment needs every one after it too: stop here.
        if (!tryTakeSegment(fd)) break;
        await (this.files.unlink ?? nodeFileSystem.unlink)(path);
        // Each removal durable before the next: after a power loss the log may begin later, never with a gap.
        await syncFolder(this.segmentsFolder, this.files);
        oldest = after;
      } finally {
        closeSync(fd);
      }
    }
    return oldest;
  }

  async flush(): Promise<void> {
    if (this.options.readOnly) return;
    await this.syncPending();
    // A flush vouches for the log too (a checkpoint is published over it): one replaced, or removed,
    // fails here, as a commit would, even when nothing was left to make durable.
    if (!this.closed) this.checkCurrent();
  }

  checkCurrent(): void {
    if (this.options.readOnly) return;
    if (this.closed) throw new WalError('WAL_CLOSED', `${this.options.path} is closed.`);
    if (this.failure) throw this.failure;
    if (!this.head.isCurrent()) this.failHeadReplaced();
    this.markerUnlessReplaced();
    this.segmentInPlace();
  }

  /** Makes what this process committed durable. */
  private async syncPending(): Promise<void> {
    if (this.options.readOnly) return;
    if (this.failure) throw this.failure;
    // (The appends made before, not those that keep coming after: a writer that never pauses would hold it back for good.)
    await this.progress.settled();
    if (this.failure) throw this.failure;
    if (this.durableEnd < this.committedEnd) {
      await this.head.lock(this.options.lockTimeoutMs);
      try {
        // (Looked at again: a refresh during the wait may have stepped past the segment, sealed and durable.)
        if (this.durableEnd < this.committedEnd) await this.syncNow();
      } finally {
        this.head.unlock();
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      // (Every append made before the close is done, and those made while it waits: it closes the files they write to.)
      while (this.committing) await this.committing;
      // (Not `flush`: a close with nothing left to make durable loses nothing, whatever became of the log.)
      await this.syncPending();
      await this.cutRoom();
    } finally {
      this.closed = true;
      clearTimeout(this.batchTimer);
      if (this.segment.handle) await this.segment.handle.close().catch(() => undefined);
      else closeSync(this.segment.fd);
      await this.head.close();
    }
  }

  /**
   * On close, when the writer lock is free at once: cuts the room written ahead off the end of the log,
   * so that a store no process writes to holds no zeros. Only zeros go: the log is cut where the last
   * records (this process's, or marked by another) end, and only if a frame header of zeros follows
   * there (a writer under `'batch'` may have written records past the marker that are not marked yet).
   * Not fsynced: after a power loss the zeros are back, which is as good.
   */
  private async cutRoom(): Promise<void> {
    const handle = this.segment.handle;
    if (this.readOnly || this.failure || !handle || !this.head.tryLock()) return;
    try {
      // (Under a head file no other process locks any more, another writer may be appending there.)
      if (!this.head.isCurrent()) return;
      const marked = this.trustedMarker();
      const end = Math.max(this.committedEnd, marked && marked.segment === this.segment.first ? marked.offset : 0);
      // (Room follows exactly when the frame header there is zeros.)
      const frames = endOfFrames(this.segment.fd, end);
      if (frames && !frames.endOfFile && frames.end === end) await handle.truncate(end);
    } catch {
      // (The room stays: it is as good as gone.)
    } finally {
      this.head.unlock();
    }
  }

  private async commitQueued(): Promise<void> {
    // Never done before `append` has stored the promise in `committing`: a commit that ends without
    // awaiting anything (a refused precondition, the lock free) would clear `committing` first and then
    // have it set for good to a settled promise, and no append after it would ever be committed.
    await null;
    while (this.queue.length > 0) {
      // An append with a precondition is committed on its own, so that its check sees every append made
      // before it (in this process and others) applied, and nothing after it.
      const conditional = this.queue.findIndex((pending) => pending.check);
      let batch = this.queue.splice(0, conditional === 0 ? 1 : conditional === -1 ? this.queue.length : conditional);
      const taken = batch.length;
      try {
        if (this.failure) throw this.failure;
        if (batch.some((pending) => pending.entries.some((e) => e.after))) batch = await dropFailedDependencies(batch);
        if (batch.length === 0) continue;
        // Under every mode, data the records point to without a copy is made durable before they are;
        // outside the lock, so that other processes' commits do not wait for it.
        const syncing = this.runBeforeSync();
        if (syncing) await syncing;
        try {
          if (!this.head.tryLock()) await this.head.lock(this.options.lockTimeoutMs);
        } catch (error) {
          // Nothing was written: the appends fail, the log stays usable.
          if (!isWalError(error, 'LOCK_TIMEOUT')) throw error;
          for (const pending of batch) pending.reject(error);
          continue;
        }
        try {
          // (The head file first, on the turns the names are looked at, and every turn when another store of
          // this process found it replaced: a catch-up under a lock no other writer takes could cut another's
          // record short as a torn tail.)
          const looking = this.nameLookDue();
          if (this.head.replacedInProcess || (looking && !this.head.isCurrent())) this.failHeadReplaced();
          await this.catchUpLocked();
          if (looking) this.lookAtLogName();
          const check = batch[0]!.check;
          if (check) {
            try {
              check();
            } catch (refusal) {
              batch[0]!.reject(refusal);
              continue;
            }
          }
          const lsns = await this.writeLocked(batch);
          batch.forEach((pending, i) => pending.resolve(lsns[i]!));
        } finally {
          this.head.unlock();
        }
      } catch (error) {
        this.failure ??= isWalError(error) ? error : new WalError('WAL_FAILED', `Writing ${this.options.path} failed: ${describeThrown(error)}. Records from the failed commit may be lost; reopen the store to recover.`, { cause: error });
        for (const pending of batch) pending.reject(this.failure);
      } finally {
        this.progress.endedSome(taken);
      }
    }
    this.committing = undefined;
  }

  /**
   * Numbers, writes and (under `'sync'`) makes durable the batch as one commit; advances the marker;
   * reports it. Returns each append's LSNs.
   */
  private async writeLocked(batch: PendingAppend[]): Promise<number[][]> {
    const handle = await this.writableHandle();
    let total = 0;
    let count = 0;
    for (const pending of batch) {
      for (const entry of pending.entries) total += frameSize(entry);
      count += pending.entries.length;
    }
    const bytes = Buffer.allocUnsafe(total);
    const committed: CommittedRecord[] = [];
    const lsns: number[][] = [];
    let offset = 0;
    let lsn = this.committedLsn;
    let position = 0;
    for (const pending of batch) {
      const own: number[] = [];
      for (const entry of pending.entries) {
        lsn += 1;
        const start = offset;
        offset = writeFrame(bytes, offset, this.seed, lsn, entry, this.durableLsn, position < count - 1);
        position += 1;
        committed.push({ lsn, type: entry.type, payload: entry.payload, offset: this.committedEnd + start, checksum: bytes.readUInt32LE(start + 4), context: entry.context });
        this.positions.note(lsn, this.segment.first, this.committedEnd + start);
        own.push(lsn);
      }
      lsns.push(own);
    }
    const durableWrite = writesAreDurable(this.durability);
    if (this.durability !== 'none') await this.writeAhead(handle, this.committedEnd + total);
    try {
      const writeNow = this.commitWrites.choose(batch.length, total);
      const started = monotonicMs();
      await writeAll(handle, bytes, this.committedEnd, writeNow);
      this.commitWrites.took(monotonicMs() - started, writeNow !== undefined);
    } catch (error) {
      return this.takeBack(handle, this.committedEnd, total, `Writing ${this.options.path}`, error);
    }
    const start = this.committedEnd;
    const segment = this.segment;
    if (this.durability === 'sync' && !durableWrite) {
      // Committed once durable: readers of this process (`readFrom`, `lastLsn`) do not see the records
      // before, which a failed fdatasync takes back.
      try {
        await this.syncNow({ end: start + total, lsn });
      } catch (error) {
        // Refused: as after a failed write (the log fails either way).
        if (this.segment !== segment) throw error;
        return this.takeBack(handle, start, total, `Making ${this.options.path} durable`, error);
      }
    }
    this.committedEnd += total;
    this.committedLsn = lsn;
    if (durableWrite) {
      this.durableEnd = this.committedEnd;
      this.durableLsn = this.committedLsn;
    }
    if (this.durableEnd === this.committedEnd) {
      this.markDurable();
    } else if (this.durability === 'batch') this.scheduleBatchSync();
    try {
      this.options.onCommit?.(committed);
    } catch (error) {
      this.failure ??= new WalError('WAL_FAILED', `Records were written but could not be applied: ${describeThrown(error)}. Reopen the store.`, { cause: error });
      throw this.failure;
    }
    return lsns;
  }

  /**
   * Refuses a commit whose write or fdatasync failed (`doing`, with `error`): leaves no part of it,
   * `length` bytes at `start`, for the next writer to find and keep (it takes whole records past the
   * marker as a dead writer's): cut off, or else written over with zeros, which a catch-up and readers
   * take for the end of the log; either made durable, as the records may be. Where that cannot be done,
   * the log fails saying the records may have been written.
   */
  private async takeBack(handle: FileHandle, start: number, length: number, doing: string, error: unknown): Promise<never> {
    const undone = await undoWrite(handle, start, length);
    this.roomEnd = undefined;
    if (!undone) {
      this.failure = new WalError('WAL_FAILED', `${doing} failed (${describeThrown(error)}), and what the commit wrote could not be removed for certain (cutting the file, or writing zeros over it, and making that durable failed too): its records may have been written, and the next writer takes whole ones as committed. Reopen the store, and check whether the append took effect before repeating it.`, { cause: error });
      throw this.failure;
    }
    throw error;
  }

  /**
   * Under the lock: makes sure the file already reaches `needed` bytes, with zeros written ahead of the
   * records, so that most durable writes of records change no file size: an
   * fdatasync then writes no metadata (an inode, or a journal commit), which costs about a quarter of
   * the rate of small durable commits. Readers stop at the first frame that is all zeros, and a scan
   * tells zeros from a torn write (`scanLog`). Best effort: should it fail (a full disk), the records
   * are written all the same, growing the file.
   */
  private async writeAhead(handle: FileHandle, needed: number): Promise<void> {
    // Known without asking the file system: a stat of the log on every commit would make the next
    // write update its timestamps at a fine grain, and that inode update is written with every
    // fdatasync (another 4 KiB write per commit on ext4). Everything from the records' end on is room
    // (this process has caught up under the lock), so zeros written past `needed` overwrite nothing;
    // room another writer made is written again at worst.
    if (this.roomEnd === undefined || this.roomEnd.segment !== this.segment.first) this.roomEnd = { segment: this.segment.first, end: fstatSync(handle.fd).size };
    if (this.roomEnd.end >= needed) return;
    const room = Math.min(WRITE_AHEAD_MAX, Math.max(WRITE_AHEAD_MIN, needed >>> 2));
    try {
      // Never before `needed`: what this process knows of the room decides whether zeros are written,
      // never where. (Durable with the records: by the same O_DSYNC write, or the fdatasync after it.)
      await writeAll(handle, Buffer.alloc(room), needed);
      this.roomEnd.end = needed + room;
    } catch {
      // (Whatever zeros were written are room all the same; the next commit looks again.)
      this.roomEnd = undefined;
    }
  }

  /** Where the room written ahead in the current segment ends, as this process last knew it. */
  private roomEnd: { segment: number; end: number } | undefined;

  /**
   * Under the lock: reads what other writers appended since this process last looked. Segments they
   * sealed are read to their end and the next one stepped into (a roll a writer began and did not
   * finish is finished). In the current segment, whole records are made durable if the marker does not
   * cover them yet (their writer died, or writes under `'batch'`), then reported; a torn tail is truncated.
   */
  private async catchUpLocked(): Promise<void> {
    // (Under the lock only this process moves the marker: one read of it serves until then.)
    let marked = this.markerUnlessReplaced();
    // (Where no marker can say which segment is current, state.wal does: another writer may have sealed this one.)
    let current = marked ? marked.segment : this.segmentInPlace();
    for (;;) {
      if (current === undefined || current <= this.segment.first) break;
      this.readRestOfSealed();
      const next = this.openNext();
      if (next) this.switchTo(next);
      // The writer that sealed this segment died before the next one took its place: finish its roll.
      else await this.rollLocked();
      marked = this.trustedMarker();
      current = marked ? marked.segment : this.segmentInPlace();
    }
    for (let first = true; ; first = false) {
      const start = this.committedEnd;
      // Records are written one after another from the end: where a frame header is all zeros (room
      // written ahead) or the file ends, nothing follows. Found by reading frame headers past what the
      // marker covers (that is committed), not by a stat of the log (see `writeAhead`).
      if (!first) marked = this.trustedMarker();
      const probe = Math.max(start, marked && marked.segment === this.segment.first ? marked.offset : start);
      const frames = endOfFrames(this.segment.fd, probe);
      // (A file that ends where the records do has no room left: another process cut it.)
      if (frames?.endOfFile && this.roomEnd?.segment === this.segment.first) this.roomEnd.end = Math.min(this.roomEnd.end, frames.end);
      const size = frames?.end ?? fstatSync(this.segment.fd).size;
      if (size <= start) return;
      const handle = await this.writableHandle();
      // A refresh (another caller of this process) may have read some of it during the wait: look again;
      // or failed to apply it, and failed the log: then nothing is reported twice.
      if (this.failure) throw this.failure;
      if (this.committedEnd !== start) continue;
      const buf = Buffer.allocUnsafe(size - start);
      // What another process just wrote is in the page cache: a small read is cheaper done at once than
      // through the I/O thread pool, and it is on the path of every commit that follows another process's.
      const bytesRead = buf.length <= SYNC_READ_LIMIT ? readAtOnce(handle.fd, buf, start) : (await handle.read(buf, 0, buf.length, start)).bytesRead;
      if (this.failure) throw this.failure;
      if (this.committedEnd !== start) continue;
      const image = buf.subarray(0, bytesRead);
      const marker = this.trustedMarker();
      const covered = marker && marker.segment === this.segment.first && marker.offset > start ? marker.offset - start : undefined;
      const scan = scanLog(image, 0, this.committedLsn + 1, this.options.path, { seed: this.seed, ...(covered !== undefined ? { committedEnd: covered } : {}) });
      if (this.committedEnd !== start) continue; // a refresh took some of it meanwhile: look again
      if (scan.records.length > 0) {
        if (covered === undefined || covered < scan.end) await handle.datasync();
        if (this.failure) throw this.failure;
        if (this.committedEnd !== start) continue;
        this.acceptForeign(scan);
        this.durableEnd = Math.max(this.durableEnd, this.committedEnd);
        this.durableLsn = Math.max(this.durableLsn, this.committedLsn);
        this.head.writeMarker(this.marker());
      }
      if (scan.tornBytes > 0) {
        await handle.truncate(this.committedEnd);
        await handle.datasync();
        this.roomEnd = undefined;
      }
      return;
    }
  }

  /**
   * Reports the records of `scan` (of the current segment from `committedEnd` on, all committed) as other
   * processes' records, and moves past them. A record the caller cannot apply stops the log: skipping
   * it would leave this process's view silently behind.
   */
  private acceptForeign(scan: LogScan): number {
    if (scan.records.length === 0) return 0;
    const base = this.committedEnd;
    const records = scan.records.map((r) => ({ ...r, offset: base + r.offset, context: undefined }));
    for (const record of records) this.positions.note(record.lsn, this.segment.first, record.offset);
    this.reporting = true;
    try {
      this.options.onCommit?.(records);
    } catch (error) {
      this.failure ??= applyFailure(error, (described) => `Records from other processes could not be applied: ${described}. Reopen the store.`);
      throw error;
    } finally {
      this.reporting = false;
    }
    this.committedEnd = base + scan.end;
    this.committedLsn = scan.lastLsn;
    return records.length;
  }

  /** `found`: what took the log's place (another log, its commit marker, or why no log could be read at its path). */
  private replacedBy(found: string): WalError {
    return new WalError('WAL_REPLACED', `${this.options.path} is no longer the log this process has open (log ${this.header.logId}); found ${found}: what this process reads is no longer current. Close the store and open it again.`);
  }

  /**
   * Under the lock (or, to look only, outside it: a read the marker's one small write tears is taken
   * for no marker): the commit marker if it describes this log. One of another log where this one's
   * was means the log was replaced: what this process would write or mark goes nowhere anyone reads,
   * and its marker would take the new log's place, so the log fails (`WAL_REPLACED`), as `refresh`
   * tells a reader. With no marker to trust (damaged), the caller asks `segmentInPlace` instead.
   */
  private markerUnlessReplaced(): CommitMarker | undefined {
    const marker = this.head.readMarker();
    if (marker?.logId === this.header.logId) return marker;
    if (marker && this.sawOwnMarker) {
      this.failure ??= this.replacedBy(`a commit marker of log ${marker.logId}`);
      throw this.failure;
    }
    return undefined;
  }

  /**
   * Which segment of this log `state.wal` is, by its first LSN; `undefined` when it is the one open here.
   * Another log in its place, or none, fails the log (`WAL_REPLACED`). For where no marker can be
   * trusted (and for a flush, which vouches for the log).
   */
  private segmentInPlace(): number | undefined {
    if (this.isStateWal(this.segment.fd)) return undefined;
    let inPlace: SegmentHeader | undefined;
    let found = 'a file shorter than a log header';
    let fd: number | undefined;
    try {
      fd = openSync(this.options.path, 'r');
      const bytes = Buffer.alloc(WAL_HEADER_SIZE);
      inPlace = readAtOnce(fd, bytes, 0) < WAL_HEADER_SIZE ? undefined : decodeWalHeader(bytes, this.options.path);
    } catch (error) {
      // (Only a log that is not there, or not a log, is taken for another: any other error says nothing.)
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && !isWalError(error)) throw new WalError('IO_ERROR', `Cannot read the header of ${this.options.path}: ${describeThrown(error)}`, { cause: error });
      found = isWalError(error) ? `a file this process cannot read as a log (${error.message})` : 'no file';
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    // (The segment open here, in another file: a copy put in its place, which takes none of what is written here.)
    if (inPlace?.logId === this.header.logId && inPlace.firstLsn !== this.segment.first) return inPlace.firstLsn;
    this.failure ??= this.replacedBy(!inPlace ? found : inPlace.logId === this.header.logId ? 'another file holding this log (a copy put in its place?)' : `log ${inPlace.logId}`);
    throw this.failure;
  }

  /** Whether a refresh looks at what `state.head` names now (at most every `NAME_LOOK_MS`); if so, counts it as made. */
  private readonly headLookDue = atMostEvery(NAME_LOOK_MS);

  /** Whether a commit about to be made looks at what `state.wal` and `state.head` name (see `lookAtLogName`), likewise. */
  private readonly nameLookDue = atMostEvery(NAME_LOOK_MS);

  /**
   * Under the lock, after catching up and before a commit, at most every `NAME_LOOK_MS` (the head file
   * is looked at before the catch-up, on the same turns, and on every turn once another store of the
   * process found it replaced): that
   * `state.wal` still names the very file this writer appends to. A log removed by hand with no other
   * made in its place, or a copy of it put in its place, leaves the commit marker this log's, so nothing
   * else would tell, and every later commit would go into a file no one can open again; this fails the
   * log instead (`WAL_REPLACED`). (Caught up, this writer is in the segment the marker names, which is
   * `state.wal`: another segment of this log there is a file put in its place.) Not on every commit: a
   * stat of the log makes its next write update its timestamps at a fine grain, an inode write with the
   * fdatasync.
   */
  private lookAtLogName(): void {
    if (this.segmentInPlace() === undefined) return;
    this.failure ??= this.replacedBy('a later segment of this log that no commit marker names');
    throw this.failure;
  }

  /**
   * The head file was removed or replaced under this writer: its lock is no longer the one other
   * processes take, nor its marker the one they read, so it could write over their commits unseen.
   */
  private failHeadReplaced(): never {
    this.failure ??= new WalError('WAL_REPLACED', `${this.head.path} was removed or replaced while this process had the log open: its writer lock and commit marker are no longer the ones other processes use, so it writes nothing more. Close the store and open it again (and never remove state.head while processes have the store open).`);
    throw this.failure;
  }

  /** The commit marker, if it describes this log. */
  private trustedMarker(): CommitMarker | undefined {
    const marker = this.head.readMarker();
    return marker && marker.logId === this.header.logId ? marker : undefined;
  }

  private marker(): CommitMarker {
    return { segment: this.segment.first, offset: this.committedEnd, lsn: this.committedLsn, logId: this.header.logId };
  }

  /** Under the lock: fsyncs the current segment (after `beforeSync`) and advances the marker over what it covers. */
  private async syncNow(commit?: { end: number; lsn: number }): Promise<void> {
    const segment = this.segment;
    // (A commit's records, written and not yet committed: `writeLocked` commits them once durable, and marks them.)
    const end = commit?.end ?? this.committedEnd;
    const lsn = commit?.lsn ?? this.committedLsn;
    await this.runBeforeSync();
    // A refresh stepped into the next segment meanwhile: the one this was for was sealed, and so made
    // durable, by the process that sealed it; the offsets noted are of that file, not this one.
    if (this.segment !== segment) return;
    try {
      const handle = await this.writableHandle();
      if (this.segment !== segment) return;
      await handle.datasync();
    } catch (error) {
      this.failure ??= new WalError('WAL_FAILED', `fsync of ${this.options.path} failed: ${describeThrown(error)}. Reopen the store to recover.`, { cause: error });
      throw this.failure;
    }
    if (this.segment !== segment) return;
    this.durableEnd = Math.max(this.durableEnd, end);
    this.durableLsn = Math.max(this.durableLsn, lsn);
    if (commit) return;
    const marker = this.markerUnlessReplaced();
    // (No marker to trust, and another writer sealed this segment since: a marker of it would point back at a sealed segment.)
    if (!marker && this.segmentInPlace() !== undefined) return;
    if (!marker || marker.segment < this.segment.first || (marker.segment === this.segment.first && marker.offset <= end)) this.markDurable();
  }

  /** Moves the commit marker over the records just made durable. */
  private markDurable(): void {
    try {
      this.head.writeMarker(this.marker());
    } catch (error) {
      // The records are durable: their appends resolve. The marker is only a lower bound (the next
      // writer marks them), but a head file that cannot be written leaves this log unusable.
      this.failure ??= isWalError(error) ? error : new WalError('WAL_FAILED', `Writing the commit marker failed: ${describeThrown(error)}. Reopen the store.`, { cause: error });
    }
  }

  /** Runs the `beforeSync` hook; a promise only when the hook has work under way. */
  private runBeforeSync(): Promise<void> | void {
    const failed = (error: unknown): WalError => {
      this.failure ??= new WalError('WAL_FAILED', `Syncing the data of ${this.options.path} failed: ${describeThrown(error)}. Reopen the store to recover.`, { cause: error });
      return this.failure;
    };
    let syncing: Promise<void> | void;
    try {
      syncing = this.options.beforeSync?.();
    } catch (error) {
      throw failed(error);
    }
    if (syncing) {
      return syncing.catch((error: unknown) => {
        throw failed(error);
      });
    }
  }

  private scheduleBatchSync(): void {
    if (this.batchTimer) return;
    this.batchTimer = setTimeout(() => {
      this.batchTimer = undefined;
      this.flush().catch((error: unknown) => {
        // Another process held the lock too long: the records still wait for their fsync, so try again.
        if (isWalError(error, 'LOCK_TIMEOUT')) this.scheduleBatchSync();
      });
    }, this.batchIntervalMs);
    // (Not unref'd: a process whose work is done stays until the fsync, at most batchIntervalMs, rather
    // than end with acknowledged records neither durable nor marked, which no other process then reads.)
  }
}

/**
 * Removes the `length` bytes at `position` that a failed commit may have left: cuts the file there, or,
 * should that fail, writes zeros over them; then makes that durable. Whether it did.
 */
async function undoWrite(handle: FileHandle, position: number, length: number): Promise<boolean> {
  try {
    await handle.truncate(position);
  } catch {
    try {
      const zeros = Buffer.alloc(Math.min(length, 1024 * 1024));
      for (let at = 0; at < length; ) {
        at += (await handle.write(zeros, 0, Math.min(zeros.length, length - at), position + at)).bytesWritten;
      }
    } catch {
      return false;
    }
  }
  return handle.datasync().then(() => true, () => false);
}

/** Writes all of `bytes` at `position`: through `handle` (the thread pool), or with `writeNow` (see `CommitWrites`). */
async function writeAll(handle: FileHandle, bytes: Buffer, position: number, writeNow?: WriteSync): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += writeNow
      ? writeNow(handle.fd, bytes, written, bytes.length - written, position + written)
      : (await handle.write(bytes, written, bytes.length - written, position + written)).bytesWritten;
  }
}

/** For each append, the first failure among its entries' `after` work, or `undefined`. */
function failuresOf(batch: PendingAppend[]): Promise<unknown[]> {
  // (Only the entries that wait for something: a batch of thousands of entries usually has one.)
  const waits = (pending: PendingAppend) => {
    const found: Array<Promise<unknown>> = [];
    for (const entry of pending.entries) if (entry.after !== undefined) found.push(entry.after);
    return found;
  };
  return Promise.all(batch.map((pending) => Promise.all(waits(pending)).then(() => undefined, (error: unknown) => error ?? new Error('after failed'))));
}

/** Waits for what each entry depends on; appends whose dependency failed are rejected and left out. */
async function dropFailedDependencies(batch: PendingAppend[]): Promise<PendingAppend[]> {
  const failures = await failuresOf(batch);
  return batch.filter((pending, i) => {
    if (failures[i] === undefined) return true;
    pending.reject(failures[i]);
    return false;
  });
}

/** Zeros written ahead of the records (see `writeAhead`): a quarter of the log's size, within these bounds. */
const WRITE_AHEAD_MIN = 64 * 1024;
const WRITE_AHEAD_MAX = 1024 * 1024;

/**
 * Where the frames written from `from` on end, reading their headers only: at the first header of
 * zeros (room written ahead), or at `from` when the file ends there; `undefined` when a header is cut
 * short or is no frame, or the file ends after `from` (then the whole rest of the file, by its size, is
 * for a scan to judge).
 */
function endOfFrames(fd: number, from: number): { end: number; endOfFile: boolean } | undefined {
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  let at = from;
  for (;;) {
    const read = readAtOnce(fd, header, at);
    if (read === 0) {
      // The end of the file right after the last frame, or inside it (a frame cut short, whose length
      // says nothing): only a stat tells, then.
      return at === from ? { end: at, endOfFile: true } : undefined;
    }
    // Room: nothing follows.
    if (header.subarray(0, read).every((byte) => byte === 0)) return { end: at, endOfFile: false };
    if (read < FRAME_HEADER_SIZE) return undefined;
    const length = header.readUInt32LE(0);
    if (length > MAX_PAYLOAD_SIZE) return undefined;
    at += FRAME_HEADER_SIZE + length;
  }
}

/**
 * The head file at `path`, its writer lock taken. One replaced by hand while this open waited for its
 * lock is let go of and the one at the path taken instead: under a lock no other writer takes, the
 * open's recovery could cut another writer's record, half written, as a torn tail.
 */
async function lockedHead(path: string, files: WalFileSystem, lockTimeoutMs: number | undefined): Promise<HeadFile> {
  for (let tries = 1; ; tries++) {
    const head = await HeadFile.open(path, files);
    try {
      await head.lock(lockTimeoutMs);
    } catch (error) {
      await head.close();
      throw error;
    }
    if (head.isCurrent()) return head;
    head.unlock();
    await head.close();
    if (tries === REPLACED_HEAD_TRIES) throw new WalError('WAL_REPLACED', `${path} was removed or replaced again and again while this open waited for the writer lock: something is replacing the store's files (stop it, then open the store again), or this file system does not keep a file's identity (inode) from one look to the next, as a store's folder must: keep the store on a local disk.`);
  }
}

/** How many times an open takes the head file at the path again when the one it locked was replaced meanwhile. */
const REPLACED_HEAD_TRIES = 5;

/** How often a writer looks, before a commit, that `state.wal` and `state.head` still name its files (see `lookAtLogName`). */
const NAME_LOOK_MS = 100;

/** A look taken at most every `intervalMs`: each call says whether one is due now, and if so counts it as taken. */
function atMostEvery(intervalMs: number): () => boolean {
  let last = monotonicMs();
  return () => {
    const now = monotonicMs();
    if (now - last < intervalMs) return false;
    last = now;
    return true;
  };
}

/** Catch-up reads up to this size are synchronous (see `catchUpLocked`). */
const SYNC_READ_LIMIT = 256 * 1024;

/** Reads into all of `buf` from `position`, synchronously; returns the bytes read (fewer at the end of the file). */
function readAtOnce(fd: number, buf: Buffer, position: number): number {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
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

/**
 * Takes the log for maintenance that replaces it: an exclusive lock on every segment (`state.wal`
 * and the sealed ones in `segmentsFolder`), granted only while no process has the store open (each
 * holds a shared one on the segment it reads). Returns the function that releases them; fails with
 * `WAL_IN_USE` otherwise.
 */
export async function lockLogForMaintenance(path: string, files: WalFileSystem = nodeFileSystem, segmentsFolder = join(dirname(path), 'wal')): Promise<() => Promise<void>> {
  const held: FileHandle[] = [];
  const release = async () => {
    for (const handle of held) await handle.close().catch(() => undefined);
  };
  try {
    const paths = [path, ...(await listSealedSegments(segmentsFolder)).map((first) => sealedSegmentPath(segmentsFolder, first))];
    const taken = new Set<string>();
    for (const segmentPath of paths) {
      let handle: FileHandle;
      try {
        // Read-write: an exclusive lock needs a descriptor open for writing (Linux OFD locks).
        handle = await files.open(segmentPath, 'r+');
      } catch (error) {
        if (segmentPath !== path && (error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      // A link a crash left between sealing and replacing state.wal names state.wal itself: a second
      // lock on it would conflict with the first (the lock belongs to the open file description).
      let dev: number;
      let ino: number;
      try {
        ({ dev, ino } = await handle.stat());
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw error;
      }
      if (taken.has(`${dev}:${ino}`)) {
        await handle.close();
        continue;
      }
      taken.add(`${dev}:${ino}`);
      held.push(handle);
      if (!tryTakeSegment(handle.fd)) {
        throw new WalError('WAL_IN_USE', `${segmentPath} is open in another process. Close every process that uses the store, then try again.`);
      }
    }
  } catch (error) {
    await release();
    if (isWalError(error)) throw error;
    throw new WalError('IO_ERROR', `Cannot lock ${path}: ${describeThrown(error)}`, { cause: error });
  }
  return release;
}

/** Creates `path` holding `bytes`: write to a temporary file, fsync it, rename it into place, fsync the folder. */
export async function createFileDurably(path: string, bytes: Uint8Array, files: WalFileSystem = nodeFileSystem, beforeName?: () => void): Promise<void> {
  // A fresh name each time: two stores of one process may write the same file at once.
  const temp = `${dirname(path)}/.${basename(path)}.${process.pid}-${Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString('hex')}.tmp`;
  try {
    const handle = await files.open(temp, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    beforeName?.();
    await files.rename(temp, path);
    await syncFolder(dirname(path), files);
  } catch (error) {
    await nodeFileSystem.unlink(temp).catch(() => undefined);
    throw ioError(`Cannot create ${path}`, error);
  }
}

/** fsyncs the folder at `path`: makes the names created, renamed or removed in it durable. */
export async function syncFolder(path: string, files: Pick<WalFileSystem, 'open'> = nodeFileSystem): Promise<void> {
  const folder = await files.open(path, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}


