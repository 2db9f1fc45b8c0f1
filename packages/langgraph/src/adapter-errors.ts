import { MemMapError } from '@memmapfs/core';

/** The adapter class whose method failed: named in every message. */
export type AdapterName = 'MemMapSaver' | 'MemMapStore';

/** An `INVALID_ARGUMENT` error of an adapter method, in the store's error style. */
export function invalidArgument(method: string, message: string, owner: AdapterName = 'MemMapSaver'): MemMapError {
  return new MemMapError('INVALID_ARGUMENT', `[langgraph] ${owner}.${method}: ${message}`, { subsystem: 'kv' });
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
    default:
      return new MemMapError(error.code, `[langgraph] ${owner}.${method}: ${error.message.replace(/^\[memmapfs\] \[[^\]]+\] /, '')}`, options);
  }
}
