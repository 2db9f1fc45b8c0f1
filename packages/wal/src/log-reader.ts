import type { FileHandle } from 'node:fs/promises';
import { FRAME_HEADER_SIZE, readFrame } from './wal-frame.js';
import { WalError } from './wal-error.js';
import type { WalRecord } from './write-ahead-log.js';

/** How much of the log is read at a time. */
const WINDOW = 1024 * 1024;

/**
 * Reads the committed records of a log file from `start` (where record `firstLsn` begins) to `end`,
 * a window at a time, never the whole file. Each record's payload is a copy of its own. The records
 * were checked when they were committed; a record that fails its checks now is damage since
 * (`WAL_CORRUPT`).
 */
export async function* readLogRecords(handle: FileHandle, start: number, end: number, firstLsn: number, seed: number, path: string): AsyncGenerator<WalRecord> {
  let window = Buffer.allocUnsafe(Math.min(WINDOW, Math.max(end - start, FRAME_HEADER_SIZE)));
  let windowStart = start;
  let windowLength = 0;
  let offset = start;
  let lsn = firstLsn;
  while (offset < end) {
    // Enough of the file in the window for the next frame's header, then for the whole frame.
    let needed = FRAME_HEADER_SIZE;
    for (;;) {
      const available = windowStart + windowLength - offset;
      if (available >= needed) {
        if (needed > FRAME_HEADER_SIZE) break;
        const length = window.readUInt32LE(offset - windowStart);
        needed = FRAME_HEADER_SIZE + length;
        if (available >= needed || offset + needed > end) break;
        continue;
      }
      // Slide what is left to the front (growing the window for a large frame) and read more.
      const keep = window.subarray(offset - windowStart, windowLength);
      const size = Math.max(window.length, needed);
      const next = size > window.length ? Buffer.allocUnsafe(size) : window;
      keep.copy(next, 0);
      window = next;
      windowStart = offset;
      windowLength = keep.length;
      const want = Math.min(window.length - windowLength, end - (windowStart + windowLength));
      if (want <= 0) break;
      const { bytesRead } = await handle.read(window, windowLength, want, windowStart + windowLength);
      if (bytesRead === 0) break;
      windowLength += bytesRead;
    }
    const frame = readFrame(window.subarray(0, windowLength), offset - windowStart, seed, lsn);
    if (frame.kind !== 'record' || offset + (frame.end - (offset - windowStart)) > end) {
      throw new WalError('WAL_CORRUPT', `${path}: record ${lsn} at byte ${offset} cannot be read back (${frame.kind === 'invalid' ? frame.reason : 'the log ends inside it'}), though it was committed. Run \`memmapfs verify\`.`, { lsn, offset });
    }
    const { record } = frame;
    yield { ...record, offset, payload: Buffer.from(record.payload) };
    offset += frame.end - (offset - windowStart);
    lsn += 1;
  }
}
