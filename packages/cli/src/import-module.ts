/**
 * `import()` of a package, resolved from the CLI's own folder. A module of its own: the CLI's build as a
 * script run with V8's code cache (scripts/bundle-dist.mjs) cannot call `import()`, and puts its entry
 * point's in the place of this one.
 */
export function importModule<T>(specifier: string): Promise<T> {
  return import(specifier) as Promise<T>;
}
