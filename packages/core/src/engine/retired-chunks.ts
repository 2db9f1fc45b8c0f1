import { describeThrown } from '@memmapfs/wal';
import { monotonicMs } from '../monotonic-clock.js';
import type { ChunkClaims } from './chunk-claims.js';

/** What removing retired chunks asks of the engine. */
export interface RetiredChunksSite {
  /** Whether a snapshot or a checkpoint is being written, reading blocks by the references of its tables: removals wait for it. */
  busy(): boolean;
  /** Applies every record committed (by any host) before the call. */
  catchUp(): Promise<void>;
  /**
   * Those of `chunks` still retired (no record placed a block there since: a process that had not
   * applied the retirement yet may have) that no table references.
   */
  removable(chunks: readonly number[]): number[];
  /**
   * Takes the lock that keeps snapshots of every process of this host from reading chunks meanwhile
   * (see `StoreLayout.blocksLock`), waiting up to `waitMs`; `undefined` when one still reads.
   */
  lockRemovals(waitMs: number): Promise<{ release(): Promise<void> } | undefined>;
  /** From now until `release`, blocks of records applied for chunk `chunk` are kept in memory, not written to its file. */
  hold(chunk: number): void;
  release(chunk: number): void;
}

/** The longest a removal waits for a snapshot or checkpoint under way. */
const MAX_BUSY_WAIT_MS = 60_000;

/**
 * With a shared log: removes this host's files of the chunks a compaction retired, whichever host
 * compacted (every host keeps a copy of every chunk). Each process of the host that applies the record
 * removes them, a grace period later (a process of the host that has not applied it yet, and reads
 * there, finds the chunk gone, catches up and reads the new place), or at once on open and close, so
 * that a short-lived process leaves none behind; an open also removes those its checkpoint says are
 * retired (a process killed before it could). Removing one removed already changes nothing.
 */
export class RetiredChunks {
  private readonly waiting = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private removing: Promise<void> = Promise.resolve();
  /** Whether the store is open: before, chunks retired by records replayed wait (a removal catches up with the log, not there yet). */
  private started = false;

  constructor(
    private readonly claims: ChunkClaims,
    private readonly graceMs: number,
    private readonly site: RetiredChunksSite,
  ) {}

  /** Chunks a record retired; removed after the grace period (or by `removeNow`). */
  add(chunks: Iterable<number>): void {
    for (const chunk of chunks) this.waiting.add(chunk);
    this.arm();
  }

  /** The store is open: from now on chunks are removed a grace after they were retired (see `add`). */
  start(): void {
    this.started = true;
    this.arm();
  }

  /** The store is closing: no removal is armed any more (what waits is removed by the next open). */
  stop(): void {
    this.started = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (!this.started || this.waiting.size === 0 || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // (Tried again a grace later while a snapshot or checkpoint is being written.)
      if (this.site.busy()) return this.arm();
      this.removeNow().catch((error: unknown) => {
        process.emitWarning(`Chunk files a compaction retired could not be removed from this host's cache (tried again on close and the next open): ${describeThrown(error)}`, { code: 'MEMMAPFS_RETIRE_FAILED' });
      });
    }, this.graceMs).unref();
  }

  /**
   * Removes every chunk waiting, now (after a removal under way, and once no snapshot or checkpoint of
   * this process is being written). `lockWaitMs`: how long to wait for snapshots of other processes of
   * the host to finish reading blocks (see `StoreLayout.blocksLock`); past it the chunks wait for a later
   * removal (a grace later, or the next open).
   */
  removeNow(lockWaitMs = MAX_BUSY_WAIT_MS): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.removing.then(async () => {
      if (this.waiting.size === 0) return;
      for (const until = monotonicMs() + MAX_BUSY_WAIT_MS; this.site.busy() && monotonicMs() < until;) await new Promise((resolve) => setTimeout(resolve, 50));
      // (A snapshot of another process of the host reading blocks: tried again a grace later.)
      const lock = await this.site.lockRemovals(lockWaitMs);
      if (!lock) return this.arm();
      try {
        await this.removeClaimed();
      } finally {
        await lock.release();
      }
    });
    this.removing = run.catch(() => undefined);
    return run;
  }

  /** Claims the waiting chunks, catches up, and removes the files of those still retired and unreferenced. */
  private async removeClaimed(): Promise<void> {
    // Claimed first: from then on no process of this host places a block there (a claim fails, changing
    // nothing, when the file is gone already or another process holds it: that one removes the file).
    const claimed: number[] = [];
    const retired = new Set<number>();
    try {
      for (const chunk of [...this.waiting]) {
        if (await this.claims.claim(chunk)) claimed.push(chunk);
        else this.waiting.delete(chunk);
      }
      if (claimed.length === 0) return;
      // Then every record committed so far is applied, a block one of them placed in a chunk after its
      // retirement among them (that chunk is live again); the blocks of later records wait in memory
      // until the file is gone, and go into a new one.
      await this.site.catchUp();
      for (const chunk of claimed) this.site.hold(chunk);
      try {
        const removable = new Set(this.site.removable(claimed));
        for (const chunk of claimed) {
          if (removable.has(chunk)) {
            await this.claims.retire(chunk);
            retired.add(chunk);
          }
          this.waiting.delete(chunk);
        }
      } finally {
        for (const chunk of claimed) this.site.release(chunk);
      }
    } finally {
      // This removal's claims of those kept (in use again; or whose removal failed, which wait for the
      // next removal) end, so that a process of the host may append to them again (the claim would
      // otherwise last until this store closes); a compaction of this store that claimed one too keeps
      // its own.
      await this.claims.unclaim(claimed.filter((chunk) => !retired.has(chunk)));
    }
  }
}
