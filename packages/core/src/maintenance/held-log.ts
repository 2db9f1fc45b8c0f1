// The log's segment files as verify and repair read them: every sealed segment and state.wal, held
// in memory with the damage found in them, and whether the log reads on after a given record.
import { decodeWalHeader, frameSeed, listSealedSegments, PUT_SEGMENT_BACK, recordsBelongTo, resyncLog, scanLog, sealedSegmentPath, segmentFileName, WAL_FORMAT_VERSION, WAL_HEADER_SIZE, type SegmentHeader, type WalRecord } from '@memmapfs/wal';
import { MemMapError } from '../errors.js';
import { readSearchSnapshot } from '../engine/search-snapshot.js';
import type { StoreLayout } from '../engine/store-layout.js';
import { resolveCodec, type CodecOption } from '../registry/provider-registry.js';
import type { StoreFileSystem } from '../types.js';
import type { StoreProblem } from './store-check.js';

/**
 * Whether an open could resume after a checkpoint ending at `position` on the log `log` (from
 * `firstLsn` on): the log holds that very record (its LSN and frame checksum), or a segment begins right
 * after it (retention dropped it, say).
 */
export function logResumesAfter(log: LogHeld, firstLsn: number, position: { lsn: number; checksum: number; offset?: number }): boolean {
  if (position.lsn === firstLsn - 1) return true;
  if (position.lsn < firstLsn) return false;
  // (As an open does, a segment that begins right after it will do, its record damaged or not, unless
  // the segment holding that record is one the open refuses on its header.)
  if (log.segmentFirsts.includes(position.lsn + 1)) return log.headers.get(log.segmentFirsts.filter((first) => first <= position.lsn).at(-1)!)?.kind !== 'refused';
  if (heldRecord(log, position.lsn)?.checksum === position.checksum >>> 0) return true;
  // (Past a break in the sealed segments, as an open looks for it: the frame where the checkpoint says it
  // was written, whole, ending its commit, whatever is damaged before it in that commit.)
  const holder = log.segmentFirsts.filter((first) => first <= position.lsn).at(-1);
  const image = holder === undefined ? undefined : log.brokenImages.get(holder);
  return image !== undefined && position.offset !== undefined && endOfRecordAt(image, { ...position, offset: position.offset }, log.seed, `wal/${segmentFileName(holder!)}`) !== undefined;
}

/** What the log holds, as verify read it. */
export interface LogHeld {
  /** The records read in order from the first, up to damage in a sealed segment, then `state.wal`'s up to its own. */
  readonly records: readonly WalRecord[];
  /** Past damage in a sealed segment: the whole records after it, in it and in the later sealed segments. */
  readonly beyondDamage: readonly WalRecord[] | undefined;
  /** The first LSN of every segment, sealed ones and `state.wal`. */
  readonly segmentFirsts: readonly number[];
  /** It holds every record from the first on, read in order: it can stand in for a checkpoint. */
  readonly holdsAll: boolean;
  /** The sealed segments cannot be read in order up to `state.wal` (damage, another log's segment, a gap). */
  readonly sealedBroken: boolean;
  /** What an open makes of each sealed segment's header, by first LSN (as far as they were read). */
  readonly headers: ReadonlyMap<number, SegmentHeaderState>;
  /** The images of the sealed segments from a break on, by first LSN. */
  readonly brokenImages: ReadonlyMap<number, Buffer>;
  /** The seed of this log's frame checksums. */
  readonly seed: number;
  /** The log's id. */
  readonly logId: string;
}

/** The record with LSN `lsn` the log holds whole: among the records read in order, or past a break in the sealed segments. */
export function heldRecord(log: LogHeld, lsn: number): WalRecord | undefined {
  return recordAt(log.records, lsn) ?? recordAt(log.beyondDamage ?? [], lsn);
}

/** The record with LSN `lsn` among `records` (LSNs increasing, with gaps where damage was skipped). */
function recordAt(records: readonly WalRecord[], lsn: number): WalRecord | undefined {
  let low = 0;
  let high = records.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const at = records[middle]!.lsn;
    if (at === lsn) return records[middle];
    if (at < lsn) low = middle + 1;
    else high = middle - 1;
  }
  return undefined;
}

/**
 * Where the record at `position` ends in `image`, when it is there whole (its LSN, its frame checksum)
 * and ends its commit: the record an open resuming after a checkpoint looks for, reading nothing before it.
 */
export function endOfRecordAt(image: Buffer, position: { lsn: number; offset: number; checksum: number }, seed: number, path: string): number | undefined {
  const { lsn, offset, checksum } = position;
  if (!Number.isSafeInteger(offset) || offset < WAL_HEADER_SIZE || offset >= image.length) return undefined;
  const scan = scanLog(image, offset, lsn, path, { seed, onDamage: 'report' });
  const record = scan.records[0];
  if (record?.lsn !== lsn || record.checksum !== checksum >>> 0 || scan.continuing.has(lsn)) return undefined;
  return scan.records[1]?.offset ?? scan.end;
}

/**
 * A damaged log header, rebuilt from what else knows the log: the copy in state.head, the commit
 * marker's log id and the search snapshot's. Only a log id whose seed the records verify with is taken
 * (a copy left behind by an interrupted repair names another log); none: `WAL_HEADER_INVALID`.
 */
export async function rebuildHeader(image: Buffer, layout: StoreLayout, headerCopy: Buffer | undefined, markerLogId: string | undefined, codecOption: CodecOption | undefined, files: StoreFileSystem): Promise<SegmentHeader> {
  const copy = headerCopy ? decodeWalHeader(headerCopy, layout.head) : undefined;
  const snapshot = await readSearchSnapshot(layout.searchSnapshot, files);
  const candidates = [copy?.logId, markerLogId, snapshot?.logId].filter((id): id is string => id !== undefined);
  // The first record says where state.wal begins (its checksum, checked with each candidate id, vouches
  // for it); with no record, the copy (rewritten at every new segment) does.
  const frameLsn = image.length >= WAL_HEADER_SIZE + 16 ? image.readUInt32LE(WAL_HEADER_SIZE + 8) + image.readUInt32LE(WAL_HEADER_SIZE + 12) * 0x1_0000_0000 : undefined;
  const firstLsn = frameLsn !== undefined && frameLsn >= 1 && candidates.some((id) => recordsBelongTo(image, id, frameLsn)) ? frameLsn : (copy?.firstLsn ?? 1);
  const logId = candidates.find((id) => recordsBelongTo(image, id, firstLsn));
  const codec = copy?.codec ?? (codecOption === undefined ? undefined : (await resolveCodec(codecOption, 'msgpack')).name);
  if (logId === undefined || codec === undefined) {
    throw new MemMapError('WAL_HEADER_INVALID', `The header of ${layout.wal} is damaged, and ${logId === undefined ? 'no copy of it (in state.head, the commit marker or the search snapshot) matches the records' : 'no copy names its codec (pass the codec option)'}. Restore the file from a backup.`, { subsystem: 'wal' });
  }
  return { formatVersion: WAL_FORMAT_VERSION, codec, logId, firstLsn };
}

/**
 * Reads the sealed segments before state.wal, in order, each checked whole (a sealed segment was
 * durable before the next began: any bad byte in it is damage). Their problems go to `problems`.
 */
export async function readSealedSegments(layout: StoreLayout, current: SegmentHeader, files: StoreFileSystem, problems: StoreProblem[]): Promise<{ records: WalRecord[]; beyondDamage: WalRecord[] | undefined; brokenImages: Map<number, Buffer>; headers: Map<number, SegmentHeaderState>; firsts: number[]; walBytes: number; count: number; nextLsn: number }> {
  const records: WalRecord[] = [];
  /**
   * Set when the sealed segments cannot be read in order to the end (a segment's records or header
   * damaged, another log's segment, a gap): the whole records of this log found after the break.
   */
  let beyondDamage: WalRecord[] | undefined;
  /**
   * The images of the segments from the break on whose headers are whole, by first LSN: where an open
   * looks for a checkpoint's record.
   */
  const brokenImages = new Map<number, Buffer>();
  /** What the open makes of each segment's header, as far as they were read. */
  const headers = new Map<number, SegmentHeaderState>();
  let walBytes = 0;
  let nextLsn: number | undefined;
  const seed = frameSeed(current.logId);
  const firsts = (await listSealedSegments(layout.segments)).filter((first) => first < current.firstLsn);
  /**
   * The records whose frames prove they are this log's (its id seeds their checksums), found whole in
   * `image`, a segment named for `first` (whatever its header says), skipping damage.
   */
  const wholeRecordsOf = (image: Buffer, first: number, file: string): WalRecord[] => {
    try {
      return resyncLog(image, WAL_HEADER_SIZE, first, file, { seed }).records;
    } catch {
      return [];
    }
  };
  for (const [index, first] of firsts.entries()) {
    const file = `wal/${segmentFileName(first)}`;
    const image = await files.readFile(sealedSegmentPath(layout.segments, first));
    walBytes += image.length;
    const state = segmentHeaderState(image, first, current.logId, file);
    headers.set(first, state);
    /**
     * Says what is wrong with this segment, and gathers the whole records of this log from here on, past
     * what was read in order (an open that resumes after a checkpoint whose record is one of them, or
     * right before a segment, never reads the damage), in segments whose headers the open reads.
     */
    const broken = async (message: string, { lsn, offset }: { lsn?: number; offset?: number } = {}) => {
      problems.push({ severity: 'error', kind: 'wal-segment-damaged', file, repairable: false, ...(lsn !== undefined ? { lsn } : {}), ...(offset !== undefined ? { offset } : {}), message: `${message} Reading the log past it fails (an open that resumes after a checkpoint past it does not read it). ${PUT_SEGMENT_BACK}.` });
      const readUpTo = records.at(-1)?.lsn ?? 0;
      // (A segment whose header the open refuses or passes over holds nothing it can read.)
      beyondDamage = state.kind === 'whole' ? wholeRecordsOf(image, first, file).filter((record) => record.lsn > readUpTo) : [];
      if (state.kind === 'whole') brokenImages.set(first, image);
      for (const later of firsts.slice(index + 1)) {
        const laterFile = `wal/${segmentFileName(later)}`;
        const laterImage = await files.readFile(sealedSegmentPath(layout.segments, later)).catch(() => undefined);
        if (!laterImage) continue;
        const laterState = segmentHeaderState(laterImage, later, current.logId, laterFile);
        headers.set(later, laterState);
        if (laterState.kind !== 'whole') continue;
        beyondDamage.push(...wholeRecordsOf(laterImage, later, laterFile));
        brokenImages.set(later, laterImage);
      }
    };
    if (state.kind !== 'whole') {
      await broken(state.problem);
      break;
    }
    if (nextLsn !== undefined && first !== nextLsn) {
      await broken(`The sealed segment ${file} begins at record ${first}, but the one before it ends at record ${nextLsn - 1}.`, { lsn: nextLsn });
      break;
    }
    // (Zeros after the last record, room written ahead that a power loss brought back, are no damage:
    // records lost to them show as a gap before the next segment.)
    const scan = scanLog(image, WAL_HEADER_SIZE, first, file, { seed, onDamage: 'report' });
    records.push(...scan.records);
    nextLsn = scan.lastLsn + 1;
    if (scan.damage || scan.tornBytes > 0) {
      await broken(`Record ${scan.lastLsn + 1} at byte ${scan.end} of the sealed segment ${file} is damaged.`, { lsn: scan.lastLsn + 1, offset: scan.end });
      break;
    }
  }
  return { records, beyondDamage, brokenImages, headers, firsts, walBytes, count: firsts.length, nextLsn: nextLsn ?? current.firstLsn };
}

/**
 * What an open makes of a sealed segment's header: `whole` (of this log, naming the segment's first
 * record); `passed` (damaged, or naming another first record: an open passes over the segment when it
 * resumes after its last record, and fails reading it otherwise); `refused` (another log's, or of a
 * format this release does not read: an open that meets the segment at all fails).
 */
type SegmentHeaderState = { readonly kind: 'whole' } | { readonly kind: 'passed' | 'refused'; readonly problem: string };

function segmentHeaderState(image: Buffer, first: number, logId: string, file: string): SegmentHeaderState {
  let header: SegmentHeader;
  try {
    header = decodeWalHeader(image, file);
  } catch (error) {
    return { kind: (error as { code?: string })?.code === 'WAL_HEADER_INVALID' ? 'passed' : 'refused', problem: sealedHeaderProblem(file, error) };
  }
  if (header.logId !== logId) return { kind: 'refused', problem: `The sealed segment ${file} is not of this log (log ${header.logId}, first record ${header.firstLsn}).` };
  if (header.firstLsn !== first) return { kind: 'passed', problem: `The header of the sealed segment ${file} names record ${header.firstLsn} as its first, not ${first} as its name does: it is damaged.` };
  return { kind: 'whole' };
}

/**
 * Whether an open resuming after the checkpoint record at `from` reads the log on, in order, through
 * the sealed segments to `state.wal` (beginning at `walFirst`): `through`; or what it meets first there
 * (a damaged record, a segment refused on its header, records missing) as `problem`. As the open does,
 * it starts at that record where it is whole in its segment, else at a segment beginning right after it.
 */
type ReadOn = { readonly reads: 'through' } | { readonly reads: 'problem'; readonly problem: StoreProblem };

export async function readOnAfter(log: LogHeld, from: { lsn: number; offset: number; checksum: number }, walFirst: number, layout: StoreLayout, files: StoreFileSystem): Promise<ReadOn> {
  const meets = (file: string, what: string, lsn?: number, offset?: number): ReadOn => ({
    reads: 'problem',
    problem: {
      severity: 'error', kind: 'wal-segment-damaged', file, repairable: false, ...(lsn !== undefined ? { lsn } : {}), ...(offset !== undefined ? { offset } : {}),
      message: `${what} An open resuming after the checkpoint at record ${from.lsn} reads it, and fails. ${PUT_SEGMENT_BACK}.`,
    },
  });
  const imageOf = async (first: number) => log.brokenImages.get(first) ?? (await files.readFile(sealedSegmentPath(layout.segments, first)).catch(() => undefined));
  // (Its record in state.wal: nothing sealed is read. Before the log's first record, the log must begin
  // right after it, and is read from its first segment.)
  const holder = log.segmentFirsts.filter((first) => first <= from.lsn).at(-1);
  if (holder !== undefined && holder >= walFirst) return { reads: 'through' };
  const holderFile = holder === undefined ? undefined : `wal/${segmentFileName(holder)}`;
  const holderImage = holder === undefined ? undefined : await imageOf(holder);
  const holderState = holderImage === undefined ? undefined : (log.headers.get(holder!) ?? segmentHeaderState(holderImage, holder!, log.logId, holderFile!));
  // (The open opens the segment holding the record whichever way it resumes, and fails on a header it refuses.)
  if (holderState?.kind === 'refused') return meets(holderFile!, holderState.problem);
  const inHolder = holderState?.kind === 'whole' && endOfRecordAt(holderImage!, from, log.seed, holderFile!) !== undefined;
  let first: number;
  let start: { offset: number; lsn: number };
  if (inHolder) {
    first = holder!;
    start = { offset: from.offset, lsn: from.lsn };
  } else if (log.segmentFirsts.includes(from.lsn + 1)) {
    first = from.lsn + 1;
    if (first === walFirst) return { reads: 'through' };
    start = { offset: WAL_HEADER_SIZE, lsn: first };
  } else if (holderFile !== undefined) {
    return meets(holderFile, `Record ${from.lsn}, the checkpoint's, is not whole in the sealed segment ${holderFile}.`, from.lsn, from.offset);
  } else {
    return meets(`wal/${segmentFileName(log.segmentFirsts[0]!)}`, `The log begins at record ${log.segmentFirsts[0]}, not right after record ${from.lsn}, the checkpoint's.`);
  }
  let next = start.lsn;
  for (const at of log.segmentFirsts.slice(0, -1).filter((segment) => segment >= first)) {
    const file = `wal/${segmentFileName(at)}`;
    if (at !== first && at !== next) return meets(file, `The sealed segment ${file} begins at record ${at}, but the one before it ends at record ${next - 1}.`, next);
    const image = await imageOf(at);
    if (image === undefined) return meets(file, `The sealed segment ${file} cannot be read.`);
    const state = log.headers.get(at) ?? segmentHeaderState(image, at, log.logId, file);
    if (state.kind !== 'whole') return meets(file, state.problem);
    const scan = scanLog(image, at === first ? start.offset : WAL_HEADER_SIZE, at === first ? start.lsn : at, file, { seed: log.seed, onDamage: 'report' });
    if (scan.damage || scan.tornBytes > 0) return meets(file, `Record ${scan.lastLsn + 1} at byte ${scan.end} of the sealed segment ${file} is damaged.`, scan.lastLsn + 1, scan.end);
    next = scan.lastLsn + 1;
  }
  if (next !== walFirst) return meets('state.wal', `state.wal begins at record ${walFirst}, but the sealed segments before it end at record ${next - 1}: records are missing or doubled.`, next);
  return { reads: 'through' };
}

/** What is wrong with the header of the sealed segment `file`, from the error reading it threw (not its message: it speaks of state.wal, whose header repair rebuilds from a copy). */
function sealedHeaderProblem(file: string, error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  if ((error as { code?: string })?.code === 'WAL_FORMAT_UNSUPPORTED') {
    const version = /format version (\d+)/.exec(message)?.[1];
    return `The sealed segment ${file} is of a log format${version ? ` (version ${version})` : ''} this release does not read: use a MemMapFS release that reads it.`;
  }
  const why = /checksum/.test(message) ? 'it fails its checksum' : /codec/.test(message) ? 'it names no valid codec' : /first LSN/.test(message) ? 'it names no first record' : 'it is not a log segment\'s header';
  return `The header of the sealed segment ${file} is damaged (${why}).`;
}
