import { MemMapError } from '@memmapfs/core';

/** An `INVALID_ARGUMENT` error of a saver method, in the store's error style. */
export function invalidArgument(method: string, message: string): MemMapError {
  return new MemMapError('INVALID_ARGUMENT', `[langgraph] MemMapSaver.${method}: ${message}`, { subsystem: 'kv' });
}

/**
 * Runs a saver method's work on the store and gives the store's errors the method's name, keeping
 * their code (`MemMapError.is(error, 'STORE_CLOSED')` still holds) and the original as `cause`.
 */
export async function onStore<T>(method: string, root: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw inMethod(method, root, error);
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

function inMethod(method: string, root: string, error: unknown): unknown {
  if (!(error instanceof MemMapError) || error.message.includes('[langgraph]')) return error;
  const options = { subsystem: error.subsystem, cause: error };
  switch (error.code) {
    case 'STORE_CLOSED':
      return new MemMapError('STORE_CLOSED', `[langgraph] MemMapSaver.${method}: the store at ${root} is closed. Keep it open while graphs use the saver, or open it again and make a new MemMapSaver on it.`, options);
    case 'READ_ONLY':
      return new MemMapError('READ_ONLY', `[langgraph] MemMapSaver.${method}: the store at ${root} was opened with { readOnly: true }: a saver on it can read checkpoints (getTuple, list) but not write them. Open it without readOnly to run graphs.`, options);
    default:
      return new MemMapError(error.code, `[langgraph] MemMapSaver.${method}: ${error.message.replace(/^\[memmapfs\] \[[^\]]+\] /, '')}`, options);
  }
}
