import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';

// What a user of the published packages meets: every package is built from a copy of this workspace
// (no `dist` carried over), packed with pnpm as a release packs it, served by a registry on 127.0.0.1
// (the `@memmapfs` scope only; everything else comes from the usual registry) and installed with npm
// into empty projects: once where no native addon can build, once where it can, the CLI globally, and
// the MCP server and the LangGraph adapter each alone with what their READMEs tell a user to install.

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const smokeProgram = join(here, 'smoke.mjs');
const uncaughtProgram = join(here, 'uncaught.mjs');
const openModulesProgram = join(here, 'open-modules.mjs');
/** Speaks to the MCP server's bin with the SDK's client. */
const mcpClientProgram = join(here, 'mcp-client.mjs');
/** Runs a LangGraph graph with `MemMapSaver` and uses a `MemMapStore`. */
const langgraphProgram = join(here, 'langgraph-smoke.mjs');
const MINUTES = 60_000;
/** The code of the warning `@memmapfs/blocks` gives once when `reader: 'auto'` cannot map. */
const FALLBACK_WARNING = '[MEMMAPFS_MMAP_UNAVAILABLE]';
/** The optional native dependency that maps chunk files. */
const MMAP_PACKAGE = '@riaskov/mmap-io';

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end (never throws for a non-zero exit); asynchronous, so the registry below keeps serving. */
function run(command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeout?: number }): Promise<Result> {
  return new Promise((done) => {
    execFile(command, args, { cwd: options.cwd, env: options.env, timeout: options.timeout ?? 3 * MINUTES, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      done({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const tail = (result: Result, lines = 40): string => `exit ${result.code}\n${`${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-lines).join('\n')}`;

/** The variables a package manager sets for the scripts it runs: dropped, so each tool below starts as a user's would. */
function userEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_registry', 'npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig', 'npm_config_cafile', 'npm_config_strict_ssl', 'npm_config_proxy', 'npm_config_https_proxy', 'npm_config_noproxy']);
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const lower = key.toLowerCase();
    if (lower.startsWith('npm_') && !keep.has(lower)) continue;
    if (lower.startsWith('pnpm_') || lower.startsWith('vitest') || ['node_path', 'node_options', 'init_cwd'].includes(lower)) continue;
    env[key] = value;
  }
  // (Core's compile cache goes to a folder of this run, not the user's.)
  env.MEMMAPFS_COMPILE_CACHE = join(work, 'compile-cache');
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, command)));
}

/** Node's headers where this machine has them installed (else node-gyp downloads them as usual). */
const localHeaders = existsSync('/usr/include/node/node.h') ? '/usr' : undefined;
/** Whether node-gyp can build an addon here at all. */
const canBuildAddons = (onPath('c++') || onPath('g++')) && onPath('make') && (onPath('python3') || onPath('python'));

interface Packed {
  readonly name: string;
  readonly version: string;
  readonly file: string;
  readonly manifest: Record<string, unknown>;
  /** Where the tarball was unpacked (its `package/` folder). */
  readonly dir: string;
}

let work: string;
let packed: Packed[] = [];
let server: Server | undefined;
let registry: string;

async function copyWorkspace(to: string): Promise<void> {
  const skip = new Set(['node_modules', 'dist', '.git', '.turbo', 'coverage', 'bench-results', '.memmap_fs_root', '.sqlite-peer']);
  await cp(repo, to, {
    recursive: true,
    filter: (source) => !skip.has(basename(source)) && !source.endsWith('.tsbuildinfo'),
  });
}

/** Serves the packed tarballs under the `@memmapfs` scope as a registry would: a packument per package, then its tarball. */
async function serveTarballs(): Promise<string> {
  const token = randomBytes(8).toString('hex'); // a path no earlier run used: npm's cache never answers for it
  const byName = new Map(packed.map((pkg) => [pkg.name, pkg]));
  const byFile = new Map(packed.map((pkg) => [basename(pkg.file), pkg]));
  let base = '';
  server = createServer((request, response) => {
    const path = decodeURIComponent((request.url ?? '').split('?')[0] ?? '');
    const prefix = `/${token}/`;
    const tarball = path.startsWith(`${prefix}-/`) ? byFile.get(path.slice(prefix.length + 2)) : undefined;
    if (tarball) {
      response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(tarball.file));
      return;
    }
    const pkg = path.startsWith(prefix) ? byName.get(path.slice(prefix.length)) : undefined;
    if (!pkg) {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const bytes = readFileSync(pkg.file);
    const dist = {
      tarball: `${base}-/${basename(pkg.file)}`,
      integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
      shasum: createHash('sha1').update(bytes).digest('hex'),
    };
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      name: pkg.name,
      'dist-tags': { latest: pkg.version },
      versions: { [pkg.version]: { ...pkg.manifest, _id: `${pkg.name}@${pkg.version}`, dist } },
    }));
  });
  await new Promise<void>((listening) => server!.listen(0, '127.0.0.1', listening));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the registry has no port');
  base = `http://127.0.0.1:${address.port}/${token}/`;
  return base;
}

/**
 * npm, as a user runs it, with the `@memmapfs` scope served here; install scripts' output is kept (to
 * show a build failing). Five minutes: native builds run side by side here, on a machine that may be busy.
 */
function npm(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Result> {
  return run('npm', [...args, `--@memmapfs:registry=${registry}`, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'], { cwd, env, timeout: 5 * MINUTES });
}

/** The folders a project's install holds `name` in: more than one is two copies (instanceof and declaration merging break). */
async function copiesOf(project: string, name: string): Promise<string[]> {
  const listing = await run('npm', ['ls', name, '--all', '--parseable'], { cwd: project, env: userEnv(), timeout: MINUTES });
  return [...new Set(listing.stdout.split('\n').map((line) => line.trim()).filter((line) => line !== ''))];
}

/**
 * An environment for installing: the binding is built from source (no prebuilt download is tried,
 * on any machine), against Node's headers in `nodedir` (an empty folder: no build possible).
 */
function installEnv(nodedir: string | undefined): NodeJS.ProcessEnv {
  return userEnv({ npm_config_nodedir: nodedir, npm_config_build_from_source: MMAP_PACKAGE, npm_config_update_notifier: 'false' });
}

/** An environment for installing where no addon can build: Node's headers are an empty folder (and none is downloaded). */
async function installEnvWithoutHeaders(): Promise<NodeJS.ProcessEnv> {
  return installEnv(await mkdtemp(join(work, 'no-headers-')));
}

/** A project with nothing installed, holding `program` (run from there, so that it imports what the project installed). */
async function emptyProject(name: string, program = smokeProgram): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), `${JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
  await cp(program, join(dir, basename(program)));
  return dir;
}

const version = (name: string): string => {
  const pkg = packed.find((entry) => entry.name === name);
  if (!pkg) throw new Error(`${name} was not packed`);
  return pkg.version;
};

const spec = (name: string): string => `${name}@${version(name)}`;

/** core with the default search adapter and codec (blocks and wal come as core's dependencies). */
const librarySpecs = (): string[] => ['@memmapfs/core', '@memmapfs/search-segments', '@memmapfs/codec-msgpack'].map(spec);

/** `dependency` at the version a packed package names for it (in `field` of its manifest): what it is built and tested with. */
function pinnedBy(name: string, field: 'dependencies' | 'devDependencies', dependency: string): string {
  const range = (packed.find((entry) => entry.name === name)?.manifest[field] as Record<string, string> | undefined)?.[dependency];
  if (range === undefined) throw new Error(`${name} names no ${dependency} in its ${field}`);
  return `${dependency}@${range}`;
}

/** The last line of a program's output, which the programs here print as JSON. */
const lastJsonLine = (result: Result): Record<string, unknown> => JSON.parse(result.stdout.trim().split('\n').pop()!) as Record<string, unknown>;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

/** Runs `tasks` two at a time (the machine has two cores). */
async function twoAtATime<T>(tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'memmapfs-packed-'));
  const copy = join(work, 'workspace');
  await copyWorkspace(copy);
  const pnpm = (args: string[]) => run('sh', ['scripts/pnpm.sh', ...args], { cwd: copy, env: userEnv({ npm_config_nodedir: localHeaders }) });

  const install = await pnpm(['install', '--frozen-lockfile', '--prefer-offline']);
  if (install.code !== 0) throw new Error(`pnpm install failed in a copy of the workspace:\n${tail(install)}`);
  const build = await pnpm(['--filter', './packages/*', 'run', 'build']);
  if (build.code !== 0) throw new Error(`building the packages from a clean copy failed:\n${tail(build)}`);
  const tarballs = join(work, 'tarballs');
  const pack = await pnpm(['-r', '--filter', './packages/*', 'pack', '--pack-destination', tarballs]);
  if (pack.code !== 0) throw new Error(`pnpm pack failed:\n${tail(pack)}`);

  for (const file of (await readdir(tarballs)).filter((name) => name.endsWith('.tgz')).map((name) => join(tarballs, name))) {
    const dir = join(work, 'unpacked', basename(file, '.tgz'));
    await mkdir(dir, { recursive: true });
    execFileSync('tar', ['-xzf', file, '-C', dir]);
    const manifest = JSON.parse(await readFile(join(dir, 'package', 'package.json'), 'utf8')) as Record<string, unknown>;
    packed.push({ name: String(manifest.name), version: String(manifest.version), file, manifest, dir: join(dir, 'package') });
  }
  registry = await serveTarballs();
}, 4 * MINUTES);

afterAll(async () => {
  await new Promise((closed) => (server ? server.close(closed) : closed(undefined)));
  if (work) await rm(work, { recursive: true, force: true });
});

describe.concurrent('the packages as npm users install them', () => {
  it('packs every package with what it publishes: no workspace protocol or source-only exports, source maps that resolve, publint and attw clean', async ({ expect }) => {
    const packageDirs = (await readdir(join(repo, 'packages'), { withFileTypes: true })).filter((entry) => entry.isDirectory() && existsSync(join(repo, 'packages', entry.name, 'package.json')));
    const published = packageDirs.filter((entry) => JSON.parse(readFileSync(join(repo, 'packages', entry.name, 'package.json'), 'utf8')).private !== true);
    expect(packed.map((pkg) => pkg.name).sort()).toHaveLength(published.length);

    for (const pkg of packed) {
      const manifest = JSON.stringify(pkg.manifest);
      expect(manifest, pkg.name).not.toContain('workspace:');
      expect(manifest, pkg.name).not.toContain('dev-source');
      const files = await filesUnder(pkg.dir);
      expect(files.map((file) => relative(pkg.dir, file)), pkg.name).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'src/index.ts', 'README.md', 'LICENSE']));
      // A bundled package ships its bundles, and of tsc's modules only its bins': nothing imports the rest.
      if (files.some((file) => relative(pkg.dir, file) === 'dist/index.script.js')) {
        const bins = Object.values(typeof pkg.manifest.bin === 'string' ? { bin: pkg.manifest.bin } : ((pkg.manifest.bin as Record<string, string> | undefined) ?? {})).map((bin) => bin.replace(/^\.\//, ''));
        // (And the worker threads' scripts, bundled apart: the build's `--worker` arguments.)
        const workers = [...String((pkg.manifest.scripts as Record<string, string> | undefined)?.build ?? '').matchAll(/--worker (\S+)/g)].map((match) => match[1]!);
        const shipped = ['dist/index.js', 'dist/index.module.js', 'dist/index.script.js', ...bins, ...workers];
        const modules = files.map((file) => relative(pkg.dir, file)).filter((file) => /^dist\/.*\.js(\.map)?$/.test(file) && !file.startsWith('dist/inlined/'));
        expect(modules.filter((file) => !shipped.includes(file.replace(/\.map$/, ''))), pkg.name).toEqual([]);
      }
      const missing: string[] = [];
      for (const map of files.filter((file) => file.endsWith('.map'))) {
        const { sources, sourceRoot } = JSON.parse(await readFile(map, 'utf8')) as { sources: string[]; sourceRoot?: string };
        for (const source of sources) {
          const target = resolve(dirname(map), sourceRoot ?? '', source);
          if (!target.startsWith(pkg.dir) || !existsSync(target)) missing.push(`${relative(pkg.dir, map)} → ${source}`);
        }
      }
      expect(missing, `${pkg.name}: source and declaration maps name files the tarball holds`).toEqual([]);
    }

    // The codecs build their encoder and decoder into their one module: installing one installs nothing
    // else and runs no install script, and its module imports nothing outside Node.
    for (const name of ['@memmapfs/codec-msgpack', '@memmapfs/codec-cbor']) {
      const pkg = packed.find((entry) => entry.name === name)!;
      expect({ ...(pkg.manifest.dependencies as object), ...(pkg.manifest.optionalDependencies as object) }, name).toEqual({});
      for (const file of ['index.js', 'index.module.js']) {
        const imported = [...(await readFile(join(pkg.dir, 'dist', file), 'utf8')).matchAll(/(?:\bfrom|\bimport)\s*\(?\s*["']([^"']+)["']/g)].map((match) => match[1]);
        expect(imported.filter((specifier) => !specifier!.startsWith('node:') && !specifier!.startsWith('./')), `${name} ${file}`).toEqual([]);
      }
      // (The script form requires what its entry point hands it: Node's modules only.)
      const required = [...(await readFile(join(pkg.dir, 'dist', 'index.script.js'), 'utf8')).matchAll(/\brequire\(\s*["']([^"']+)["']/g)].map((match) => match[1]);
      expect(required.filter((specifier) => !specifier!.startsWith('node:')), name).toEqual([]);
    }

    const bin = (name: string) => join(repo, 'node_modules', '.bin', name);
    const lints = await twoAtATime(packed.flatMap((pkg) => [
      async () => ({ pkg: pkg.name, tool: 'publint', result: await run(bin('publint'), ['run', pkg.file, '--strict'], { cwd: work, env: userEnv() }) }),
      async () => ({ pkg: pkg.name, tool: 'attw', result: await run(bin('attw'), [pkg.file, '--profile', 'esm-only', '--ignore-rules', 'cjs-resolves-to-esm', '--no-color'], { cwd: work, env: userEnv() }) }),
    ]));
    const failed = lints.filter(({ result }) => result.code !== 0).map(({ pkg, tool, result }) => `${tool} ${pkg}:\n${tail(result, 30)}`);
    expect(failed).toEqual([]);
  }, 6 * MINUTES);

  it("installs where no native addon can build (Node's headers hidden): the binding's build fails, the install succeeds, and the store works with reader 'read', warning once", async ({ expect }) => {
    const project = await emptyProject('no-headers');
    const install = await npm(['install', ...librarySpecs()], project, await installEnvWithoutHeaders());
    expect(install.code, tail(install)).toBe(0);
    // The build was tried and failed (node-gyp found no headers and downloaded none), and npm dropped the optional binding.
    expect(`${install.stdout}\n${install.stderr}`).toContain('gyp ERR!');
    expect(existsSync(join(project, 'node_modules', ...MMAP_PACKAGE.split('/')))).toBe(false);
    expect(existsSync(join(project, 'node_modules', '@memmapfs', 'blocks', 'package.json'))).toBe(true);

    const smoke = await run(process.execPath, ['smoke.mjs', join(project, 'store')], { cwd: project, env: userEnv() });
    expect(smoke.code, tail(smoke)).toBe(0);
    const seen = lastJsonLine(smoke);
    expect(seen).toMatchObject({ reader: 'read', search: 'segments', codec: 'msgpack', memories: 2, hits: ['The user prefers dark mode'], reopened: 'The user prefers dark mode', again: ['Meeting notes: ship the packed-install test'] });
    expect(smoke.stderr.split(FALLBACK_WARNING).length - 1, smoke.stderr).toBe(1);
    // (What brings mmap back: npm dropped the binding, so a rebuild would find nothing.)
    expect(smoke.stderr).toContain('run npm install again');

    // An error left uncaught: Node prints its message and the line of the library it came from, a line
    // of readable length (not a whole module's code on one line).
    await cp(uncaughtProgram, join(project, basename(uncaughtProgram)));
    await cp(openModulesProgram, join(project, basename(openModulesProgram)));
    // An open and a read load none of Node's modules that they do not use (the bundles take Node's
    // built-ins without their ES module facades, which load streams, perf_hooks and more).
    const open = await run(process.execPath, ['--no-warnings', 'open-modules.mjs', join(project, 'store')], { cwd: project, env: userEnv() });
    expect(open.code, tail(open)).toBe(0);
    expect(lastJsonLine(open)).toEqual({ read: 'The user prefers dark mode', loaded: [] });

    const uncaught = await run(process.execPath, ['uncaught.mjs', join(project, 'uncaught-store')], { cwd: project, env: userEnv() });
    expect(uncaught.code, tail(uncaught)).not.toBe(0);
    expect(uncaught.stderr).toContain('listMemories: limit must be an integer from 1 to 1000');
    expect(uncaught.stderr).toMatch(/node_modules\/@memmapfs\/core\/dist\/index\.script\.js:\d+/);
    const longest = Math.max(...uncaught.stderr.split('\n').map((line) => line.length));
    expect(longest, uncaught.stderr.slice(0, 2000)).toBeLessThan(400);

    // The packages ran from their scripts with a code cache, written at the first run's exit and used, not
    // written again, at the next; without core's script, its ES module build runs as well.
    const compileCache = join(work, 'compile-cache-no-headers');
    const smokeWith = (store: string) => run(process.execPath, ['smoke.mjs', join(project, store)], { cwd: project, env: userEnv({ MEMMAPFS_COMPILE_CACHE: compileCache }) });
    expect((await smokeWith('cached-1')).code).toBe(0);
    const cacheFiles = await readdir(compileCache);
    for (const name of ['core', 'wal', 'blocks', 'codec-msgpack', 'search-segments']) expect(cacheFiles, name).toContainEqual(expect.stringMatching(new RegExp(`^${name}-[0-9a-f]{20}-.+\\.bin$`)));
    const written = await Promise.all(cacheFiles.map(async (file) => [file, (await stat(join(compileCache, file))).mtimeMs, (await stat(join(compileCache, file))).ino]));
    const cached = await smokeWith('cached-2');
    expect(cached.code, tail(cached)).toBe(0);
    expect(lastJsonLine(cached)).toMatchObject({ memories: 2, reopened: 'The user prefers dark mode' });
    const after = await Promise.all(cacheFiles.map(async (file) => [file, (await stat(join(compileCache, file))).mtimeMs, (await stat(join(compileCache, file))).ino]));
    expect(after).toEqual(written);
    expect((await readdir(compileCache)).sort()).toEqual([...cacheFiles].sort());
    await rm(join(project, 'node_modules', '@memmapfs', 'core', 'dist', 'index.script.js'));
    const uncached = await smokeWith('cached-3');
    expect(uncached.code, tail(uncached)).toBe(0);
    expect(lastJsonLine(uncached)).toMatchObject({ memories: 2, reopened: 'The user prefers dark mode' });
  }, 6 * MINUTES);

  it.skipIf(!canBuildAddons)("installs where addons build (Node's headers present): the store reads through mappings, with no warning", async ({ expect }) => {
    const project = await emptyProject('with-headers');
    const install = await npm(['install', ...librarySpecs()], project, installEnv(localHeaders));
    expect(install.code, tail(install)).toBe(0);
    expect(existsSync(join(project, 'node_modules', ...MMAP_PACKAGE.split('/'), 'package.json'))).toBe(true);

    const smoke = await run(process.execPath, ['smoke.mjs', join(project, 'store')], { cwd: project, env: userEnv() });
    expect(smoke.code, tail(smoke)).toBe(0);
    const seen = lastJsonLine(smoke);
    expect(seen).toMatchObject({ reader: 'mmap', search: 'segments', codec: 'msgpack', memories: 2, hits: ['The user prefers dark mode'], reopened: 'The user prefers dark mode' });
    expect(smoke.stderr).not.toContain(FALLBACK_WARNING);
  }, 6 * MINUTES);

  it('installs the CLI globally from its tarball, and it runs', async ({ expect }) => {
    const prefix = join(work, 'global');
    const install = await npm(['install', '--global', '--prefix', prefix, `@memmapfs/cli@${version('@memmapfs/cli')}`], work, installEnv(localHeaders));
    expect(install.code, tail(install)).toBe(0);
    const compileCache = join(work, 'compile-cache-cli');
    const memmapfs = (...args: string[]) => run(join(prefix, 'bin', 'memmapfs'), ['--root', join(work, 'cli-store'), ...args], { cwd: work, env: userEnv({ MEMMAPFS_COMPILE_CACHE: compileCache }) });

    const init = await memmapfs('init');
    expect(init.code, tail(init)).toBe(0);
    const append = await memmapfs('append', 'The user prefers dark mode', '--tag', 'preference');
    expect(append.code, tail(append)).toBe(0);
    const query = await memmapfs('query', 'dark mode', '--json');
    expect(query.code, tail(query)).toBe(0);
    expect(query.stdout).toContain('The user prefers dark mode');
    const stats = await memmapfs('stats', '--json');
    expect(stats.code, tail(stats)).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ memories: 1, reader: canBuildAddons ? 'mmap' : 'read' });
    // The CLI's own code ran from its script, as the packages' did: each wrote its code cache.
    const cacheFiles = await readdir(compileCache);
    for (const name of ['cli', 'core', 'wal', 'blocks']) expect(cacheFiles, name).toContainEqual(expect.stringMatching(new RegExp(`^${name}-[0-9a-f]{20}-.+\\.bin$`)));
  }, 6 * MINUTES);

  it('installs @memmapfs/mcp alone with core (and the MCP SDK, as a client program would), where no addon builds: its bin serves a store over stdio to the SDK client, a second server finds what the first remembered, and createMcpServer serves it from code', async ({ expect }) => {
    const project = await emptyProject('mcp', mcpClientProgram);
    const install = await npm(['install', spec('@memmapfs/mcp'), spec('@memmapfs/core'), pinnedBy('@memmapfs/mcp', 'dependencies', '@modelcontextprotocol/sdk')], project, await installEnvWithoutHeaders());
    expect(install.code, tail(install)).toBe(0);
    expect(await copiesOf(project, '@memmapfs/core'), 'one copy of core').toHaveLength(1);

    const bin = join(project, 'node_modules', '.bin', 'memmapfs-mcp');
    const versionRun = await run(bin, ['--version'], { cwd: project, env: userEnv(), timeout: MINUTES });
    expect(versionRun.code, tail(versionRun)).toBe(0);
    expect(versionRun.stdout.trim()).toBe(version('@memmapfs/mcp'));

    const client = await run(process.execPath, ['mcp-client.mjs', bin, join(project, 'store')], { cwd: project, env: userEnv(), timeout: 2 * MINUTES });
    expect(client.code, tail(client)).toBe(0);
    const seen = lastJsonLine(client);
    expect(seen).toMatchObject({
      server: { name: 'memmapfs', version: version('@memmapfs/mcp') },
      hits: ['The user prefers dark mode'],
      again: ['Meeting notes: ship the packed-install test'],
      reopened: 'The user prefers dark mode',
      fromCode: ['The user prefers dark mode'],
    });
    expect(seen.tools).toEqual(['forget', 'get_memory', 'get_state', 'kv_delete', 'kv_get', 'kv_list', 'kv_set', 'list_memories', 'recall', 'remember', 'update_memory', 'update_state']);
  }, 6 * MINUTES);

  it('installs @memmapfs/langgraph with core, its default adapters and LangGraph, as its README says, where no addon builds: no peer conflict, one copy of each shared package, and a graph keeps its thread in MemMapSaver while MemMapStore puts, gets and searches', async ({ expect }) => {
    const project = await emptyProject('langgraph', langgraphProgram);
    const langchain = ['@langchain/langgraph', '@langchain/core'].map((name) => pinnedBy('@memmapfs/langgraph', 'devDependencies', name));
    const install = await npm(['install', spec('@memmapfs/langgraph'), ...librarySpecs(), ...langchain], project, await installEnvWithoutHeaders());
    expect(install.code, tail(install)).toBe(0);
    expect(`${install.stdout}\n${install.stderr}`, 'npm resolved every peer dependency as declared').not.toContain('ERESOLVE');
    for (const shared of ['@memmapfs/core', '@langchain/core', '@langchain/langgraph-checkpoint']) {
      expect(await copiesOf(project, shared), `one copy of ${shared}`).toHaveLength(1);
    }

    const smoke = await run(process.execPath, ['langgraph-smoke.mjs', join(project, 'store')], { cwd: project, env: userEnv(), timeout: 2 * MINUTES });
    expect(smoke.code, tail(smoke)).toBe(0);
    const turns = ['hello', 'reply to hello', 'and again', 'reply to and again'];
    expect(lastJsonLine(smoke)).toEqual({
      first: turns.slice(0, 2),
      second: turns,
      third: [...turns, 'after reopening', 'reply to after reopening'],
      got: { text: 'drinks green tea', kind: 'preference' },
      found: [{ key: 'tea', namespace: ['user-42', 'memories'], value: { text: 'drinks green tea', kind: 'preference' } }],
      kept: { text: 'writes code in vim', kind: 'tool' },
    });
  }, 6 * MINUTES);
});
