/**
 * The order of the operations of one store, across its batches: a put, delete or get of a key runs
 * after every write of that key, and every search and listing, called before it; a search or a listing
 * after every write called before it; in this process, even when the caller did not wait for those to
 * end (LangGraph's in-memory store does each one at once). A turn is taken when the operation is
 * called, before anything awaits, so turns wait only on earlier ones.
 */
export class KeyOrder {
  /** By key: when the last write called on it (and every one before) has ended. */
  readonly #last = new Map<string, Promise<void>>();
  /** The searches and listings under way: a write called after one waits until it has read. */
  readonly #reads = new Set<Promise<void>>();

  /**
   * A turn of an operation over many keys (a search, a listing): `ready` once every write called before
   * it, on any key, has ended; the writes called after it wait until its `done`, so that it reads the
   * items as they were when it was called.
   */
  takeAll(): Turn {
    const ready = Promise.all(this.#last.values()).then(() => undefined);
    let done!: () => void;
    const ended = new Promise<void>((resolve) => (done = resolve));
    this.#reads.add(ended);
    void ended.then(() => this.#reads.delete(ended));
    return { ready, done };
  }

  /**
   * A write's turn on `key`: `ready` once the writes called on it before, and the searches and listings
   * called before it, have ended. The operations called on it after wait until its `done` (called once
   * it ended, whether it failed or not; more calls do nothing).
   */
  take(key: string): Turn {
    const before = this.#last.get(key) ?? Promise.resolve();
    const ready = this.#reads.size === 0 ? before : Promise.all([before, ...this.#reads]).then(() => undefined);
    let done!: () => void;
    const ended = new Promise<void>((resolve) => (done = resolve));
    const tail = ready.then(() => ended);
    this.#last.set(key, tail);
    void tail.then(() => {
      if (this.#last.get(key) === tail) this.#last.delete(key);
    });
    return { ready, done };
  }
}

/** An operation's place in a `KeyOrder`. */
export interface Turn {
  readonly ready: Promise<void>;
  readonly done: () => void;
}
