import type { BlockStore } from '@memmapfs/blocks';

/** What removing retired chunks asks of the engine. */
export interface RetiredChunksSite {
  /** The chunks the tables reference now: never removed, whatever retired them (a defence: no block is placed in a retired chunk). */
  referenced(): ReadonlySet<number>;
  /** Whether a snapshot or a checkpoint is being written, reading blocks by the references of its tables: removals wait for it. */
  busy(): boolean;
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

  constructor(
    private readonly blocks: BlockStore,
    private readonly graceMs: number,
    private readonly site: RetiredChunksSite,
  ) {}

  /** Chunks a record retired; removed after the grace period (or by `removeNow`). */
  add(chunks: Iterable<number>): void {
    for (const chunk of chunks) this.waiting.add(chunk);
    this.arm();
  }

  private arm(): void {
    if (this.waiting.size === 0 || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // (Tried again a grace later while a snapshot or checkpoint is being written.)
      if (this.site.busy()) return this.arm();
      this.removeNow().catch((error: unknown) => {
        process.emitWarning(`Chunk files a compaction retired could not be removed from this host's cache (tried again on close and the next open): ${(error as Error)?.message ?? error}`, { code: 'MEMMAPFS_RETIRE_FAILED' });
      });
    }, this.graceMs).unref();
  }

  /** Removes every chunk waiting, now (after a removal under way, and once no snapshot or checkpoint is being written). */
  removeNow(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.removing.then(async () => {
      if (this.waiting.size === 0) return;
      for (const until = performance.now() + MAX_BUSY_WAIT_MS; this.site.busy() && performance.now() < until;) await new Promise((resolve) => setTimeout(resolve, 50));
      const referenced = this.site.referenced();
      for (const chunk of [...this.waiting]) {
        // (A claim fails, changing nothing, when the file is gone already or another process holds its claim: that one removes it.)
        if (!referenced.has(chunk) && (await this.blocks.claim(chunk))) await this.blocks.retire(chunk);
        this.waiting.delete(chunk);
      }
    });
    this.removing = run.catch(() => undefined);
    return run;
  }
}
