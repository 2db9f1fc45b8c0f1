import type { BlockRef, ChunkInfo } from '@memmapfs/blocks';
import { mostlyDead } from './compaction.js';

/**
 * The most dead bytes each chunk file can hold since the live bytes were last counted (`liveBytes`, a
 * walk of every memory: about a second, in turns, at a million), kept up record by record, so that
 * compaction by policy counts again only when enough may have died. A block that a new record
 * references adds to its chunk's live bytes as much as to the chunk's size; whatever else grows a
 * chunk (a block placed whose record was never written) is taken for dead. A record that lets go of a
 * block (an update, a delete, a move) leaves no bound: the next consideration counts.
 */
export class DeadBytesBound {
  /** Live bytes by chunk at the last count; `undefined` before one, or once the tables were replaced. */
  private live: ReadonlyMap<number, number> | undefined;
  /** Bytes of blocks that records applied since the count reference, by chunk. */
  private added = new Map<number, number>();
  private letGoSinceCount = true;
  /** A block was let go of while a count was under way: the count may hold it as live. */
  private letGoWhileCounting = false;

  /** A record applied references a new block (a new memory's, a stream's). */
  referenced(ref: BlockRef): void {
    if (this.live) this.added.set(ref.chunk, (this.added.get(ref.chunk) ?? 0) + ref.length);
  }

  /** A record applied may have let go of a block (the memory it replaced, deleted or moved). */
  letGo(): void {
    this.letGoSinceCount = true;
    this.letGoWhileCounting = true;
  }

  /** The tables were replaced (a checkpoint loaded): nothing is known until the next count. */
  forget(): void {
    this.live = undefined;
  }

  /** A count of the live bytes starts. Records applied meanwhile may be in it or not. */
  counting(): void {
    this.letGoWhileCounting = false;
  }

  /**
   * The count that started at the last `counting()` ended with `live`. (Blocks referenced meanwhile are
   * counted from the end on: one the count missed is taken for dead, never the other way round.)
   */
  counted(live: ReadonlyMap<number, number>): void {
    this.live = live;
    this.added = new Map();
    this.letGoSinceCount = this.letGoWhileCounting;
  }

  /**
   * The most dead bytes compaction without `erase` could reclaim from `chunks` now (those of them it
   * would take: `mostlyDead` at most, so not if their bound is not); `undefined` when it is not known.
   */
  deadAtMost(chunks: readonly ChunkInfo[]): number | undefined {
    const live = this.live;
    if (!live || this.letGoSinceCount) return undefined;
    let dead = 0;
    for (const { chunk, bytes } of chunks) {
      const most = bytes - (live.get(chunk) ?? 0) - (this.added.get(chunk) ?? 0);
      if (mostlyDead(most, bytes)) dead += most;
    }
    return dead;
  }
}
