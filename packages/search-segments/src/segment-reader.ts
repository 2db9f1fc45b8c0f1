import { crc32c } from '@memmapfs/wal';
import { CHECK_BYTES, DOC_ROW, H, HEADER_SIZE, LENGTHS_PER_CHECK, LENGTH_BYTES, LENGTH_IN_ROW, SEGMENT_MAGIC, SEGMENT_VERSION, SEGMENT_VERSION_WITHOUT_CHECKS, SEGMENT_VERSION_WITHOUT_LENGTHS, TERMS_PER_CHECK, TERM_ROW, checksLayout, rowCheck, termGroupChecksum } from './segment-format.js';
import type { PostingsCursor, SearchableSegment } from './searchable-segment.js';
import { runToEnd } from './segment-writer.js';

/** Whether typed arrays read this machine's numbers as the segment files store them (little-endian). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes of a body checked between two turns of `verifySteps`. */
const VERIFY_SLICE = 1024 * 1024;

/** A segment file that is not one, or is damaged. */
export class SegmentCorrupt extends Error {
  override readonly name = 'SegmentCorrupt';
  /** Set when the file is whole but of a format version this release does not read (a newer release's): not damage. */
  readonly unsupportedVersion: boolean;

  constructor(message: string, options: { unsupportedVersion?: boolean } = {}) {
    super(message);
    this.unsupportedVersion = options.unsupportedVersion === true;
  }
}

/** log2 of `LENGTHS_PER_CHECK` and `TERMS_PER_CHECK`: a row's (a term's) group is its number shifted right by it. */
const LENGTH_GROUP_SHIFT = Math.log2(LENGTHS_PER_CHECK);
const TERM_GROUP_SHIFT = Math.log2(TERMS_PER_CHECK);

/**
 * A segment read in place (a mapping, or bytes in memory): nothing is decoded up front. Terms are found
 * by binary search over the term rows, postings decoded as they are walked. A segment of version 3 has
 * each part a query reads checked the first time this reader reads it (a group of terms or lengths, a
 * term's postings; a document row each time, by its own check): a part damaged after the file was
 * written throws `SegmentCorrupt` rather than answer wrongly. (Versions 1 and 2 are checked only whole, by `verify`.)
 */
export class SegmentReader implements SearchableSegment {
  readonly docCount: number;
  readonly termCount: number;
  /** Sum of the documents' lengths in words. */
  readonly totalLength: number;
  private readonly docs: number;
  private readonly termIndex: number;
  /** The document rows as 32-bit words, when the bytes are aligned for it: lengths read without a DataView. */
  private readonly docWords: Uint32Array | undefined;
  /** The document rows as 64-bit floats, when the bytes are aligned for it: ids read without a DataView. */
  private readonly docFloats: Float64Array | undefined;
  /** Version 2's lengths column, where BM25 reads a document's length (`LENGTH_IN_ROW`: read its row). */
  private readonly lengths: Uint16Array | undefined;
  private readonly termBytes: number;
  private readonly postings: number;
  /** Version 3: the checks section's offset (0: none), and where each kind of check starts in it. */
  private readonly checks: number;
  private readonly checksAt: ReturnType<typeof checksLayout>;
  private readonly lengthsOffset: number;
  /** Whether document rows carry a check to verify (version 3, its body not checked whole). */
  private rowChecks = false;
  // Which parts were checked already, one flag each (`undefined`: none needs checking: a segment
  // without checks, or one whose body was checked whole). Zero-filled pages cost no memory until set.
  private lengthGroupsChecked: Uint8Array | undefined;
  private termGroupsChecked: Uint8Array | undefined;
  private postingsChecked: Uint8Array | undefined;

  /** Checks the header (not the body: see `verify`). `path` names the file in what a damaged part throws. */
  constructor(
    private readonly bytes: Buffer,
    readonly path?: string,
  ) {
    const bad = (why: string) => new SegmentCorrupt(`not a usable search segment: ${why}`);
    if (bytes.length < HEADER_SIZE || !bytes.subarray(0, 8).equals(SEGMENT_MAGIC)) throw bad('no segment header');
    const version = bytes.readUInt32LE(H.version);
    if (version !== SEGMENT_VERSION && version !== SEGMENT_VERSION_WITHOUT_CHECKS && version !== SEGMENT_VERSION_WITHOUT_LENGTHS) throw new SegmentCorrupt(`not a usable search segment: format version ${version} is not ${SEGMENT_VERSION_WITHOUT_LENGTHS} to ${SEGMENT_VERSION}`, { unsupportedVersion: true });
    if (crc32c(bytes.subarray(16, HEADER_SIZE)) !== bytes.readUInt32LE(H.headerCrc)) throw bad('its header fails its checksum');
    // (The version is not under the header's checksum; the checks section's offset is, and only version 3
    // has one: a version 3 whose number was damaged to 1 or 2 would otherwise be read without its checks.)
    if (version !== SEGMENT_VERSION && bytes.readUInt32LE(H.checksOffset) !== 0) throw bad(`its header says format version ${version}, yet names a checks section (its version was damaged)`);
    if (bytes.readUInt32LE(H.fileLength) !== bytes.length) throw bad(`it is ${bytes.length} bytes long, its header says ${bytes.readUInt32LE(H.fileLength)}`);
    this.docCount = bytes.readUInt32LE(H.docCount);
    this.termCount = bytes.readUInt32LE(H.termCount);
    this.totalLength = bytes.readDoubleLE(H.totalLength);
    this.docs = bytes.readUInt32LE(H.docsOffset);
    this.termIndex = bytes.readUInt32LE(H.termIndexOffset);
    const postings = (this.postings = bytes.readUInt32LE(H.postingsOffset));
    const termBytes = (this.termBytes = bytes.readUInt32LE(H.termBytesOffset));
    const withLengths = version !== SEGMENT_VERSION_WITHOUT_LENGTHS;
    // (Version 1 has no lengths column: its offset is the end of the document rows, its size none.)
    const lengthsOffset = (this.lengthsOffset = withLengths ? bytes.readUInt32LE(H.lengthsOffset) : this.docs + this.docCount * DOC_ROW);
    const lengthsSize = withLengths ? this.docCount * LENGTH_BYTES : 0;
    this.checks = version === SEGMENT_VERSION ? bytes.readUInt32LE(H.checksOffset) : 0;
    this.checksAt = checksLayout(this.docCount, this.termCount);
    const checksEnd = version === SEGMENT_VERSION ? this.checks + this.checksAt.size : bytes.length;
    if (this.docs + this.docCount * DOC_ROW > lengthsOffset || lengthsOffset % 2 !== 0 || lengthsOffset + lengthsSize > this.termIndex || this.termIndex + this.termCount * TERM_ROW > termBytes || termBytes > postings || postings > bytes.length || (version === SEGMENT_VERSION && (this.checks < postings || checksEnd > bytes.length))) {
      throw bad('its sections do not add up');
    }
    if (version === SEGMENT_VERSION) {
      this.rowChecks = true;
      this.lengthGroupsChecked = new Uint8Array(Math.ceil(this.docCount / LENGTHS_PER_CHECK));
      this.termGroupsChecked = new Uint8Array(Math.ceil(this.termCount / TERMS_PER_CHECK));
      this.postingsChecked = new Uint8Array(this.termCount);
    }
    // (The views read the file's little-endian rows as they are: on a big-endian machine, the Buffer reads them.)
    const start = bytes.byteOffset + this.docs;
    this.docWords = LITTLE_ENDIAN && start % 4 === 0 ? new Uint32Array(bytes.buffer, start, this.docCount * (DOC_ROW / 4)) : undefined;
    this.docFloats = LITTLE_ENDIAN && start % 8 === 0 ? new Float64Array(bytes.buffer, start, this.docCount * (DOC_ROW / 8)) : undefined;
    const lengthsStart = bytes.byteOffset + lengthsOffset;
    this.lengths = withLengths && LITTLE_ENDIAN && lengthsStart % 2 === 0 ? new Uint16Array(bytes.buffer, lengthsStart, this.docCount) : undefined;
  }

  /** Whether the body (documents, terms, postings) still matches its checksum. */
  verify(): boolean {
    return runToEnd(this.verifySteps());
  }

  /** After `verify` found the body whole: nothing is checked again part by part (a merge reads every part). */
  trustBody(): void {
    this.rowChecks = false;
    this.lengthGroupsChecked = this.termGroupsChecked = this.postingsChecked = undefined;
  }

  /** The check at `at` of the checks section. */
  private check(at: number): number {
    return this.bytes.readUInt32LE(this.checks + at);
  }

  private checkRow(row: number): void {
    const words = this.docWords;
    const at = row * (DOC_ROW / 4);
    const found = words ? rowCheck(row, words[at]!, words[at + 1]!, words[at + 2]!) : rowCheck(row, this.bytes.readUInt32LE(this.docs + row * DOC_ROW), this.bytes.readUInt32LE(this.docs + row * DOC_ROW + 4), this.bytes.readUInt32LE(this.docs + row * DOC_ROW + 8));
    const stored = words ? words[at + 3]! : this.bytes.readUInt32LE(this.docs + row * DOC_ROW + 12);
    if (found !== stored) throw this.damaged(`its document row ${row} fails its check`);
  }

  private checkLengths(group: number): void {
    const from = this.lengthsOffset + group * LENGTHS_PER_CHECK * LENGTH_BYTES;
    const to = this.lengthsOffset + Math.min(this.docCount, (group + 1) * LENGTHS_PER_CHECK) * LENGTH_BYTES;
    if (crc32c(this.bytes.subarray(from, to)) !== this.check(this.checksAt.lengthGroups + group * CHECK_BYTES)) throw this.damaged(`its document lengths ${groupRange(group, LENGTHS_PER_CHECK, this.docCount)} fail their checksum`);
    this.lengthGroupsChecked![group] = 1;
  }

  private checkTerms(group: number): void {
    const found = termGroupChecksum(this.bytes, this.termIndex, group, this.termCount, { termBytes: this.termBytes, postings: this.postings });
    if (found !== this.check(this.checksAt.termGroups + group * CHECK_BYTES)) throw this.damaged(`its terms ${groupRange(group, TERMS_PER_CHECK, this.termCount)} fail their checksum`);
    this.termGroupsChecked![group] = 1;
  }

  /** Checks term `index`'s postings (its row checked first): they run to the next term's, the last one's to the checks section. */
  private checkPostings(index: number): void {
    const from = this.bytes.readUInt32LE(this.termRow(index) + 8);
    const to = index + 1 < this.termCount ? this.bytes.readUInt32LE(this.termRow(index + 1) + 8) : this.checks;
    if (from < this.postings || to < from || to > this.checks || crc32c(this.bytes.subarray(from, to)) !== this.check(index * CHECK_BYTES)) throw this.damaged(`the postings of its term ${index} fail their checksum`);
    this.postingsChecked![index] = 1;
  }

  private damaged(why: string): SegmentCorrupt {
    return new SegmentCorrupt(`the search segment ${this.path ?? '(in memory)'} is damaged: ${why}`);
  }

  /** Where term `index`'s row starts, its group of terms checked. */
  private termRow(index: number): number {
    const checked = this.termGroupsChecked;
    if (checked !== undefined && checked[index >>> TERM_GROUP_SHIFT] === 0) this.checkTerms(index >>> TERM_GROUP_SHIFT);
    return this.termIndex + index * TERM_ROW;
  }

  /** `verify` a slice at a time: yields between slices of `VERIFY_SLICE` bytes, and returns whether the body matches. */
  *verifySteps(): Generator<void, boolean, void> {
    let crc = 0;
    for (let at = HEADER_SIZE; at < this.bytes.length; at += VERIFY_SLICE) {
      crc = crc32c(this.bytes.subarray(at, Math.min(this.bytes.length, at + VERIFY_SLICE)), crc);
      yield;
    }
    return crc === this.bytes.readUInt32LE(H.bodyCrc);
  }

  /** The memory id of row `row`. */
  idAt(row: number): number {
    if (this.rowChecks) this.checkRow(row);
    if (this.docFloats) return this.docFloats[row * (DOC_ROW / 8)]!;
    return this.bytes.readDoubleLE(this.docs + row * DOC_ROW);
  }

  /**
   * The length in words of row `row`: from the lengths column where the segment has one (two bytes a
   * document: a query touches a page of it for 2,048 documents, where the rows take 256), else its row.
   */
  lengthAt(row: number): number {
    if (this.lengths) {
      const length = this.lengths[row]!;
      if (length !== LENGTH_IN_ROW) return length;
    }
    if (this.rowChecks) this.checkRow(row);
    if (this.docWords) return this.docWords[row * (DOC_ROW / 4) + 2]!;
    return this.bytes.readUInt32LE(this.docs + row * DOC_ROW + 8);
  }

  /**
   * The memory id of row `row`, a hit of a query: its length (which weighed its score, and which
   * `lengthAt` does not check: a query reads the lengths of every row it scores, spread over the whole
   * column) checked too.
   */
  hitIdAt(row: number): number {
    const checked = this.lengthGroupsChecked;
    if (checked !== undefined && checked[row >>> LENGTH_GROUP_SHIFT] === 0) this.checkLengths(row >>> LENGTH_GROUP_SHIFT);
    return this.idAt(row);
  }

  /** The row of memory `id`, or -1. */
  rowOf(id: number): number {
    if (id > this.maxId) return -1;
    let low = 0;
    let high = this.docCount - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const found = this.idAt(mid);
      if (found < id) low = mid + 1;
      else if (found > id) high = mid - 1;
      else return mid;
    }
    return -1;
  }

  /** The largest memory id in the segment (-1 when it is empty): a larger one is not in it. */
  get maxId(): number {
    return this.docCount === 0 ? -1 : this.idAt(this.docCount - 1);
  }

  termId(term: string): number {
    return this.findTerm(Buffer.from(term, 'utf8'));
  }

  termIdsWithPrefix(prefix: string): number[] {
    const [from, to] = this.prefixRange(Buffer.from(prefix, 'utf8'));
    return Array.from({ length: to - from }, (_, k) => from + k);
  }

  /** The bytes of term `index`. */
  termAt(index: number): Buffer {
    const row = this.termRow(index);
    const start = this.bytes.readUInt32LE(row);
    return this.bytes.subarray(start, start + this.bytes.readUInt32LE(row + 4));
  }

  /** Term `index` compared with term `otherIndex` of `other`, in byte order, without a view of either. */
  compareTermTo(index: number, other: SegmentReader, otherIndex: number): number {
    const row = this.termRow(index);
    const start = this.bytes.readUInt32LE(row);
    const otherRow = other.termRow(otherIndex);
    const otherStart = other.bytes.readUInt32LE(otherRow);
    return this.bytes.compare(other.bytes, otherStart, otherStart + other.bytes.readUInt32LE(otherRow + 4), start, start + this.bytes.readUInt32LE(row + 4));
  }

  /** How many documents of this segment hold term `index`. */
  docFrequency(index: number): number {
    return this.bytes.readUInt32LE(this.termRow(index) + 12);
  }

  /** The index of the first term not before `key` (byte order): `termCount` when there is none. */
  lowerBound(key: Buffer): number {
    let low = 0;
    let high = this.termCount;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.compareTerm(mid, key) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Term `index` compared with `key`, in byte order, without a view of its bytes. */
  private compareTerm(index: number, key: Buffer): number {
    const row = this.termRow(index);
    const start = this.bytes.readUInt32LE(row);
    return -key.compare(this.bytes, start, start + this.bytes.readUInt32LE(row + 4));
  }

  /** The index of term `key`, or -1. */
  findTerm(key: Buffer): number {
    const at = this.lowerBound(key);
    return at < this.termCount && this.compareTerm(at, key) === 0 ? at : -1;
  }

  /** The indexes of the terms that begin with `prefix`: `[from, to)`. */
  prefixRange(prefix: Buffer): [number, number] {
    const from = this.lowerBound(prefix);
    let to = from;
    while (to < this.termCount) {
      const term = this.termAt(to);
      if (term.length < prefix.length || term.compare(prefix, 0, prefix.length, 0, prefix.length) !== 0) break;
      to++;
    }
    return [from, to];
  }

  cursor(index: number): PostingsCursor {
    const checked = this.postingsChecked;
    if (checked !== undefined && checked[index] === 0) this.checkPostings(index);
    return new VarintCursor(this.bytes, this.bytes.readUInt32LE(this.termRow(index) + 8), this.docFrequency(index));
  }

  /** Calls `visit(row, frequency)` for each document holding term `index`, by row. */
  forEachPosting(index: number, visit: (row: number, frequency: number) => void): void {
    this.cursor(index).walkUntil(Number.POSITIVE_INFINITY, visit);
  }

}

/** Postings `VarintCursor.walkUntil` copies at a time. */
const WALK_BATCH = 256;
/** Where `VarintCursor.next` copies the posting it steps over. */
const oneRow = new Int32Array(1);
const oneFrequency = new Int32Array(1);

/** Postings as the segment file has them: LEB128 varints, the row's distance from the previous one, then the frequency. */
class VarintCursor implements PostingsCursor {
  row = -1;
  frequency = 0;
  private previous = 0;
  private batchRows: Int32Array | undefined;
  private batchFrequencies: Int32Array | undefined;

  constructor(
    private readonly bytes: Buffer,
    private at: number,
    private remaining: number,
  ) {
    this.next();
  }

  walkUntil(end: number, visit: (row: number, frequency: number) => void): void {
    // (Copies of its own: `visit` may walk other cursors meanwhile.)
    const rows = (this.batchRows ??= new Int32Array(Math.min(WALK_BATCH, this.remaining + 1)));
    const frequencies = (this.batchFrequencies ??= new Int32Array(rows.length));
    while (this.row < end) {
      const count = this.readUntil(end, rows, frequencies);
      for (let i = 0; i < count; i++) visit(rows[i]!, frequencies[i]!);
    }
  }

  readUntil(end: number, rows: Int32Array, frequencies: Int32Array): number {
    const bytes = this.bytes;
    const room = Math.min(rows.length, frequencies.length);
    let row = this.row;
    let frequency = this.frequency;
    let at = this.at;
    let remaining = this.remaining;
    let previous = this.previous;
    let count = 0;
    while (row < end && count < room) {
      rows[count] = row;
      frequencies[count] = frequency;
      count++;
      if (remaining-- <= 0) {
        row = Number.POSITIVE_INFINITY;
        break;
      }
      // (Small integers until the fifth byte: no number is boxed while the loop is not yet optimized.)
      let delta = 0;
      let shift = 0;
      let byte: number;
      do {
        byte = bytes[at++]!;
        delta = shift < 28 ? delta | ((byte & 0x7f) << shift) : delta + (byte & 0x7f) * 2 ** shift;
        shift += 7;
      } while (byte & 0x80);
      frequency = 0;
      shift = 0;
      do {
        byte = bytes[at++]!;
        frequency = shift < 28 ? frequency | ((byte & 0x7f) << shift) : frequency + (byte & 0x7f) * 2 ** shift;
        shift += 7;
      } while (byte & 0x80);
      previous += delta;
      row = previous;
    }
    this.row = row;
    this.frequency = frequency;
    this.at = at;
    this.remaining = remaining;
    this.previous = previous;
    return count;
  }

  next(): void {
    // Rows ascend: one step past the current row is the next posting.
    this.readUntil(this.row + 1, oneRow, oneFrequency);
  }

}

/** The numbers of the rows (terms) in check group `group` of `count`, `perCheck` a group, as messages name them: `first–last`. */
function groupRange(group: number, perCheck: number, count: number): string {
  return `${group * perCheck}–${Math.min(count, (group + 1) * perCheck) - 1}`;
}
