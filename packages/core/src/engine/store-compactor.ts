import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeThrown } from '@memmapfs/wal';
import { MemMapError } from '../errors.js';
import { monotonicMs } from '../monotonic-clock.js';
import type { CheckpointRowsProgress } from '../checkpoint/checkpoint-file.js';
import { claimVictims, liveBytesInTurns, moveLiveBlocks, reclaimable, type CompactionPlan, type CompactionReport, type CompactionSite, type CompactionStep, type CompactOptions } from './compaction.js';
import type { DeadBytesBound } from './dead-bytes-bound.js';
import { RecordType, type LogRecord } from './log-records.js';
import type { RetiredChunks } from './retired-chunks.js';
import type { SearchIndex } from './search-index.js';
import type { StoreLayout } from './store-layout.js';

/** How many times `compact({ erase: true })` cuts the log, a grace apart, while a process still reads a segment before the deletion. */
const ERASE_CUT_TRIES = 5;
/** How often `compact({ erase: true })` tries again to claim the chunk files it asked other processes to let go of. */
const ASK_BACK_POLL_MS = 100;
/** Compaction by policy (`autoCompaction`) starts at most this often in one process. */
const AUTO_COMPACTION_INTERVAL_MS = 60_000;

/** What the compactor needs of the store engine, beyond what choosing the chunks and moving the blocks need. */
export interface CompactorSite extends CompactionSite {
  readonly layout: StoreLayout;
  /** The log is one hosts share: it keeps its records for the other hosts (snapshots let them go). */
  readonly remote: boolean;
  readonly closing: boolean;
  /** Resolves once `close()` was called: a grace under way is cut short. */
  readonly closeRequested: Promise<void>;
  readonly index: SearchIndex;
  readonly retiredChunks: RetiredChunks;
  /** What the applied records tell of the dead bytes, for compaction by policy. */
  readonly deadBytes: DeadBytesBound;
  /** The LSN the tables' last checkpoint covers. */
  readonly checkpointLsn: number;
  /** `autoCompaction`'s least dead bytes worth a compaction; `undefined`: none by policy. */
  readonly autoCompactionMinDeadBytes: number | undefined;
  commit(records: LogRecord[]): Promise<number[]>;
  /** Writes a checkpoint of every change applied (after the one under way), telling `onRows` of its rows. */
  checkpointTables(onRows?: CheckpointRowsProgress): Promise<void>;
  /** Lets the log drop the records before `lsn` (never past the manifest's checkpoint), and a saved index the cut left stale. */
  cutLogBefore(lsn: number): Promise<{ first: number; capped: boolean }>;
  /** The LSN of the oldest record the log holds. */
  oldestLsnHeld(): Promise<number>;
  /** Whether no checkpoint file from before the tables' last one is left, its removal durable (see `CheckpointStore.removedBefore`). */
  checkpointsBeforeRemoved(): Promise<boolean>;
}

/**
 * A store's compactions (see `compaction.ts` and docs/ARCHITECTURE.md): one at a time, asked for or by
 * policy; with erase, the chunks other stores append to asked back; the checkpoint and the cuts of
 * the log that follow the move; and the grace other processes get before the emptied chunks go.
 */
export class StoreCompactor {
  constructor(
    private readonly site: CompactorSite,
    /** How long a compaction waits, after its move is committed, before it removes the chunk files it emptied. */
    private readonly retireGraceMs: number,
  ) {}

  /** Not before this time does `consider` start another compaction. */
  private nextAutoCompactionAt = 0;

  /**
   * Compaction by policy, after a checkpoint written in the background: starts one when the chunk files
   * it would rewrite hold at least `autoCompactionMinDeadBytes` dead bytes (see `autoCompaction`), at
   * most once every `AUTO_COMPACTION_INTERVAL_MS`. Never fails: a failed one is a warning.
   */
  async consider(): Promise<void> {
    const minDeadBytes = this.site.autoCompactionMinDeadBytes;
    if (minDeadBytes === undefined || this.site.closing || monotonicMs() < this.nextAutoCompactionAt) return;
    try {
      // (Nothing let go of since the last count, and too little written that no record references: no count.)
      const atMost = this.site.deadBytes.deadAtMost((await this.site.blocks.listChunks()).filter((chunk) => this.site.mayCompact(chunk.chunk)));
      if (atMost !== undefined && atMost < minDeadBytes) return;
      this.site.deadBytes.counting();
      const live = await liveBytesInTurns(this.site);
      this.site.deadBytes.counted(live);
      if (this.site.closing) return;
      let dead = 0;
      for (const chunk of await this.site.blocks.listChunks()) if (this.site.mayCompact(chunk.chunk)) dead += reclaimable(chunk, live, false);
      if (dead < minDeadBytes || this.site.closing) return;
      this.nextAutoCompactionAt = monotonicMs() + AUTO_COMPACTION_INTERVAL_MS;
      await this.compact({ background: true });
    } catch (error) {
      // (Its scan of the tables cut short by a close, which lets go of them: nothing failed.)
      if (this.site.closing && MemMapError.is(error, 'STORE_CLOSED')) return;
      process.emitWarning(`A compaction by policy failed (nothing is lost; it is tried again after a later checkpoint): ${describeThrown(error)}`, { code: 'MEMMAPFS_COMPACTION_FAILED' });
    }
  }

  /** The compaction under way, if any: one at a time per process. */
  private compacting: Promise<unknown> = Promise.resolve();

  /** Compactions asked for (not by policy) that have not ended: while there is one, every grace keeps the process alive. */
  private compactionsAsked = 0;

  /** The timer of the grace a compaction is waiting out, if any. */
  private graceTimer: NodeJS.Timeout | undefined;

  /** Runs a compaction (see `engine/compaction.ts` and docs/ARCHITECTURE.md), after the one under way. */
  compact(options: CompactOptions & { background?: boolean } = {}): Promise<CompactionReport> {
    if (this.site.remote && options.erase === true) {
      return Promise.reject(new MemMapError('NOT_SUPPORTED', `compact({ erase: true }) is not available with a log other hosts share (the wal option): every host keeps a copy of every block, and the log keeps each record until a snapshot lets it go. Run compact() on each host, then publishSnapshot() (\`memmapfs snapshot\`) twice, so that the log drops the records before the newer snapshot.`));
    }
    // One asked for behind one by policy keeps the process alive through the grace that one waits
    // out: else a script's `await compact()` or `close()` (which waits for it) could see Node exit
    // under it, with nothing else to do.
    if (options.background !== true) {
      this.compactionsAsked++;
      this.graceTimer?.ref();
    }
    const run = this.compacting.then(() => this.compactNow(options));
    this.compacting = run.catch(() => undefined);
    this.underWay++;
    void this.compacting.then(() => this.underWay--);
    if (options.background !== true) void this.compacting.then(() => this.compactionsAsked--);
    return run;
  }

  /**
   * With erase: asks the stores appending to the chunks `plan` could not take to let go of them (a
   * checkpoint record naming them, which every process applies within its idle catch-up, sealing its
   * chunks), and claims each as soon as it is let go of (before another store's new chunk may take it
   * up), for a few idle catch-ups at most. A store that does not let go (of a release before this, or
   * whose process is busy for the whole wait) keeps its chunk, which the report counts as skipped.
   */
  private async askChunksBack(plan: CompactionPlan): Promise<CompactionPlan> {
    // (Not this store's own: one of them holds a block whose record is not in the log yet, and is let go of once it is.)
    const own = new Set(this.site.blocks.ownedChunks());
    const asked = plan.skipped.filter((chunk) => !own.has(chunk));
    if (asked.length === 0) return plan;
    // Reserved first: no store takes one of them up once its writer lets go of it, before the claim here.
    const reservation = await this.site.blocks.reserve?.(asked);
    let waiting = asked;
    const claimedHere: number[] = [];
    try {
      await this.site.commit([{ type: RecordType.Checkpoint, upTo: 0, chunks: [], letGo: asked }]);
      const until = monotonicMs() + ERASE_CUT_TRIES * this.retireGraceMs;
      while (waiting.length > 0 && monotonicMs() < until && (await this.graceUnlessClosed(false, ASK_BACK_POLL_MS))) {
        const still: number[] = [];
        for (const chunk of waiting) {
          if (await this.site.claims.claim(chunk)) claimedHere.push(chunk);
          else still.push(chunk);
        }
        waiting = still;
      }
      // (Closing: nothing more is copied for them; the claims end here, or with the store.)
      if (this.site.closing) {
        await this.site.claims.unclaim(claimedHere);
        return plan;
      }
      // Chosen again with what was committed meanwhile applied. Every chunk claimed is rewritten, even one
      // those records show all live now: a claim ends only when its chunk is retired, the compaction fails
      // or this store closes, and one kept would keep every other store from the chunk (and its erase from
      // what is deleted there).
      this.site.refresh();
      const again = await claimVictims(this.site, true);
      // (One share of each chunk for this compaction: those it held already were claimed again.)
      const held = new Set([...plan.victims, ...claimedHere]);
      await this.site.claims.unclaim(again.victims.filter((chunk) => held.has(chunk)));
      const victims = [...new Set([...held, ...again.victims])];
      return { victims, skipped: again.skipped.filter((chunk) => !victims.includes(chunk)), chunkBytesBefore: plan.chunkBytesBefore };
    } catch (error) {
      await this.site.claims.unclaim(claimedHere);
      throw error;
    } finally {
      await reservation?.release();
    }
  }

  private async compactNow(options: CompactOptions & { background?: boolean }): Promise<CompactionReport> {
    const erase = options.erase === true;
    const background = options.background === true;
    // (By policy, no one reads the report: the index folder is not walked for it.)
    const indexBytes = () => (background ? Promise.resolve(0) : folderBytes(this.site.layout.index));
    const indexBytesBefore = await indexBytes();
    const nothing = { expiredDeleted: 0, chunksRewritten: 0, chunksSkipped: 0, blocksMoved: 0, chunkBytesBefore: 0, chunkBytesAfter: 0, logFirstLsn: 0, indexBytesBefore, indexBytesAfter: indexBytesBefore, indexFilesLeft: 0 };
    // The caller's progress display must not stop a compaction half-way: what it throws is a warning.
    const onProgress = options.onProgress;
    const progress = (done: number, total: number, step: CompactionStep) => {
      try {
        onProgress?.(done, total, step);
      } catch (error) {
        process.emitWarning(`compact: the onProgress callback threw (the compaction goes on): ${describeThrown(error)}`, { code: 'MEMMAPFS_CALLBACK_FAILED' });
      }
    };
    if (background && this.site.closing) return nothing;
    // Expired memories are deleted first: their text then counts as dead. (Not by policy: until a
    // compaction is asked for, expiry only hides a memory, which a clock stepping back shows again.)
    this.site.refresh();
    let expiredDeleted = 0;
    const now = Date.now();
    for (const [id, expiresAt] of background ? [] : [...this.site.memories.withExpiry()]) {
      if (expiresAt > now) continue;
      const outcome = await this.site.commitIf([{ type: RecordType.MemoryDelete, id, at: now }], undefined, () => this.site.memories.has(id) && this.site.memories.expiryOf(id) === expiresAt);
      if (outcome === 'written') expiredDeleted++;
    }
    // (Loaded before the log it would replay is dropped: see `loadForCompaction`.)
    if (!background) await this.site.index.loadForCompaction();
    let plan = await claimVictims(this.site, erase);
    /** Whether this compaction still holds its shares of the victims (see `ChunkClaims`): ended once, by the retire or the release. */
    let holdsVictims = true;
    try {
      if (erase && plan.skipped.length > 0) plan = await this.askChunksBack(plan);
      // By policy, a compaction that could take no chunk (other processes append to them) changes nothing.
      if (background && plan.victims.length === 0) return { ...nothing, chunksSkipped: plan.skipped.length, chunkBytesBefore: plan.chunkBytesBefore, chunkBytesAfter: plan.chunkBytesBefore };
      const blocksMoved = plan.victims.length > 0 ? await moveLiveBlocks(this.site, plan.victims, progress) : 0;
      // The checkpoint step counts the rows its checkpoints write: each one's are added to the total as it
      // begins, so that what is done never goes back.
      let rowsBefore = 0;
      let rowsTotal = 0;
      const checkpointRows = async () => {
        let rows = 0;
        await this.site.checkpointTables((written, total) => {
          if (rows === 0) rowsTotal += total;
          rows = total;
          progress(rowsBefore + written, rowsTotal, 'checkpoint');
        });
        rowsBefore += rows;
      };
      // A checkpoint that covers the move, then the log before it goes (history included: compaction drops it).
      // (A shared log keeps its records for the other hosts: snapshots let them go, see `publishSnapshot`.)
      progress(0, 1, 'checkpoint');
      await checkpointRows();
      const covered = this.site.remote ? 0 : this.site.checkpointLsn;
      // The index is saved before each cut, at the checkpoint or after it: one saved earlier could not be
      // brought up to date from the log any more, and a process loading it before the compaction ends
      // would rebuild it from every memory. (With erase, it is purged at the end anyway.)
      const cutLog = async (before: number) => {
        if (!erase) {
          await this.site.index.savePersistent({ upToDate: true });
          // (One saved before, by any process, when nothing it indexes changed since.)
          await this.site.index.carrySavedForward();
        }
        return (await this.site.cutLogBefore(before)).first;
      };
      // (Where the log begins after this cut: where it still begins should a close end the compaction early.)
      const firstCut = covered > 0 ? await cutLog(covered + 1) : covered + 1;
      if (plan.victims.length > 0) {
        // Every other process applies the move within its idle catch-up and lets go of the victims;
        // one that reads a victim later finds it gone, catches up and reads the new place. (A close
        // cuts the wait short: the victims, all dead now, are removed by a later compaction.)
        if (!(await this.graceUnlessClosed(background))) {
          const chunkBytesAfter = (await this.site.blocks.listChunks()).reduce((sum, c) => sum + c.bytes, 0);
          return { expiredDeleted, chunksRewritten: 0, chunksSkipped: plan.skipped.length + plan.victims.length, blocksMoved, chunkBytesBefore: plan.chunkBytesBefore, chunkBytesAfter, logFirstLsn: firstCut, indexBytesBefore, indexBytesAfter: await indexBytes(), indexFilesLeft: 0, ...(erase ? { erased: false } : {}) };
        }
        // (With a shared log, as every host does when it applies the move: see `RetiredChunks`. Its
        // removal ends the shares of those it retires; this compaction's share of one it kept ends here:
        // one still waiting is claimed again by the next removal, one found in use again stays.)
        if (this.site.remote) {
          await this.site.retiredChunks.removeNow();
          holdsVictims = false;
          await this.site.claims.unclaim(plan.victims);
        } else {
          for (const chunk of plan.victims) await this.site.claims.retire(chunk);
          holdsVictims = false;
        }
      }
      // Records other processes committed after the checkpoint share the segment its record was sealed in,
      // and processes that still read older segments have moved on meanwhile: a checkpoint after all of
      // them lets those segments go too (with erase, until the deletion's segment is gone: a process that
      // still reads one lets go of it when it catches up, within its idle catch-up if it reads nothing,
      // which a grace waits out before the next try; with no victims, none was waited out before the first).
      // (A shared log drops nothing here: the oldest record it holds is read, without its writer lock.)
      let logFirstLsn = this.site.remote ? await this.site.oldestLsnHeld() : firstCut;
      for (let round = 0; covered > 0 && round < (erase ? ERASE_CUT_TRIES : 1); round++) {
        if (round > 0 && !(await this.graceUnlessClosed(background))) break;
        await checkpointRows();
        logFirstLsn = await cutLog(this.site.checkpointLsn + 1);
        if (logFirstLsn > covered) break;
      }
      if (rowsTotal === 0) progress(1, 1, 'checkpoint');
      progress(0, 1, 'index');
      let indexFilesLeft = 0;
      if (erase) ({ indexFilesLeft } = await this.site.index.eraseSaved());
      else await this.site.index.savePersistent({ compact: true, upToDate: true });
      progress(1, 1, 'index');
      // (With erase, the checkpoints before the compaction's, which hold deleted memories' rows: gone, durably.)
      const checkpointsGone = !erase || (await this.site.checkpointsBeforeRemoved());
      const chunkBytesAfter = (await this.site.blocks.listChunks()).reduce((sum, c) => sum + c.bytes, 0);
      // (Erased: no chunk left with dead bytes, no record from before the compaction's checkpoint, no older
      // checkpoint, no index file replaced.)
      const erased = plan.skipped.length === 0 && (covered === 0 || logFirstLsn > covered) && checkpointsGone && indexFilesLeft === 0;
      return { expiredDeleted, chunksRewritten: plan.victims.length, chunksSkipped: plan.skipped.length, blocksMoved, chunkBytesBefore: plan.chunkBytesBefore, chunkBytesAfter, logFirstLsn, indexBytesBefore, indexBytesAfter: await indexBytes(), indexFilesLeft, ...(erase ? { erased } : {}) };
    } catch (error) {
      // The chunks it claimed and did not retire are let go of: until then no store could take them
      // (nor another compaction, nor its erase).
      if (holdsVictims) await this.site.claims.unclaim(plan.victims);
      throw error;
    }
  }

  /**
   * Waits `ms` (the retire grace, the time other processes take to catch up when idle, by default);
   * false when a close cut it short. (The timer keeps the process alive, so that a script's `await compact()` resolves; by
   * policy it does not, unless a compaction asked for waits behind it, and a process that is done exits
   * with what the compaction had left to do left for a later one.)
   */
  private async graceUnlessClosed(background: boolean, ms = this.retireGraceMs): Promise<boolean> {
    let grace: NodeJS.Timeout | undefined;
    const graceOver = new Promise((resolve) => {
      grace = setTimeout(resolve, ms);
      if (background && this.compactionsAsked === 0) grace.unref();
    });
    this.graceTimer = grace;
    try {
      await Promise.race([graceOver, this.site.closeRequested]);
    } finally {
      this.graceTimer = undefined;
      clearTimeout(grace);
    }
    return !this.site.closing;
  }

  /** Compactions queued or running. */
  private underWay = 0;

  /** A compaction is queued or running. */
  get busy(): boolean {
    return this.underWay > 0;
  }

  /** Resolves once the compaction under way, if any, has ended (never rejects). */
  settled(): Promise<unknown> {
    return this.compacting;
  }
}

/** Bytes of the files under `folder` (0 when it is missing), for the compaction's report. */
async function folderBytes(folder: string): Promise<number> {
  let total = 0;
  const entries = await readdir(folder, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name)).catch(() => undefined))?.size ?? 0;
  }
  return total;
}
