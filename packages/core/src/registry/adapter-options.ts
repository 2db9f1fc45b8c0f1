import { MemMapError, type Subsystem } from '../errors.js';
import { describeValue } from '../validation.js';

/**
 * For an adapter's factory (`segmentSearch(options)`, say): refuses `options` that are not an object,
 * or that name an option `known` does not list, with `INVALID_ARGUMENT` naming the factory and the
 * options it takes. A misspelt option would otherwise be left out without a word, the adapter running
 * on its default. `undefined` is no options.
 */
export function checkAdapterOptions(options: unknown, known: readonly string[], factory: string, subsystem: Subsystem = 'search'): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw adapterOptionError(factory, `options must be an object of ${known.join(', ')}; got ${describeValue(options)}`, subsystem);
  }
  const unknown = Object.keys(options).filter((key) => !known.includes(key));
  if (unknown.length === 0) return;
  const named = unknown.map((key) => JSON.stringify(key)).join(', ');
  throw adapterOptionError(factory, `${named} ${unknown.length === 1 ? 'is not one' : 'are not'} of the options it takes (${known.join(', ')})`, subsystem);
}

/** An adapter's option that cannot be (`why`): `INVALID_ARGUMENT`, said as `factory: why.` */
export function adapterOptionError(factory: string, why: string, subsystem: Subsystem = 'search'): MemMapError {
  return new MemMapError('INVALID_ARGUMENT', `${factory}: ${why}.`, { subsystem });
}
