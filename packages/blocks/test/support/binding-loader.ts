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
  const originalDlopen = process.dlopen;
  beforeEach(() => {
    originalLoad = loader._load;
    vi.resetModules();
  });
  afterEach(() => {
    loader._load = originalLoad;
    process.dlopen = originalDlopen;
    vi.restoreAllMocks();
    vi.resetModules();
  });
  return {
    async blocksWithBinding(give) {
      // The package's addon, which `@memmapfs/blocks` loads straight from its file, is refused unless
      // the package's entry point (which `give` stands in for) loads it: the package then loads as
      // through its entry point.
      let throughEntryPoint = 0;
      process.dlopen = function (module, filename, ...flags) {
        if (throughEntryPoint === 0 && /mmap[-_]io/.test(filename)) throw new Error(`Cannot find module '${filename}'`);
        return originalDlopen.call(this, module, filename, ...flags);
      };
      loader._load = function (request, parent, isMain) {
        const load = () => {
          throughEntryPoint += 1;
          try {
            return originalLoad.call(this, request, parent, isMain);
          } finally {
            throughEntryPoint -= 1;
          }
        };
        if (request.startsWith(`${BINDING}/`)) throw new Error(`Cannot find module '${request}'`);
        return request === BINDING ? give(load) : load();
      };
      vi.resetModules();
      return import('@memmapfs/blocks');
    },
  };
}
