import { segmentSearch } from './segment-search-provider.js';

export { segmentSearch, SegmentSearchProvider } from './segment-search-provider.js';
export type { SegmentMergeMessage, SegmentSearchOptions } from './segment-search-provider.js';
/** The tokenizer, now core's (re-exported here as before). */
export { wordTokens } from '@memmapfs/core';
export { SegmentBuilder } from './segment-builder.js';
export type { IndexedDocument } from './segment-builder.js';
export { SegmentReader, SegmentCorrupt } from './segment-reader.js';
export { searchSegments } from './bm25-search.js';
export type { ScoredHit, SegmentQuery } from './bm25-search.js';
export type { SearchableSegment } from './searchable-segment.js';
export { mergeSegments } from './segment-merge.js';

/** The segments provider factory; `MemMapFS.init(root, { search: 'segments' })` loads it by name. */
export default segmentSearch;
