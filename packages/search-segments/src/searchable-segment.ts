/**
 * What a search reads of a segment, written (`SegmentReader`) or still in memory (`SegmentBuilder`).
 * Rows number its documents; terms are numbered by the segment, found by their text.
 */
export interface SearchableSegment {
  /** Documents, deleted ones included until a merge drops them. */
  readonly docCount: number;
  /** Sum of the documents' lengths in words. */
  readonly totalLength: number;
  /** The number of term `term`, or -1. */
  termId(term: string): number;
  /** The numbers of the terms that begin with `prefix`. */
  termIdsWithPrefix(prefix: string): number[];
  /** How many documents hold term `termId`. */
  docFrequency(termId: number): number;
  /** The postings of term `termId`, walked by row one at a time (at the first already). */
  cursor(termId: number): PostingsCursor;
  /** The memory id of row `row`. */
  idAt(row: number): number;
  /** `idAt` for a row a query is about to rank among its best: what its score was computed from is checked, where the segment has checks. */
  hitIdAt(row: number): number;
  /** The length in words of row `row`. */
  lengthAt(row: number): number;
}

/** A walk through one term's postings, by row. */
export interface PostingsCursor {
  /** The current posting's row; `Infinity` once past the last. */
  row: number;
  /** The term's frequency in that row. */
  frequency: number;
  /** Moves to the next posting. */
  next(): void;
  /**
   * Calls `visit(row, frequency)` for the postings before row `end`, and stops at the first at or past it.
   * The cursor may have moved ahead of the posting `visit` is given (a written segment's reads a batch
   * at a time): `visit` must not move this cursor itself, and reads `row` only once the walk is done.
   */
  walkUntil(end: number, visit: (row: number, frequency: number) => void): void;
  /**
   * Copies the postings before row `end` into `rows` and `frequencies` (as many as they hold, at most),
   * and stops at the first it did not copy; returns how many it copied. What `walkUntil` does, without a
   * call per posting: a search's loops over the copies run at full speed from its first query on.
   */
  readUntil(end: number, rows: Int32Array, frequencies: Int32Array): number;
}
