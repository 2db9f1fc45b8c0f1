import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

/**
 * Loads a package's code from a script file compiled with V8's code cache, kept between processes, so
 * that a process opening a store does not compile the packages' source again (most of an open's time
 * on Node 20, whose ES module loader keeps no compile cache). Not part of the public API: every bundled
 * package of MemMapFS has this module built into its entry point (`dist/index.js`, written by
 * scripts/bundle-dist.mjs), which calls it, and imports `dist/index.module.js`, the same code as an ES
 * module, where it returns `undefined`.
 *
 * The cache is an optimisation only: a cache file that is missing, unreadable, another user's, or
 * that V8 rejects (another Node or V8 version, other V8 flags) is ignored, and a new one is written
 * when the process exits (or a second after the load). Its name holds a hash of the script's content
 * (V8 itself checks only the source's length). `MEMMAPFS_COMPILE_CACHE` names the cache folder, or turns the cache off (`off`).
 */
export interface CompiledScriptOptions {
  /** The script: the source of one function expression taking `(require, module, exports, importMeta, importModule)`. */
  url: URL;
  /** Names the cache file: the package's name and a hash of the script's content, set by the build. */
  key: string;
  /** What the script's `require` returns, by specifier: the only modules it may ask for. */
  modules: Record<string, unknown>;
  /** `import.meta` of the entry point, which sits in the script's folder: the script's own. */
  importMeta: ImportMeta;
  /** `import()` from the entry point: a script compiled from a cache cannot import on its own. */
  importModule: (specifier: string) => Promise<unknown>;
  /** The cache's folder; `undefined` for no cache. Default: `compileCacheFolder()`. */
  cacheFolder?: string | undefined;
}

/** How a load went, for tests and diagnostics: whether a cache was used, and whether one is written at exit. */
export interface CompiledScriptLoad {
  exports: Record<string, unknown>;
  cache: 'used' | 'rejected' | 'missing' | 'off';
  cacheFile: string | undefined;
}

/** Runs the script and returns its exports, or `undefined` when the script file cannot be read (a bundled application). */
export function loadCompiledScript(options: CompiledScriptOptions): CompiledScriptLoad | undefined {
  const path = fileURLToPath(options.url);
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const folder = 'cacheFolder' in options ? options.cacheFolder : compileCacheFolder();
  const cacheFile = folder === undefined ? undefined : join(folder, `${options.key}-${process.arch}-v8-${process.versions.v8}.bin`);
  const cachedData = cacheFile === undefined ? undefined : readOwnFile(cacheFile);
  const script = new Script(source, { filename: path, ...(cachedData ? { cachedData } : {}) });
  const cache = cacheFile === undefined ? 'off' : cachedData === undefined ? 'missing' : script.cachedDataRejected === true ? 'rejected' : 'used';
  // Written once the functions an open runs are compiled too, so that they go into the cache with it: at
  // exit, or a second after the load in a process that lives on (later, the cache would take in what
  // that process alone runs, and every open would pay to read it).
  if (cache === 'missing' || cache === 'rejected') {
    let written = false;
    const write = () => {
      if (written) return;
      written = true;
      process.off('exit', write);
      clearTimeout(timer);
      writeCache(script, cacheFile!);
    };
    const timer = setTimeout(write, WRITE_AFTER_MS).unref();
    process.once('exit', write);
  }
  const module = { exports: {} as Record<string, unknown> };
  const require = (specifier: string): unknown => {
    if (!(specifier in options.modules)) throw new Error(`${path} asked for ${specifier}, which its entry point does not provide`);
    return options.modules[specifier];
  };
  (script.runInThisContext() as (...args: unknown[]) => void)(require, module, module.exports, options.importMeta, options.importModule);
  return { exports: module.exports, cache, cacheFile };
}

/**
 * The folder of the code cache: `MEMMAPFS_COMPILE_CACHE` when set (`off`, `0` or `false` for none),
 * else the user's cache folder (`$XDG_CACHE_HOME` or `~/.cache`; `~/Library/Caches` on macOS,
 * `%LOCALAPPDATA%` on Windows) with `memmapfs/compile-cache` in it. A folder of the user's own, not the
 * shared temporary one: a cache file is code this process runs.
 */
export function compileCacheFolder(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chosen = env.MEMMAPFS_COMPILE_CACHE;
  if (chosen !== undefined && chosen !== '') return ['off', '0', 'false'].includes(chosen.toLowerCase()) ? undefined : chosen;
  let home: string;
  try {
    home = homedir();
  } catch {
    return undefined;
  }
  if (!home) return undefined;
  const base =
    process.platform === 'win32' ? env.LOCALAPPDATA || join(home, 'AppData', 'Local') : process.platform === 'darwin' ? join(home, 'Library', 'Caches') : env.XDG_CACHE_HOME || join(home, '.cache');
  return join(base, 'memmapfs', 'compile-cache');
}

/** The file's bytes if it is a regular file of this process's user; `undefined` otherwise or on any error. */
function readOwnFile(path: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const stat = fstatSync(fd);
    if (!stat.isFile() || (process.getuid !== undefined && stat.uid !== process.getuid())) return undefined;
    const bytes = Buffer.allocUnsafe(stat.size);
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, read);
      if (n === 0) return undefined;
      read += n;
    }
    return bytes;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** When a process that lives on writes a missing cache. */
const WRITE_AFTER_MS = 1000;
/** Another cache file of the same package not written for this long is removed when one is written (an older release's, most likely). */
const STALE_MS = 7 * 24 * 3600 * 1000;

/**
 * Writes the script's cache whole under a temporary name, synced, then renames it; any failure leaves
 * no cache. (Synced: V8 checks a cache's header, not its content, and a crash could otherwise leave a
 * renamed file whose pages were never written.)
 */
function writeCache(script: Script, cacheFile: string): void {
  const temp = `${cacheFile}.${process.pid}.tmp`;
  try {
    mkdirSync(join(cacheFile, '..'), { recursive: true, mode: 0o700 });
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeFileSync(fd, script.createCachedData());
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, cacheFile);
    removeStale(cacheFile);
  } catch {
    try {
      unlinkSync(temp);
    } catch {
      // Nothing was written.
    }
  }
}

/** Removes the same package's other cache files that were not written for `STALE_MS` (their key's hash is another). */
function removeStale(cacheFile: string): void {
  const folder = dirname(cacheFile);
  const name = basename(cacheFile);
  const hash = /-[0-9a-f]{20}-/.exec(name);
  if (!hash) return;
  const prefix = name.slice(0, hash.index + 1);
  for (const other of readdirSync(folder)) {
    if (other === name || !other.startsWith(prefix) || !/^[0-9a-f]{20}-.+\.bin$/.test(other.slice(prefix.length))) continue;
    try {
      const path = join(folder, other);
      if (Date.now() - statSync(path).mtimeMs > STALE_MS) unlinkSync(path);
    } catch {
      // Gone already, or not ours to remove.
    }
  }
}
