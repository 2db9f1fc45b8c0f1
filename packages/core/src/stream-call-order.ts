import { KeyCallOrder } from './key-call-order.js';

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
  /** Appends are writes of their stream, deletes deletes. */
  private readonly calls = new KeyCallOrder();
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
    return this.calls.write([key], () => {
      const running = run(turn);
      running.then(handOver, handOver);
      return running;
    });
  }

  /** Runs a delete of stream `key` once the appends to it, and deletes of it, called before have settled. */
  delete<T>(key: string, run: () => Promise<T>): Promise<T> {
    return this.calls.delete(key, run);
  }
}
