import { damageError, dataEnd, findProofOfDamage } from './log-scan.js';
import type { PositionedReader } from './log-segments.js';
import { FRAME_HEADER_SIZE, MAX_PAYLOAD_SIZE, readFrame } from './wal-frame.js';
import { WAL_HEADER_SIZE } from './wal-header.js';
import type { WalRecord } from './write-ahead-log.js';

/** How much of the log is read at a time. */
const WINDOW = 1024 * 1024;

/**
 * A reading of a log file's committed records, a window at a time: the log is never held in
 * memory whole. Each record's payload is a view into its window, which is never written again (a new
 * window is read for what follows): what a consumer keeps of it for long, it copies, or it keeps that
 * window alive. It follows the rules of `scanLog`
 * (see there): a commit is handed out only once its last record has been read, so a commit torn at
 * the end of the file is never seen; damage (a bad frame followed by a record written after it was
 * durable, or before the end the commit marker vouches for) is `WAL_CORRUPT`. Once `commits()` has
 * been read to its end, `end`, `lastLsn` and `tornBytes` say where the valid log ends.
 */
export class LogFileScan {
  /** Offset just past the last whole commit. */
  end: number;
  /** LSN of its last record (0 for none). */
  lastLsn: number;
  /** Bytes after `end`: a torn tail, for a writer to cut (0 when they are zeros written ahead). */
  tornBytes = 0;

  /**
   * @param size The file's size. @param committedEnd The commit marker's offset, if it names this log.
   * @param stopAt Read no further than this offset (a reader shows nothing past the marker).
   * @param start Where to begin: a record's offset and LSN (by default the first record's).
   */
  constructor(
    private readonly handle: PositionedReader,
    private readonly size: number,
    private readonly seed: number,
    private readonly path: string,
    private readonly committedEnd: number | undefined,
    private readonly stopAt: number = Number.POSITIVE_INFINITY,
    private readonly start: { offset: number; lsn: number } = { offset: WAL_HEADER_SIZE, lsn: 1 },
    /** The LSN the commit marker says was committed last, if it names this log: a scan ending before it is damage. */
    private readonly committedLsn: number | undefined = undefined,
  ) {
    this.end = start.offset;
    this.lastLsn = start.lsn - 1;
  }

  /**
   * The committed records, a commit's at a time (the records written together, in order): a reader of
   * many records pays for one step of the iteration per commit, not per record.
   */
  async *commits(): AsyncGenerator<WalRecord[]> {
    const limit = Math.min(this.size, this.stopAt);
    let window = Buffer.alloc(0);
    let windowStart = this.start.offset;
    let windowLength = 0;
    let offset = this.start.offset;
    let lsn = this.start.lsn;
    let commit: WalRecord[] = [];
    let commitStart = offset;
    /** Makes `needed` bytes from `offset` available in the window, if the file has them; returns how many it has. */
    const fill = async (needed: number): Promise<number> => {
      let available = windowStart + windowLength - offset;
      if (available >= needed) return available;
      // Always a new window: the records handed out are views into the old one, which must not change.
      const keep = window.subarray(offset - windowStart, windowLength);
      const next = Buffer.allocUnsafe(Math.max(Math.min(WINDOW, limit - offset), needed));
      keep.copy(next, 0);
      window = next;
      windowStart = offset;
      windowLength = keep.length;
      while (windowLength < window.length && windowStart + windowLength < limit) {
        const want = Math.min(window.length - windowLength, limit - (windowStart + windowLength));
        const { bytesRead } = await this.handle.read(window, windowLength, want, windowStart + windowLength);
        if (bytesRead === 0) break;
        windowLength += bytesRead;
      }
      available = windowLength;
      return available;
    };
    let bad: string | undefined;
    while (offset < limit) {
      // (Read in only when the window ends first: most frames lie in it, and an await is a turn of the microtask queue.)
      if (windowStart + windowLength - offset < FRAME_HEADER_SIZE && (await fill(FRAME_HEADER_SIZE)) < FRAME_HEADER_SIZE) {
        bad = 'it is cut short';
        break;
      }
      const length = window.readUInt32LE(offset - windowStart);
      if (length > MAX_PAYLOAD_SIZE) {
        // Not read in: a garbage length must not make the scan take most of the file at once.
        bad = `length field ${length} exceeds the maximum record size`;
        break;
      }
      const frameSize = FRAME_HEADER_SIZE + length;
      const whole = offset + frameSize <= limit && (windowStart + windowLength - offset >= frameSize || (await fill(frameSize)) >= frameSize);
      const frame = whole ? readFrame(window.subarray(0, windowLength), offset - windowStart, this.seed, lsn) : undefined;
      if (!frame || frame.kind !== 'record') {
        bad = frame?.kind === 'invalid' ? frame.reason : 'it is cut short';
        break;
      }
      const { record } = frame;
      commit.push({ lsn: record.lsn, type: record.type, offset, checksum: record.checksum, payload: record.payload });
      offset += frameSize;
      lsn += 1;
      if (!frame.continues) {
        yield commit;
        commit = [];
        commitStart = offset;
        this.end = offset;
        this.lastLsn = lsn - 1;
      }
    }
    if (limit < this.size) {
      // A reader stops at the marker: what lies beyond is not its to judge; before it, nothing may be bad.
      if (bad !== undefined) throw damageError(this.path, lsn, offset, bad, `but the commit marker says records up to byte ${limit} were committed`);
      return;
    }
    let zerosAfter = false;
    if (bad !== undefined) {
      const rest = Buffer.allocUnsafe(this.size - offset);
      let read = 0;
      while (read < rest.length) {
        const { bytesRead } = await this.handle.read(rest, read, rest.length - read, offset + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      const proof = findProofOfDamage(rest.subarray(0, read), 1, lsn, this.seed);
      if (proof) throw damageError(this.path, lsn, offset, bad, `and record ${proof.lsn} (at byte ${offset + proof.offset}) was written after it had been made durable`);
      if (this.committedEnd !== undefined && offset < this.committedEnd) throw damageError(this.path, lsn, offset, bad, `but the commit marker says records up to byte ${this.committedEnd} were committed`);
      if (this.committedLsn !== undefined && this.lastLsn < this.committedLsn) throw damageError(this.path, lsn, offset, bad, `but the commit marker says records up to ${this.committedLsn} were committed`);
      // Nothing but zeros after the last whole commit: the room written ahead, not a torn write.
      zerosAfter = commitStart === offset && read === rest.length && dataEnd(rest, 0) === 0;
    } else if (this.committedEnd !== undefined && this.end < this.committedEnd) {
      throw damageError(this.path, lsn, offset, 'the log ends there', `but the commit marker says records up to byte ${this.committedEnd} were committed: records are missing`);
    } else if (this.committedLsn !== undefined && this.lastLsn < this.committedLsn) {
      throw damageError(this.path, lsn, offset, 'the log ends there', `but the commit marker says records up to ${this.committedLsn} were committed: records are missing`);
    }
    // What follows the last whole commit (a commit cut short, junk) is a torn tail.
    this.tornBytes = zerosAfter ? 0 : this.size - commitStart;
  }
}
