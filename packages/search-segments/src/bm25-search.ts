import type { PostingsCursor, SearchableSegment } from './searchable-segment.js';
import { namespaceTerm, tagTerm } from './segment-terms.js';
import { queryWords } from '@memmapfs/core';

/** One search over a list of segments. */
export interface SegmentQuery {
  /** The query text: its words are looked for (the last one also as the beginning of longer words when `prefix`). */
  readonly text: string;
  /** Hits to return, at most. */
  readonly limit: number;
  /** Every one of these tags must be on a hit. */
  readonly tags?: readonly string[];
  /** Only hits in this namespace. */
  readonly namespace?: string;
  /** Match the last word by its beginning too (`'mem'` finds `'memory'`). Default `true`. */
  readonly prefix?: boolean;
  /** `'any'` (default): a hit holds at least one of the words; `'all'`: every one. */
  readonly match?: 'any' | 'all';
}

/** A hit: a memory id and its BM25 score (higher is better). */
export interface ScoredHit {
  readonly id: number;
  readonly score: number;
}

/** BM25's parameters, as SQLite FTS5 and Lucene use them by default. */
const K1 = 1.2;
const B = 0.75;

/**
 * Ranks the documents of `segments` that match `query` by BM25 (Robertson–Spärck Jones IDF, floored at
 * a small positive number for words in most documents, as FTS5 does) and returns the best `limit`,
 * ties going to the newer memory. Collection statistics (document count, average length, document
 * frequencies) are summed over every segment, deleted documents included until a merge drops them.
 * `isDead(segment, row, id)` says which documents no longer count as hits: a deleted memory, or an
 * older version of one a later segment holds. Rows are scored `window` at a time (65,536 at most, the
 * default; tests try small ones).
 */
export function searchSegments(segments: readonly SearchableSegment[], query: SegmentQuery, isDead: (segment: number, row: number, id: number) => boolean, window = WINDOW): ScoredHit[] {
  if (!Number.isInteger(window) || window < 1 || window > WINDOW) throw new RangeError(`window must be an integer from 1 to ${WINDOW}`);
  // (At most 65,535 words: how many a row matched is counted in 16 bits.)
  const words = queryWords(query.text).slice(-0xffff);
  if (words.length === 0 || query.limit < 1) return [];
  const prefixLast = query.prefix !== false;
  let docCount = 0;
  let totalLength = 0;
  for (const segment of segments) {
    docCount += segment.docCount;
    totalLength += segment.totalLength;
  }
  if (docCount === 0) return [];
  const averageLength = totalLength / docCount || 1;
  // Each query word, per segment: the terms that match it (one, or those it begins when it is the last).
  const termsOf = words.map((word, i) => {
    const asPrefix = prefixLast && i === words.length - 1;
    return segments.map((segment) => {
      if (asPrefix) return segment.termIdsWithPrefix(word);
      const id = segment.termId(word);
      return id < 0 ? [] : [id];
    });
  });
  // A word matching several terms of a segment (a prefix) counts the rows holding any of them.
  const idf = termsOf.map((perSegment) => {
    let n = 0;
    perSegment.forEach((terms, s) => (n += terms.length === 1 ? segments[s]!.docFrequency(terms[0]!) : terms.length > 1 ? distinctRows(segments[s]!, terms, window) : 0));
    const value = Math.log((docCount - n + 0.5) / (n + 0.5));
    return value > 0 ? value : 1e-6;
  });
  const best = new TopHits(query.limit);
  const labels = labelTerms(query);
  try {
    scoreSegments(segments, query, termsOf, idf, averageLength, labels, words.length, best, isDead, window);
  } catch (error) {
    // A part of a segment found damaged as it was read (`SegmentCorrupt`), say, in the middle of a window:
    // the arrays every search shares are left clean.
    clearScratch();
    throw error;
  }
  return best.sorted();
}

/** Scores every segment's matching rows into `best`, a window of rows at a time. */
function scoreSegments(segments: readonly SearchableSegment[], query: SegmentQuery, termsOf: number[][][], idf: number[], averageLength: number, labels: readonly string[], wordCount: number, best: TopHits, isDead: (segment: number, row: number, id: number) => boolean, window: number): void {
  segments.forEach((segment, s) => {
    const labelCursors = labelCursorsOf(segment, labels);
    if (labelCursors === null) return;
    const wordCursors = termsOf.map((perSegment) => perSegment[s]!.map((term) => segment.cursor(term)));
    const scores = scratch.scores;
    const matched = scratch.matched;
    const touched = scratch.touched;
    const mask = scratch.mask;
    const sums = scratch.frequencies;
    const group = scratch.group;
    const required = labelCursors.length;
    // A window of rows at a time, as Lucene's bulk scorer does: the per-row arrays stay small whatever
    // the segment's size, and every word's postings are summed for a row before it is scored.
    const rows = scratch.rows;
    const frequencies = scratch.postingFrequencies;
    for (let base = 0; base < segment.docCount; base += window) {
      const end = Math.min(base + window, segment.docCount);
      // (A term holds a row once: a window's postings of one term fit the copies, whatever the window.)
      if (required > 0) maskLabelled(labelCursors, end, base, rows, frequencies, mask);
      let touchedCount = 0;
      for (let w = 0; w < wordCursors.length; w++) {
        const cursors = wordCursors[w]!;
        // The terms a prefix matches: their frequencies summed by row, then scored as one word's.
        const count = cursors.length === 1 ? cursors[0]!.readUntil(end, rows, frequencies) : cursors.length > 1 ? sumByRow(cursors, end, base, rows, frequencies, sums, group) : 0;
        touchedCount = scorePostings(segment, count, base, idf[w]!, averageLength, required, rows, frequencies, mask, scores, matched, touched, touchedCount);
      }
      try {
        offerTouched(segment, s, base, touchedCount, query.match === 'all' ? wordCount : 0, touched, scores, matched, best, isDead);
      } finally {
        if (required > 0) mask.fill(0, 0, end - base);
      }
    }
  });
}

/** Zeroes the per-row accumulators (after a search that failed part-way through a window). */
function clearScratch(): void {
  scratch.scores.fill(0);
  scratch.matched.fill(0);
  scratch.mask.fill(0);
  scratch.frequencies.fill(0);
}

// The loops over a window's postings are functions of their own, of typed arrays and numbers: small
// enough that V8 optimizes them within the first query. As one closure, its optimized compile took
// tens of milliseconds on a background thread while the first query ran on in the interpreter, which
// boxes every intermediate number of the scores (megabytes of garbage, scavenges).

/** Marks in `mask` the rows of the window `[base, end)` that hold every label: 1 + the count of labels held so far, in order. */
function maskLabelled(labelCursors: readonly PostingsCursor[], end: number, base: number, rows: Int32Array, frequencies: Int32Array, mask: Uint16Array): void {
  let count = labelCursors[0]!.readUntil(end, rows, frequencies);
  for (let i = 0; i < count; i++) mask[rows[i]! - base] = 1;
  for (let k = 1; k < labelCursors.length; k++) {
    count = labelCursors[k]!.readUntil(end, rows, frequencies);
    for (let i = 0; i < count; i++) if (mask[rows[i]! - base] === k) mask[rows[i]! - base] = k + 1;
  }
}

/** Copies into `rows` and `frequencies` the window's rows that hold any of the cursors' terms, each with its frequencies summed; returns how many. */
function sumByRow(cursors: readonly PostingsCursor[], end: number, base: number, rows: Int32Array, frequencies: Int32Array, sums: Uint32Array, group: Int32Array): number {
  let grouped = 0;
  for (const cursor of cursors) {
    const read = cursor.readUntil(end, rows, frequencies);
    for (let i = 0; i < read; i++) {
      const r = rows[i]! - base;
      if (sums[r] === 0) group[grouped++] = r;
      sums[r] = sums[r]! + frequencies[i]!;
    }
  }
  for (let i = 0; i < grouped; i++) {
    const r = group[i]!;
    rows[i] = base + r;
    frequencies[i] = sums[r]!;
    sums[r] = 0;
  }
  return grouped;
}

/**
 * Adds one word's BM25 terms for its `count` postings (in `rows` and `frequencies`) to the window's
 * scores, the rows that lack a label left out; returns the count of rows touched, those new to the
 * window noted in `touched`.
 */
function scorePostings(segment: SearchableSegment, count: number, base: number, weight: number, averageLength: number, required: number, rows: Int32Array, frequencies: Int32Array, mask: Uint16Array, scores: Float64Array, matched: Uint16Array, touched: Int32Array, touchedCount: number): number {
  for (let i = 0; i < count; i++) {
    const row = rows[i]!;
    const r = row - base;
    if (required > 0 && mask[r] !== required) continue;
    if (matched[r] === 0) touched[touchedCount++] = r;
    const frequency = frequencies[i]!;
    const norm = K1 * (1 - B + (B * segment.lengthAt(row)) / averageLength);
    scores[r] = scores[r]! + (weight * frequency * (K1 + 1)) / (frequency + norm);
    matched[r] = matched[r]! + 1;
  }
  return touchedCount;
}

/**
 * Offers the window's touched rows to `best` (those matching every word when `wordsRequired` is not
 * 0, and not dead), and leaves their scores and counts zero for the next window, even when `isDead` throws.
 */
function offerTouched(segment: SearchableSegment, s: number, base: number, touchedCount: number, wordsRequired: number, touched: Int32Array, scores: Float64Array, matched: Uint16Array, best: TopHits, isDead: (segment: number, row: number, id: number) => boolean): void {
  let k = 0;
  try {
    for (; k < touchedCount; k++) {
      const r = touched[k]!;
      const score = scores[r]!;
      const all = wordsRequired === 0 || matched[r] === wordsRequired;
      scores[r] = 0;
      matched[r] = 0;
      if (!all || !best.wouldTake(score)) continue;
      const id = segment.hitIdAt(base + r);
      if (!isDead(s, base + r, id)) best.offer(id, score);
    }
  } finally {
    // The arrays are shared by every query.
    for (; k < touchedCount; k++) {
      scores[touched[k]!] = 0;
      matched[touched[k]!] = 0;
    }
  }
}

/** Rows scored at a time. */
const WINDOW = 65_536;

/** Per-row accumulators of one window, reused from query to query (zero between uses). */
const scratch = {
  scores: new Float64Array(WINDOW),
  matched: new Uint16Array(WINDOW),
  mask: new Uint16Array(WINDOW),
  frequencies: new Uint32Array(WINDOW),
  touched: new Int32Array(WINDOW),
  group: new Int32Array(WINDOW),
  /** One term's postings of a window, as `PostingsCursor.readUntil` copies them. */
  rows: new Int32Array(WINDOW),
  postingFrequencies: new Int32Array(WINDOW),
};

/** How many rows hold any of `terms`. */
function distinctRows(segment: SearchableSegment, terms: readonly number[], window: number): number {
  const cursors = terms.map((term) => segment.cursor(term));
  const seen = scratch.frequencies;
  const group = scratch.group;
  let total = 0;
  const rows = scratch.rows;
  const frequencies = scratch.postingFrequencies;
  for (let base = 0; base < segment.docCount; base += window) {
    const end = Math.min(base + window, segment.docCount);
    let count = 0;
    for (const cursor of cursors) {
      const read = cursor.readUntil(end, rows, frequencies);
      for (let i = 0; i < read; i++) {
        const r = rows[i]! - base;
        if (seen[r] === 0) {
          seen[r] = 1;
          group[count++] = r;
        }
      }
    }
    for (let k = 0; k < count; k++) seen[group[k]!] = 0;
    total += count;
  }
  return total;
}

/** The best hits seen so far, at most `limit` of them: a min-heap on score (ties: the lower id is worse). */
class TopHits {
  private readonly heap: ScoredHit[] = [];

  constructor(private readonly limit: number) {}

  /** Whether a hit with this score could still make the list (a tie may, by its id). */
  wouldTake(score: number): boolean {
    return this.heap.length < this.limit || score >= this.heap[0]!.score;
  }

  offer(id: number, score: number): void {
    const hit = { id, score };
    const heap = this.heap;
    if (heap.length < this.limit) {
      heap.push(hit);
      let i = heap.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!worse(heap[i]!, heap[parent]!)) break;
        [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
        i = parent;
      }
      return;
    }
    if (!worse(heap[0]!, hit)) return;
    heap[0] = hit;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && worse(heap[left]!, heap[least]!)) least = left;
      if (right < heap.length && worse(heap[right]!, heap[least]!)) least = right;
      if (least === i) break;
      [heap[i], heap[least]] = [heap[least]!, heap[i]!];
      i = least;
    }
  }

  /** The hits, best first. */
  sorted(): ScoredHit[] {
    return [...this.heap].sort((a, b) => b.score - a.score || b.id - a.id);
  }
}

function worse(a: ScoredHit, b: ScoredHit): boolean {
  return a.score < b.score || (a.score === b.score && a.id < b.id);
}

/** The label terms a query filters on: its tags (all of them) and its namespace. */
function labelTerms(query: SegmentQuery): string[] {
  const labels = [...new Set(query.tags ?? [])].map(tagTerm);
  if (query.namespace !== undefined) labels.push(namespaceTerm(query.namespace));
  return labels;
}

/**
 * Cursors over the postings of the labels a query filters on, the rarest first (a row counts only if
 * every label before it holds it); `null` when the segment has a label no row carries.
 */
function labelCursorsOf(segment: SearchableSegment, labels: readonly string[]): PostingsCursor[] | null {
  const terms = labels.map((label) => segment.termId(label));
  if (terms.some((term) => term < 0)) return null;
  terms.sort((a, b) => segment.docFrequency(a) - segment.docFrequency(b));
  return terms.map((term) => segment.cursor(term));
}
