import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installedPackageFolder } from '@memmapfs/wal';

/** Where an adapter package is installed with its entry file, as a look at the folders tells. */
export interface AdapterLocation {
  /** Where core's own `import()` of its bare name looks: core's folder and those above it. */
  readonly fromCore: boolean;
  /** Where the application's folder (`process.cwd()`) and those above it hold it (looked at only when core's do not). */
  readonly fromApplication: boolean;
  /** The file an import of it from the application's folder loads, when `fromApplication`. */
  readonly applicationEntry: string | undefined;
}

/**
 * Where package `pkg` is installed: a `node_modules/<pkg>/package.json` in core's folders or the
 * application's, whose entry file (`exports`' `.` as imported, or `main`) is there. A few `stat`s and
 * one small read, where asking Node costs, when the answer is no, a thrown error decorated with
 * CommonJS hints (milliseconds; under strict layouts such as pnpm's, where core does not see the
 * adapters beside it, at every open). Neither is said when it cannot be told this way (NODE_PATH, a
 * loader, an `exports` of another shape): Node's resolution decides then.
 */
export function locateAdapter(pkg: string): AdapterLocation {
  const entryFrom = (folder: string | undefined) => {
    const found = folder === undefined ? undefined : installedPackageFolder(folder, pkg);
    return found === undefined ? undefined : entryFile(found);
  };
  // (The application's folders are looked at only when core's do not hold it: an import from core is tried first then.)
  const fromCore = entryFrom(coreFolder()) !== undefined;
  const applicationEntry = fromCore ? undefined : entryFrom(applicationFolder());
  return { fromCore, fromApplication: applicationEntry !== undefined, applicationEntry };
}

function coreFolder(): string | undefined {
  try {
    return dirname(fileURLToPath(import.meta.url));
  } catch {
    // (Not loaded from a file: a bundle, a loader of another kind.)
    return undefined;
  }
}

function applicationFolder(): string | undefined {
  try {
    return process.cwd();
  } catch {
    // (The working folder was removed.)
    return undefined;
  }
}

/** The file an `import` of the name of the package in `folder` loads, when it is there; `undefined` otherwise, or when that cannot be told this way. */
function entryFile(folder: string): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { exports?: unknown; main?: unknown };
    const exported = manifest.exports;
    const root = typeof exported === 'object' && exported !== null && !Array.isArray(exported) && '.' in exported ? (exported as Record<string, unknown>)['.'] : exported;
    // (An export target is a path inside the package, as Node requires: './…'.)
    const entry = root === undefined ? (typeof manifest.main === 'string' ? manifest.main : 'index.js') : importTarget(root);
    if (entry === undefined || (root !== undefined && !entry.startsWith('./'))) return undefined;
    const file = join(folder, entry);
    return statSync(file, { throwIfNoEntry: false })?.isFile() === true ? file : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The file an `exports` target gives an `import` under Node: its first condition that applies (`import`,
 * `node`, `default`, or one given with `--conditions`); `undefined` for other shapes.
 */
function importTarget(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (typeof target !== 'object' || target === null || Array.isArray(target)) return undefined;
  const applying = activeConditions();
  for (const [condition, value] of Object.entries(target as Record<string, unknown>)) {
    if (applying.has(condition)) return importTarget(value);
  }
  return undefined;
}

let conditions: Set<string> | undefined;

/** The conditions Node's resolution of an `import` matches: its own, and those given with `--conditions` (or `-C`) to the process or in NODE_OPTIONS. */
function activeConditions(): Set<string> {
  if (conditions) return conditions;
  conditions = new Set(['import', 'node', 'default']);
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  args.forEach((arg, i) => {
    const given = /^(?:--conditions|-C)=(.+)$/.exec(arg)?.[1] ?? (arg === '--conditions' || arg === '-C' ? args[i + 1] : undefined);
    if (given) conditions!.add(given);
  });
  return conditions;
}
