export { wordTokens } from './word-tokens.js';
export { SegmentBuilder } from './segment-builder.js';
export type { IndexedDocument } from './segment-builder.js';
export { SegmentReader, SegmentCorrupt } from './segment-reader.js';
export { searchSegments } from './bm25-search.js';
export type { ScoredHit, SegmentQuery } from './bm25-search.js';
