import type { BlockStore } from '@memmapfs/blocks';

/**
 * With a shared log: removes this host's files of the chunks a compaction retired, whichever host
 * compacted (every host keeps a copy of every chunk). Each process of the host that applies the record
 * removes them, a grace period later (a process of the host that has not applied it yet, and reads
 * there, finds the chunk gone, catches up and reads the new place), or at once on open and close, so
 * that a short-lived process leaves none behind. Removing one removed already changes nothing.
 */
export class RetiredChunks {
  private readonly waiting = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private removing: Promise<void> = Promise.resolve();

  constructor(
    private readonly blocks: BlockStore,
    private readonly graceMs: number,
  ) {}

  /** Chunks a record retired; removed after the grace period (or by `removeNow`). */
  add(chunks: Iterable<number>): void {
    for (const chunk of chunks) this.waiting.add(chunk);
    if (this.waiting.size === 0 || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.removeNow().catch((error: unknown) => {
        process.emitWarning(`Chunk files a compaction retired could not be removed from this host's cache (tried again on close and the next open): ${(error as Error)?.message ?? error}`, { code: 'MEMMAPFS_RETIRE_FAILED' });
      });
    }, this.graceMs).unref();
  }

  /** Whether chunk `chunk` waits to be removed. */
  has(chunk: number): boolean {
    return this.waiting.has(chunk);
  }

  /** Removes every chunk waiting, now (after a removal under way). */
  removeNow(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.removing.then(async () => {
      for (const chunk of [...this.waiting]) {
        // (A claim fails, changing nothing, when the file is gone already or another process holds its claim: that one removes it.)
        if (await this.blocks.claim(chunk)) await this.blocks.retire(chunk);
        this.waiting.delete(chunk);
      }
    });
    this.removing = run.catch(() => undefined);
    return run;
  }
}
