import { createRequire } from 'node:module';

/** The part of fs-ext this package uses: BSD `flock(2)`, whose lock the kernel drops when its holder dies. */
export interface FlockBinding {
  flockSync(fd: number, operation: 'ex' | 'exnb' | 'sh' | 'shnb' | 'un'): void;
  flock(fd: number, operation: 'ex' | 'exnb' | 'sh' | 'shnb' | 'un', callback: (error: NodeJS.ErrnoException | null) => void): void;
}

let binding: FlockBinding | undefined;

/** Loads fs-ext once. Throws when its native addon cannot be loaded. */
export function loadFlock(): FlockBinding {
  binding ??= createRequire(import.meta.url)('fs-ext') as FlockBinding;
  return binding;
}
