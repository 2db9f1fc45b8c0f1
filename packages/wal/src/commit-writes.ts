import { monotonicMs } from './monotonic-clock.js';

/** A synchronous positional write (`writeSync` of `node:fs`, or a file system seam's). */
export type WriteSync = (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number;

/** When a commit may write its records from the event loop (see `CommitWrites`). */
export interface CommitWriteLimits {
  /** The largest commit written from the event loop (bytes of records). */
  readonly maxBytes: number;
  /** A write from the event loop that took longer than this is slow. */
  readonly quickMs: number;
  /** Lone commits sent through the thread pool after open before the first one from the event loop. */
  readonly firstAfter: number;
  /** The most sent through it after slow writes (the count doubles after each slow one). */
  readonly maxAfter: number;
  /** Quick writes in a row after which the count is halved again (down to `firstAfter`). */
  readonly quickStreak: number;
  /** The longest run of writes from the event loop between two turns of it. */
  readonly runMs: number;
}

export const COMMIT_WRITE_LIMITS: CommitWriteLimits = { maxBytes: 16 * 1024, quickMs: 1, firstAfter: 8, maxAfter: 1024, quickStreak: 64, runMs: 2 };

/**
 * Which way a commit writes its records. A commit of one append of a few kilobytes is written with a
 * synchronous `write` from the event loop: under `'sync'` durability the log is opened with `O_DSYNC`,
 * so the call returns once the disk has the bytes, and on a quick disk a trip to the I/O thread pool
 * (waking a pool thread, then the event loop) costs more than the disk's own commit. The event loop
 * waits for the disk meanwhile, so only within limits:
 * - a write from the event loop that took longer than `quickMs` sends the next lone commits through the
 *   thread pool, twice as many after each slow one (up to `maxAfter`), before the next is tried from the
 *   event loop again; only `quickStreak` quick ones in a row halve the count again. A disk that is slow,
 *   or stalls now and then (network storage, a busy disk), so costs the event loop about one slow write
 *   in every `maxAfter` commits;
 * - the first `firstAfter` lone commits after open go through the thread pool;
 * - none more than `runMs` after the event loop last turned (a write started just before may end past
 *   it): a chain of awaited changes written this way would otherwise never give timers and I/O a turn
 *   (each commit resolves in a microtask);
 * - batches of several appends and larger commits always go through the thread pool.
 * (Only writes from the event loop are timed: a write through the thread pool takes as long as the
 * event loop takes to come back to it, which says little about the disk.)
 */
export class CommitWrites {
  /** Commits written from the event loop so far. */
  synchronous = 0;
  /** Lone commits still to send through the thread pool before the next try from the event loop. */
  private skip: number;
  private after: number;
  private quick = 0;
  private lastTurn: number;
  private turnAwaited = false;

  /** `writeSync`: the file system's synchronous write; without one, every commit goes through the thread pool. */
  constructor(
    private readonly writeSync: WriteSync | undefined,
    private readonly limits: CommitWriteLimits = COMMIT_WRITE_LIMITS,
    private readonly now: () => number = monotonicMs,
  ) {
    this.skip = limits.firstAfter;
    this.after = limits.firstAfter;
    this.lastTurn = now();
  }

  /** The synchronous write for a commit of `appends` appends and `bytes` bytes, or `undefined` for the thread pool. */
  choose(appends: number, bytes: number): WriteSync | undefined {
    if (!this.writeSync || appends !== 1 || bytes > this.limits.maxBytes) return undefined;
    if (this.skip > 0) {
      this.skip--;
      return undefined;
    }
    if (!this.turnAwaited) {
      // (None awaited: the last one ran, and nothing was written from the event loop since: a run starts here.)
      this.turnAwaited = true;
      this.lastTurn = this.now();
      setImmediate(() => {
        this.turnAwaited = false;
        this.lastTurn = this.now();
      }).unref();
    }
    if (this.now() - this.lastTurn > this.limits.runMs) return undefined;
    this.synchronous++;
    return this.writeSync;
  }

  /** A commit's write took `ms` milliseconds; `synchronous`: from the event loop. */
  took(ms: number, synchronous: boolean): void {
    if (!synchronous) return;
    if (ms <= this.limits.quickMs) {
      if (++this.quick >= this.limits.quickStreak) {
        this.quick = 0;
        this.after = Math.max(this.limits.firstAfter, this.after / 2);
      }
      return;
    }
    this.quick = 0;
    this.after = Math.min(this.after * 2, this.limits.maxAfter);
    this.skip = this.after;
  }
}
