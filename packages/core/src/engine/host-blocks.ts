import { BlockError, type BlockRef, type BlockStore, type PlacedBlock } from '@memmapfs/blocks';
import { MemMapError } from '../errors.js';
import type { StoreFileSystem } from '../types.js';
import { withFileLock } from './file-lock.js';
import { claimMoreChunks, ownsChunk, type HostCachePaths, type HostChunksSite, type OwnChunks } from './host-chunks.js';
import { RecordType, type LogRecord } from './log-records.js';
import type { UnwrittenBlocks } from './unwritten-blocks.js';

/** What `HostBlocks` needs of the engine. */
export interface HostBlocksSite extends HostChunksSite {
  readonly blocks: BlockStore;
  readonly unwritten: UnwrittenBlocks;
  readonly layout: HostCachePaths & { readonly hostLock: string };
  readonly files: StoreFileSystem;
  /** The host cache this process opened for writing, if any. */
  ownCacheName(): string | undefined;
}

/**
 * With a log hosts share, the blocks of this host cache: the chunk numbers it places its own in (the
 * range it claimed, and those it used up before), the blocks of other hosts' records it writes where
 * their references say, and, once its numbers are used up, the claim of more.
 */
export class HostBlocks {
  /** This cache's chunk numbers, once the open claimed them (or took its claim up again). */
  own: OwnChunks | undefined;
  /** A claim of more chunk numbers under way. */
  private claiming: Promise<void> | undefined;

  constructor(
    private readonly site: HostBlocksSite,
    /** How long a claim waits for `host.lock`. */
    private readonly lockWaitMs: number,
  ) {}

  /** Whether chunk `chunk` is among this host cache's chunk numbers (known once the open claimed them). */
  owns(chunk: number): boolean {
    return this.own !== undefined && ownsChunk(this.own, chunk);
  }

  /**
   * Writes the block a record carries into this host's chunk files, where its reference says, unless it
   * lies in this host's chunk numbers (a process of this host wrote it there before the record). A write
   * that fails (disk full) is warned about and tried again later (see `UnwrittenBlocks`); reads take the
   * block from its copy meanwhile, and no checkpoint is written past it.
   */
  writeRecordBlocks(record: LogRecord): void {
    if (record.type === RecordType.Checkpoint) {
      // (Never written to a shared log: it would retire copies that are other hosts' only source.)
      throw new MemMapError('WAL_RECORD_INVALID', `Record type ${record.type} (checkpoint) in a log hosts share: this release cannot apply it there. Upgrade MemMapFS.`, { subsystem: 'wal' });
    }
    if (record.type === RecordType.BlocksMoved) {
      // A compaction's moves carry the blocks' bytes (type 14): without them the new places would be empty here.
      const moves = [...record.memories, ...record.streams];
      if (moves.some((move) => move.copy === undefined)) {
        throw new MemMapError('WAL_RECORD_INVALID', `A blocks-moved record without the blocks' bytes in a log hosts share: this host cannot write them where they moved. Upgrade MemMapFS.`, { subsystem: 'wal' });
      }
      for (const move of moves) this.writeCopy(move.to, move.copy!);
      return;
    }
    const block = record.type === RecordType.MemoryPut ? { ref: record.memory.ref, copy: record.copy } : record.type === RecordType.StreamAppend ? { ref: record.ref, copy: record.copy } : undefined;
    if (block?.copy) this.writeCopy(block.ref, block.copy);
  }

  private writeCopy(ref: BlockRef, copy: Uint8Array): void {
    if (this.owns(ref.chunk)) return;
    this.site.unwritten.write(ref, copy);
  }

  /**
   * Places a block (`BlockStore.place`); once this host cache has used up its chunk numbers, claims more
   * through the log (or takes those a process of the host claimed) and places it there.
   */
  async place(bytes: Uint8Array, attempt = 1): Promise<PlacedBlock> {
    const used = this.own;
    try {
      return await this.site.blocks.place(bytes);
    } catch (error) {
      const cache = this.site.ownCacheName();
      if (!(error instanceof BlockError && error.code === 'CHUNKS_EXHAUSTED' && used && cache)) throw error;
      // (More were claimed while this placement waited: it goes there.)
      if (this.own !== used) return this.place(bytes);
      if (attempt >= 3) throw error;
      this.claiming ??= withFileLock(this.site.layout.hostLock, this.site.files, async () => {
        this.own = await claimMoreChunks(this.site, this.site.layout, this.site.files, cache, used);
      }, this.lockWaitMs).finally(() => (this.claiming = undefined));
      await this.claiming;
      return this.place(bytes, attempt + 1);
    }
  }
}
