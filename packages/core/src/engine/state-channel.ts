/**
 * Delivers each new agent state to callbacks (`subscribeState`) and async iterators (`watchState`).
 * A slow iterator never blocks the store: each iterator buffers the states it has not consumed.
 */
export class StateChannel<S> {
  private readonly listeners = new Set<(state: S) => void>();
  private readonly watchers = new Set<{ queue: S[]; wake: (() => void) | undefined }>();
  private ended = false;

  /** Calls `listener` with every later state; returns a function that stops it. */
  subscribe(listener: (state: S) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Yields every state published after this call (the watcher is registered at once, not at the first
   * `next()`), until the store closes or the loop breaks.
   */
  watch(signal?: AbortSignal): AsyncGenerator<S, void, undefined> {
    const watcher: { queue: S[]; wake: (() => void) | undefined } = { queue: [], wake: undefined };
    this.watchers.add(watcher);
    this.onWatchersChanged?.(this.watchers.size);
    return this.drain(watcher, signal);
  }

  /** Called with the number of active watchers whenever it changes. */
  onWatchersChanged: ((count: number) => void) | undefined;

  private async *drain(watcher: { queue: S[]; wake: (() => void) | undefined }, signal: AbortSignal | undefined): AsyncGenerator<S, void, undefined> {
    // An abort stops the buffering at once and ends the loop with the signal's reason, as Node's `events.on` does.
    const abort = () => {
      this.forget(watcher);
      watcher.wake?.();
    };
    signal?.addEventListener('abort', abort, { once: true });
    try {
      while (true) {
        signal?.throwIfAborted();
        while (watcher.queue.length > 0) {
          yield watcher.queue.shift()!;
          signal?.throwIfAborted();
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => {
          watcher.wake = resolve;
        });
        watcher.wake = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', abort);
      this.forget(watcher);
    }
  }

  private forget(watcher: { queue: S[]; wake: (() => void) | undefined }): void {
    if (!this.watchers.delete(watcher)) return;
    watcher.queue.length = 0;
    this.onWatchersChanged?.(this.watchers.size);
  }

  /** Announces a new state. A listener that throws is reported as a process warning, not to the writer. */
  publish(state: S): void {
    for (const listener of this.listeners) {
      try {
        listener(state);
      } catch (error) {
        process.emitWarning(`A state subscriber threw: ${(error as Error)?.message ?? error}`, { code: 'MEMMAPFS_SUBSCRIBER_ERROR' });
      }
    }
    for (const watcher of this.watchers) {
      watcher.queue.push(state);
      watcher.wake?.();
    }
  }

  /** Ends every watcher (after it has drained what it was sent) and drops every listener. */
  end(): void {
    this.ended = true;
    this.listeners.clear();
    for (const watcher of this.watchers) watcher.wake?.();
  }
}
