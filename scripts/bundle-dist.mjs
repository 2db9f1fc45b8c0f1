// Bundles a package's compiled `dist/index.js` (tsc's output, one module per source file) into one
// module, `dist/index.module.js`: opening a store loads a few dozen modules fewer, and each costs the ESM
// loader a resolution, a read and a compile. The same code goes into `dist/index.script.js`, which the
// new entry point `dist/index.js` runs with V8's code cache (see writeCachedScript below). Dependencies
// stay external; the declaration files are tsc's. Run from a package's folder after `tsc`.
//
//   node bundle-dist.mjs [--inline SPECIFIER=PACKAGE/FILE]…
//
// `--inline` builds a dependency's module into the bundle instead: an import of SPECIFIER becomes FILE
// of PACKAGE (a devDependency of the package), with what it imports in turn; the package's license is
// put at the top of the bundle, and the files of it that the source map names are copied to
// `dist/inlined/PACKAGE/` with its license, where the map then finds them.
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const { values } = parseArgs({ options: { inline: { type: 'string', multiple: true, default: [] } } });
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
const esm = await build({ ...common, outfile: 'dist/index.module.js', format: 'esm', metafile: true });
await writeCachedScript(esm.metafile.outputs['dist/index.module.js'].exports);

/**
 * The package's code twice: `dist/index.module.js`, the ES module bundle above, and `dist/index.script.js`,
 * the same as one function expression that `compiled-script.ts` (of @memmapfs/wal, built into each entry
 * point) runs with V8's code cache; `dist/index.js` is the entry point that runs the script, or imports
 * the module where the script cannot be read (an application bundled with the package in it). Node 20
 * keeps no compile cache for ES modules. The script gets its modules, `import.meta` and `import()` from
 * the entry point: a script compiled from a cache cannot import, so a package that imports at run time
 * does it through a module `import-module.js`, which is replaced by a call of the entry point's.
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
          builder.onLoad({ filter: /[\\/]import-module\.js$/ }, () => ({ contents: 'export const importModule = (specifier) => __memmapfsImport(specifier);', loader: 'js' }));
        },
      },
    ],
  });
  const source = readFileSync('dist/index.script.js', 'utf8');
  if (/\bimport\s*\(/.test(source.replaceAll('__memmapfsImport(', ''))) throw new Error('dist/index.script.js calls import(), which a script compiled from a cache cannot: import through a module import-module.js');
  const named = exportNames.filter((name) => name !== 'default');
  const modules = [...new Set(script.metafile.outputs['dist/index.script.js'].imports.filter((i) => i.external).map((i) => i.path))].sort();
  const name = JSON.parse(readFileSync('package.json', 'utf8')).name.replace(/^@[^/]+\//, '');
  const key = `${name}-${createHash('sha256').update(source).digest('hex').slice(0, 20)}`;
  const entry = resolve('dist/index.entry.mjs');
  writeFileSync(
    entry,
    [
      ...modules.map((path, i) => `import * as m${i} from ${JSON.stringify(path)};`),
      `import { loadCompiledScript } from ${JSON.stringify(fileURLToPath(new URL('../packages/wal/src/compiled-script.ts', import.meta.url)))};`,
      `const modules = { ${modules.map((path, i) => `${JSON.stringify(path)}: m${i}`).join(', ')} };`,
      `const loaded = loadCompiledScript({ url: new URL('./index.script.js', import.meta.url), key: ${JSON.stringify(key)}, modules, importMeta: import.meta, importModule: (specifier) => import(specifier) });`,
      "const code = loaded?.exports ?? (await import('./index.module.js'));",
      ...(exportNames.includes('default') ? ['export default code.default;'] : []),
      ...(named.length > 0 ? [`export const { ${named.join(', ')} } = code;`] : []),
      '',
    ].join('\n'),
  );
  try {
    await build({
      entryPoints: [entry],
      outfile: 'dist/index.js',
      allowOverwrite: true,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      external: ['./index.module.js'],
      logLevel: 'warning',
      banner: { js: '// The entry point, written by scripts/bundle-dist.mjs: runs index.script.js with V8\'s code cache kept between\n// processes, or imports index.module.js, the same code as an ES module, where the script cannot be read.' },
    });
  } finally {
    unlinkSync(entry);
  }
}

// The map names the inlined package's files where they were installed: it is given copies in dist/.
for (const mapPath of inlined.size > 0 ? [resolve('dist/index.module.js.map'), resolve('dist/index.script.js.map')] : []) {
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
