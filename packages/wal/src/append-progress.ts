/**
 * How far a log's queue of appends has got: how many were queued and how many have ended (committed or
 * refused), in queue order. Lets a flush wait for the appends queued before it and not for those that
 * keep coming after it, which a wait for the queue to run dry would (a writer that never pauses would
 * hold it back for good).
 */
export class AppendProgress {
  private queued = 0;
  private ended = 0;
  /** Callers of `settled`, each with the count of appends it waits for, in ascending order. */
  private readonly waiters: Array<{ readonly upTo: number; readonly resolve: () => void }> = [];

  /** Counts an append put at the end of the queue. */
  queuedOne(): void {
    this.queued++;
  }

  /** Counts `count` appends taken off the front of the queue whose commit has ended, each resolved or rejected. */
  endedSome(count: number): void {
    this.ended += count;
    while (this.waiters.length > 0 && this.waiters[0]!.upTo <= this.ended) this.waiters.shift()!.resolve();
  }

  /** Resolves once every append queued before the call has ended. */
  settled(): Promise<void> {
    const upTo = this.queued;
    if (this.ended >= upTo) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ upTo, resolve }));
  }
}
