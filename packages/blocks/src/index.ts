export type { BlockReader, BlockRef, BlockStore, BlockSyncOptions, BlockStoreOpener, BlockStoreOpenOptions, BlockStoreStats, BlockVerifyFailure, ChunkInfo, ChunkNumberRange, ChunkReservation, PlacedBlock, PlacedBlocks, ReferencedRanges } from './block-store.js';
export { ChunkBlockStore, chunkFileName, chunkStore, openChunkStore } from './chunk-store.js';
export type { BlockFileSystem, ChunkStoreOptions } from './chunk-store.js';
export { BlockError } from './block-error.js';
export type { BlockErrorCode } from './block-error.js';
export { mapFile } from './mapped-file.js';
export type { MappedFile } from './mapped-file.js';
export { tryLeaseFile } from './file-lease.js';
export type { FileLease } from './file-lease.js';
