// Bundles a package's compiled `dist/index.js` (tsc's output, one module per source file) into one
// module, in place: opening a store loads a few dozen modules fewer, and each costs the ESM loader a
// resolution, a read and a compile. Dependencies stay external; the declaration files are tsc's.
// Run from a package's folder after `tsc`.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/index.js'],
  outfile: 'dist/index.js',
  allowOverwrite: true,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  // Whitespace and comments out, names kept (stack traces read as before): every process holds each
  // module's source as a string (a comment with one non-Latin-1 character made core's 303 KB a 605 KB
  // two-byte string).
  minifyWhitespace: true,
  minifySyntax: true,
});
