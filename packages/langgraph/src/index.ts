export { MemMapSaver } from './memmap-saver.js';
export type { CheckpointStore, MemMapSaverOptions } from './memmap-saver.js';
