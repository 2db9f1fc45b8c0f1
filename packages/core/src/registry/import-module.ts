/**
 * `import()` of an adapter package or file URL, resolved from core's own folder. A module of its own:
 * core's build as a script run with V8's code cache (scripts/bundle-dist.mjs) cannot call `import()`,
 * and puts its entry point's in the place of this one.
 */
export function importModule(specifier: string): Promise<unknown> {
  return import(specifier);
}
