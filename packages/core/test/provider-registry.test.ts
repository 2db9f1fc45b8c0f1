import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS, registerCodec, registerSearchProvider, resolveCodec, resolveSearchProvider } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

declare module '@memmapfs/core' {
  interface SearchProviders {
    'word-test': { minScore?: number };
  }
  interface Codecs {
    'v8-test': Record<string, never>;
  }
}

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

describe('provider registry', () => {
  it('opens a store with providers registered under their own names', async () => {
    let seenOptions: unknown;
    registerSearchProvider('word-test', (options) => {
      seenOptions = options;
      return new WordSearch();
    });
    registerCodec('v8-test', () => v8Codec());
    const fs = await MemMapFS.init(root, { search: { provider: 'word-test', options: { minScore: 0.5 } }, codec: 'v8-test' });
    expect(seenOptions).toEqual({ minScore: 0.5 });
    expect(fs.stats()).toMatchObject({ search: 'word-test', codec: 'v8-test' });
    await fs.appendMemory('registered by name');
    await fs.close();
    const again = await MemMapFS.init(root, { search: 'word-test' });
    expect(again.stats().codec).toBe('v8-test');
    expect(await again.queryMemory('registered')).toHaveLength(1);
    await again.close();
  });

  it('names the package to install when a built-in adapter is missing', async () => {
    // A real process whose folder has no adapters installed: resolution must fail the way it does for users.
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-no-adapters-'));
    const script = join(dir, 'open.mts');
    const core = fileURLToPath(new URL('../src/index.ts', import.meta.url));
    await writeFile(script, `
      const { resolveSearchProvider, resolveCodec, MemMapFS } = await import(${JSON.stringify(pathToFileURL(core).href)});
      const json = { name: 'json', encode: (v) => Buffer.from(JSON.stringify(v)), decode: (b) => JSON.parse(Buffer.from(b).toString()) };
      const none = { name: 'none', supports: { snapshot: false, prefix: false }, add() {}, remove() {}, search: () => [], clear() {} };
      const existing = await MemMapFS.init(${JSON.stringify(join('x', 'store'))}, { search: none, codec: json });
      await existing.appendMemory('a store that exists');
      await existing.close();
      const out = [];
      // (Opening an existing store loads a search adapter only when a query needs it, but says at once that it is missing.)
      // (Then a new store with the default codec, which an open starts loading before it needs it, and
      // one with the default search provider.)
      for (const attempt of [() => resolveSearchProvider('orama'), () => resolveCodec('cbor'), () => MemMapFS.init(${JSON.stringify(join('x', 'store'))}, { search: 'orama', codec: json }), () => MemMapFS.init(${JSON.stringify(join('x', 'fresh'))}, { search: none }), () => MemMapFS.init(${JSON.stringify(join('x', 'default-search'))}, { codec: json })]) {
        try { await attempt(); out.push('resolved'); } catch (e) { out.push({ code: e.code, message: e.message }); }
      }
      // (Nothing of a store is left where an open failed so: a second open with another codec would find one.)
      const { readdirSync } = await import('node:fs');
      out.push(['fresh', 'default-search'].map((name) => { try { return readdirSync(${JSON.stringify('x')} + '/' + name); } catch { return []; } }));
      console.log(JSON.stringify(out));
    `);
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const result = spawnSync(process.execPath, ['--conditions=dev-source', '--import', pathToFileURL(tsx).href, script], { cwd: dir, encoding: 'utf8', env: withoutNodePath() });
    await rm(dir, { recursive: true, force: true });
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as unknown[];
    const [search, codec, opened, fresh, defaultSearch] = out as Array<{ code: string; message: string }>;
    const leftBehind = out[5];
    expect(search).toMatchObject({ code: 'ADAPTER_NOT_INSTALLED' });
    expect(search!.message).toContain('npm install @memmapfs/search-orama');
    expect(codec).toMatchObject({ code: 'ADAPTER_NOT_INSTALLED' });
    expect(codec!.message).toContain('@memmapfs/codec-cbor');
    expect(opened).toMatchObject({ code: 'ADAPTER_NOT_INSTALLED' });
    expect(opened!.message).toContain('npm install @memmapfs/search-orama');
    expect(fresh).toMatchObject({ code: 'ADAPTER_NOT_INSTALLED' });
    expect(fresh!.message).toContain('npm install @memmapfs/codec-msgpack');
    // The default search provider is the on-disk index every process shares.
    expect(defaultSearch).toMatchObject({ code: 'ADAPTER_NOT_INSTALLED' });
    expect(defaultSearch!.message).toContain("'segments'");
    expect(defaultSearch!.message).toContain('npm install @memmapfs/search-segments');
    expect(leftBehind).toEqual([[], []]);
  });

  it('loads adapters installed beside the application, where core cannot see them, without a lookup that fails or CommonJS resolution', async () => {
    // The layout of pnpm and other strict installs: the application's node_modules holds the adapters,
    // core's folders do not. A lookup that fails costs Node a thrown error decorated with CommonJS hints
    // (milliseconds at every open), so the resolver hook below counts the failed ones.
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-app-adapters-'));
    const packages = fileURLToPath(new URL('../../', import.meta.url));
    await mkdir(join(dir, 'node_modules', '@memmapfs'), { recursive: true });
    for (const name of ['codec-msgpack', 'search-flexsearch']) await symlink(join(packages, name), join(dir, 'node_modules', '@memmapfs', name), 'dir');
    // Half installed: a package.json whose entry file is missing is not an adapter that is installed
    // (an existing store only checks its adapter at open, and loads it when a query needs it).
    await mkdir(join(dir, 'node_modules', '@memmapfs', 'search-orama'));
    await writeFile(join(dir, 'node_modules', '@memmapfs', 'search-orama', 'package.json'), JSON.stringify({ name: '@memmapfs/search-orama', type: 'module', exports: { '.': { default: './dist/index.js' } } }));
    const hooks = join(dir, 'count-failed-lookups.mjs');
    await writeFile(hooks, `
      export async function resolve(specifier, context, next) {
        try { return await next(specifier, context); } catch (error) {
          if (specifier.startsWith('@memmapfs/')) console.log('FAILED ' + specifier);
          throw error;
        }
      }
    `);
    const script = join(dir, 'open.mts');
    const core = fileURLToPath(new URL('../src/index.ts', import.meta.url));
    await writeFile(script, `
      import Module, { register } from 'node:module';
      register(${JSON.stringify(pathToFileURL(hooks).href)});
      // (Nor through CommonJS's resolution, the only use of its loader an open would make.)
      const resolveFilename = Module._resolveFilename;
      Module._resolveFilename = function (request, ...rest) {
        if (request.startsWith('@memmapfs/')) console.log('CJS ' + request);
        return resolveFilename.call(this, request, ...rest);
      };
      const { MemMapFS } = await import(${JSON.stringify(pathToFileURL(core).href)});
      const created = await MemMapFS.init('store', { search: 'flexsearch' });
      await created.appendMemory('adapters found beside the application');
      await created.close();
      const opened = await MemMapFS.init('store');
      const hits = await opened.queryMemory('beside');
      console.log('STATS ' + JSON.stringify({ ...opened.stats(), hits: hits.length }));
      await opened.close();
      const halfInstalled = await MemMapFS.init('store', { search: 'orama' }).then(() => 'opened', (error) => error.code);
      console.log('HALF ' + halfInstalled);
    `);
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const result = spawnSync(process.execPath, ['--conditions=dev-source', '--import', pathToFileURL(tsx).href, script], { cwd: dir, encoding: 'utf8', env: withoutNodePath() });
    await rm(dir, { recursive: true, force: true });
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(JSON.parse(lines.find((line) => line.startsWith('STATS '))!.slice(6))).toMatchObject({ codec: 'msgpack', search: 'flexsearch', hits: 1 });
    expect(lines).toContain('HALF ADAPTER_NOT_INSTALLED');
    // (The half-installed package is the one Node is asked about, and fails to find.)
    expect(lines.filter((line) => line.startsWith('FAILED ') || line.startsWith('CJS ')).filter((line) => !line.includes('search-orama'))).toEqual([]);
  });

  it('says which names exist when a name is unknown', async () => {
    const error = await resolveSearchProvider('elastic' as never).catch((e: unknown) => e);
    expect(MemMapError.is(error, 'PROVIDER_UNKNOWN')).toBe(true);
    expect((error as Error).message).toMatch(/'flexsearch'.*'orama'/);
  });

  it('wraps a failing factory as PROVIDER_FAILED and refuses bad names', async () => {
    registerSearchProvider('word-test', () => {
      throw new Error('backend offline');
    });
    const error = await resolveSearchProvider('word-test').catch((e: unknown) => e);
    expect(MemMapError.is(error, 'PROVIDER_FAILED')).toBe(true);
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(() => registerSearchProvider('' as never, () => new WordSearch())).toThrow(MemMapError);
    expect(() => registerCodec('has space' as never, () => v8Codec())).toThrow(MemMapError);
  });

  it('refuses a choice by name with a field it does not take (a misspelt options), saying which it takes', async () => {
    registerSearchProvider('word-test', () => new WordSearch());
    registerCodec('v8-test', () => v8Codec());
    const search = await MemMapFS.init(root, { search: { provider: 'word-test', option: { minScore: 2 } } as never }).catch((e: unknown) => e);
    expect(MemMapError.is(search, 'INVALID_ARGUMENT')).toBe(true);
    expect((search as Error).message).toMatch(/"option" is not one of the fields.*provider, options/);
    const codec = await resolveCodec({ codec: 'v8-test', opts: {} } as never).catch((e: unknown) => e);
    expect(MemMapError.is(codec, 'INVALID_ARGUMENT')).toBe(true);
    expect((codec as Error).message).toMatch(/"opts" is not one of the fields.*codec, options/);
  });

  it('refuses a codec name longer than a log header holds, before a store is made with it', async () => {
    const long = 'c'.repeat(25);
    expect(() => registerCodec(long as never, () => v8Codec())).toThrow(/1 to 24/);
    expect(() => registerCodec('c'.repeat(24) as never, () => v8Codec())).not.toThrow();
    const named = { ...v8Codec(), name: long };
    const error = await MemMapFS.init(root, { codec: named }).catch((e: unknown) => e);
    expect(MemMapError.is(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toMatch(/1 to 24/);
    await expect(stat(join(root, 'state.wal'))).rejects.toMatchObject({ code: 'ENOENT' });
    const unregistrable = await MemMapFS.init(root, { codec: { ...v8Codec(), name: 'json+tags@1' } }).catch((e: unknown) => e);
    expect(MemMapError.is(unregistrable, 'INVALID_ARGUMENT')).toBe(true);
    expect((unregistrable as Error).message).toMatch(/json\+tags@1/);
  });

  it('rejects objects that are not codecs', async () => {
    const error = await resolveCodec({ name: 'x', encode: () => new Uint8Array() } as never).catch((e: unknown) => e);
    expect(MemMapError.is(error, 'INVALID_ARGUMENT')).toBe(true);
  });
});

/** The environment without NODE_PATH, which package-manager shims set to their own hoisted folders. */
function withoutNodePath(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_PATH;
  return env;
}

describe('option types of the adapters chosen by name', () => {
  it('are checked by the compiler (a misspelt option does not compile) and reach the factory as given', async () => {
    const options: Parameters<typeof MemMapFS.init>[1][] = [
      { search: { provider: 'orama', options: { tolerance: 1, relevance: { k: 1.5 } } } },
      { search: { provider: 'flexsearch', options: { tokenize: 'forward', prefixWords: 0 } } },
      { search: { provider: 'segments', options: { flushAfter: 512 } } },
      { codec: { codec: 'cbor', options: { copyBinary: false } } },
      // @ts-expect-error: Orama's option is `tolerance`
      { search: { provider: 'orama', options: { tolerence: 1 } } },
      // @ts-expect-error: flexsearch has no such tokenizer
      { search: { provider: 'flexsearch', options: { tokenize: 'stemmed' } } },
      // @ts-expect-error: msgpack's copyBinary is a boolean
      { codec: { codec: 'msgpack', options: { copyBinary: 'yes' } } },
    ];
    expect(options).toHaveLength(7);
    // What the compiler lets through is what the adapter gets: a misspelt option at run time is refused by it.
    const got: unknown[] = [];
    registerSearchProvider('word-test', (given) => {
      got.push(given);
      return new WordSearch();
    });
    const fs = await MemMapFS.init(rootOf(), { codec: v8Codec(), search: { provider: 'word-test', options: { minScore: 2 } } });
    expect(got).toEqual([{ minScore: 2 }]);
    await fs.close();
  });

  it.each(['toString', 'constructor', '__proto__'])('a codec named %s (a name every object has) is PROVIDER_UNKNOWN, not a TypeError', async (codec) => {
    for (const option of [codec, { codec, options: { copyBinary: true } }]) {
      const refusal = await resolveCodec(option as never).then(() => undefined, (error: unknown) => error);
      expect(MemMapError.is(refusal, 'PROVIDER_UNKNOWN'), String(refusal)).toBe(true);
    }
  });

  it.each([
    ['a misspelt option', 'msgpack', { copyBinaryy: false }, /msgpack: "copyBinaryy" is not one of the options it takes \(copyBinary\)/],
    ['an option of the wrong type', 'cbor', { copyBinary: 'no' }, /cbor: copyBinary must be true or false; got "no"/],
    ['options that are not an object', 'msgpack', 'fast', /msgpack: options must be an object of copyBinary/],
  ])('a built-in codec chosen by name refuses %s with INVALID_ARGUMENT (it was ignored)', async (_, codec, options, message) => {
    const refusal = await resolveCodec({ codec, options } as never).then(() => undefined, (error: unknown) => error);
    expect(MemMapError.is(refusal, 'INVALID_ARGUMENT')).toBe(true);
    expect((refusal as Error).message).toMatch(message);
  });
});
