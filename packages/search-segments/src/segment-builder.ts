import type { PostingsCursor, SearchableSegment } from './searchable-segment.js';
import { PostingsEncoder, writeSegment, type EncodedTerm } from './segment-writer.js';
import { namespaceTerm, tagTerm } from './segment-terms.js';
import { wordTokens } from './word-tokens.js';

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
  private readonly termIds = new Map<string, number>();
  private readonly terms: string[] = [];
  /** By term: row, frequency, row, frequency, … (rows ascending). */
  private readonly postings: number[][] = [];
  private words = 0;
  /** A document's term frequencies, reused from one `add` to the next. */
  private readonly counts = new Map<string, number>();

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
    const words = wordTokens(doc.text);
    this.ids.push(doc.id);
    this.lengths.push(words.length);
    this.dead.push(false);
    this.rows.set(doc.id, row);
    this.words += words.length;
    const counts = this.counts;
    counts.clear();
    for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
    for (const tag of doc.tags) counts.set(tagTerm(tag), 1);
    counts.set(namespaceTerm(doc.namespace), 1);
    for (const [term, count] of counts) {
      let id = this.termIds.get(term);
      if (id === undefined) {
        id = this.terms.length;
        this.termIds.set(term, id);
        this.terms.push(term);
        this.postings.push([row, count]);
      } else {
        this.postings[id]!.push(row, count);
      }
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
    return this.termIds.get(term) ?? -1;
  }

  termIdsWithPrefix(prefix: string): number[] {
    const found: number[] = [];
    this.terms.forEach((term, id) => term.startsWith(prefix) && found.push(id));
    return found;
  }

  docFrequency(termId: number): number {
    return this.postings[termId]!.length / 2;
  }

  cursor(termId: number): PostingsCursor {
    const list = this.postings[termId]!;
    let at = -2;
    const cursor: PostingsCursor = {
      row: -1,
      frequency: 0,
      next() {
        at += 2;
        cursor.row = at < list.length ? list[at]! : Number.POSITIVE_INFINITY;
        cursor.frequency = at < list.length ? list[at + 1]! : 0;
      },
      walkUntil(end, visit) {
        while (cursor.row < end) {
          visit(cursor.row, cursor.frequency);
          cursor.next();
        }
      },
    };
    cursor.next();
    return cursor;
  }

  idAt(row: number): number {
    return this.ids[row]!;
  }

  lengthAt(row: number): number {
    return this.lengths[row]!;
  }

  /** The segment file's bytes, live documents only: documents by id, terms in byte order, each term's postings by document. */
  build(): Buffer {
    const order: number[] = [];
    this.ids.forEach((_, row) => this.dead[row] || order.push(row));
    order.sort((a, b) => this.ids[a]! - this.ids[b]!);
    // Rows of the file are in id order; -1 for a dead row.
    const rowOf = new Int32Array(this.ids.length).fill(-1);
    order.forEach((added, row) => (rowOf[added] = row));
    const sorted = this.terms.map((term, id) => ({ id, bytes: Buffer.from(term, 'utf8') }));
    sorted.sort((a, b) => Buffer.compare(a.bytes, b.bytes));
    const encoder = new PostingsEncoder();
    const terms: EncodedTerm[] = [];
    for (const { id, bytes } of sorted) {
      const list = this.postings[id]!;
      const pairs: number[] = [];
      let ordered = true;
      for (let i = 0; i < list.length; i += 2) {
        const row = rowOf[list[i]!]!;
        if (row < 0) continue;
        if (pairs.length > 0 && row < pairs[pairs.length - 2]!) ordered = false;
        pairs.push(row, list[i + 1]!);
      }
      if (pairs.length === 0) continue;
      const at = Array.from({ length: pairs.length / 2 }, (_, k) => k * 2);
      if (!ordered) at.sort((a, b) => pairs[a]! - pairs[b]!);
      for (const k of at) encoder.add(pairs[k]!, pairs[k + 1]!);
      terms.push({ bytes, ...encoder.take() });
    }
    let totalLength = 0;
    for (const row of order) totalLength += this.lengths[row]!;
    return writeSegment({ ids: order.map((row) => this.ids[row]!), lengths: order.map((row) => this.lengths[row]!), totalLength, terms });
  }
}
