import { describeThrown, type WriteAheadLog } from '@memmapfs/wal';
import type { CheckpointStore } from '../checkpoint/checkpoint-store.js';
import type { SearchIndex } from './search-index.js';

/** What the history's cuts need of the store engine. */
export interface LogHistorySite {
  /** The log (opened after the engine is made: read when a cut runs). */
  readonly wal: WriteAheadLog;
  readonly index: SearchIndex;
  readonly checkpoints: CheckpointStore;
}

/**
 * The history the log keeps past this process's checkpoints (`historyRetentionMs`): which records the
 * checkpoints older than the retention cover, and the cuts that let the log drop them (a compaction's
 * cuts go through `cutBefore` too).
 */
export class LogHistory {
  constructor(
    private readonly site: LogHistorySite,
    /** How long the records a checkpoint of this process covers are kept after it (`Infinity`: until a compaction). */
    private readonly retentionMs: number,
  ) {}

  /** Checkpoints of this process, published or superseded by one as recent (LSN and when), for `retentionMs`. */
  private readonly published: Array<{ lsn: number; at: number }> = [];

  /** The LSN up to which checkpoints older than `retentionMs` cover the log, still to be cut (0: none). */
  private covered = 0;

  /** The cut of the history under way, if any: one at a time. Never rejects. */
  private cutting: Promise<void> = Promise.resolve();

  /** The log is closed (or being closed): no cut is started any more. */
  private stopped = false;

  /**
   * Notes a checkpoint published by this process, and the records the checkpoints older than
   * `retentionMs` cover, for `cut`. (Another process's checkpoints are not known here: history is kept
   * longer, never shorter.)
   */
  note(lsn: number): void {
    if (this.retentionMs === Number.POSITIVE_INFINITY) return;
    const now = Date.now();
    this.published.push({ lsn, at: now });
    while (this.published.length > 0 && this.published[0]!.at <= now - this.retentionMs) this.covered = Math.max(this.covered, this.published.shift()!.lsn);
  }

  /**
   * Lets the log drop the records `note` found covered. The search index is saved first (waiting at
   * most `UP_TO_DATE_WAIT_MS` for its changes) or carried forward: one saved before the cut
   * could not be brought up to date from the log any more, and every process loading it until the next
   * save would rebuild it from every memory. Runs after a checkpoint, in the background, on
   * `checkpoint()` and on close. Never fails: the history is dropped by a later cut.
   */
  cut(): Promise<void> {
    const run = this.cutting.then(() => this.cutNow());
    this.cutting = run;
    return run;
  }

  private async cutNow(): Promise<void> {
    const noted = this.covered;
    if (noted === 0 || this.site.wal.readOnly || this.stopped) return;
    try {
      await this.site.index.savePersistent({ upToDate: true });
      await this.site.index.carrySavedForward();
      const { capped } = await this.cutBefore(noted + 1);
      // (Capped at the checkpoint the manifest names: tried again by the next cut.)
      if (!capped && this.covered === noted) this.covered = 0;
    } catch (error) {
      // The checkpoint stands; the history it covers is dropped by a later cut.
      process.emitWarning(`The log was not shortened after the checkpoint of record ${noted}: ${describeThrown(error)}`, { code: 'MEMMAPFS_RETENTION_FAILED' });
    }
  }

  /**
   * Lets the log drop the records before `lsn`, but never past the checkpoint the manifest names now:
   * one this process wrote may have been found damaged and removed since (by this process or another),
   * while the log still held every record, and the log is then the only copy of what it covered.
   * Returns the LSN of the first record the log holds afterwards (see `WriteAheadLog.truncateBefore`),
   * and whether the cut was held back by that checkpoint.
   */
  private truncateBefore(lsn: number): Promise<{ first: number; capped: boolean }> {
    // (Under the publishing lock: a discard of that checkpoint waits, and finds the log cut.)
    return this.site.checkpoints.whilePublished(this.site.wal.header.logId, async (published) => {
      const bound = Math.max(1, Math.min(lsn, (published?.lsn ?? 0) + 1));
      return { first: await this.site.wal.truncateBefore(bound), capped: bound < lsn };
    });
  }

  /**
   * `truncateBefore`, then the saved search index the cut left stale removed (see
   * `SearchIndex.dropSavedBefore`). Returns the LSN of the first record the log holds afterwards, and
   * whether the cut was held back by the checkpoint the manifest names.
   */
  async cutBefore(lsn: number): Promise<{ first: number; capped: boolean }> {
    const cut = await this.truncateBefore(lsn);
    await this.site.index.dropSavedBefore(Math.min(lsn - 1, cut.first - 1), cut.first === lsn);
    return cut;
  }

  /** Resolves once the cut under way, if any, has ended (never rejects). */
  settled(): Promise<void> {
    return this.cutting;
  }

  /** The log is being closed: no cut is started any more. */
  stop(): void {
    this.stopped = true;
  }
}
