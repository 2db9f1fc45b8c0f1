import { findNextFrame, findProofOfDamage, scanLog, type LogDamage, type ScanOptions } from './log-scan.js';
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
  /** The LSNs of the records kept whose commit goes on after them (as `LogScan.continuing`). */
  readonly continuing: ReadonlySet<number>;
}

/**
 * Reads a log as `scanLog` does, but instead of stopping at damage it skips it, as LevelDB's log reader
 * resynchronises: after a damaged frame it finds the next valid frame of this log (its checksum,
 * seeded with the log's identity, is the proof) and resumes at the first one that begins a commit
 * (a commit is all or none, so the rest of one whose first records were lost is dropped), and keeps
 * every record from there on, until the next damage. It resumes only where the frame proves the lost
 * records were durable before it was written (else they may have been torn together by a power loss,
 * and what follows is a torn tail, as `scanLog` would say). Kept records keep their LSNs. A torn tail
 * after the last record is left out, as by `scanLog`. For maintenance (`repairStore`): an open never
 * skips damage.
 */
export function resyncLog(buf: Buffer, start: number, firstLsn: number, path: string, options: Omit<ScanOptions, 'onDamage'>): LogResync {
  const records: WalRecord[] = [];
  const continuing = new Set<number>();
  const regions: Array<Omit<DamagedRegion, 'kept'> & { kept: number }> = [];
  let offset = start;
  let lsn = firstLsn;
  let highestSeen = firstLsn - 1;
  for (;;) {
    const scan = scanLog(buf, offset, lsn, path, { ...options, onDamage: 'report' });
    records.push(...scan.records);
    for (const lsn of scan.continuing) continuing.add(lsn);
    if (regions.length > 0) regions[regions.length - 1]!.kept = scan.records.length;
    if (!scan.damage) return { records, regions, lastLsn: Math.max(scan.lastLsn, highestSeen), tornBytes: scan.tornBytes, continuing };
    const firstLost = scan.lastLsn + 1;
    // The damaged record was committed (that is what makes it damage): its LSN was given out.
    highestSeen = Math.max(highestSeen, scan.lastLsn, scan.damage.lsn);
    const resume = resumePoint(buf, scan.damage, options.seed, options);
    highestSeen = Math.max(highestSeen, resume.highestSeen);
    if (!resume.at) {
      regions.push({ damage: scan.damage, lost: { first: firstLost, last: highestSeen }, resumedAt: undefined, kept: 0 });
      return { records, regions, lastLsn: highestSeen, tornBytes: 0, continuing };
    }
    regions.push({ damage: scan.damage, lost: { first: firstLost, last: resume.at.lsn - 1 }, resumedAt: resume.at, kept: 0 });
    offset = resume.at.offset;
    lsn = resume.at.lsn;
  }
}

/**
 * Where reading resumes after `damage`, and the highest LSN of a valid frame seen on the way. A frame
 * whose lag is 1 begins a commit (a commit is one write, whose frames share the durable LSN, so every
 * later frame of it has a lag of at least 2) and proves every earlier record durable: reading resumes
 * at it. Any other frame may be in the middle of a commit: its commit is dropped, up to its end. The
 * frame after that end begins a commit; it is resumed at only if the lost records are proven durable:
 * the commit marker covers it (by its LSN when known: a repair interrupted after writing the marker of
 * the log it was rewriting leaves one whose offset is in that log, not this one), or a frame written later (it, or any after it) was
 * written once they were durable. Otherwise it may have been written, not yet durable, together with the
 * lost records, and torn with them by a power loss; and as no frame after it proves more, the rest is
 * such a torn tail: nothing more is kept.
 */
function resumePoint(buf: Buffer, damage: LogDamage, seed: number, marker: Pick<ScanOptions, 'committedEnd' | 'committedLsn'>): { at: { lsn: number; offset: number } | undefined; highestSeen: number } {
  let highestSeen = 0;
  // (The frame at the damage itself may be valid but out of sequence: it counts if its LSN is not behind.)
  let at = findNextFrame(buf, damage.offset, damage.lsn - 1, seed);
  let afterCommitEnd = false;
  while (at) {
    const frame = readFrame(buf, at.offset, seed, at.lsn);
    if (frame.kind !== 'record') {
      afterCommitEnd = false;
      at = findNextFrame(buf, at.offset + 1, at.lsn - 1, seed);
      continue;
    }
    highestSeen = Math.max(highestSeen, at.lsn);
    if (frame.durableLsn === at.lsn - 1) return { at, highestSeen };
    if (afterCommitEnd) {
      const covered = marker.committedLsn !== undefined ? at.lsn <= marker.committedLsn : marker.committedEnd !== undefined && frame.end <= marker.committedEnd;
      if (covered || findProofOfDamage(buf, at.offset, at.lsn - 1, seed)) return { at, highestSeen };
      return { at: undefined, highestSeen: Math.max(highestSeen, lastValidLsn(buf, at, seed)) };
    }
    afterCommitEnd = !frame.continues;
    at = { lsn: at.lsn + 1, offset: frame.end };
  }
  return { at: undefined, highestSeen };
}

/** The LSN of the last valid frame in sequence from `at` on (a torn tail's frames, still LSNs given out). */
function lastValidLsn(buf: Buffer, at: { lsn: number; offset: number }, seed: number): number {
  let last = at.lsn - 1;
  let offset = at.offset;
  for (;;) {
    const frame = readFrame(buf, offset, seed, last + 1);
    if (frame.kind !== 'record') return last;
    last += 1;
    offset = frame.end;
  }
}
