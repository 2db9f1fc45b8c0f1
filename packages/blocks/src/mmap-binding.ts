import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installedPackageFolder, loadNativeAddon } from '@memmapfs/wal';

/** The package that holds the memory mappings (an optional dependency); named in every message about them. */
export const MMAP_PACKAGE = '@riaskov/mmap-io';

/** The part of the binding this package uses. */
export interface MmapBinding {
  readonly PROT_READ: number;
  readonly MAP_SHARED: number;
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
}

/** Largest mapping the binding can make: its size argument is a C int. */
export const MAX_MAPPING_SIZE = 0x7fff_ffff;

/** The code of the warning given once per process when `reader: 'auto'` falls back to reads. */
export const MMAP_FALLBACK_WARNING = 'MEMMAPFS_MMAP_UNAVAILABLE';

/** The code of the warning given once per process when the system refuses a mapping and the bytes are read instead. */
export const MMAP_FAILED_WARNING = 'MEMMAPFS_MMAP_FAILED';

let binding: MmapBinding | null | undefined;
let loadError: unknown;
let warned = false;
let warnedMapFailed = false;

/** Loads the binding once; `null` when it is not installed or its native addon does not load. */
export function loadMmap(): MmapBinding | null {
  if (binding !== undefined) return binding;
  try {
    const mod = (loadAddonDirectly() ?? createRequire(import.meta.url)(MMAP_PACKAGE)) as MmapBinding & { default?: MmapBinding };
    binding = mod.default ?? mod;
    if (typeof binding.map !== 'function') throw new Error(`${MMAP_PACKAGE} has no map()`);
  } catch (error) {
    loadError = error;
    binding = null;
  }
  return binding;
}

/**
 * The package's native addon, loaded from where its `binary.module_path` puts it, without the package's
 * entry point: that requires @mapbox/node-pre-gyp to find the file, which loads npmlog, gauge, semver,
 * readable-stream and more (a few MiB of heap and code in every process that maps a file). `undefined`
 * when the package or the file is not there (another runtime's ABI, a build elsewhere): the entry point
 * then finds it, or says why not.
 */
function loadAddonDirectly(): MmapBinding | undefined {
  try {
    const folder = installedPackageFolder(dirname(fileURLToPath(import.meta.url)), MMAP_PACKAGE);
    if (folder === undefined) return undefined;
    const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { binary?: { module_name?: string; module_path?: string } };
    const name = manifest.binary?.module_name;
    const template = manifest.binary?.module_path;
    if (!name || !template) return undefined;
    const modulePath = template
      .replace('{configuration}', 'Release')
      .replace('{node_abi}', `node-v${process.versions.modules}`)
      .replace('{platform}', process.platform)
      .replace('{arch}', process.arch);
    if (/[{}]/.test(modulePath)) return undefined;
    const file = join(folder, modulePath, `${name}.node`);
    if (!existsSync(file)) return undefined;
    return loadNativeAddon(file) as MmapBinding;
  } catch {
    return undefined;
  }
}

/** Why the binding could not be loaded, if it could not. */
export function mmapLoadError(): unknown {
  return loadError;
}

/** How to get zero-copy reads: the package, and what builds it. */
export function mmapInstallAdvice(): string {
  return `${MMAP_PACKAGE} is an optional dependency compiled at install time (node-gyp: a C++17 compiler, make, Python and Node's headers). Once those are present, run npm install again (npm drops an optional dependency whose build failed, so npm rebuild finds nothing to rebuild); under pnpm, allow its build (allowBuilds: { '${MMAP_PACKAGE}': true } in pnpm-workspace.yaml) and reinstall.`;
}

/** Why mapping is unavailable, in one clause. */
export function mmapUnavailableReason(): string {
  const cause = loadError as Error | undefined;
  return `the native addon of ${MMAP_PACKAGE} did not load (${cause?.message?.split('\n')[0] ?? String(cause)})`;
}

/**
 * Tells the process, once, that `reader: 'auto'` reads with copies because the binding did not load:
 * why, and how to get mappings. Later fallbacks in the same process say nothing.
 */
export function warnReadFallback(): void {
  if (warned) return;
  warned = true;
  process.emitWarning(`MemMapFS reads chunk files with reader 'read' (copies, no memory mapping): ${mmapUnavailableReason()}. Pass reader: 'read' to choose that and silence this warning.`, {
    type: 'MemMapFSWarning',
    code: MMAP_FALLBACK_WARNING,
    detail: mmapInstallAdvice(),
  });
}

/**
 * Tells the process, once, that the system refused to map `path` (`map()` threw `error`, e.g.
 * `mmap failed, 12`: ENOMEM) and that its bytes, and those of any mapping refused later, are read with
 * copies instead. Later refusals in the same process say nothing.
 */
export function warnMapFailed(path: string, error: unknown): void {
  if (warnedMapFailed) return;
  warnedMapFailed = true;
  const reason = (error as Error | undefined)?.message ?? String(error);
  process.emitWarning(`MemMapFS could not map ${path} (${reason}): it is read with copies instead, as is any file whose mapping fails later in this process.`, {
    type: 'MemMapFSWarning',
    code: MMAP_FAILED_WARNING,
    detail: `${MMAP_PACKAGE}'s map() failed. Error 12 (ENOMEM) means the process reached its limit of mappings (vm.max_map_count) or of address space (ulimit -v); reads are correct either way, only slower.`,
  });
}
