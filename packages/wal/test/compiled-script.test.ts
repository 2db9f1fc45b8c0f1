import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, realpathSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileCacheFolder } from '../src/compiled-script.js';

const loader = fileURLToPath(new URL('../src/compiled-script.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

// A script as the build writes a package's: one function expression given require, module, exports, import.meta and import().
const script = `(function (require, module, exports, importMeta, importModule) {'use strict';
  const { join } = require('node:path');
  exports.run = async () => [join('a', 'b'), typeof (await importModule('node:os')).cpus, importMeta.url.endsWith('/load.mjs')].join(' ');
})`;

let dir: string;
let cache: string;
beforeEach(() => {
  // (Its real path: a temporary folder reached through a link, as on macOS, would hold no cache.)
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'memmapfs-compiled-')));
  cache = join(dir, 'cache');
  writeFileSync(join(dir, 'core.script.js'), script);
  // The same code as an ES module, as the build writes it beside the script.
  writeFileSync(join(dir, 'core.module.mjs'), `import { join } from 'node:path';\nexport const run = async () => [join('a', 'b'), typeof (await import('node:os')).cpus, 'module'].join(' ');\n`);
  writeFileSync(
    join(dir, 'load.mjs'),
    `import * as path from 'node:path';
import { loadCompiledScript } from ${JSON.stringify(pathToFileURL(loader).href)};
const folder = process.env.TEST_CACHE === 'none' ? undefined : process.env.TEST_CACHE;
const loaded = loadCompiledScript({ url: new URL('./core.script.js', import.meta.url), moduleUrl: new URL('./core.module.mjs', import.meta.url), key: process.env.TEST_KEY ?? 'core-${'0'.repeat(20)}', modules: { 'node:path': path }, importMeta: import.meta, importModule: (s) => import(s), cacheFolder: folder });
const value = await loaded.exports.run();
// (TEST_LINGER: the process lives on that long, then says whether its cache was written meanwhile.)
if (process.env.TEST_LINGER) await new Promise((resolve) => setTimeout(resolve, Number(process.env.TEST_LINGER)));
const { existsSync } = await import('node:fs');
console.log(JSON.stringify({ cache: loaded.cache, value, ...(process.env.TEST_LINGER ? { writtenBeforeExit: existsSync(loaded.cacheFile) } : {}) }));`,
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Loads the script in a fresh process (the cache is written at its exit) and returns what it reported. */
function load(folder: string | 'none' = cache, env: Record<string, string> = {}, flags: string[] = []): { cache: string; value: string; writtenBeforeExit?: boolean } {
  const result = spawnSync(process.execPath, [...flags, '--import', tsx, join(dir, 'load.mjs')], { encoding: 'utf8', env: { ...process.env, TEST_CACHE: folder, ...env } });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim()) as { cache: string; value: string; writtenBeforeExit?: boolean };
}

const cacheFiles = () => (existsSync(cache) ? readdirSync(cache) : []);

describe("loading a package's code from a script with a code cache", () => {
  it('writes a cache at the first load, of this user only, and uses it at the next', () => {
    expect(load()).toEqual({ cache: 'missing', value: 'a/b function true' });
    expect(cacheFiles()).toHaveLength(1);
    const [file] = cacheFiles();
    expect(file).toMatch(new RegExp(`^core-0{20}-${process.arch}-${process.versions.v8.replaceAll('.', '\\.')}-[0-9a-f]{8}\\.bin$`));
    if (process.platform !== 'win32') {
      expect(statSync(join(cache, file!)).mode & 0o777).toBe(0o600);
      expect(statSync(cache).mode & 0o777).toBe(0o700);
    }
    expect(load()).toEqual({ cache: 'used', value: 'a/b function true' });
  });

  it('ignores a cache V8 rejects (damaged, or of another source) and writes a good one in its place', () => {
    load();
    const [file] = cacheFiles();
    writeFileSync(join(cache, file!), Buffer.alloc(4096, 7));
    expect(load()).toEqual({ cache: 'rejected', value: 'a/b function true' });
    expect(load()).toEqual({ cache: 'used', value: 'a/b function true' });
  });

  it('does not run the cache of an earlier script of the same length (V8 checks only the length)', () => {
    load();
    expect(load()).toEqual({ cache: 'used', value: 'a/b function true' });
    writeFileSync(join(dir, 'core.script.js'), script.replace("join('a', 'b')", "join('a', 'c')"));
    expect(load()).toEqual({ cache: 'missing', value: 'a/c function true' });
    expect(load()).toEqual({ cache: 'used', value: 'a/c function true' });
  });

  it('writes the cache again when V8 rejects it for other V8 flags', () => {
    load();
    expect(load(cache, {}, ['--max-semi-space-size=2'])).toEqual({ cache: 'rejected', value: 'a/b function true' });
    expect(load(cache, {}, ['--max-semi-space-size=2'])).toEqual({ cache: 'used', value: 'a/b function true' });
    // (Node's own options do not change V8's check.)
    expect(load(cache, {}, ['--max-semi-space-size=2', '--no-warnings'])).toEqual({ cache: 'used', value: 'a/b function true' });
    expect(cacheFiles()).toHaveLength(1);
  });

  it.runIf(process.platform !== 'win32')('uses no cache through a link, nor in a folder others can write, and writes none there', () => {
    load();
    const [file] = cacheFiles();
    copyFileSync(join(cache, file!), join(dir, 'planted.bin'));
    unlinkSync(join(cache, file!));
    symlinkSync(join(dir, 'planted.bin'), join(cache, file!));
    expect(load().cache).toBe('missing');
    unlinkSync(join(cache, file!));
    load();
    chmodSync(cache, 0o777);
    // (No cache to be had: the ES module build runs, as V8 compiles it faster than the script.)
    expect(load()).toEqual({ cache: 'off', value: 'a/b function module' });
    unlinkSync(join(cache, file!));
    expect(load().cache).toBe('off');
    expect(cacheFiles()).toEqual([]);
  });

  it.runIf(process.platform !== 'win32')('uses and writes no cache in a folder reached through a link', () => {
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'linked'));
    const throughLink = join(dir, 'linked', 'cache');
    mkdirSync(join(dir, 'real', 'cache'), { recursive: true });
    expect(load(throughLink)).toEqual({ cache: 'off', value: 'a/b function module' });
    expect(readdirSync(join(dir, 'real', 'cache'))).toEqual([]);
    load(join(dir, 'real', 'cache'));
    expect(readdirSync(join(dir, 'real', 'cache'))).toHaveLength(1);
    expect(load(throughLink).cache).toBe('off');
    // (A trailing or doubled slash would make lstat follow the link.)
    expect(load(`${join(dir, 'linked')}/`).cache).toBe('off');
    expect(load(`${join(dir, 'linked')}//cache`).cache).toBe('off');
  });

  it.runIf(process.getuid?.() === 0)("as root, makes no cache folder in another user's folder", () => {
    mkdirSync(join(dir, 'home'));
    chownSync(join(dir, 'home'), 65534, 65534);
    expect(load(join(dir, 'home', '.cache')).cache).toBe('off');
    expect(readdirSync(join(dir, 'home'))).toEqual([]);
  });

  it('touches a cache in use that was written more than a day ago, so that cleaning leaves it', () => {
    load();
    const [file] = cacheFiles();
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    utimesSync(join(cache, file!), twoDaysAgo, twoDaysAgo);
    expect(load().cache).toBe('used');
    expect(Date.now() - statSync(join(cache, file!)).mtimeMs).toBeLessThan(3600 * 1000);
  });

  it.runIf(process.getuid?.() === 0)("does not run a cache file another user owns (code planted in the cache's folder)", () => {
    load();
    const [file] = cacheFiles();
    chownSync(join(cache, file!), 65534, 65534);
    expect(load()).toEqual({ cache: 'missing', value: 'a/b function true' });
    expect(statSync(join(cache, file!)).uid).toBe(0);
  });

  it('writes the cache a second after the load in a process that lives on, not at its exit only', () => {
    expect(load(cache, { TEST_LINGER: '1500' })).toEqual({ cache: 'missing', value: 'a/b function true', writtenBeforeExit: true });
    expect(load(cache, { TEST_LINGER: '1500' })).toEqual({ cache: 'used', value: 'a/b function true', writtenBeforeExit: true });
  });

  it("removes the same package's caches not written for a week when it writes one, and no other file", () => {
    const key = (digit: string) => `pkg-${digit.repeat(20)}`;
    const suffix = `-${process.arch}-${process.versions.v8}-0123abcd.bin`;
    mkdirSync(cache);
    const weekAgo = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    for (const [name, old] of [[`${key('1')}${suffix}`, true], [`${key('2')}${suffix}`, false], [`${key('5')}${suffix}.1234-abc.tmp`, true], [`other-${'3'.repeat(20)}${suffix}`, true], ['pkg-notes.txt', true]] as const) {
      writeFileSync(join(cache, name), 'x');
      if (old) utimesSync(join(cache, name), weekAgo, weekAgo);
    }
    expect(load(cache, { TEST_KEY: key('4') })).toEqual({ cache: 'missing', value: 'a/b function true' });
    const written = cacheFiles().find((name) => name.startsWith(key('4')));
    expect(written).toMatch(/-[0-9a-f]{8}\.bin$/);
    expect(cacheFiles().sort()).toEqual([`${key('2')}${suffix}`, written, `other-${'3'.repeat(20)}${suffix}`, 'pkg-notes.txt'].sort());
  });

  it('runs without a cache where none is wanted or none can be written', () => {
    expect(load('none')).toEqual({ cache: 'off', value: 'a/b function module' });
    writeFileSync(cache, 'a file where the folder would be');
    expect(load()).toEqual({ cache: 'off', value: 'a/b function module' });
    mkdirSync(join(dir, 'read-only'), { mode: 0o500 });
    // (Root writes where it likes: a folder it cannot make is one under a file.)
    expect(load(process.getuid?.() === 0 ? join(cache, 'under-a-file') : join(dir, 'read-only', 'cache')).cache).toBe('off');
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('runs the ES module build where the script cannot be read, and where source maps are on', () => {
    expect(load(cache, {}, ['--enable-source-maps'])).toEqual({ cache: 'module', value: 'a/b function module' });
    expect(cacheFiles()).toEqual([]);
    rmSync(join(dir, 'core.script.js'));
    expect(load()).toEqual({ cache: 'module', value: 'a/b function module' });
    expect(cacheFiles()).toEqual([]);
  });
});

describe('compileCacheFolder', () => {
  it('is the user cache folder by default, MEMMAPFS_COMPILE_CACHE when it is an absolute path, and none when that says off or is relative', () => {
    if (process.platform === 'linux') expect(compileCacheFolder({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/memmapfs/compile-cache');
    expect(compileCacheFolder({})).toMatch(/memmapfs[\\/]compile-cache$/);
    expect(compileCacheFolder({ MEMMAPFS_COMPILE_CACHE: '/somewhere/else' })).toBe('/somewhere/else');
    for (const off of ['off', '0', 'false', 'OFF', 'relative/folder']) expect(compileCacheFolder({ MEMMAPFS_COMPILE_CACHE: off })).toBeUndefined();
    if (process.platform === 'linux') expect(compileCacheFolder({ XDG_CACHE_HOME: 'relative' })).toMatch(/[\\/]\.cache[\\/]memmapfs[\\/]compile-cache$/);
  });
});
