/**
 * Keeps one handle's writes and deletes of a key (a KV key, a stream) in the order they were called,
 * when the caller does not await one before the next: a delete (or a write only if absent) waits for
 * the writes and deletes of its key called before it (a write not yet applied would otherwise be
 * missed, and the delete find nothing to remove), and a write waits for the deletes of its keys called
 * before it (which would otherwise remove it). Writes among themselves do not wait: the log keeps the order in which they hand it their
 * records, as it does for every call that is not held here.
 */
export class KeyCallOrder {
  private readonly writes = new Map<string, Set<Promise<unknown>>>();
  private readonly deletes = new Map<string, Promise<unknown>>();
  /** Deletes of every key under prefixes, under way. */
  private readonly prefixDeletes = new Set<{ readonly prefixes: readonly string[]; readonly promise: Promise<unknown> }>();

  /** Runs a write of `keys` once the deletes of them called before have settled (at once when none is under way). */
  write<T>(keys: readonly string[], run: () => Promise<T>): Promise<T> {
    const before: Array<Promise<unknown>> = [];
    for (const key of new Set(keys)) {
      const deleting = this.deletes.get(key);
      if (deleting) before.push(deleting);
      before.push(...this.prefixDeletesOf(key));
    }
    const promise = before.length > 0 ? Promise.allSettled(before).then(run) : run();
    for (const key of new Set(keys)) {
      let pending = this.writes.get(key);
      if (!pending) this.writes.set(key, (pending = new Set()));
      pending.add(promise);
      const settled = () => {
        pending.delete(promise);
        if (pending.size === 0 && this.writes.get(key) === pending) this.writes.delete(key);
      };
      promise.then(settled, settled);
    }
    return promise;
  }

  /** Runs a delete of `key` once the writes and deletes of it called before have settled. */
  delete<T>(key: string, run: () => Promise<T>): Promise<T> {
    return this.barrier([key], run);
  }

  /**
   * Runs a call whose effect on `keys` depends on what they hold (a write only if absent) as a delete
   * runs: once the writes and deletes of them called before have settled, and before any called after.
   */
  barrier<T>(keys: readonly string[], run: () => Promise<T>): Promise<T> {
    const distinct = [...new Set(keys)];
    const before: Array<Promise<unknown>> = [];
    for (const key of distinct) {
      before.push(...(this.writes.get(key) ?? []), ...this.prefixDeletesOf(key));
      const deleting = this.deletes.get(key);
      if (deleting) before.push(deleting);
    }
    const promise = before.length > 0 ? Promise.allSettled(before).then(run) : run();
    for (const key of distinct) {
      this.deletes.set(key, promise);
      const settled = () => {
        if (this.deletes.get(key) === promise) this.deletes.delete(key);
      };
      promise.then(settled, settled);
    }
    return promise;
  }

  /**
   * Runs a call whose effect is on every key under `prefixes` (a delete of them all) as a delete runs:
   * once the writes and deletes of such keys called before have settled, and before any called after.
   */
  prefixBarrier<T>(prefixes: readonly string[], run: () => Promise<T>): Promise<T> {
    const under = (key: string) => prefixes.some((prefix) => key.startsWith(prefix));
    const before: Array<Promise<unknown>> = [];
    for (const [key, pending] of this.writes) if (under(key)) before.push(...pending);
    for (const [key, deleting] of this.deletes) if (under(key)) before.push(deleting);
    // (Every earlier one: two sets of prefixes may share keys that neither names.)
    for (const earlier of this.prefixDeletes) before.push(earlier.promise);
    const promise = before.length > 0 ? Promise.allSettled(before).then(run) : run();
    const entry = { prefixes, promise };
    this.prefixDeletes.add(entry);
    const settled = () => {
      this.prefixDeletes.delete(entry);
    };
    promise.then(settled, settled);
    return promise;
  }

  private prefixDeletesOf(key: string): ReadonlyArray<Promise<unknown>> {
    // (On every KV write: none is under way, nearly always.)
    if (this.prefixDeletes.size === 0) return NONE;
    const found: Array<Promise<unknown>> = [];
    for (const { prefixes, promise } of this.prefixDeletes) if (prefixes.some((prefix) => key.startsWith(prefix))) found.push(promise);
    return found;
  }
}

const NONE: ReadonlyArray<Promise<unknown>> = [];
