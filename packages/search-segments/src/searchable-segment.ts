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
  /** Calls `visit(row, frequency)` for each document holding term `termId`, by row. */
  forEachPosting(termId: number, visit: (row: number, frequency: number) => void): void;
  /** The memory id of row `row`. */
  idAt(row: number): number;
  /** The length in words of row `row`. */
  lengthAt(row: number): number;
}
