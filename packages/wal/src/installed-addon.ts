import { statSync } from 'node:fs';
import { dirname, join, toNamespacedPath } from 'node:path';

/**
 * The folder of package `name` where Node looks for it as a bare specifier from a module in `folder`:
 * the first `node_modules/<name>` holding a package.json, in `folder` or a folder above it; `undefined`
 * when none holds it (Node may still find it elsewhere: NODE_PATH, a loader).
 *
 * A few `stat`s. Asking Node (`require.resolve`, `import.meta.resolve`) costs milliseconds at every
 * start, and when the package is absent a thrown error that Node decorates with hints.
 */
export function installedPackageFolder(folder: string, name: string): string | undefined {
  for (let dir = folder; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (isFile(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Whether `path` is a file; a path that cannot be looked at (a folder not to be searched, a symlink loop) is not one, as Node's resolution takes it. */
function isFile(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() === true;
  } catch {
    return false;
  }
}

/**
 * Loads the native addon `file` (an absolute path) as `require` does in the end, through
 * `process.dlopen`, without the CommonJS loader's resolution of the path (a few milliseconds at every
 * start). The addon is loaded again by each caller: it must be one that allows that (a Node-API or
 * context-aware addon), as another copy of the calling package or the addon's own package may load it too.
 */
export function loadNativeAddon(file: string): unknown {
  // (As Node's loader calls it: the module's file name for Node-API, a Windows path of any length.)
  const module = { exports: {}, filename: file };
  process.dlopen(module, toNamespacedPath(file));
  return module.exports;
}
