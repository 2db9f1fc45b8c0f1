import Module from 'node:module';
import { afterEach, beforeEach, vi } from 'vitest';

/** The binding package, as `@memmapfs/blocks` requires it. */
export const BINDING = '@riaskov/mmap-io';

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const loader = Module as unknown as { _load: Load };

/**
 * Lets each test of the file change what requiring the binding gives (`useBinding`), and a fresh copy of
 * `@memmapfs/blocks` load with it (its once-per-process state reset); Node's loader is put back after
 * each test.
 */
export function useBindingLoader(): { blocksWithBinding: (give: (load: () => unknown) => unknown) => Promise<typeof import('@memmapfs/blocks')> } {
  let originalLoad: Load;
  beforeEach(() => {
    originalLoad = loader._load;
    vi.resetModules();
  });
  afterEach(() => {
    loader._load = originalLoad;
    vi.restoreAllMocks();
    vi.resetModules();
  });
  return {
    async blocksWithBinding(give) {
      loader._load = function (request, parent, isMain) {
        const load = () => originalLoad.call(this, request, parent, isMain);
        // The package's own files (its addon is found directly through its package.json) are refused,
        // so that the package loads through its entry point, which `give` stands in for.
        if (request.startsWith(`${BINDING}/`)) throw new Error(`Cannot find module '${request}'`);
        return request === BINDING ? give(load) : load();
      };
      vi.resetModules();
      return import('@memmapfs/blocks');
    },
  };
}
