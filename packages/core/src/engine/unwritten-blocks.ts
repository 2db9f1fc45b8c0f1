import type { BlockRef, BlockStore } from '@memmapfs/blocks';
import { sameBlock } from './block-references.js';
import { describeThrown } from '@memmapfs/wal';
import { monotonicMs } from '../monotonic-clock.js';

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
  /** Chunks whose file is being removed: their blocks are kept until `release` (see `hold`). */
  private readonly held = new Set<number>();
  /** Read-only: blocks are never written, only kept (see `keepOnly`). */
  private keeping: { readonly trustFiles: boolean } | undefined;

  constructor(private readonly blocks: BlockStore) {}

  /**
   * For a read-only process: blocks are kept in memory and never written. With `trustFiles` (the log
   * vouches for the cache's chunk files), one that a process of this host has written to its place
   * (its bytes there match its checksum) is read from there instead, and its copy let go of.
   */
  keepOnly(trustFiles: boolean): void {
    this.keeping = { trustFiles };
  }

  /** How many blocks wait to be written (no checkpoint is written while any do). */
  get size(): number {
    return this.pending.size;
  }

  /** Writes `copy`, the block `ref` names, or keeps it (a copy of its own: `copy` may be a view into the records read) to write later. */
  write(ref: BlockRef, copy: Uint8Array): void {
    if (this.held.has(ref.chunk)) {
      this.pending.set(keyOf(ref), { ref, bytes: new Uint8Array(copy) });
      return;
    }
    if (this.keeping) {
      this.dropWritten();
      if (!this.inChunkFiles(ref)) this.pending.set(keyOf(ref), { ref, bytes: new Uint8Array(copy) });
      return;
    }
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
    if (this.keeping) {
      this.dropWritten(now);
      return;
    }
    if (this.pending.size === 0 || (!now && monotonicMs() < this.retry.at)) return;
    let failure: unknown;
    for (const [key, kept] of this.pending) {
      if (this.held.has(kept.ref.chunk)) continue;
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

  /** Read-only: lets go of the kept blocks that processes of this host have written since (looked for at most once a second). */
  private dropWritten(now = false): void {
    if (!this.keeping?.trustFiles || this.pending.size === 0 || (!now && monotonicMs() < this.retry.at)) return;
    this.retry = { at: monotonicMs() + 1000, waitMs: 0, diskFull: false };
    for (const [key, kept] of this.pending) {
      if (this.inChunkFiles(kept.ref)) this.pending.delete(key);
      // (Written in order, by appends and as records arrive: the first not there ends the look.)
      else break;
    }
  }

  /** Whether block `ref` is at its place in the chunk files, whole (read-only, with files the log vouches for). */
  private inChunkFiles(ref: BlockRef): boolean {
    if (!this.keeping?.trustFiles) return false;
    try {
      this.blocks.read(ref);
      return true;
    } catch {
      return false;
    }
  }

  /** Whether blocks of a chunk whose file is being removed are held (see `hold`). */
  get holding(): boolean {
    return this.held.size > 0;
  }

  /**
   * While chunk `chunk`'s file is being removed (a retired chunk), its blocks are kept in memory, not
   * written into the file going away: `release` writes them into a new one.
   */
  hold(chunk: number): void {
    this.held.add(chunk);
  }

  /** The file of chunk `chunk` is gone (or stays): its blocks kept meanwhile are written now. */
  release(chunk: number): void {
    this.held.delete(chunk);
    if (!this.keeping) this.writeKept(true);
  }

  /** Drops the kept blocks of `chunks` (retired by a compaction: nothing reads them any more). */
  dropChunks(chunks: ReadonlySet<number>): void {
    for (const [key, kept] of this.pending) if (chunks.has(kept.ref.chunk)) this.pending.delete(key);
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
    this.retry = { at: monotonicMs() + waitMs, waitMs, diskFull: isDiskFull(error) };
    process.emitWarning(`Blocks of other hosts could not be written to this host's chunk files; they are tried again in ${waitMs} ms, as changes arrive or are read: ${describeThrown(error)}`, { code: 'MEMMAPFS_BLOCK_WRITE_FAILED' });
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
