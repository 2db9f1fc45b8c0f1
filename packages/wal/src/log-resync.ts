import { findNextFrame, scanLog, type LogDamage, type ScanOptions } from './log-scan.js';
import { readFrame } from './wal-frame.js';
import type { WalRecord } from './write-ahead-log.js';

/** One damaged stretch of a log and what a resynchronising reader keeps after it. */
export interface DamagedRegion {
  /** The first frame that failed (as `scanLog` reports it). */
  readonly damage: LogDamage;
  /**
   * The LSNs lost, first to last: from the first record of the commit the damage hit up to the record
   * before the next one kept; for a last region that nothing follows, up to the highest LSN known
   * (the damaged record's, or that of the last valid frame seen after it).
   */
  readonly lost: { readonly first: number; readonly last: number };
  /** Where reading resumed: the first record kept after the damage; `undefined` when none was. */
  readonly resumedAt: { readonly lsn: number; readonly offset: number } | undefined;
  /** Records kept from `resumedAt` up to the next damaged region (or the end of the log). */
  readonly kept: number;
}

/** What `resyncLog` keeps of a damaged log. */
export interface LogResync {
  /** Every record kept, in order. LSNs increase, with a gap for each damaged region that records follow. */
  readonly records: WalRecord[];
  /** The damaged regions, in order (none when the log has no damage). */
  readonly regions: DamagedRegion[];
  /** The last LSN the log reached: the last record kept, or the last LSN of a valid frame seen after the final damaged region. */
  readonly lastLsn: number;
  /** Bytes of torn write after the last record kept (as `LogScan.tornBytes`). */
  readonly tornBytes: number;
}

/**
 * Reads a log as `scanLog` does, but instead of stopping at damage it skips it, as LevelDB's log reader
 * resynchronises: after a damaged frame it finds the next valid frame of this log (its checksum,
 * seeded with the log's identity, is the proof), reads on to the first end of a commit, drops the
 * frames up to and including it (the first frame found may be in the middle of a commit whose first
 * records were lost, and a commit is all or none), and keeps every record from the next frame on,
 * until the next damage. Kept records keep their LSNs. A torn tail after the last record is left out,
 * as by `scanLog`. For maintenance (`repairStore`): an open never skips damage.
 */
export function resyncLog(buf: Buffer, start: number, firstLsn: number, path: string, options: Omit<ScanOptions, 'onDamage'>): LogResync {
  const records: WalRecord[] = [];
  const regions: Array<Omit<DamagedRegion, 'kept'> & { kept: number }> = [];
  let offset = start;
  let lsn = firstLsn;
  let highestSeen = firstLsn - 1;
  for (;;) {
    const scan = scanLog(buf, offset, lsn, path, { ...options, onDamage: 'report' });
    records.push(...scan.records);
    if (regions.length > 0) regions[regions.length - 1]!.kept = scan.records.length;
    if (!scan.damage) return { records, regions, lastLsn: Math.max(scan.lastLsn, highestSeen), tornBytes: scan.tornBytes };
    const firstLost = scan.lastLsn + 1;
    highestSeen = Math.max(highestSeen, scan.lastLsn);
    const resume = resumePoint(buf, scan.damage, options.seed);
    highestSeen = Math.max(highestSeen, resume.highestSeen);
    if (!resume.at) {
      regions.push({ damage: scan.damage, lost: { first: firstLost, last: Math.max(scan.damage.lsn, highestSeen) }, resumedAt: undefined, kept: 0 });
      return { records, regions, lastLsn: Math.max(scan.lastLsn, highestSeen), tornBytes: 0 };
    }
    regions.push({ damage: scan.damage, lost: { first: firstLost, last: resume.at.lsn - 1 }, resumedAt: resume.at, kept: 0 });
    offset = resume.at.offset;
    lsn = resume.at.lsn;
  }
}

/**
 * Where reading resumes after `damage`: just past the first commit end among the valid frames that
 * follow it (further bad frames before that end are skipped the same way), and the highest LSN of a
 * valid frame seen on the way.
 */
function resumePoint(buf: Buffer, damage: LogDamage, seed: number): { at: { lsn: number; offset: number } | undefined; highestSeen: number } {
  let highestSeen = 0;
  // (The frame at the damage itself may be valid but out of sequence: it counts if its LSN is not behind.)
  let at = findNextFrame(buf, damage.offset, damage.lsn - 1, seed);
  while (at) {
    const frame = readFrame(buf, at.offset, seed, at.lsn);
    if (frame.kind !== 'record') {
      at = findNextFrame(buf, at.offset + 1, at.lsn - 1, seed);
      continue;
    }
    highestSeen = Math.max(highestSeen, at.lsn);
    if (!frame.continues) return { at: { lsn: at.lsn + 1, offset: frame.end }, highestSeen };
    at = { lsn: at.lsn + 1, offset: frame.end };
  }
  return { at: undefined, highestSeen };
}
