// Bundles a package's compiled `dist/index.js` (tsc's output, one module per source file) into one
// module, `dist/index.module.js`: opening a store loads a few dozen modules fewer, and each costs the ESM
// loader a resolution, a read and a compile. The same code goes into `dist/index.script.js`, which the
// new entry point `dist/index.js` runs with V8's code cache (see writeCachedScript below). Dependencies
// stay external; the declaration files are tsc's. Node's built-in modules are taken with
// `process.getBuiltinModule` (see `builtinsWithoutFacade`). Run from a package's folder after `tsc`.
//
//   node bundle-dist.mjs [--inline SPECIFIER=PACKAGE/FILE]… [--worker dist/FILE.js]…
//
// `--worker` bundles another of tsc's modules on its own, in place, and keeps it: the script of a worker
// thread the package starts (`new Worker(new URL('./FILE.js', import.meta.url))`), which must not load
// the whole package.
//
// `--inline` builds a dependency's module into the bundle instead: an import of SPECIFIER becomes FILE
// of PACKAGE (a devDependency of the package), with what it imports in turn; the package's license is
// put at the top of the bundle, and the files of it that the source map names are copied to
// `dist/inlined/PACKAGE/` with its license, where the map then finds them.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decode, encode } from '@jridgewell/sourcemap-codec';
import { build } from 'esbuild';

const { values } = parseArgs({ options: { inline: { type: 'string', multiple: true, default: [] }, worker: { type: 'string', multiple: true, default: [] } } });
for (const worker of values.worker) {
  if (!/^dist\/[\w./-]+\.js$/.test(worker) || !existsSync(worker)) throw new Error(`--worker ${worker}: expected one of tsc's modules in dist/, e.g. dist/merge-worker.js`);
}
const alias = {};
const notices = [];
/** The folders of the inlined packages, by name. */
const inlined = new Map();
for (const option of values.inline) {
  const match = /^([^=]+)=((?:@[^/]+\/)?[^/]+)\/(.+)$/.exec(option);
  if (!match) throw new Error(`--inline ${option}: expected SPECIFIER=PACKAGE/FILE, e.g. msgpackr/pack=msgpackr/pack.js`);
  const [, specifier, pkg, file] = match;
  const folder = packageFolder(pkg);
  alias[specifier] = join(folder, file);
  inlined.set(pkg, folder);
  const { version } = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
  notices.push(`${pkg} ${version}, built into this file:\n\n${readFileSync(join(folder, 'LICENSE'), 'utf8').trim().replaceAll('*/', '* /')}`);
}

/** The folder of installed package `pkg`, as Node would find it from here (its package.json may not be exported). */
function packageFolder(pkg) {
  for (let dir = resolve('.'); ; dir = dirname(dir)) {
    const folder = join(dir, 'node_modules', pkg);
    if (existsSync(join(folder, 'package.json'))) return realpathSync(folder);
    if (dirname(dir) === dir) throw new Error(`--inline: ${pkg} is not installed (add it to the package's devDependencies)`);
  }
}

/**
 * Node's own modules taken with `process.getBuiltinModule` instead of `import`. An ES module import
 * of a built-in makes Node build its ES module facade, which reads every export: `node:fs`'s lazy
 * `promises`, `ReadStream` and `WriteStream` load the whole streams stack, `node:module`'s its source
 * maps, `node:util`'s its argument parser. That is about 5 ms of every open, for modules the store never
 * uses. Each built-in becomes a module of one `const` per export, pure, so the bundle keeps the exports
 * it reads and reads no others.
 */
const builtinsWithoutFacade = {
  name: 'builtins-without-facade',
  setup(bundler) {
    const builtins = new Set(builtinModules.filter((name) => !name.startsWith('_')));
    const requireBuiltin = createRequire(import.meta.url);
    bundler.onResolve({ filter: /^[a-z0-9_/:]+$/ }, ({ path }) => {
      const name = path.replace(/^node:/, '');
      return builtins.has(name) ? { path: `node:${name}`, namespace: 'builtin' } : undefined;
    });
    bundler.onLoad({ filter: /.*/, namespace: 'builtin' }, ({ path }) => {
      const names = Object.keys(requireBuiltin(path)).filter((name) => /^[A-Za-z_$][\w$]*$/.test(name) && name !== 'default');
      const contents = [
        // (The check in the expression: esbuild keeps it with the first export read, as a statement it would drop.)
        `const builtin = typeof process.getBuiltinModule === 'function' ? process.getBuiltinModule(${JSON.stringify(path)}) : (() => { throw new Error(\`This package needs Node.js 20.16 or later (process.getBuiltinModule); this is Node.js \${process.version}.\`); })();`,
        'export default builtin;',
        ...names.map((name) => `export const ${name} = /* @__PURE__ */ (() => builtin.${name})();`),
      ];
      return { contents: contents.join('\n'), loader: 'js' };
    });
  },
};

const common = {
  entryPoints: ['dist/index.js'],
  plugins: [builtinsWithoutFacade],
  bundle: true,
  platform: 'node',
  target: 'node20',
  packages: 'external',
  alias,
  ...(notices.length > 0 ? { banner: { js: `/*!\n${notices.join('\n\n')}\n*/` } } : {}),
  sourcemap: true,
  logLevel: 'warning',
  // Whitespace and comments out, names kept (stack traces read as before): every process holds each
  // module's source as a string (a comment with one non-Latin-1 character made core's 303 KB a 605 KB
  // two-byte string).
  minifyWhitespace: true,
  minifySyntax: true,
  // …in lines of a readable length: Node prints the source line of an uncaught error, which one line
  // per module made a hundred kilobytes of code on the user's terminal.
  lineLimit: 160,
};
const esm = await build({ ...common, outfile: 'dist/index.module.js', format: 'esm', metafile: true });
if (/\bexport\s*\*\s*(as\s+\w+\s*)?from\b/.test(readFileSync('dist/index.module.js', 'utf8'))) {
  // (The entry point names each export; one passed on whole from another package would be lost.)
  throw new Error('dist/index.module.js re-exports a whole module (export * from): name its exports in the source');
}
await writeCachedScript(esm.metafile.outputs['dist/index.module.js'].exports);
for (const worker of values.worker) {
  await build({ ...common, entryPoints: [worker], outfile: worker, allowOverwrite: true, format: 'esm' });
}

/**
 * The package's code twice: `dist/index.module.js`, the ES module bundle above, and `dist/index.script.js`,
 * the same as one function expression that `compiled-script.ts` (of @memmapfs/wal, built into each entry
 * point) runs with V8's code cache; `dist/index.js` is the entry point that runs it. Node 20 keeps no
 * compile cache for ES modules. The script gets its modules, `import.meta` and `import()` from the entry
 * point: a script compiled from a cache cannot import, so a package that imports at run time does it
 * through a module `import-module.js`, which is replaced by a call of the entry point's. Bundlers take
 * `index.module.js` (package.json's `module` condition, which Node does not use).
 */
async function writeCachedScript(exportNames) {
  const parameters = ['require', 'module', 'exports', '__memmapfsImportMeta', '__memmapfsImport'];
  const script = await build({
    ...common,
    outfile: 'dist/index.script.js',
    format: 'cjs',
    metafile: true,
    define: { 'import.meta': '__memmapfsImportMeta' },
    banner: { js: `${common.banner?.js ?? ''}(function (${parameters.join(', ')}) {'use strict';` },
    footer: { js: '})' },
    plugins: [
      ...common.plugins,
      {
        name: 'import-from-entry-point',
        setup(builder) {
          builder.onLoad({ filter: /[\\/]import-module\.js$/ }, () => ({ contents: 'export const importModule = (specifier) => __memmapfsImport(specifier);', loader: 'js' }));
        },
      },
    ],
  });
  const source = readFileSync('dist/index.script.js', 'utf8');
  // (The loader reads the script as Latin-1, which is faster than UTF-8 and the same for ASCII: esbuild's default charset.)
  if (/[^\x00-\x7f]/.test(source)) throw new Error('dist/index.script.js is not ASCII: leave esbuild its default charset');
  if (/\bimport\s*\(/.test(source.replaceAll('__memmapfsImport(', ''))) throw new Error('dist/index.script.js calls import(), which a script compiled from a cache cannot: import through a module import-module.js');
  const externals = script.metafile.outputs['dist/index.script.js'].imports.filter((i) => i.external).map((i) => i.path);
  // (The entry point hands the script the other packages only: a built-in must come through process.getBuiltinModule.)
  const builtinRequired = externals.filter((path) => path.startsWith('node:') || builtinModules.includes(path));
  if (builtinRequired.length > 0) throw new Error(`dist/index.script.js requires ${builtinRequired.join(', ')}: the builtins-without-facade plugin missed it`);
  // (esbuild's CommonJS form of a default import of another package reads the namespace, not its default export.)
  if (/__toESM\(require\(/.test(source)) throw new Error('dist/index.script.js imports a default export or a namespace of another package: import names from it');
  const named = exportNames.filter((name) => name !== 'default');
  const modules = [...new Set(externals)].sort();
  const name = JSON.parse(readFileSync('package.json', 'utf8')).name.replace(/^@[^/]+\//, '');
  const key = `${name}-${createHash('sha256').update(source).digest('hex').slice(0, 20)}`;
  const entry = resolve('dist/index.entry.mjs');
  writeFileSync(
    entry,
    [
      ...modules.map((path, i) => `import * as m${i} from ${JSON.stringify(path)};`),
      `import { loadCompiledScript } from ${JSON.stringify(fileURLToPath(new URL('../packages/wal/src/compiled-script.ts', import.meta.url)))};`,
      `const modules = { ${modules.map((path, i) => `${JSON.stringify(path)}: m${i}`).join(', ')} };`,
      `const code = loadCompiledScript({ url: new URL('./index.script.js', import.meta.url), moduleUrl: new URL('./index.module.js', import.meta.url), key: ${JSON.stringify(key)}, modules, importMeta: import.meta, importModule: (specifier) => import(specifier) }).exports;`,
      ...(exportNames.includes('default') ? ['export default code.default;'] : []),
      ...(named.length > 0 ? [`export const { ${named.join(', ')} } = code;`] : []),
      '',
    ].join('\n'),
  );
  try {
    await build({
      entryPoints: [entry],
      plugins: [builtinsWithoutFacade],
      outfile: 'dist/index.js',
      allowOverwrite: true,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      logLevel: 'warning',
      minifyWhitespace: true,
      minifySyntax: true,
      lineLimit: 160,
      banner: { js: "// The entry point, written by scripts/bundle-dist.mjs: runs index.script.js with V8's code cache kept between\n// processes (index.module.js, the same code as an ES module, where source maps are on or no cache can be kept)." },
    });
  } finally {
    unlinkSync(entry);
  }
  // (tsc's map of its own index.js, which the entry point replaced.)
  rmSync('dist/index.js.map', { force: true });
}

// The built-ins' generated modules are no source of the package, nor the script's `import-module.js`,
// which the build replaced: their lines are left unmapped and the map names them no more (it names only
// files the package holds).
for (const mapPath of [resolve('dist/index.module.js.map'), resolve('dist/index.script.js.map'), ...values.worker.map((worker) => resolve(`${worker}.map`))]) {
  const map = JSON.parse(readFileSync(mapPath, 'utf8'));
  const replaced = (source) => mapPath.endsWith('index.script.js.map') && /(^|[\\/])import-module\.js$/.test(source);
  const generated = map.sources.map((source) => source.startsWith('builtin:') || replaced(source));
  if (generated.includes(true)) {
    const newIndex = [];
    let kept = 0;
    for (const isGenerated of generated) newIndex.push(isGenerated ? -1 : kept++);
    const mappings = decode(map.mappings).map((line) =>
      line.flatMap((segment) => {
        if (segment.length === 1) return [segment];
        const source = newIndex[segment[1]];
        // (A generated column with no source ends the segment before it, as a mapped one would.)
        return source < 0 ? [[segment[0]]] : [[segment[0], source, ...segment.slice(2)]];
      }),
    );
    map.sources = map.sources.filter((_, index) => !generated[index]);
    if (map.sourcesContent) map.sourcesContent = map.sourcesContent.filter((_, index) => !generated[index]);
    map.mappings = encode(mappings);
    writeFileSync(mapPath, JSON.stringify(map));
  }
}

// The map names the inlined package's files where they were installed: it is given copies in dist/.
for (const mapPath of inlined.size > 0 ? [resolve('dist/index.module.js.map'), resolve('dist/index.script.js.map'), ...values.worker.map((worker) => resolve(`${worker}.map`))] : []) {
  const map = JSON.parse(readFileSync(mapPath, 'utf8'));
  map.sources = map.sources.map((source) => {
    const path = resolve(dirname(mapPath), map.sourceRoot ?? '', source);
    for (const [pkg, folder] of inlined) {
      if (!path.startsWith(`${folder}/`)) continue;
      const copy = resolve('dist/inlined', pkg, relative(folder, path));
      mkdirSync(dirname(copy), { recursive: true });
      copyFileSync(path, copy);
      copyFileSync(join(folder, 'LICENSE'), resolve('dist/inlined', pkg, 'LICENSE'));
      return relative(resolve(dirname(mapPath), map.sourceRoot ?? ''), copy);
    }
    return source;
  });
  writeFileSync(mapPath, JSON.stringify(map));
}

// tsc's one module per source file, and its maps: built into the bundles above, and imported by nothing
// now (an install would unpack a quarter of the package for nothing). Its declaration files stay, and so
// do the package's bins (a bin imports the entry point).
const manifest = JSON.parse(readFileSync('package.json', 'utf8'));
const bins = new Set(Object.values(typeof manifest.bin === 'string' ? { bin: manifest.bin } : (manifest.bin ?? {})).map((bin) => relative('dist', bin)));
const bundles = new Set(['index.js', 'index.module.js', 'index.script.js', ...values.worker.map((worker) => relative('dist', worker))]);
for (const file of readdirSync('dist', { recursive: true })) {
  const module = file.replace(/\.map$/, '');
  if (!module.endsWith('.js') || bundles.has(module) || bins.has(module) || file.split(/[\\/]/)[0] === 'inlined') continue;
  rmSync(join('dist', file));
}
