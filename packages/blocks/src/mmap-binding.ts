import { createRequire } from 'node:module';

/** The part of mmap-io this package uses. */
export interface MmapBinding {
  readonly PROT_READ: number;
  readonly MAP_SHARED: number;
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
}

/** Largest mapping mmap-io can make: its size argument is a C int. */
export const MAX_MAPPING_SIZE = 0x7fff_ffff;

let binding: MmapBinding | null | undefined;
let loadError: unknown;

/** Loads mmap-io once; `null` when it is not installed or its native addon does not load. */
export function loadMmap(): MmapBinding | null {
  if (binding !== undefined) return binding;
  try {
    const mod = createRequire(import.meta.url)('mmap-io') as MmapBinding & { default?: MmapBinding };
    binding = mod.default ?? mod;
    if (typeof binding.map !== 'function') throw new Error('mmap-io has no map()');
  } catch (error) {
    loadError = error;
    binding = null;
  }
  return binding;
}

/** Why mmap-io could not be loaded, if it could not. */
export function mmapLoadError(): unknown {
  return loadError;
}
