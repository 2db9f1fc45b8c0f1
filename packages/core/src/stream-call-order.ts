/**
 * Keeps one handle's appends to and deletes of a stream in the order they were called, when the
 * caller does not await one before the next: an append called after a delete of its stream waits for
 * the delete, and a delete waits for the appends to its stream called before it. Appends among
 * themselves place their blocks at once, however many are under way, and hand their records to the
 * log in the order they were called (`turn`): a block placed late (one that waited for a new chunk
 * file while a later, smaller one still fitted the last) holds up the appends called after it, and
 * nothing else. They share the log's group commit.
 */
export class StreamCallOrder {
  private readonly appends = new Map<string, Set<Promise<unknown>>>();
  private readonly deletes = new Map<string, Promise<unknown>>();
  /** Per stream, settles once the append to it called last has handed its record to the log (or failed before). */
  private readonly handedOver = new Map<string, Promise<void>>();

  /**
   * Runs an append to stream `key` once the deletes of it called before have settled. `run` hands its
   * record to the log through `turn`, which calls `commit` once every append to the stream called before
   * has called its own (`commit` must hand the record over before its first wait, as `WriteAheadLog.append` does).
   */
  append<T>(key: string, run: (turn: <R>(commit: () => Promise<R>) => Promise<R>) => Promise<T>): Promise<T> {
    const before = this.handedOver.get(key);
    let handOver!: () => void;
    const mine = new Promise<void>((resolve) => (handOver = resolve));
    this.handedOver.set(key, mine);
    void mine.then(() => {
      if (this.handedOver.get(key) === mine) this.handedOver.delete(key);
    });
    const turn = async <R>(commit: () => Promise<R>): Promise<R> => {
      if (before) await before;
      try {
        return commit();
      } finally {
        handOver();
      }
    };
    const go = () => {
      const running = run(turn);
      running.then(handOver, handOver);
      return running;
    };
    const deleting = this.deletes.get(key);
    const promise = deleting ? deleting.then(go, go) : go();
    let pending = this.appends.get(key);
    if (!pending) this.appends.set(key, (pending = new Set()));
    pending.add(promise);
    const settled = () => {
      pending.delete(promise);
      if (pending.size === 0 && this.appends.get(key) === pending) this.appends.delete(key);
    };
    promise.then(settled, settled);
    return promise;
  }

  /** Runs a delete of stream `key` once the appends to it, and deletes of it, called before have settled. */
  delete<T>(key: string, run: () => Promise<T>): Promise<T> {
    const before: Array<Promise<unknown>> = [...(this.appends.get(key) ?? [])];
    const deleting = this.deletes.get(key);
    if (deleting) before.push(deleting);
    const promise = before.length > 0 ? Promise.allSettled(before).then(run) : run();
    this.deletes.set(key, promise);
    const settled = () => {
      if (this.deletes.get(key) === promise) this.deletes.delete(key);
    };
    promise.then(settled, settled);
    return promise;
  }
}
