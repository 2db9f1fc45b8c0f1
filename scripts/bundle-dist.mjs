// Bundles a package's compiled `dist/index.js` (tsc's output, one module per source file) into one
// module, in place: opening a store loads a few dozen modules fewer, and each costs the ESM loader a
// resolution, a read and a compile. Dependencies stay external; the declaration files are tsc's.
// Run from a package's folder after `tsc`.
//
//   node bundle-dist.mjs [--inline SPECIFIER=PACKAGE/FILE]…
//
// `--inline` builds a dependency's module into the bundle instead: an import of SPECIFIER becomes FILE
// of PACKAGE (a devDependency of the package), with what it imports in turn; the package's license is
// put at the top of the bundle, and the files of it that the source map names are copied to
// `dist/inlined/PACKAGE/` with its license, where the map then finds them.
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const { values } = parseArgs({ options: { inline: { type: 'string', multiple: true, default: [] }, 'cached-script': { type: 'boolean', default: false } } });
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

const cachedScript = values['cached-script'];
const common = {
  entryPoints: ['dist/index.js'],
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
const esm = await build({ ...common, outfile: cachedScript ? 'dist/core.js' : 'dist/index.js', allowOverwrite: true, format: 'esm', metafile: cachedScript });
if (cachedScript) await writeCachedScript(esm.metafile.outputs['dist/core.js'].exports);

/**
 * `--cached-script` (core): the same code also as `dist/index.script.js`, one function expression that
 * `src/compiled-script.ts` runs with V8's code cache, and `dist/index.js` an entry point that runs it
 * (or imports `dist/core.js`, the ES module bundle above, where the script cannot be read). The script
 * gets its modules, `import.meta` and `import()` from the entry point: a script compiled from a cache
 * cannot import, so `registry/import-module.js` is replaced by a call of the entry point's.
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
      {
        name: 'import-from-entry-point',
        setup(builder) {
          builder.onLoad({ filter: /[\\/]registry[\\/]import-module\.js$/ }, () => ({ contents: 'export const importModule = (specifier) => __memmapfsImport(specifier);', loader: 'js' }));
        },
      },
    ],
  });
  const source = readFileSync('dist/index.script.js', 'utf8');
  if (/\bimport\s*\(/.test(source.replaceAll('__memmapfsImport(', ''))) throw new Error('dist/index.script.js calls import(), which a script compiled from a cache cannot: route it through registry/import-module');
  if (!exportNames.length || exportNames.includes('default')) throw new Error(`unexpected exports of dist/core.js: ${exportNames.join(', ')}`);
  const modules = [...new Set(script.metafile.outputs['dist/index.script.js'].imports.filter((i) => i.external).map((i) => i.path))].sort();
  const key = `core-${createHash('sha256').update(source).digest('hex').slice(0, 20)}`;
  writeFileSync(
    'dist/index.js',
    [
      '// Core\'s entry point, written by scripts/bundle-dist.mjs: runs index.script.js with V8\'s code cache kept between',
      '// processes (src/compiled-script.ts), or imports core.js, the same code as an ES module, where that file cannot be',
      '// read (an application bundled with core in it).',
      ...modules.map((path, i) => `import * as m${i} from ${JSON.stringify(path)};`),
      "import { loadCompiledScript } from './compiled-script.js';",
      `const modules = { ${modules.map((path, i) => `${JSON.stringify(path)}: m${i}`).join(', ')} };`,
      `const loaded = loadCompiledScript({ url: new URL('./index.script.js', import.meta.url), key: ${JSON.stringify(key)}, modules, importMeta: import.meta, importModule: (specifier) => import(specifier) });`,
      "const core = loaded?.exports ?? (await import('./core.js'));",
      `export const { ${exportNames.join(', ')} } = core;`,
      '',
    ].join('\n'),
  );
}

// The map names the inlined package's files where they were installed: it is given copies in dist/.
if (inlined.size > 0) {
  const mapPath = resolve(cachedScript ? 'dist/core.js.map' : 'dist/index.js.map');
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
