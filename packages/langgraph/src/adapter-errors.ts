import { MemMapError } from '@memmapfs/core';

/** The adapter class whose method failed: named in every message. */
export type AdapterName = 'MemMapSaver' | 'MemMapStore';

/** An `INVALID_ARGUMENT` error of an adapter method, in the store's error style (`cause`: the store's own error, if it found it). */
export function invalidArgument(method: string, message: string, owner: AdapterName = 'MemMapSaver', cause?: unknown): MemMapError {
  return new MemMapError('INVALID_ARGUMENT', `[langgraph] ${owner}.${method}: ${message}`, cause === undefined ? { subsystem: 'kv' } : { subsystem: 'kv', cause });
}

/** A value as a message names what it got: its type, and the value itself when short (`NaN`, `Infinity` as such). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing (undefined)';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  return typeof value === 'object' || typeof value === 'function' ? `${typeof value === 'object' ? 'an object' : 'a function'}` : `${typeof value} ${String(value)}`;
}

/**
 * Refuses the fields of `options` that are not among `known`, naming them and the ones taken: a
 * misspelt option would otherwise be dropped without a word.
 */
export function checkOptionNames(options: object, known: readonly string[], method: string, what: string, owner: AdapterName): void {
  const unknown = Object.keys(options).filter((key) => !known.includes(key));
  if (unknown.length === 0) return;
  const named = unknown.map((key) => JSON.stringify(key)).join(', ');
  throw invalidArgument(method, `${named} ${unknown.length === 1 ? 'is not one' : 'are not'} of the ${what} it takes (${known.join(', ')}).`, owner);
}

/**
 * Runs an adapter method's work on the store and gives the store's errors the method's name, keeping
 * their code (`MemMapError.is(error, 'STORE_CLOSED')` still holds) and the original as `cause`.
 */
export async function onStore<T>(method: string, root: string, work: () => Promise<T>, owner: AdapterName = 'MemMapSaver'): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw inMethod(method, root, error, owner);
  }
}

/** `onStore` for generators: the error of any step is given the method's name. */
export async function* onStoreEach<T>(method: string, root: string, work: () => AsyncGenerator<T>): AsyncGenerator<T> {
  try {
    yield* work();
  } catch (error) {
    throw inMethod(method, root, error);
  }
}

function inMethod(method: string, root: string, error: unknown, owner: AdapterName = 'MemMapSaver'): unknown {
  if (!(error instanceof MemMapError) || error.message.includes('[langgraph]')) return error;
  const options = { subsystem: error.subsystem, cause: error };
  switch (error.code) {
    case 'STORE_CLOSED':
      return new MemMapError('STORE_CLOSED', `[langgraph] ${owner}.${method}: the store at ${root} is closed. Keep it open while graphs use the ${owner === 'MemMapSaver' ? 'saver' : 'store'}, or open it again and make a new ${owner} on it.`, options);
    case 'READ_ONLY':
      return new MemMapError('READ_ONLY', owner === 'MemMapSaver'
        ? `[langgraph] MemMapSaver.${method}: the store at ${root} was opened with { readOnly: true }: a saver on it can read checkpoints (getTuple, list) but not write them. Open it without readOnly to run graphs.`
        : `[langgraph] MemMapStore.${method}: the store at ${root} was opened with { readOnly: true }: a MemMapStore on it can get, search and list namespaces (without refreshing TTLs) but not put or delete. Open it without readOnly to write.`, options);
    default: {
      const message = error.message.replace(/^\[memmapfs\] \[[^\]]+\] /, '');
      return new MemMapError(error.code, `[langgraph] ${owner}.${method}: ${owner === 'MemMapStore' ? inItemTerms(message) : message}`, options);
    }
  }
}

/**
 * A core message about an item's memory, in the terms of the item: without the core method the
 * caller never called, and with the item's value where core names the memory's meta it is kept in.
 */
function inItemTerms(message: string): string {
  return message
    .replace(/^(?:appendMemory|appendMemories: item \d+|listMemories|queryMemory): /, '')
    .replace(/\bmeta\.value\b/g, 'value')
    .replace(/\bfilter\.value\./g, 'filter.')
    .replace('use $eq $ne $gt $gte $lt $lte $in $nin', 'use $eq $ne $gt $gte $lt $lte $in $nin or $exists');
}
