import type { BlockRef } from '@memmapfs/blocks';

/** Whether two references name the same block: its place (a compaction's move keeps length and checksum). */
export function sameBlock(a: BlockRef, b: BlockRef): boolean {
  return a.chunk === b.chunk && a.offset === b.offset && a.length === b.length;
}

/**
 * The end a retired chunk has (above any chunk's size): no block is placed in it again, whoever holds
 * its file, and checkpoints keep it so (docs/FORMAT.md, checkpoint tables).
 */
export const RETIRED_END = 0xffffffff;

/**
 * Where the records applied so far point in the chunk files: the highest chunk number and, per chunk,
 * the end of the highest range. The block store never places a new block below these (a record whose
 * block a crash lost still owns its range: its copy is put back there).
 */
export class BlockReferences {
  private readonly ends = new Map<number, number>();
  private highest = -1;

  /** Notes a range a durable record references (live or not: a deleted memory's range is not reused either). */
  note(ref: BlockRef): void {
    const end = ref.offset + ref.length;
    if (end > (this.ends.get(ref.chunk) ?? 0)) this.ends.set(ref.chunk, end);
    if (ref.chunk > this.highest) this.highest = ref.chunk;
  }

  /** Notes that a compaction retired `chunk`: its end becomes `RETIRED_END`, so no block is ever placed in it again. */
  retire(chunk: number): void {
    this.note({ chunk, offset: 0, length: RETIRED_END, crc: 0 });
  }

  /**
   * A record placed a block in `ref.chunk` after a compaction retired it (a process that had not applied
   * the retirement yet placed it there): the chunk is live again, up to that block's end.
   */
  unretire(ref: BlockRef): void {
    this.ends.set(ref.chunk, ref.offset + ref.length);
  }

  /** Whether a compaction retired `chunk`. */
  isRetired(chunk: number): boolean {
    return this.end(chunk) >= RETIRED_END;
  }

  /** Takes the ends a checkpoint recorded (before any record after it is noted). */
  load(ends: ReadonlyMap<number, number>): void {
    for (const [chunk, end] of ends) this.note({ chunk, offset: 0, length: end, crc: 0 });
  }

  /** The end of the highest range per chunk, as a checkpoint records them. */
  snapshot(): Map<number, number> {
    return new Map(this.ends);
  }

  /** End of the highest range referenced in `chunk` (0 when none). */
  end(chunk: number): number {
    return this.ends.get(chunk) ?? 0;
  }

  /** The highest chunk number referenced (below `below`, when given), or -1. */
  lastChunk(below?: number): number {
    if (below === undefined || this.highest < below) return this.highest;
    let last = -1;
    for (const chunk of this.ends.keys()) if (chunk < below && chunk > last) last = chunk;
    return last;
  }
}
