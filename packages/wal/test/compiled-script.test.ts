import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
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
  dir = mkdtempSync(join(tmpdir(), 'memmapfs-compiled-'));
  cache = join(dir, 'cache');
  writeFileSync(join(dir, 'core.script.js'), script);
  writeFileSync(
    join(dir, 'load.mjs'),
    `import * as path from 'node:path';
import { loadCompiledScript } from ${JSON.stringify(pathToFileURL(loader).href)};
const folder = process.env.TEST_CACHE === 'none' ? undefined : process.env.TEST_CACHE;
const loaded = loadCompiledScript({ url: new URL('./core.script.js', import.meta.url), key: process.env.TEST_KEY ?? 'core-test', modules: { 'node:path': path }, importMeta: import.meta, importModule: (s) => import(s), cacheFolder: folder });
const value = loaded === undefined ? null : await loaded.exports.run();
// (TEST_LINGER: the process lives on that long, then says whether its cache was written meanwhile.)
if (process.env.TEST_LINGER) await new Promise((resolve) => setTimeout(resolve, Number(process.env.TEST_LINGER)));
const { existsSync } = await import('node:fs');
console.log(JSON.stringify(loaded === undefined ? null : { cache: loaded.cache, value, ...(process.env.TEST_LINGER ? { writtenBeforeExit: existsSync(loaded.cacheFile) } : {}) }));`,
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Loads the script in a fresh process (the cache is written at its exit) and returns what it reported. */
function load(folder: string | 'none' = cache, env: Record<string, string> = {}): { cache: string; value: string; writtenBeforeExit?: boolean } | null {
  const result = spawnSync(process.execPath, ['--import', tsx, join(dir, 'load.mjs')], { encoding: 'utf8', env: { ...process.env, TEST_CACHE: folder, ...env } });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim()) as { cache: string; value: string; writtenBeforeExit?: boolean } | null;
}

const cacheFiles = () => (existsSync(cache) ? readdirSync(cache) : []);

describe("loading a package's code from a script with a code cache", () => {
  it('writes a cache at the first load, of this user only, and uses it at the next', () => {
    expect(load()).toEqual({ cache: 'missing', value: 'a/b function true' });
    expect(cacheFiles()).toHaveLength(1);
    const [file] = cacheFiles();
    expect(file).toMatch(new RegExp(`^core-test-${process.arch}-v8-.+\\.bin$`));
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
    writeFileSync(join(dir, 'core.script.js'), script.replace("join('a', 'b')", "join('a', 'bc')"));
    expect(load()).toEqual({ cache: 'rejected', value: 'a/bc function true' });
    expect(load()).toEqual({ cache: 'used', value: 'a/bc function true' });
    expect(cacheFiles()).toHaveLength(1);
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
    const suffix = `-${process.arch}-v8-${process.versions.v8}.bin`;
    mkdirSync(cache);
    const weekAgo = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    for (const [name, old] of [[`${key('1')}${suffix}`, true], [`${key('2')}${suffix}`, false], [`other-${'3'.repeat(20)}${suffix}`, true], ['pkg-notes.txt', true]] as const) {
      writeFileSync(join(cache, name), 'x');
      if (old) utimesSync(join(cache, name), weekAgo, weekAgo);
    }
    expect(load(cache, { TEST_KEY: key('4') })).toEqual({ cache: 'missing', value: 'a/b function true' });
    expect(cacheFiles().sort()).toEqual([`${key('2')}${suffix}`, `${key('4')}${suffix}`, `other-${'3'.repeat(20)}${suffix}`, 'pkg-notes.txt'].sort());
  });

  it('runs without a cache where none is wanted or none can be written', () => {
    expect(load('none')).toEqual({ cache: 'off', value: 'a/b function true' });
    writeFileSync(cache, 'a file where the folder would be');
    expect(load()).toEqual({ cache: 'missing', value: 'a/b function true' });
    expect(load()).toEqual({ cache: 'missing', value: 'a/b function true' });
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('returns nothing when the script file cannot be read, for the entry point to import the ES module build instead', () => {
    rmSync(join(dir, 'core.script.js'));
    expect(load()).toBeNull();
    expect(cacheFiles()).toEqual([]);
  });
});

describe('compileCacheFolder', () => {
  it('is the user cache folder by default, MEMMAPFS_COMPILE_CACHE when set, and none when that says off', () => {
    if (process.platform === 'linux') expect(compileCacheFolder({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/memmapfs/compile-cache');
    expect(compileCacheFolder({})).toMatch(/memmapfs[\\/]compile-cache$/);
    expect(compileCacheFolder({ MEMMAPFS_COMPILE_CACHE: '/somewhere/else' })).toBe('/somewhere/else');
    for (const off of ['off', '0', 'false', 'OFF']) expect(compileCacheFolder({ MEMMAPFS_COMPILE_CACHE: off })).toBeUndefined();
  });
});
