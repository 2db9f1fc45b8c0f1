/**
 * Keeps one handle's appends to and deletes of a stream in the order they were called, when the
 * caller does not await one before the next: an append called after a delete of its stream waits for
 * the delete, and a delete waits for the appends to its stream called before it. Appends among
 * themselves keep their order by the order their blocks are placed in, and hold one another up in
 * nothing (they share the log's group commit).
 */
export class StreamCallOrder {
  private readonly appends = new Map<string, Set<Promise<unknown>>>();
  private readonly deletes = new Map<string, Promise<unknown>>();

  /** Runs an append to stream `key` once the deletes of it called before have settled. */
  append<T>(key: string, run: () => Promise<T>): Promise<T> {
    const deleting = this.deletes.get(key);
    const promise = deleting ? deleting.then(run, run) : run();
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
