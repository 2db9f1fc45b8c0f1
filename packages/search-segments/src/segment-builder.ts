import type { PostingsCursor, SearchableSegment } from './searchable-segment.js';
import { PostingsEncoder, runToEnd, writeSegmentSteps, type EncodedTerm } from './segment-writer.js';
import { namespaceTerm, tagTerm } from './segment-terms.js';
import { PostingsPool } from './postings-pool.js';
import { FNV_OFFSET, FNV_PRIME, TermTable } from './term-table.js';
import { unicodeWords } from '@memmapfs/core';

/** Text with a character outside ASCII: its words are found by `unicodeWords`, the rest in place. */
const NOT_ASCII = /[^\x00-\x7f]/;

/** What a segment indexes of a memory. */
export interface IndexedDocument {
  readonly id: number;
  readonly text: string;
  readonly tags: readonly string[];
  readonly namespace: string;
}

/**
 * The in-memory part of an index: new memories go here, searchable at once, until it is written out
 * as one immutable segment (`build`). Rows are numbered in the order documents were added; a removed
 * document's row stays, dead, until `build` leaves it out.
 */
export class SegmentBuilder implements SearchableSegment {
  private readonly ids: number[] = [];
  private readonly lengths: number[] = [];
  private readonly dead: boolean[] = [];
  /** Live documents: id → row. */
  private readonly rows = new Map<number, number>();
  private readonly terms = new TermTable();
  /** By term: row, frequency, row, frequency, … (rows ascending). */
  private readonly postings: PostingsPool;
  private words = 0;
  /** By term: the `add` (its stamp) that last counted it, and how often; reused from one `add` to the next. */
  private seenInRow = new Int32Array(1024);
  private countInRow = new Int32Array(1024);
  /** Numbers each `add`, failed ones too: a failed add's counts never pass for the next one's. */
  private stamp = 0;
  /**
   * The terms of the row being added, each once: the first `rowTermCount`. Kept from one `add` to the
   * next (an array emptied by `length = 0` lets go of its storage, and grows it again for every document).
   */
  private rowTerms = new Int32Array(256);
  private rowTermCount = 0;
  /** Term ids of the tags and namespaces seen, by tag and by namespace: their terms are not made again for every document. */
  private readonly tagTermIds = new Map<string, number>();
  private readonly namespaceTermIds = new Map<string, number>();

  /**
   * `postingsCapacity`: the ints its postings start with (see `postingsUsed`); by default a small pool,
   * which grows. `sparePostings`: the ints of a builder done with (`releasePostings`), taken when they
   * are enough.
   */
  constructor(postingsCapacity?: number, sparePostings?: Int32Array<ArrayBuffer>) {
    this.postings = new PostingsPool(postingsCapacity, sparePostings);
  }

  /** Lets go of its postings' ints for another builder (see `PostingsPool.release`): only once it is neither searched nor built any more. */
  releasePostings(): Int32Array<ArrayBuffer> {
    return this.postings.release();
  }

  /** Ints its postings take: what the next segment's builder, likely of about as many words, can start with. */
  get postingsUsed(): number {
    return this.postings.usedInts;
  }

  /** Rows, dead ones included. */
  get docCount(): number {
    return this.ids.length;
  }

  /** Documents not removed. */
  get liveCount(): number {
    return this.rows.size;
  }

  get totalLength(): number {
    return this.words;
  }

  /** Distinct terms (words, tags, namespaces) of its documents, dead ones included. */
  get termCount(): number {
    return this.terms.size;
  }

  /** Whether a live document has id `id`. */
  has(id: number): boolean {
    return this.rows.has(id);
  }

  /** Whether row `row` was removed. */
  isDead(row: number): boolean {
    return this.dead[row] === true;
  }

  /** Indexes `doc`. An id is live in one row at most: remove the old document first. */
  add(doc: IndexedDocument): void {
    if (this.rows.has(doc.id)) throw new Error(`document ${doc.id} is already in this segment`);
    const row = this.ids.length;
    const text = doc.text;
    this.stamp++;
    this.rowTermCount = 0;
    let length = 0;
    if (!NOT_ASCII.test(text)) {
      // The words of `asciiWords`, found in place: each is hashed as it is read.
      let start = -1;
      let hash = FNV_OFFSET;
      for (let i = 0; i <= text.length; i++) {
        let c = i < text.length ? text.charCodeAt(i) : 32;
        if (c >= 65 && c <= 90) c += 32;
        if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) {
          if (start < 0) {
            start = i;
            hash = FNV_OFFSET;
          }
          hash = Math.imul(hash ^ c, FNV_PRIME);
        } else if (start >= 0) {
          this.count(this.terms.internAscii(text, start, i, hash), false);
          length++;
          start = -1;
        }
      }
    } else {
      for (const word of unicodeWords(text)) {
        this.count(this.terms.intern(word), false);
        length++;
      }
    }
    for (const tag of doc.tags) this.count(this.labelTermId(this.tagTermIds, tag, tagTerm), true);
    this.count(this.labelTermId(this.namespaceTermIds, doc.namespace, namespaceTerm), true);
    this.ids.push(doc.id);
    this.lengths.push(length);
    this.dead.push(false);
    this.rows.set(doc.id, row);
    this.words += length;
    const rowTerms = this.rowTerms;
    for (let k = 0; k < this.rowTermCount; k++) {
      const id = rowTerms[k]!;
      this.postings.add(id, row, this.countInRow[id]!);
    }
    this.rowTermCount = 0;
  }

  /** The term id of a tag or namespace `label`, whose term `term` makes. */
  private labelTermId(ids: Map<string, number>, label: string, term: (label: string) => string): number {
    let id = ids.get(label);
    if (id === undefined) {
      id = this.terms.intern(term(label));
      ids.set(label, id);
    }
    return id;
  }

  /** Counts term `id` once more in the document being added (with `label`, a tag or the namespace: once at most). */
  private count(id: number, label: boolean): void {
    if (id >= this.seenInRow.length) {
      const seen = new Int32Array(Math.max(id + 1, this.seenInRow.length * 2));
      seen.set(this.seenInRow);
      this.seenInRow = seen;
      const counts = new Int32Array(seen.length);
      counts.set(this.countInRow);
      this.countInRow = counts;
    }
    if (this.seenInRow[id] !== this.stamp) {
      this.seenInRow[id] = this.stamp;
      this.countInRow[id] = 1;
      if (this.rowTermCount === this.rowTerms.length) {
        const grown = new Int32Array(this.rowTerms.length * 2);
        grown.set(this.rowTerms);
        this.rowTerms = grown;
      }
      this.rowTerms[this.rowTermCount++] = id;
    } else if (!label) {
      this.countInRow[id]!++;
    }
  }

  /** Marks the document with id `id` removed; false when there is none. */
  remove(id: number): boolean {
    const row = this.rows.get(id);
    if (row === undefined) return false;
    this.rows.delete(id);
    this.dead[row] = true;
    return true;
  }

  termId(term: string): number {
    return this.terms.find(term);
  }

  termIdsWithPrefix(prefix: string): number[] {
    const found: number[] = [];
    this.terms.all().forEach((term, id) => term.startsWith(prefix) && found.push(id));
    return found;
  }

  docFrequency(termId: number): number {
    return this.postings.pairs(termId);
  }

  cursor(termId: number): PostingsCursor {
    const reader = this.postings.reader(termId);
    const cursor: PostingsCursor = {
      row: -1,
      frequency: 0,
      next() {
        reader.next();
        cursor.row = reader.row;
        cursor.frequency = reader.frequency;
      },
      walkUntil(end, visit) {
        while (cursor.row < end) {
          visit(cursor.row, cursor.frequency);
          cursor.next();
        }
      },
      readUntil(end, rows, frequencies) {
        const room = Math.min(rows.length, frequencies.length);
        let count = 0;
        while (cursor.row < end && count < room) {
          rows[count] = cursor.row;
          frequencies[count] = cursor.frequency;
          count++;
          cursor.next();
        }
        return count;
      },
    };
    cursor.next();
    return cursor;
  }

  idAt(row: number): number {
    return this.ids[row]!;
  }

  hitIdAt(row: number): number {
    return this.ids[row]!;
  }

  lengthAt(row: number): number {
    return this.lengths[row]!;
  }

  /** The segment file's bytes, live documents only: documents by id, terms in byte order, each term's postings by document. */
  build(): Buffer {
    return runToEnd(this.buildSteps());
  }

  /**
   * `build` as a generator, which yields now and then (every `STEP_TERMS` terms), so that building a segment
   * of many terms can give the event loop turns; it returns the bytes. The segment must not change meanwhile.
   */
  *buildSteps(): Generator<void, Buffer, void> {
    const order: number[] = [];
    this.ids.forEach((_, row) => this.dead[row] || order.push(row));
    order.sort((a, b) => this.ids[a]! - this.ids[b]!);
    // Rows of the file are in id order; -1 for a dead row.
    const rowOf = new Int32Array(this.ids.length).fill(-1);
    order.forEach((added, row) => (rowOf[added] = row));
    const sorted = yield* termsInByteOrder(this.terms);
    const encoder = new PostingsEncoder();
    const terms: EncodedTerm[] = [];
    // Ids are added in increasing order but for the rare replay out of order: then rows are sorted per term.
    let inOrder = true;
    for (let k = 1; k < order.length && inOrder; k++) inOrder = order[k]! > order[k - 1]!;
    const pairs: number[] = [];
    for (let k = 0; k < sorted.length; k++) {
      const { id, bytes } = sorted[k]!;
      if (inOrder) {
        this.postings.forEach(id, (added, frequency) => {
          const row = rowOf[added]!;
          if (row >= 0) encoder.add(row, frequency);
        });
      } else {
        pairs.length = 0;
        this.postings.forEach(id, (added, frequency) => {
          const row = rowOf[added]!;
          if (row >= 0) pairs.push(row, frequency);
        });
        const at = Array.from({ length: pairs.length / 2 }, (_, i) => i * 2);
        at.sort((a, b) => pairs[a]! - pairs[b]!);
        for (const i of at) encoder.add(pairs[i]!, pairs[i + 1]!);
      }
      const encoded = encoder.take();
      if (encoded.docFrequency > 0) terms.push({ bytes, ...encoded });
      if (k % STEP_TERMS === STEP_TERMS - 1) yield;
    }
    let totalLength = 0;
    for (const row of order) totalLength += this.lengths[row]!;
    return yield* writeSegmentSteps({ ids: order.map((row) => this.ids[row]!), lengths: order.map((row) => this.lengths[row]!), totalLength, terms });
  }
}

/**
 * The terms (by id) with their UTF-8 bytes, in byte order. Sorted as JavaScript strings first, natively
 * (by UTF-16 code unit, which is byte order but where a character above U+FFFF meets one from U+E000 to
 * U+FFFF), checked pair by pair, and sorted by code point only when a pair is out of that order: a
 * segment of texts whose words are all different holds hundreds of thousands of terms.
 */
function* termsInByteOrder(table: TermTable): Generator<void, Array<{ id: number; bytes: Buffer }>, void> {
  const terms = table.all().slice().sort();
  for (let k = 1; k < terms.length; k++) {
    if (compareCodePoints(terms[k - 1]!, terms[k]!) > 0) {
      terms.sort(compareCodePoints);
      break;
    }
  }
  yield;
  const sorted: Array<{ id: number; bytes: Buffer }> = [];
  for (let k = 0; k < terms.length; k++) {
    sorted.push({ id: table.find(terms[k]!), bytes: Buffer.from(terms[k]!, 'utf8') });
    if (k % STEP_TERMS === STEP_TERMS - 1) yield;
  }
  return sorted;
}

/**
 * Orders strings by code point: as JavaScript compares them (by UTF-16 code unit), but for a surrogate
 * (part of a character above U+FFFF) against a code unit from U+E000 to U+FFFF, which it puts first.
 */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (D800–DFFF) above E000–FFFF: E000–FFFF moved down to D800–F7FF, surrogates up to F800–FFFF.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** Terms a build takes between two turns it gives the event loop. */
const STEP_TERMS = 32_768;
