import type { SearchableSegment } from './searchable-segment.js';
import { namespaceTerm, tagTerm } from './segment-terms.js';
import { wordTokens } from './word-tokens.js';

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
 * older version of one a later segment holds.
 */
export function searchSegments(segments: readonly SearchableSegment[], query: SegmentQuery, isDead: (segment: number, row: number, id: number) => boolean): ScoredHit[] {
  // (At most 65,535 words: how many a row matched is counted in 16 bits.)
  const words = [...new Set(wordTokens(query.text))].slice(0, 0xffff);
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
    perSegment.forEach((terms, s) => (n += terms.length === 1 ? segments[s]!.docFrequency(terms[0]!) : terms.length > 1 ? distinctRows(segments[s]!, terms) : 0));
    const value = Math.log((docCount - n + 0.5) / (n + 0.5));
    return value > 0 ? value : 1e-6;
  });
  const best = new TopHits(query.limit);
  const labels = labelTerms(query);
  segments.forEach((segment, s) => {
    const filter = labels.length > 0 ? labelFilter(segment, labels) : undefined;
    if (filter === null) return;
    const rows = segment.docCount;
    const scores = scratch.scores(rows);
    const matched = scratch.matched(rows);
    const touched = scratch.touched(rows);
    let touchedCount = 0;
    const required = filter?.required ?? 0;
    const mask = filter?.mask;
    let weight = 0;
    const add = (row: number, frequency: number) => {
      if (mask && mask[row] !== required) return;
      if (matched[row] === 0) touched[touchedCount++] = row;
      const norm = K1 * (1 - B + (B * segment.lengthAt(row)) / averageLength);
      scores[row] = scores[row]! + (weight * frequency * (K1 + 1)) / (frequency + norm);
      matched[row] = matched[row]! + 1;
    };
    termsOf.forEach((perSegment, w) => {
      const terms = perSegment[s]!;
      weight = idf[w]!;
      if (terms.length === 1) segment.forEachPosting(terms[0]!, add);
      else if (terms.length > 1) sumOverTerms(segment, terms, add);
    });
    for (let k = 0; k < touchedCount; k++) {
      const row = touched[k]!;
      const score = scores[row]!;
      const all = query.match !== 'all' || matched[row] === words.length;
      scores[row] = 0;
      matched[row] = 0;
      if (!all || !best.wouldTake(score)) continue;
      const id = segment.idAt(row);
      if (!isDead(s, row, id)) best.offer(id, score);
    }
    filter?.clear();
  });
  return best.sorted();
}

/**
 * Per-row accumulators reused from query to query (zero between uses): a query allocates next to
 * nothing, so that many queries do not grow the heap.
 */
const scratch = {
  scoreRows: new Float64Array(1024),
  matchedRows: new Uint16Array(1024),
  maskRows: new Uint16Array(1024),
  frequencyRows: new Uint32Array(1024),
  touchedRows: new Int32Array(1024),
  groupRows: new Int32Array(1024),
  scores(rows: number): Float64Array {
    if (this.scoreRows.length < rows) this.scoreRows = new Float64Array(grow(rows));
    return this.scoreRows;
  },
  matched(rows: number): Uint16Array {
    if (this.matchedRows.length < rows) this.matchedRows = new Uint16Array(grow(rows));
    return this.matchedRows;
  },
  mask(rows: number): Uint16Array {
    if (this.maskRows.length < rows) this.maskRows = new Uint16Array(grow(rows));
    return this.maskRows;
  },
  frequencies(rows: number): Uint32Array {
    if (this.frequencyRows.length < rows) this.frequencyRows = new Uint32Array(grow(rows));
    return this.frequencyRows;
  },
  touched(rows: number): Int32Array {
    if (this.touchedRows.length < rows) this.touchedRows = new Int32Array(grow(rows));
    return this.touchedRows;
  },
  group(rows: number): Int32Array {
    if (this.groupRows.length < rows) this.groupRows = new Int32Array(grow(rows));
    return this.groupRows;
  },
};

const grow = (rows: number): number => 2 ** Math.ceil(Math.log2(rows));

/** How many rows hold any of `terms`. */
function distinctRows(segment: SearchableSegment, terms: readonly number[]): number {
  let count = 0;
  sumOverTerms(segment, terms, () => count++);
  return count;
}

/** Calls `visit(row, frequency)` for each row holding any of `terms`, its frequency summed over them. */
function sumOverTerms(segment: SearchableSegment, terms: readonly number[], visit: (row: number, frequency: number) => void): void {
  const sums = scratch.frequencies(segment.docCount);
  const rows = scratch.group(segment.docCount);
  let count = 0;
  for (const term of terms) {
    segment.forEachPosting(term, (row, frequency) => {
      if (sums[row] === 0) rows[count++] = row;
      sums[row] = sums[row]! + frequency;
    });
  }
  for (let k = 0; k < count; k++) {
    const row = rows[k]!;
    const frequency = sums[row]!;
    sums[row] = 0;
    visit(row, frequency);
  }
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
 * The rows of `segment` that carry every label: `mask[row] === required` for them (cleared by `clear`);
 * `null` when no row can.
 */
function labelFilter(segment: SearchableSegment, labels: readonly string[]): { mask: Uint16Array; required: number; clear: () => void } | null {
  const terms = labels.map((label) => segment.termId(label));
  if (terms.some((term) => term < 0)) return null;
  const mask = scratch.mask(segment.docCount);
  // From the rarest label: a row counts only if every label before it holds it.
  terms.sort((a, b) => segment.docFrequency(a) - segment.docFrequency(b));
  const rarest: number[] = [];
  segment.forEachPosting(terms[0]!, (row) => {
    mask[row] = 1;
    rarest.push(row);
  });
  for (let k = 1; k < terms.length; k++) segment.forEachPosting(terms[k]!, (row) => mask[row] === k && (mask[row] = k + 1));
  return {
    mask,
    required: terms.length,
    clear: () => {
      for (const row of rarest) mask[row] = 0;
    },
  };
}
