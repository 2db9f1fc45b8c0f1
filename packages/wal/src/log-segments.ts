import { closeSync, fstatSync, openSync, read as readCallback, readdirSync, readSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadLockBinding } from './lock-binding.js';
import { WalError } from './wal-error.js';
import { decodeWalHeader, WAL_HEADER_SIZE, type SegmentHeader } from './wal-header.js';

/**
 * The log is a chain of segment files. The one appended to is `state.wal`; a segment that is sealed
 * (when a checkpoint lets the log start a new one) keeps a second name, `wal/<first LSN>.seg`, before
 * `state.wal` is replaced by a new, empty segment. Each segment's header names the log and the LSN of
 * its first record, and each begins where the one before it ends. See docs/FORMAT.md.
 */

/** The file name of the sealed segment whose first record is `first`: 16 decimal digits, so names sort by LSN. */
export function segmentFileName(first: number): string {
  return `${String(first).padStart(16, '0')}.seg`;
}

const SEGMENT_NAME = /^(\d{16})\.seg$/;

/** The first LSNs of the sealed segments in `folder`, in order; none when the folder does not exist. */
export async function listSealedSegments(folder: string): Promise<number[]> {
  try {
    return firstsOf(await readdir(folder));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** `listSealedSegments`, synchronously. */
export function listSealedSegmentsSync(folder: string): number[] {
  try {
    return firstsOf(readdirSync(folder));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function firstsOf(names: string[]): number[] {
  const firsts: number[] = [];
  for (const name of names) {
    const match = SEGMENT_NAME.exec(name);
    if (match) firsts.push(Number(match[1]));
  }
  return firsts.sort((a, b) => a - b);
}

/** What a scan needs of an open file: positioned reads (a `FileHandle` has it; so does `fdReader`). */
export interface PositionedReader {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/** Positioned reads through a plain descriptor, on the I/O thread pool. */
export function fdReader(fd: number): PositionedReader {
  return {
    read: (buffer, offset, length, position) =>
      new Promise((resolve, reject) => {
        readCallback(fd, buffer, offset, length, position, (error, bytesRead) => (error ? reject(error) : resolve({ bytesRead })));
      }),
  };
}

/**
 * Takes a shared lock on a segment's descriptor (open for reading): every process holds one on the
 * segment it reads, so that retention never removes a segment someone is still reading, and maintenance
 * that replaces the log can tell that nobody has it open. A process that finds an exclusive holder
 * (maintenance under way, or the segment being removed) is refused with `WAL_IN_USE`.
 */
export function shareSegment(fd: number, path: string): void {
  let shared: boolean;
  try {
    shared = loadLockBinding().tryLock(fd, 'shared');
  } catch (error) {
    throw new WalError('IO_ERROR', `Cannot lock ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (!shared) throw new WalError('WAL_IN_USE', `${path} is being repaired, rewritten or removed by another process; open the store again when that is done.`);
}

/**
 * Tries to take a segment for removal: an exclusive lock, granted only while no process reads it.
 * `fd` must be open for writing (an exclusive lock needs it on Linux).
 */
export function tryTakeSegment(fd: number): boolean {
  return loadLockBinding().tryLock(fd, 'exclusive');
}

/**
 * Opens the segment file at `path` to read it, synchronously, with a shared lock; checks that it
 * belongs to the log `logId`. `undefined` when there is no such file (or it is being removed).
 */
export function openSegmentSync(path: string, logId: string): { fd: number; header: SegmentHeader; size: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new WalError('IO_ERROR', `Cannot open ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    try {
      shareSegment(fd, path);
    } catch (error) {
      if (error instanceof WalError && error.code === 'WAL_IN_USE') {
        closeSync(fd);
        return undefined;
      }
      throw error;
    }
    // Retention may have taken it, unlinked it and let go between the open and the lock: a lock on a
    // file no longer in the folder protects nothing (retention would go on past it). Then it is gone.
    if (!stillNamed(fd, path)) {
      closeSync(fd);
      return undefined;
    }
    const bytes = Buffer.alloc(WAL_HEADER_SIZE);
    const read = readSync(fd, bytes, 0, WAL_HEADER_SIZE, 0);
    const header = decodeSegmentHeader(bytes.subarray(0, read), path);
    if (header.logId !== logId) {
      throw new WalError('WAL_REPLACED', `${path} belongs to log ${header.logId}, not to log ${logId} that this process has open: the log was replaced. Close the store and open it again.`);
    }
    return { fd, header, size: fstatSync(fd).size };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * A segment's header. Repair rebuilds only `state.wal`'s from its copy in `state.head`: a sealed
 * segment's damaged header is said so, with what to do instead.
 */
function decodeSegmentHeader(bytes: Buffer, path: string): SegmentHeader {
  try {
    return decodeWalHeader(bytes, path);
  } catch (error) {
    if (!(error instanceof WalError && error.code === 'WAL_HEADER_INVALID') || !path.endsWith('.seg')) throw error;
    throw new WalError('WAL_HEADER_INVALID', `The header of ${path}, a sealed segment of the log, is damaged: the log cannot be read past it. ${PUT_SEGMENT_BACK} (\`memmapfs verify\` says what else is damaged; an open that resumes after a checkpoint past this segment does not read it).`, { cause: error });
  }
}

/** What to do about a damaged sealed segment: it never changes once sealed, so any later backup holds it whole. */
export const PUT_SEGMENT_BACK = 'Put the segment back from any backup taken after it was sealed (a sealed segment never changes); restore the whole store from a backup only if none has it, which loses every write made since that backup';

/** A sealed segment whose header names another first record than its name: refused as a damaged header is. */
export function misnamedSegment(path: string, says: number, first: number): WalError {
  return new WalError('WAL_HEADER_INVALID', `The header of ${path}, a sealed segment of the log, names record ${says} as its first, not ${first} as its name does: it is damaged, and the log cannot be read past it. ${PUT_SEGMENT_BACK}.`);
}

/** Where a sealed segment lives. */
export function sealedSegmentPath(folder: string, first: number): string {
  return join(folder, segmentFileName(first));
}

/** Whether `path` still names the file open as `fd`. */
function stillNamed(fd: number, path: string): boolean {
  try {
    const named = statSync(path);
    const open = fstatSync(fd);
    return named.ino === open.ino && named.dev === open.dev;
  } catch {
    return false;
  }
}
