import type { BlockRef, BlockStore } from '@memmapfs/blocks';
import { sameBlock } from './block-references.js';

/** The longest wait before blocks that could not be written are tried again. */
const MAX_RETRY_WAIT_MS = 5000;

/**
 * With a shared log: writes the blocks of other hosts' records into this host's chunk files
 * (`BlockStore.materialize`), and keeps those that cannot be written yet (a full disk, say), with their
 * bytes, until they can: tried again in order after a wait that doubles up to 5 s, as records arrive or
 * reads catch up; a full disk ends a round at its first failure (it fails them all alike), and while
 * it is full a new block waits its turn behind them. Reads take a kept block from its bytes meanwhile.
 */
export class UnwrittenBlocks {
  private readonly pending = new Map<string, { ref: BlockRef; bytes: Uint8Array }>();
  private retry = { at: 0, waitMs: 0, diskFull: false };

  constructor(private readonly blocks: BlockStore) {}

  /** How many blocks wait to be written (no checkpoint is written while any do). */
  get size(): number {
    return this.pending.size;
  }

  /** Writes `copy`, the block `ref` names, or keeps it (a copy of its own: `copy` may be a view into the records read) to write later. */
  write(ref: BlockRef, copy: Uint8Array): void {
    if (this.pending.size > 0) this.writeKept();
    if (this.pending.size === 0 || !this.retry.diskFull) {
      try {
        this.blocks.materialize(ref, copy);
        return;
      } catch (error) {
        this.failed(error);
      }
    }
    this.pending.set(keyOf(ref), { ref, bytes: new Uint8Array(copy) });
  }

  /** Tries the kept blocks again, in order, once their wait is over (`now`: whatever the wait). */
  writeKept(now = false): void {
    if (this.pending.size === 0 || (!now && performance.now() < this.retry.at)) return;
    let failure: unknown;
    for (const [key, kept] of this.pending) {
      try {
        this.blocks.materialize(kept.ref, kept.bytes);
        this.pending.delete(key);
      } catch (error) {
        failure ??= error;
        if (isDiskFull(error)) break;
      }
    }
    if (failure === undefined) this.retry = { at: 0, waitMs: 0, diskFull: false };
    else this.failed(failure);
  }

  /** The bytes of block `ref` if it is kept here, not yet written. */
  read(ref: BlockRef): Uint8Array | undefined {
    if (this.pending.size === 0) return undefined;
    const kept = this.pending.get(keyOf(ref));
    return kept && sameBlock(kept.ref, ref) ? kept.bytes : undefined;
  }

  /** A write failed: warned about, and the next try waits (doubling, up to `MAX_RETRY_WAIT_MS`). */
  private failed(error: unknown): void {
    const waitMs = Math.min(MAX_RETRY_WAIT_MS, Math.max(50, this.retry.waitMs * 2));
    this.retry = { at: performance.now() + waitMs, waitMs, diskFull: isDiskFull(error) };
    process.emitWarning(`Blocks of other hosts could not be written to this host's chunk files; they are tried again in ${waitMs} ms, as changes arrive or are read: ${(error as Error)?.message ?? error}`, { code: 'MEMMAPFS_BLOCK_WRITE_FAILED' });
  }
}

const keyOf = (ref: BlockRef) => `${ref.chunk}:${ref.offset}`;

/** Whether `error` (or what caused it) says the disk or the quota is full. */
function isDiskFull(error: unknown): boolean {
  for (let at: unknown = error, depth = 0; at instanceof Error && depth < 5; at = at.cause, depth++) {
    const code = (at as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  }
  return false;
}
