import { describeThrown } from '@memmapfs/wal';
/** A `watchState` iterator's side of the channel: the states it has not consumed, and how to wake it. */
interface Watcher<S> {
  readonly queue: S[];
  wake: (() => void) | undefined;
  /** Takes its abort listener off its signal (when the channel ends). */
  detach: (() => void) | undefined;
}

/**
 * Delivers each new agent state to callbacks (`subscribeState`) and async iterators (`watchState`).
 * A slow iterator never blocks the store: each iterator buffers the states it has not consumed.
 */
export class StateChannel<S> {
  private readonly listeners = new Set<(state: S) => void>();
  private readonly watchers = new Set<Watcher<S>>();
  private ended = false;
  /** Watchers whose `next()` waits for a state. */
  private waiting = 0;

  /** Watchers registered (iterated or not) and not ended. */
  get watcherCount(): number {
    return this.watchers.size;
  }

  /**
   * Called with the number of watchers whose `next()` waits for a state, whenever it changes: what keeps
   * a process alive (a loop waiting on `watchState`), where a watcher made and never iterated does not.
   */
  onWaitingChanged: ((count: number) => void) | undefined;

  /** Calls `listener` with every later state; returns a function that stops it. */
  subscribe(listener: (state: S) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Yields every state published after this call (the watcher is registered at once, not at the first
   * `next()`), until the store closes or the loop breaks. When `signal` aborts, even before the first
   * `next()`, the watcher lets go of its states at once and the next `next()` rejects with the signal's
   * reason, as Node's `events.on` does; with a signal already aborted, no watcher is registered.
   */
  watch(signal?: AbortSignal): AsyncGenerator<S, void, undefined> {
    const watcher: Watcher<S> = { queue: [], wake: undefined, detach: undefined };
    let finished = false;
    // The reason of an abort, for the next `next()` to reject with (once).
    let aborted: { reason: unknown } | undefined;
    const finish = () => {
      finished = true;
      signal?.removeEventListener('abort', abort);
      this.forget(watcher);
      watcher.wake?.();
    };
    const abort = () => {
      aborted = { reason: signal!.reason };
      finish();
    };
    if (signal?.aborted) {
      aborted = { reason: signal.reason };
      finished = true;
    } else {
      this.watchers.add(watcher);
      signal?.addEventListener('abort', abort, { once: true });
      watcher.detach = () => signal?.removeEventListener('abort', abort);
    }
    const step = async (): Promise<IteratorResult<S, void>> => {
      for (;;) {
        if (aborted) {
          const { reason } = aborted;
          aborted = undefined;
          throw reason;
        }
        if (finished) return { done: true, value: undefined };
        if (watcher.queue.length > 0) return { done: false, value: watcher.queue.shift()! };
        if (this.ended) {
          finish();
          continue;
        }
        this.onWaitingChanged?.(++this.waiting);
        try {
          await new Promise<void>((resolve) => {
            watcher.wake = resolve;
          });
        } finally {
          watcher.wake = undefined;
          this.onWaitingChanged?.(--this.waiting);
        }
      }
    };
    // Each `next()` waits for the one before it, as a generator's do.
    let turn: Promise<unknown> = Promise.resolve();
    const iterator: AsyncGenerator<S, void, undefined> = {
      next: () => {
        const result = turn.then(step);
        turn = result.catch(() => undefined);
        return result;
      },
      return: async () => {
        aborted = undefined;
        finish();
        return { done: true, value: undefined };
      },
      throw: async (error: unknown) => {
        aborted = undefined;
        finish();
        throw error;
      },
      [Symbol.asyncIterator]: () => iterator,
      [Symbol.asyncDispose]: async () => {
        await iterator.return();
      },
    };
    return iterator;
  }

  private forget(watcher: Watcher<S>): void {
    if (!this.watchers.delete(watcher)) return;
    watcher.queue.length = 0;
  }

  /**
   * Announces a new state (a copy the channel may hand out). Each listener and watcher gets a copy of
   * its own, as `getState` gives: one that changes what it was given changes no one else's. A listener
   * that throws, or whose promise rejects, is reported as a process warning, not to the writer.
   */
  publish(state: S): void {
    // (Those there now: one a listener adds is called from the next state on. The last one takes `state` itself.)
    const listeners = [...this.listeners];
    const watchers = [...this.watchers];
    const recipients = listeners.length + watchers.length;
    let handed = 0;
    const copy = () => (++handed < recipients ? structuredClone(state) : state);
    for (const listener of listeners) {
      // (One an earlier listener unsubscribed hears no more.)
      if (!this.listeners.has(listener)) continue;
      try {
        const result: unknown = listener(copy());
        if (isThenable(result)) result.then(undefined, subscriberFailed);
      } catch (error) {
        subscriberFailed(error);
      }
    }
    for (const watcher of watchers) {
      if (!this.watchers.has(watcher)) continue;
      watcher.queue.push(copy());
      watcher.wake?.();
    }
  }

  /**
   * Ends every watcher (after it has drained what it was sent; its signal no longer reaches it) and
   * drops every listener.
   */
  end(): void {
    this.ended = true;
    this.listeners.clear();
    for (const watcher of this.watchers) {
      watcher.detach?.();
      watcher.wake?.();
    }
  }
}

function subscriberFailed(error: unknown): void {
  process.emitWarning(`A state subscriber threw: ${describeThrown(error)}`, { code: 'MEMMAPFS_SUBSCRIBER_ERROR' });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
