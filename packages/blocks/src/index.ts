export type { BlockReader, BlockRef, BlockStore, BlockStoreStats, PlacedBlock } from './block-store.js';
export { ChunkBlockStore, chunkFileName, openChunkStore } from './chunk-store.js';
export type { BlockFileSystem, ChunkStoreOptions, ReferencedRanges } from './chunk-store.js';
export { BlockError } from './block-error.js';
export type { BlockErrorCode } from './block-error.js';
