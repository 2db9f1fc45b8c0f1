import type { SegmentReader } from './segment-reader.js';
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
 * `deleted(id)` says which documents no longer count as hits: a deleted memory, or an older version
 * of one a later segment holds.
 */
export function searchSegments(segments: readonly SegmentReader[], query: SegmentQuery, deleted: (id: number, segment: number) => boolean): ScoredHit[] {
  const words = [...new Set(wordTokens(query.text))];
  if (words.length === 0 || query.limit < 1) return [];
  const prefixLast = query.prefix !== false;
  const docCount = segments.reduce((sum, s) => sum + s.docCount, 0);
  if (docCount === 0) return [];
  const averageLength = segments.reduce((sum, s) => sum + s.totalLength, 0) / docCount || 1;
  // Each query word, per segment: the terms that match it (one, or those it begins when it is the last).
  const phrases = words.map((word, i) => {
    const key = Buffer.from(word, 'utf8');
    const asPrefix = prefixLast && i === words.length - 1;
    return segments.map((segment) => {
      if (!asPrefix) {
        const at = segment.findTerm(key);
        return at < 0 ? [] : [at];
      }
      const [from, to] = segment.prefixRange(key);
      return Array.from({ length: to - from }, (_, k) => from + k);
    });
  });
  // Per segment and word: frequency by row (merged over a prefix's terms), and the word's document count.
  const frequencies = phrases.map((perSegment) => perSegment.map((terms, s) => {
    const byRow = new Map<number, number>();
    for (const term of terms) segments[s]!.forEachPosting(term, (row, frequency) => byRow.set(row, (byRow.get(row) ?? 0) + frequency));
    return byRow;
  }));
  const idf = frequencies.map((perSegment) => {
    const n = perSegment.reduce((sum, byRow) => sum + byRow.size, 0);
    const value = Math.log((docCount - n + 0.5) / (n + 0.5));
    return value > 0 ? value : 1e-6;
  });
  const hits: ScoredHit[] = [];
  segments.forEach((segment, s) => {
    const allowed = labelFilter(segment, query);
    if (allowed === null) return;
    const scores = new Map<number, number>();
    const matched = new Map<number, number>();
    frequencies.forEach((perSegment, w) => {
      for (const [row, frequency] of perSegment[s]!) {
        if (allowed && !allowed.has(row)) continue;
        const norm = K1 * (1 - B + (B * segment.lengthAt(row)) / averageLength);
        scores.set(row, (scores.get(row) ?? 0) + (idf[w]! * frequency * (K1 + 1)) / (frequency + norm));
        matched.set(row, (matched.get(row) ?? 0) + 1);
      }
    });
    for (const [row, score] of scores) {
      if (query.match === 'all' && matched.get(row) !== words.length) continue;
      const id = segment.idAt(row);
      if (!deleted(id, s)) hits.push({ id, score });
    }
  });
  hits.sort((a, b) => b.score - a.score || b.id - a.id);
  return hits.slice(0, query.limit);
}

/**
 * The rows of `segment` that carry every tag asked for and lie in the namespace asked for: `undefined`
 * when nothing is asked, `null` when no row can.
 */
function labelFilter(segment: SegmentReader, query: SegmentQuery): Set<number> | undefined | null {
  const labels = [...new Set(query.tags ?? [])].map(tagTerm);
  if (query.namespace !== undefined) labels.push(namespaceTerm(query.namespace));
  if (labels.length === 0) return undefined;
  const terms = labels.map((label) => segment.findTerm(Buffer.from(label, 'utf8')));
  if (terms.some((term) => term < 0)) return null;
  // From the rarest label: each next one only narrows.
  terms.sort((a, b) => segment.docFrequency(a) - segment.docFrequency(b));
  let rows = new Set<number>();
  segment.forEachPosting(terms[0]!, (row) => rows.add(row));
  for (const term of terms.slice(1)) {
    const next = new Set<number>();
    segment.forEachPosting(term, (row) => rows.has(row) && next.add(row));
    rows = next;
  }
  return rows;
}
