import { crc32c } from '@memmapfs/wal';
import { CHECK_BYTES, DOC_ROW, H, HEADER_SIZE, LENGTHS_PER_CHECK, LENGTH_BYTES, LENGTH_IN_ROW, MAX_SEGMENT_BYTES, SEGMENT_MAGIC, SEGMENT_VERSION, TERMS_PER_CHECK, TERM_ROW, align8, checksLayout, rowCheck, termGroupChecksum } from './segment-format.js';

/** A segment's contents, ready to be laid out: documents by id, terms in byte order with their postings encoded. */
export interface SegmentContents {
  /** Memory ids, ascending: row `i` is `ids[i]`. */
  readonly ids: ArrayLike<number>;
  /** Lengths in words, by row. */
  readonly lengths: ArrayLike<number>;
  /** Sum of `lengths`. */
  readonly totalLength: number;
  /** Terms in the byte order of their UTF-8. */
  readonly terms: readonly EncodedTerm[];
}

/** A term and its postings, already encoded (`PostingsEncoder`). */
export interface EncodedTerm {
  readonly bytes: Buffer;
  readonly postings: Buffer;
  readonly docFrequency: number;
}

/** Terms laid out between two turns a long write gives the event loop (see `writeSegmentSteps`). */
const TERMS_PER_STEP = 65_536;

/** The bytes of a segment file (docs/FORMAT.md, "Search segments"). */
export function writeSegment(contents: SegmentContents): Buffer {
  return runToEnd(writeSegmentSteps(contents));
}

/** Runs a generator of steps to its end at once; returns what it returns. */
export function runToEnd<T>(steps: Generator<void, T, void>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * `writeSegment` as a generator: it yields every `TERMS_PER_STEP` terms, so that a caller can give the
 * event loop turns while a segment of many terms is laid out, and returns the bytes.
 */
export function* writeSegmentSteps(contents: SegmentContents): Generator<void, Buffer, void> {
  const count = contents.ids.length;
  const terms = contents.terms;
  let termBytesLength = 0;
  let postingsLength = 0;
  for (const term of terms) {
    termBytesLength += term.bytes.length;
    postingsLength += term.postings.length;
  }
  const docsOffset = HEADER_SIZE;
  const lengthsOffset = align8(docsOffset + count * DOC_ROW);
  const termIndexOffset = align8(lengthsOffset + count * LENGTH_BYTES);
  const termBytesOffset = align8(termIndexOffset + terms.length * TERM_ROW);
  const postingsOffset = align8(termBytesOffset + termBytesLength);
  const checksOffset = align8(postingsOffset + postingsLength);
  const checks = checksLayout(count, terms.length);
  const fileLength = align8(checksOffset + checks.size);
  if (fileLength > MAX_SEGMENT_BYTES) throw new RangeError(`a segment of ${fileLength} bytes is larger than the ${MAX_SEGMENT_BYTES}-byte maximum`);
  const file = Buffer.alloc(fileLength);
  for (let row = 0; row < count; row++) {
    file.writeDoubleLE(contents.ids[row]!, docsOffset + row * DOC_ROW);
    file.writeUInt32LE(contents.lengths[row]!, docsOffset + row * DOC_ROW + 8);
    file.writeUInt32LE(rowCheck(row, file.readUInt32LE(docsOffset + row * DOC_ROW), file.readUInt32LE(docsOffset + row * DOC_ROW + 4), contents.lengths[row]!), docsOffset + row * DOC_ROW + 12);
    file.writeUInt16LE(Math.min(contents.lengths[row]!, LENGTH_IN_ROW), lengthsOffset + row * LENGTH_BYTES);
  }
  let termAt = termBytesOffset;
  let postingsAt = postingsOffset;
  for (let i = 0; i < terms.length; i++) {
    const term = terms[i]!;
    const row = termIndexOffset + i * TERM_ROW;
    file.writeUInt32LE(termAt, row);
    file.writeUInt32LE(term.bytes.length, row + 4);
    file.writeUInt32LE(postingsAt, row + 8);
    file.writeUInt32LE(term.docFrequency, row + 12);
    term.bytes.copy(file, termAt);
    termAt += term.bytes.length;
    term.postings.copy(file, postingsAt);
    postingsAt += term.postings.length;
    if (i % TERMS_PER_STEP === TERMS_PER_STEP - 1) yield;
  }
  yield* writeChecks(file, { count, termCount: terms.length, lengthsOffset, termIndexOffset, checksOffset });
  SEGMENT_MAGIC.copy(file, 0);
  file.writeUInt32LE(SEGMENT_VERSION, H.version);
  file.writeUInt32LE(count, H.docCount);
  file.writeUInt32LE(terms.length, H.termCount);
  file.writeDoubleLE(contents.totalLength, H.totalLength);
  file.writeUInt32LE(docsOffset, H.docsOffset);
  file.writeUInt32LE(termIndexOffset, H.termIndexOffset);
  file.writeUInt32LE(termBytesOffset, H.termBytesOffset);
  file.writeUInt32LE(postingsOffset, H.postingsOffset);
  file.writeUInt32LE(fileLength, H.fileLength);
  file.writeUInt32LE(lengthsOffset, H.lengthsOffset);
  file.writeUInt32LE(checksOffset, H.checksOffset);
  file.writeUInt32LE(crc32c(file.subarray(HEADER_SIZE)), H.bodyCrc);
  file.writeUInt32LE(crc32c(file.subarray(16, HEADER_SIZE)), H.headerCrc);
  return file;
}

/**
 * Fills the checks section of `file` (docs/FORMAT.md, "Search segments"), its rows, term bytes and
 * postings written: a CRC32C of each term's postings (the last one's up to the section, its padding
 * with it), of each group of term rows with their bytes, and of lengths (a document row holds its own).
 */
function* writeChecks(file: Buffer, at: { count: number; termCount: number; lengthsOffset: number; termIndexOffset: number; checksOffset: number }): Generator<void, void, void> {
  const { count, termCount, lengthsOffset, termIndexOffset, checksOffset } = at;
  const layout = checksLayout(count, termCount);
  const postingsAt = (term: number) => (term < termCount ? file.readUInt32LE(termIndexOffset + term * TERM_ROW + 8) : checksOffset);
  for (let term = 0; term < termCount; term++) {
    file.writeUInt32LE(crc32c(file.subarray(postingsAt(term), postingsAt(term + 1))), checksOffset + term * CHECK_BYTES);
    if (term % TERMS_PER_STEP === TERMS_PER_STEP - 1) yield;
  }
  for (let group = 0; group * TERMS_PER_CHECK < termCount; group++) {
    file.writeUInt32LE(termGroupChecksum(file, termIndexOffset, group, termCount)!, checksOffset + layout.termGroups + group * CHECK_BYTES);
  }
  for (let group = 0; group * LENGTHS_PER_CHECK < count; group++) {
    const from = lengthsOffset + group * LENGTHS_PER_CHECK * LENGTH_BYTES;
    file.writeUInt32LE(crc32c(file.subarray(from, lengthsOffset + Math.min(count, (group + 1) * LENGTHS_PER_CHECK) * LENGTH_BYTES)), checksOffset + layout.lengthGroups + group * CHECK_BYTES);
  }
}

/** Bytes of each buffer a `PostingsEncoder` writes postings into (more for a term whose postings are longer). */
const ENCODER_BYTES = 64 * 1024;

/**
 * Encodes one term's postings, by row: the row's distance from the previous one, then the term's
 * frequency in it, each a LEB128 varint. Reused from term to term: each term's postings are a view of
 * the encoder's buffer, which is never written over (a full one is replaced), not a buffer of their own
 * (a segment of thousands of terms took as many slices of Node's shared pool, each pool an ArrayBuffer).
 */
export class PostingsEncoder {
  private out = Buffer.allocUnsafeSlow(ENCODER_BYTES);
  /** Where the postings of the term being encoded start in `out`. */
  private start = 0;
  private at = 0;
  private previous = 0;
  private count = 0;

  /** Adds a posting; rows must ascend. */
  add(row: number, frequency: number): void {
    if (this.at + 10 > this.out.length) {
      // (The term's postings so far move to the new buffer; the views taken before keep the old one.)
      const bigger = Buffer.allocUnsafeSlow(Math.max(ENCODER_BYTES, (this.at - this.start) * 2 + 20));
      this.out.copy(bigger, 0, this.start, this.at);
      this.at -= this.start;
      this.start = 0;
      this.out = bigger;
    }
    this.varint(row - this.previous);
    this.varint(frequency);
    this.previous = row;
    this.count++;
  }

  /** The postings added since the last `take` (a view that stays as it is); the next term starts. */
  take(): { postings: Buffer; docFrequency: number } {
    const postings = this.out.subarray(this.start, this.at);
    const docFrequency = this.count;
    this.start = this.at;
    this.previous = 0;
    this.count = 0;
    return { postings, docFrequency };
  }

  private varint(value: number): void {
    const out = this.out;
    while (value >= 0x80) {
      out[this.at++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    out[this.at++] = value;
  }
}
