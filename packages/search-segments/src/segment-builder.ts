import CRC32C from 'crc-32/crc32c.js';
import { DOC_ROW, H, HEADER_SIZE, MAX_SEGMENT_BYTES, SEGMENT_MAGIC, SEGMENT_VERSION, TERM_ROW, align8 } from './segment-format.js';
import { namespaceTerm, tagTerm } from './segment-terms.js';
import { wordTokens } from './word-tokens.js';

/** What a segment indexes of a memory. */
export interface IndexedDocument {
  readonly id: number;
  readonly text: string;
  readonly tags: readonly string[];
  readonly namespace: string;
}

const crc32c = (bytes: Uint8Array, seed = 0): number => CRC32C.buf(bytes, seed) >>> 0;

/**
 * Collects documents in memory and writes them as one immutable segment (`build`). The in-memory part
 * of an index: new memories go here until it is written out.
 */
export class SegmentBuilder {
  private readonly ids: number[] = [];
  private readonly lengths: number[] = [];
  private readonly known = new Set<number>();
  /** Term → its postings so far: ordinal, frequency, ordinal, frequency, … (ordinals in order of `add`). */
  private readonly postings = new Map<string, number[]>();
  private words = 0;

  /** Documents added. */
  get docCount(): number {
    return this.ids.length;
  }

  /** Indexes `doc`. An id is added once: a changed memory goes to a later segment, its old version deleted. */
  add(doc: IndexedDocument): void {
    if (this.known.has(doc.id)) throw new Error(`document ${doc.id} is already in this segment`);
    this.known.add(doc.id);
    const ordinal = this.ids.length;
    const words = wordTokens(doc.text);
    this.ids.push(doc.id);
    this.lengths.push(words.length);
    this.words += words.length;
    const counts = new Map<string, number>();
    for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
    for (const tag of new Set(doc.tags)) counts.set(tagTerm(tag), 1);
    counts.set(namespaceTerm(doc.namespace), 1);
    for (const [term, count] of counts) {
      const list = this.postings.get(term);
      if (list) list.push(ordinal, count);
      else this.postings.set(term, [ordinal, count]);
    }
  }

  /** The segment file's bytes: documents by id, terms in byte order, each term's postings by document. */
  build(): Buffer {
    const count = this.ids.length;
    // Rows are in id order; postings name rows.
    const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => this.ids[a]! - this.ids[b]!);
    const rowOf = new Uint32Array(count);
    order.forEach((added, row) => (rowOf[added] = row));
    const terms = [...this.postings.keys()].map((term) => ({ term, bytes: Buffer.from(term, 'utf8') }));
    terms.sort((a, b) => Buffer.compare(a.bytes, b.bytes));
    const termBytesLength = terms.reduce((sum, t) => sum + t.bytes.length, 0);
    const encoded: Buffer[] = [];
    let postingsLength = 0;
    for (const { term } of terms) {
      const list = this.postings.get(term)!;
      const pairs: Array<[number, number]> = [];
      for (let i = 0; i < list.length; i += 2) pairs.push([rowOf[list[i]!]!, list[i + 1]!]);
      pairs.sort((a, b) => a[0] - b[0]);
      const bytes = encodePostings(pairs);
      encoded.push(bytes);
      postingsLength += bytes.length;
    }
    const docsOffset = HEADER_SIZE;
    const termIndexOffset = align8(docsOffset + count * DOC_ROW);
    const termBytesOffset = align8(termIndexOffset + terms.length * TERM_ROW);
    const postingsOffset = align8(termBytesOffset + termBytesLength);
    const fileLength = align8(postingsOffset + postingsLength);
    if (fileLength > MAX_SEGMENT_BYTES) throw new RangeError(`a segment of ${fileLength} bytes is larger than the ${MAX_SEGMENT_BYTES}-byte maximum`);
    const file = Buffer.alloc(fileLength);
    order.forEach((added, row) => {
      file.writeDoubleLE(this.ids[added]!, docsOffset + row * DOC_ROW);
      file.writeUInt32LE(this.lengths[added]!, docsOffset + row * DOC_ROW + 8);
    });
    let termAt = termBytesOffset;
    let postingsAt = postingsOffset;
    terms.forEach(({ bytes }, i) => {
      const row = termIndexOffset + i * TERM_ROW;
      file.writeUInt32LE(termAt, row);
      file.writeUInt32LE(bytes.length, row + 4);
      file.writeUInt32LE(postingsAt, row + 8);
      file.writeUInt32LE(this.postings.get(terms[i]!.term)!.length / 2, row + 12);
      bytes.copy(file, termAt);
      termAt += bytes.length;
      encoded[i]!.copy(file, postingsAt);
      postingsAt += encoded[i]!.length;
    });
    SEGMENT_MAGIC.copy(file, 0);
    file.writeUInt32LE(SEGMENT_VERSION, H.version);
    file.writeUInt32LE(count, H.docCount);
    file.writeUInt32LE(terms.length, H.termCount);
    file.writeDoubleLE(this.words, H.totalLength);
    file.writeUInt32LE(docsOffset, H.docsOffset);
    file.writeUInt32LE(termIndexOffset, H.termIndexOffset);
    file.writeUInt32LE(termBytesOffset, H.termBytesOffset);
    file.writeUInt32LE(postingsOffset, H.postingsOffset);
    file.writeUInt32LE(fileLength, H.fileLength);
    file.writeUInt32LE(crc32c(file.subarray(HEADER_SIZE)), H.bodyCrc);
    file.writeUInt32LE(crc32c(file.subarray(16, HEADER_SIZE)), H.headerCrc);
    return file;
  }
}

/** Postings as varints: the row's distance from the previous one, then the term's frequency in it. */
function encodePostings(pairs: ReadonlyArray<readonly [number, number]>): Buffer {
  const out = Buffer.allocUnsafe(pairs.length * 10);
  let at = 0;
  let previous = 0;
  const varint = (value: number) => {
    while (value >= 0x80) {
      out[at++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    out[at++] = value;
  };
  for (const [row, frequency] of pairs) {
    varint(row - previous);
    varint(frequency);
    previous = row;
  }
  return out.subarray(0, at);
}
