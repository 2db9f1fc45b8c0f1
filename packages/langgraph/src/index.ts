export { MemMapSaver } from './memmap-saver.js';
export type { CheckpointStore, MemMapSaverOptions } from './memmap-saver.js';
export { MemMapStore } from './memmap-store.js';
export type { EmbedOption } from './item-embeddings.js';
export type { ItemStore, MemMapPutOperation, MemMapStoreIndexConfig, MemMapStoreOptions, MemMapStoreTtlConfig, PutItemOptions, RefreshingOperation } from './memmap-store.js';
