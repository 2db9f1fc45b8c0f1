import { MemMapError } from './errors.js';

/** An `AbortSignal` option, checked: `undefined` or a signal; anything else is `INVALID_ARGUMENT`. */
export function checkSignal(signal: unknown, method: string): AbortSignal | undefined {
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw new MemMapError('INVALID_ARGUMENT', `${method}: signal must be an AbortSignal (from an AbortController or AbortSignal.timeout()), got ${signal === null ? 'null' : typeof signal}.`);
}

/**
 * `promise`, or a rejection with the signal's reason as soon as `signal` aborts (what `fetch` and
 * Node's own APIs do). The work behind `promise` is not stopped: its outcome is only no longer awaited.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });
}
