import { type Stats, accessSync, closeSync, constants, fstatSync, fsyncSync, futimesSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

/**
 * Loads a package's code from a script file compiled with V8's code cache, kept between processes, so
 * that a process opening a store does not compile the packages' source again (most of an open's time
 * on Node 20, whose ES module loader keeps no compile cache). Not part of the public API: every bundled
 * package of MemMapFS has this module built into its entry point (`dist/index.js`, written by
 * scripts/bundle-dist.mjs), which calls it synchronously (no top-level await: `require()` of the
 * package works where Node can require ES modules).
 *
 * The cache is an optimisation only: a cache file that is missing, unreadable, not the user's own, or
 * that V8 rejects (another V8, other V8 flags) is ignored, and a new one is written a second after the
 * load (at exit in a shorter process). Its name holds a hash of the script's content set by the build,
 * a stamp of the script file (device, inode, size, modification time: V8 checks only the source's
 * length), the architecture and V8's version. V8 does not check a cache's content, so a cache is code
 * this process runs: it is read only from a folder whose path has no link in it and that no one but
 * the user (and root) can write, folder by folder up to the root, and written synced, under a new name
 * of its own, then renamed. `MEMMAPFS_COMPILE_CACHE` names the cache folder (an absolute path), or
 * turns the cache off (`off`).
 *
 * Where Node was started with `--enable-source-maps`, the package's ES module build runs instead,
 * through `require()`, so that stack traces are mapped (Node 20 maps no script's); so it does where the
 * script cannot be read, and where there is no cache folder to use (V8 compiles the script form more
 * slowly than the module). A Node that cannot require an ES module (before 20.19 and 22.12) runs the script.
 */
export interface CompiledScriptOptions {
  /** The script: the source of one function expression taking `(require, module, exports, importMeta, importModule)`. */
  url: URL;
  /** The same code as an ES module, run instead of the script where source maps are on, the script cannot be read, or no cache folder can be used. */
  moduleUrl: URL;
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

/** How a load went, for tests and diagnostics: whether a cache was used, and which file it is. */
export interface CompiledScriptLoad {
  exports: Record<string, unknown>;
  /**
   * `module`: the ES module build ran (source maps on, or the script unreadable). `off`: no cache folder
   * (none chosen, or none this process could use or make), and the ES module build ran where this Node
   * can require it, the script elsewhere.
   */
  cache: 'used' | 'rejected' | 'missing' | 'off' | 'module';
  cacheFile: string | undefined;
}

/** Runs the package's code and returns its exports. */
export function loadCompiledScript(options: CompiledScriptOptions): CompiledScriptLoad {
  const chosen = 'cacheFolder' in options ? options.cacheFolder : compileCacheFolder();
  // (Resolved: a trailing or doubled slash would make lstat follow a link the walk must see.)
  const holds = chosen === undefined || !isAbsolute(chosen) ? false : canHoldCache(resolve(chosen));
  const folder = holds === false ? undefined : resolve(chosen!);
  // (Without a cache, the ES module build: V8 compiles the script form more slowly than the module.)
  if (sourceMapsAsked() || folder === undefined) {
    const exports = requireModule(options.moduleUrl, false);
    if (exports !== undefined) return { exports, cache: folder === undefined ? 'off' : 'module', cacheFile: undefined };
  }
  const path = fileURLToPath(options.url);
  const script = readScript(path);
  if (script === undefined) return { exports: requireModule(options.moduleUrl, true)!, cache: 'module', cacheFile: undefined };
  const cacheFile = folder === undefined ? undefined : join(folder, `${options.key}-${process.arch}-${process.versions.v8}-${hash(script.stamp)}.bin`);
  // (Read only from a folder checked as it is: one still to be made is checked when it is, before the write.)
  const cachedData = cacheFile === undefined || holds !== 'private' ? undefined : readCache(cacheFile);
  const compiled = new Script(script.source, { filename: path, ...(cachedData ? { cachedData } : {}) });
  const cache = cacheFile === undefined ? 'off' : cachedData === undefined ? 'missing' : compiled.cachedDataRejected === true ? 'rejected' : 'used';
  if (cache === 'missing' || cache === 'rejected') writeCacheLater(compiled, cacheFile!);
  const module = { exports: {} as Record<string, unknown> };
  const require = (specifier: string): unknown => {
    if (!(specifier in options.modules)) throw new Error(`${path} asked for ${specifier}, which its entry point does not provide`);
    return options.modules[specifier];
  };
  (compiled.runInThisContext() as (...args: unknown[]) => void)(require, module, module.exports, options.importMeta, options.importModule);
  return { exports: module.exports, cache, cacheFile };
}

/**
 * Whether Node was started with `--enable-source-maps` (on its command line or in `NODE_OPTIONS`). Not
 * `process.sourceMapsEnabled`: a loader such as tsx turns that on for the application's own code.
 */
function sourceMapsAsked(): boolean {
  return process.execArgv.includes('--enable-source-maps') || /(?:^|\s)--enable-source-maps(?:\s|$)/.test(process.env.NODE_OPTIONS ?? '');
}

/**
 * The folder of the code cache: `MEMMAPFS_COMPILE_CACHE` when set to an absolute path (`off`, `0` or
 * `false`, or a relative path, for none), else the user's cache folder (`$XDG_CACHE_HOME` when absolute,
 * or `~/.cache`; `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows) with `memmapfs/compile-cache`
 * in it. A folder of the user's own, not the shared temporary one: a cache file is code this process runs.
 */
export function compileCacheFolder(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chosen = env.MEMMAPFS_COMPILE_CACHE;
  if (chosen !== undefined && chosen !== '') return isAbsolute(chosen) ? resolve(chosen) : undefined;
  let home: string;
  try {
    home = homedir();
  } catch {
    return undefined;
  }
  if (!home || !isAbsolute(home)) return undefined;
  const xdg = env.XDG_CACHE_HOME !== undefined && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : undefined;
  const base = process.platform === 'win32' ? env.LOCALAPPDATA || join(home, 'AppData', 'Local') : process.platform === 'darwin' ? join(home, 'Library', 'Caches') : (xdg ?? join(home, '.cache'));
  return join(base, 'memmapfs', 'compile-cache');
}

/**
 * The package's ES module build through `require()` (Node ≥ 20.19 and 22.12 load ES modules so, without
 * an await in them). `undefined` where this Node cannot, unless `needed`: then an error that says what to do.
 */
function requireModule(url: URL, needed: boolean): Record<string, unknown> | undefined {
  try {
    return createRequire(url)(fileURLToPath(url)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // (Errors before the module runs: this Node cannot require it (or not with an await in its graph), or
    // it is not there. Any other is the module's own.)
    if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE' && code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') throw error;
    if (!needed) return undefined;
    throw new Error(
      `[memmapfs] ${fileURLToPath(new URL('./index.script.js', url))} cannot be read, and ${fileURLToPath(url)} cannot be loaded in its place (${(error as Error).message}): reinstall the package, or use Node.js 20.19 or later`,
      { cause: error },
    );
  }
}

/** The script's source and a stamp of its file (device, inode, size, modification time); `undefined` when it cannot be read. */
function readScript(path: string): { source: string; stamp: string } | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const stat = fstatSync(fd);
    const bytes = readWhole(fd, stat.size);
    if (bytes === undefined) return undefined;
    // (The build writes the script in ASCII: read as Latin-1, the same text without UTF-8's decoding.)
    return { source: bytes.toString('latin1'), stamp: `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}` };
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The cache file's bytes if it is a regular file of this process's user, not a link (in a folder that
 * `canHoldCache` accepted); `undefined` otherwise or on any error. A cache in use for more than a day is
 * touched, so that another release's or project's cleaning (`removeStale`) leaves it.
 */
function readCache(path: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    const stat = fstatSync(fd);
    if (!ownedPrivately(stat, false)) return undefined;
    const bytes = readWhole(fd, stat.size);
    if (bytes !== undefined && Date.now() - stat.mtimeMs > TOUCH_AFTER_MS) {
      try {
        const now = new Date();
        futimesSync(fd, now, now);
      } catch {
        // A read-only file system (a cache built into an image): used all the same, never cleaned there.
      }
    }
    return bytes;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function readWhole(fd: number, size: number): Buffer | undefined {
  const bytes = Buffer.allocUnsafe(size);
  let read = 0;
  while (read < size) {
    const n = readSync(fd, bytes, read, size - read, read);
    if (n === 0) return undefined;
    read += n;
  }
  return bytes;
}

function lstatQuiet(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** A directory (or regular file) of this process's user that no one else can write. (Windows: it exists.) */
function ownedPrivately(stat: Stats | undefined, directory: boolean): boolean {
  if (stat === undefined || (directory ? !stat.isDirectory() : !stat.isFile())) return false;
  if (process.getuid === undefined) return true;
  return stat.uid === process.getuid() && (stat.mode & 0o022) === 0;
}

/**
 * Whether no one but this user (and root) can put a file at a name in `folder`: its path has no link in
 * it, it is the user's own and writable by the user alone, and so is every folder above it, except that
 * a folder above may be root's, and writable by others if it is sticky (as `/tmp` is: no one can
 * rename or remove what is another's there). On Windows, only the default folder, in the user's
 * `LOCALAPPDATA`, is trusted.
 */
function isPrivateFolder(folder: string): boolean {
  if (process.getuid === undefined) return process.platform === 'win32' && folder === compileCacheFolder({ LOCALAPPDATA: process.env.LOCALAPPDATA });
  // (lstat: a link anywhere in the path is no directory, and refused.)
  if (!ownedPrivately(lstatQuiet(folder), true)) return false;
  const uid = process.getuid();
  for (let above = dirname(folder); ; above = dirname(above)) {
    const stat = lstatQuiet(above);
    if (stat === undefined || !stat.isDirectory() || (stat.uid !== uid && stat.uid !== 0)) return false;
    if ((stat.mode & 0o022) !== 0 && (stat.mode & STICKY) === 0) return false;
    if (dirname(above) === above) return true;
  }
}

/**
 * Whether the folder can hold a cache this process would use: `private` when it exists and
 * `isPrivateFolder`; `creatable` when it does not exist yet and this process can make it (and
 * `prepareFolder` checks it when it writes); `false` otherwise.
 */
function canHoldCache(folder: string): 'private' | 'creatable' | false {
  if (lstatQuiet(folder) !== undefined) return isPrivateFolder(folder) ? 'private' : false;
  let existing = dirname(folder);
  while (lstatQuiet(existing) === undefined && dirname(existing) !== existing) existing = dirname(existing);
  const stat = lstatQuiet(existing);
  if (stat === undefined || !stat.isDirectory()) return false;
  try {
    accessSync(existing, constants.W_OK);
    return process.getuid?.() !== 0 || stat.uid === 0 ? 'creatable' : false;
  } catch {
    return false;
  }
}

/**
 * Makes the cache folder, then says whether it is private. Root makes none in another user's folder:
 * root keeping a user's `HOME` (sudo, say) would make folders that the user's processes could not use.
 */
function prepareFolder(folder: string): boolean {
  if (canHoldCache(folder) === false) return false;
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  return isPrivateFolder(folder);
}

/** The sticky bit of a folder's mode. */
const STICKY = 0o1000;

/** When a process that lives on writes a missing cache: once the functions its open ran are compiled too. */
const WRITE_AFTER_MS = 1000;
/** A cache in use is touched when it was last written or touched this long ago. */
const TOUCH_AFTER_MS = 24 * 3600 * 1000;
/** Another cache file of the same package not written or touched for this long is removed when one is written. */
const STALE_MS = 7 * 24 * 3600 * 1000;

/**
 * Writes the cache a second after the load, from the event loop, or at exit if the process ends first.
 * Later, the cache would take in all that this one process ran, and every open would pay to read it.
 */
function writeCacheLater(script: Script, cacheFile: string): void {
  let started = false;
  const atExit = () => {
    if (started) return;
    started = true;
    clearTimeout(timer);
    writeCacheNow(script, cacheFile);
  };
  const timer = setTimeout(() => {
    if (started) return;
    started = true;
    process.off('exit', atExit);
    void writeCacheInBackground(script, cacheFile);
  }, WRITE_AFTER_MS).unref();
  process.once('exit', atExit);
}

/** A temporary file's name beside the cache, of this process alone. */
function temporaryName(cacheFile: string): string {
  return `${cacheFile}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`;
}

const createFlags = () => constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

/**
 * Writes the script's cache whole under a new temporary name, synced, then renames it; any failure leaves
 * no cache. (Synced: V8 checks a cache's header, not its content, and a crash could otherwise leave a
 * renamed file whose pages were never written.)
 */
function writeCacheNow(script: Script, cacheFile: string): void {
  const temp = temporaryName(cacheFile);
  let created = false;
  try {
    if (!prepareFolder(dirname(cacheFile))) return;
    const fd = openSync(temp, createFlags(), 0o600);
    created = true;
    try {
      const data = script.createCachedData();
      for (let written = 0; written < data.length; ) written += writeSync(fd, data, written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, cacheFile);
    removeStale(cacheFile);
  } catch {
    try {
      if (created) unlinkSync(temp);
    } catch {
      // Renamed, or gone already.
    }
  }
}

/** `writeCacheNow` without blocking the event loop on the disk's writes (V8's serialisation, and the folder's checks, are synchronous). */
async function writeCacheInBackground(script: Script, cacheFile: string): Promise<void> {
  const temp = temporaryName(cacheFile);
  let created = false;
  try {
    if (!prepareFolder(dirname(cacheFile))) return;
    const handle = await open(temp, createFlags(), 0o600);
    created = true;
    try {
      await handle.writeFile(script.createCachedData());
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, cacheFile);
    removeStale(cacheFile);
  } catch {
    if (created) await unlink(temp).catch(() => undefined);
  }
}

/**
 * Removes the same package's other cache files that were not written or touched for `STALE_MS` (their
 * key's hash is another, or their stamp), and temporary files a process left there that long ago.
 */
function removeStale(cacheFile: string): void {
  const folder = dirname(cacheFile);
  const name = basename(cacheFile);
  const hash = /-[0-9a-f]{20}-/.exec(name);
  if (!hash) return;
  const prefix = name.slice(0, hash.index + 1);
  for (const other of readdirSync(folder)) {
    if (other === name || !other.startsWith(prefix) || !/^[0-9a-f]{20}-.+\.bin(\.[\w-]+\.tmp)?$/.test(other.slice(prefix.length))) continue;
    try {
      const path = join(folder, other);
      if (Date.now() - statSync(path).mtimeMs > STALE_MS) unlinkSync(path);
    } catch {
      // Gone already, or not ours to remove.
    }
  }
}

/** FNV-1a of a short string, as 8 hex digits: a name's part, not a check of content. */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
