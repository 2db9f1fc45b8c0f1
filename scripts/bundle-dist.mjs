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
import { dirname, join, relative, resolve } from 'node:path';
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

await build({
  entryPoints: ['dist/index.js'],
  outfile: 'dist/index.js',
  allowOverwrite: true,
  bundle: true,
  format: 'esm',
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
});

// The map names the inlined package's files where they were installed: it is given copies in dist/.
if (inlined.size > 0) {
  const mapPath = resolve('dist/index.js.map');
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
