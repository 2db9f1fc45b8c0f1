import type { BlockError } from './block-error.js';

/** Where a block's bytes live, and their checksum. Stored in the WAL record that owns the block. */
export interface BlockRef {
  /** Chunk file number: `blocks/chunk_0003.bin` is chunk 3. */
  readonly chunk: number;
  /** Byte offset of the block in its chunk file. */
  readonly offset: number;
  /** Length of the block in bytes. */
  readonly length: number;
  /** CRC32C of the block's bytes. */
  readonly crc: number;
}

/** The block `BlockStore.verify` found damaged or missing first. */
export interface BlockVerifyFailure {
  /** Its index in the list given. */
  readonly index: number;
  /** What `read` throws for it: `BLOCK_CORRUPT`, `BLOCK_MISSING`, or `IO_ERROR`. */
  readonly error: BlockError;
}

/** A block whose place is chosen and whose write is under way. */
export interface PlacedBlock {
  /** Where the block will be; valid at once. */
  readonly ref: BlockRef;
  /** Resolves when the bytes are written (not yet durable), rejects with a `BlockError` when they cannot be. */
  readonly written: Promise<void>;
  /**
   * Says the block no longer needs its chunk held: the record that points at it is in the log, or will
   * never be. Until then the store keeps the chunk as its own, even across `seal`, so that no store
   * claims it (compaction would remove the block before the record naming it is written). Call it once
   * (later calls do nothing); it resolves when a chunk sealed meanwhile has been let go of.
   */
  release(): Promise<void>;
}

/** Blocks placed together (see `BlockStore.placeMany`). */
export interface PlacedBlocks {
  /** Where each block will be, in the order given; valid at once. */
  readonly refs: readonly BlockRef[];
  /**
   * Resolves when every block's bytes are written (not yet durable), rejects with a `BlockError` when
   * any cannot be.
   */
  readonly written: Promise<void>;
  /** Says none of the blocks needs its chunk held any more, as `PlacedBlock.release` does for one. */
  release(): Promise<void>;
}

/** How a block store reads bytes back: zero-copy views into a memory mapping, or copies read from the file. */
export type BlockReader = 'mmap' | 'read';

/** One chunk file, as `BlockStore.listChunks` lists it. */
export interface ChunkInfo {
  readonly chunk: number;
  /** Its size in bytes. */
  readonly bytes: number;
}

/** Size of a block store on disk. */
export interface BlockStoreStats {
  /** Number of chunk files. */
  readonly chunkFiles: number;
  /** Total bytes in chunk files. */
  readonly bytes: number;
}

/** Options of `BlockStore.sync` and `syncAll`. */
export interface BlockSyncOptions {
  /**
   * Blocks to write again where they lie, with the bytes they hold now, before the fsync (each read and
   * checked against its checksum first; one that fails is left as it is, for `verify` to find). Pass
   * the blocks whose other copies are about to be given up, e.g. the log's copies before a checkpoint
   * retires them. An fsync that fails loses the pages it was to write, yet they still read back from
   * memory and a later fsync of the file, by any process, succeeds without writing them: the process
   * that saw the failure knows, one that opens the store later in the same boot, or has it open
   * meanwhile, does not. Written again, the blocks are this fsync's to write, and its result speaks for them.
   * A store may leave out the blocks it wrote itself through a descriptor it fsyncs: a failure to write
   * their pages back is reported to that descriptor.
   */
  rewrite?: readonly BlockRef[];
}

/**
 * Append-only storage for raw bytes (memory texts, stream chunks) in chunk files. A block, once
 * written, is never changed in place; reads verify the checksum the caller recorded.
 */
export interface BlockStore {
  /** How `read` gets its bytes. */
  readonly reader: BlockReader;
  /**
   * Writes `bytes` as a new block and returns where it is. The bytes are written but not durable
   * until `sync` resolves. The block is not held (see `place`): a `seal` lets its chunk go at once.
   */
  append(bytes: Uint8Array): Promise<BlockRef>;
  /**
   * Like `append`, but resolves as soon as the block's place is chosen, with the write still under
   * way: lets a caller log the reference while the bytes are being written. `read` of the block is
   * valid once `written` resolves. The chunk stays this store's until the block is `release`d.
   */
  place(bytes: Uint8Array): Promise<PlacedBlock>;
  /**
   * Optional. Places many blocks at once, as `place` does each, with one write promise and one
   * release for all of them: a bulk load's thousands of blocks per call cost a few objects, not a
   * promise and a closure each. Checks every length before it places any. When it rejects, the blocks
   * placed so far are released as `release` would (their bytes, which nothing references, may still be
   * written). Without it, callers `place` each block.
   */
  placeMany?(list: readonly Uint8Array[]): Promise<PlacedBlocks>;
  /** Chunk files this store has appended to since it was opened (and so syncs). */
  ownedChunks(): number[];
  /**
   * Makes every block whose `append` has resolved durable (fdatasync of the chunk files touched).
   * `options.rewrite` names blocks to write again first (see `BlockSyncOptions`); only those in chunk
   * files this store appends to are.
   */
  sync(options?: BlockSyncOptions): Promise<void>;
  /**
   * Makes every block written so far durable, whichever process wrote it (e.g. before a checkpoint of
   * the records that point at them). `options.rewrite` names blocks to write again first (see
   * `BlockSyncOptions`). Fails with `READ_ONLY` on a read-only store.
   */
  syncAll(options?: BlockSyncOptions): Promise<void>;
  /**
   * Writes a block's bytes back at the place `ref` names, after a crash lost them (the WAL kept a
   * copy). Checks `bytes` against `ref` first. Durable after the next `sync`.
   */
  restore(ref: BlockRef, bytes: Uint8Array): Promise<void>;
  /**
   * Writes a block placed elsewhere (by another host, whose log record carried its bytes) at the place
   * `ref` names, at once: synchronously, so that it reads as soon as the record is applied. For stores
   * whose hosts share one log and each keep blocks of their own (see `chunkNumbers`); the range must
   * lie outside the chunk numbers this store places blocks in. Checks `bytes` against `ref` first
   * (`INVALID_ARGUMENT`); writing the same bytes again is harmless. Durable after the next `syncAll`.
   */
  materialize(ref: BlockRef, bytes: Uint8Array): void;
  /**
   * Returns a block's bytes after checking them against `ref.crc`. Under `'mmap'` the result is a
   * view into the mapping (no copy), or a copy for bytes written since the chunk was last mapped: treat
   * it as read-only, and copy what you keep for long.
   * Throws `BlockError` `BLOCK_CORRUPT` on a checksum mismatch, `BLOCK_MISSING` when the range
   * is not in the chunk files.
   */
  read(ref: BlockRef): Uint8Array;
  /**
   * Checks many blocks as `read` does (in their chunk file, with their checksum), in few large reads
   * instead of one per block. Resolves with the first of `refs`, in their order, that `read` would
   * refuse, or `undefined` when every one reads back whole. Gives the event loop a turn now and then
   * on a long list; fails with `BLOCK_STORE_CLOSED` if the store closes meanwhile.
   */
  verify(refs: readonly BlockRef[]): Promise<BlockVerifyFailure | undefined>;
  /** Sizes on disk. */
  stats(): BlockStoreStats;
  /**
   * Stops appending to the chunks this store appends to: the blocks placed so far are written and made
   * durable, and the chunks let go of (another store, or this one, may then claim them), each once every
   * block `place`d in it has been released. The next block goes to another chunk.
   */
  seal(): Promise<void>;
  /**
   * Seals (see `seal`) if this store appends to one of `chunks`, or is taking one of them up to append
   * to, for another store that asked for them back (see `reserve`). Optional: without it, the caller
   * seals when `ownedChunks` names one.
   */
  letGo?(chunks: readonly number[]): Promise<void>;
  /** The chunk files there are now (every store's), with their sizes in bytes, by chunk number. */
  listChunks(): Promise<ChunkInfo[]>;
  /**
   * Takes chunk `chunk` out of use for new blocks, for as long as this store is open or until `retire`:
   * no store, this one or another, places a block in it from then on (compaction copies its live
   * blocks elsewhere meanwhile). Resolves `false`, changing nothing, when a store appends to it now
   * (this one included) or it does not exist. Fails with `READ_ONLY` on a read-only store.
   */
  claim(chunk: number): Promise<boolean>;
  /**
   * Ends this store's claim of `chunk` without removing it (a compaction that failed): stores may
   * append to it again. Does nothing for a chunk this store has not claimed. Optional: without it, a
   * claim ends with its store.
   */
  unclaim?(chunk: number): Promise<void>;
  /**
   * Keeps every store of the folder, this one included, from starting to append to `chunks` until the
   * reservation is released or this store closes (or dies): a store that appends to one now goes on
   * until it seals, but none takes one up once it is let go of, so that this store can `claim` it. For
   * an erase that asks the chunks' writers to let go of them. Optional: a store without it lets a chunk
   * let go of be taken up again before the claim.
   */
  reserve?(chunks: readonly number[]): Promise<ChunkReservation>;
  /**
   * Removes a chunk this store claimed: its blocks are no longer read by reference (`BLOCK_MISSING`),
   * except by stores that hold it open already (until they `forget` it) and through views handed out
   * before. The removal is durable when it resolves. Never truncates or rewrites the file.
   */
  retire(chunk: number): Promise<void>;
  /**
   * Lets go of this store's descriptor and mapping of `chunk` (views handed out stay valid): after
   * another store retired it, the disk space is freed once every store has let go. A later read opens
   * it again by name, if it is still there.
   */
  forget(chunk: number): void;
  /** Syncs and closes the files. Views already returned stay readable until garbage-collected. */
  close(): Promise<void>;
}

/** Chunks kept from new blocks by `BlockStore.reserve`. */
export interface ChunkReservation {
  /** The chunks reserved. */
  readonly chunks: readonly number[];
  /** Ends the reservation (a claim taken meanwhile stays). Idempotent. */
  release(): Promise<void>;
}

/**
 * Where durable records point in the block store, as the caller (which reads the log) knows it. What
 * these methods throw reaches the call that asked (`append`, `place`) as it is.
 */
export interface ReferencedRanges {
  /** End of the highest range any durable record references in chunk `chunk` (0 when none). */
  end(chunk: number): number;
  /** The highest chunk number below `below` (default: any) that a durable record references (-1 when none). */
  lastChunk(below?: number): number;
  /**
   * Called once the store holds the owner's lock of an existing chunk it may append to, before it asks
   * `end(chunk)`: a caller whose records arrive late (a log other hosts share) catches up here, so that
   * what was committed before the lock was taken (a retirement of the chunk, say) counts.
   */
  beforeAdopt?(chunk: number): Promise<void>;
}

/** Chunk numbers from `first` up to, and not including, `end`. */
export interface ChunkNumberRange {
  readonly first: number;
  readonly end: number;
}

/** What every kind of block store is opened with. An implementation adds where it lives when it makes its `BlockStoreOpener`. */
export interface BlockStoreOpenOptions {
  /** Read only: nothing is created or written; writes fail with `READ_ONLY`. */
  readOnly?: boolean;
  /** `'auto'` (default): zero-copy reads when the store can; `'mmap'`: fail if it cannot; `'read'`: copies. */
  reader?: 'auto' | BlockReader;
  /**
   * Where durable records point: new blocks are never placed in those ranges (a record whose block a
   * crash took still owns its range: its copy is put back there). Asked whenever room is chosen.
   */
  referenced?: ReferencedRanges;
  /**
   * The chunk numbers new blocks may be placed in, asked whenever a chunk is chosen for them (default:
   * any). Hosts that share one log and keep block files of their own each place blocks in numbers of
   * their own, so that the blocks of other hosts (`materialize`) never land where this one writes.
   * What it throws reaches the call that asked as it is.
   */
  chunkNumbers?: () => ChunkNumberRange;
}

/** Opens one block store: how a store is given the blocks it runs on. */
export type BlockStoreOpener = (options: BlockStoreOpenOptions) => Promise<BlockStore>;

