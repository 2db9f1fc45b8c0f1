import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync, writeSync } from 'node:fs';
import * as nodeFileSystem from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crc32c } from '@memmapfs/wal';
import { BlockError } from './block-error.js';
import type { BlockReader, BlockRef, BlockStore, BlockSyncOptions, BlockStoreOpener, BlockStoreOpenOptions, BlockStoreStats, BlockVerifyFailure, ChunkInfo, ChunkNumberRange, ChunkReservation, PlacedBlock, PlacedBlocks, ReferencedRanges } from './block-store.js';
import { tryLeaseFile, tryLockHandle, type FileLease } from './file-lease.js';
import { rewriteRuns } from './rewrite-runs.js';
import { MAX_MAPPING_SIZE, loadMmap, mmapInstallAdvice, mmapLoadError, mmapUnavailableReason, warnMapFailed, warnReadFallback, type MmapBinding } from './mmap-binding.js';

/** New chunk files in a row that this process created and could not lock before it gives up (see `startChunk`). */
const MAX_CREATED_NOT_OWNED = 64;

/** Options of `openChunkStore`: those of every block store, and where this one lives. */
export interface ChunkStoreOptions extends BlockStoreOpenOptions {
  /** Folder of the chunk files, e.g. `<root>/blocks`. Created when missing (unless read-only). */
  dir: string;
  /** A chunk file is sealed once the next block would take it past this size. Default 64 MiB, at most 1 GiB. */
  chunkSize?: number;
  /** The file operations the store uses. Default `node:fs/promises` and `writeSync` of `node:fs`; tests pass one that injects faults. */
  fileSystem?: BlockFileSystem;
}

/** The chunk files in `dir`, as a `BlockStoreOpener` for a store. */
export function chunkStore(dir: string, extra: Pick<ChunkStoreOptions, 'chunkSize' | 'fileSystem'> = {}): BlockStoreOpener {
  return (options) => openChunkStore({ ...options, ...extra, dir });
}

/**
 * The file operations the block store uses: a seam for fault injection. The subset of
 * `node:fs/promises`, plus, optionally, `writeSync` of `node:fs` for small writes (see `SYNC_WRITE_LIMIT`).
 * A seam without it has every write go through its handles, unless its `open` is Node's own: its
 * handles are then Node's, and Node's `writeSync` writes small runs to them as the handles would.
 */
export type BlockFileSystem = Pick<typeof nodeFileSystem, 'open' | 'rename' | 'mkdir' | 'readdir' | 'link' | 'unlink'> & {
  writeSync?: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number;
};

const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
/**
 * Runs of blocks up to this size are written with a synchronous write into the page cache (a few
 * microseconds, never waiting for the disk) rather than through the I/O thread pool, whose round trip
 * (waking a pool thread, then the event loop) costs more than the write itself. Larger runs go to the pool.
 */
const SYNC_WRITE_LIMIT = 64 * 1024;
const MAX_CHUNK_SIZE = 1024 * 1024 * 1024;
/**
 * A chunk is mapped again only once it holds at least this many times the bytes of its current mapping
 * (or of the mapping last refused), or once it grows no more (a later chunk exists, or it is full); the bytes written in
 * between are read with `pread` (copies). So a chunk read as it grows gets a few dozen mappings over its
 * life, not one per read past the last one.
 */
const REMAP_GROWTH = 2;
/** `verify` reads the blocks of a chunk in runs of up to this many bytes… */
const VERIFY_RUN = 1024 * 1024;
/** …taking in a gap between two blocks of up to this many bytes, rather than reading again after it. */
const VERIFY_GAP = 64 * 1024;
/** `verify` gives the event loop a turn after each this many bytes read. */
const VERIFY_BYTES_PER_TURN = 8 * 1024 * 1024;
/** …or after this many reads. */
const VERIFY_READS_PER_TURN = 1024;
const CHUNK_NAME = /^chunk_(\d{4,})\.bin$/;
/** What followed a chunk file's name in the temporary names earlier releases made chunks under: `<pid>-<hex>.tmp`. */
const TEMPORARY_NAME = /^\d+-[0-9a-f]+\.tmp$/;
/** The largest chunk number (a checkpoint row holds it in 32 bits). */
const MAX_CHUNK_NUMBER = 2 ** 32 - 1;
/** Write descriptors `materialize` keeps open at most (the least recently used one is closed first). */
const MAX_MATERIALIZE_DESCRIPTORS = 32;

/** File name of chunk `index`: `chunk_0000.bin`, `chunk_0001.bin`, … */
export function chunkFileName(index: number): string {
  return `chunk_${String(index).padStart(4, '0')}.bin`;
}

/**
 * File name of the mark that reserves chunk `index` (`chunk_0000.reserved`, …): a store that holds a
 * shared lock on it keeps every store from taking the chunk up to append to (see `reserve`).
 */
export function reservationFileName(index: number): string {
  return `chunk_${String(index).padStart(4, '0')}.reserved`;
}

/** Tries at taking a shared lock on a reservation's mark that another store holds exclusively for a moment (checking or removing it). */
const RESERVE_TRIES = 200;

/** A chunk file this store reads; `writer` is set for the ones it owns and appends to. */
interface Chunk {
  readonly index: number;
  /** Read-only descriptor for reads and mappings (never the writer's: see `tryOwn`). */
  readonly fd: number;
  /** Bytes known to be in the file. */
  size: number;
  /** The newest mapping, never longer than the file; the views handed out keep older ones alive. */
  mapping: Buffer | undefined;
  /** Length of the last mapping of it the system refused (0: none): the next try waits for the chunk to grow. */
  refusedMapping: number;
  /** Mapped whole once it looked settled (see `mappedRange`): not again for that reason. */
  mappedSettled: boolean;
  writer: ChunkWriter | undefined;
  /** Blocks placed in it and not yet released: while there are any, a sealed chunk stays this store's. */
  held: number;
}

/** Write state of a chunk this process owns (holds its owner lock). */
interface ChunkWriter {
  readonly handle: FileHandle;
  /** The chunk's size when this store took it up: the bytes before it are another store's. */
  readonly from: number;
  /** Next free offset: blocks are placed at once and written a moment later (`flushWrites`). */
  tail: number;
  dirty: boolean;
  /** The fdatasync in flight, if any: a later sync waits for it before deciding it has nothing to do. */
  syncing: Promise<void> | undefined;
  /** A write of a block placed here failed: the file may end before `tail`, where the next owner writes. */
  failedWrite?: boolean;
}

/** A placed block waiting to be written. */
interface PendingWrite {
  readonly chunk: Chunk;
  readonly offset: number;
  readonly bytes: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Opens the chunk files in `dir` (creating the folder when needed) as a `BlockStore`. */
export async function openChunkStore(options: ChunkStoreOptions): Promise<ChunkBlockStore> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 4096 || chunkSize > MAX_CHUNK_SIZE) {
    throw new BlockError('INVALID_ARGUMENT', `chunkSize must be an integer from 4096 to ${MAX_CHUNK_SIZE}; got ${chunkSize}.`);
  }
  const requested = options.reader ?? 'auto';
  if (!['auto', 'mmap', 'read'].includes(requested)) {
    throw new BlockError('INVALID_ARGUMENT', `reader must be 'auto', 'mmap' or 'read'; got ${JSON.stringify(requested)}.`);
  }
  const mmap = requested === 'read' ? null : loadMmap();
  if (requested === 'mmap' && mmap === null) {
    throw new BlockError('ADDON_MISSING', `reader 'mmap' was requested but ${mmapUnavailableReason()}. ${mmapInstallAdvice()} Or use reader 'auto'.`, { cause: mmapLoadError() });
  }
  if (requested === 'auto' && mmap === null) warnReadFallback();
  const files = options.fileSystem ?? nodeFileSystem;
  if (!options.readOnly) {
    try {
      // A folder made here is made durable in its parent: chunk files over 64 KiB have no copy in the log.
      if (await files.mkdir(options.dir, { recursive: true })) await syncAndClose(await files.open(dirname(options.dir), 'r'));
    } catch (error) {
      throw new BlockError('IO_ERROR', `Cannot create ${options.dir}: ${(error as Error).message}`, { cause: error });
    }
  }
  return new ChunkBlockStore(options.dir, chunkSize, mmap, files, options.referenced, options.readOnly ?? false, options.chunkNumbers);
}

/**
 * Blocks appended to numbered chunk files (`chunk_0000.bin`, …), shared by every process that opens the
 * folder. A process appends only to chunks it owns: it holds an exclusive lock on each, taken when it
 * adopts a chunk with room left (whose owner is gone) or creates a new one, so two processes never
 * write the same file, and a dead owner's lock goes with it. A chunk is only ever appended to, never
 * truncated or rewritten, so a mapping can never point past the end of its file. Chunks written by
 * other processes are opened on first read. Under mmap, reads return views into a shared read-only
 * mapping of the chunk, mapped again once the chunk has doubled (reads of the bytes written since are
 * copies until then: see `mappedRange`).
 */
export class ChunkBlockStore implements BlockStore {
  readonly reader: BlockReader;
  private readonly chunks = new Map<number, Chunk>();
  /** The highest chunk number this store has met: a chunk below it no longer grows (writers seal a chunk before starting the next). */
  private highestChunk = -1;
  private active: Chunk | undefined;
  private acquiring: Promise<Chunk> | undefined;
  private pendingWrites: PendingWrite[] = [];
  private closed = false;
  /** Set as `close` begins: no block is placed and no chunk acquired from then on (one started after it would stay locked). */
  private closing = false;
  private closeDone: Promise<void> | undefined;
  /** The first failed fsync of a chunk this store wrote (see `syncFailed`): every later sync throws it. */
  private syncFailure: BlockError | undefined;
  /** The first failed fsync of another store's chunk in `syncAll`: every later `syncAll` throws it. */
  private othersSyncFailure: BlockError | undefined;
  /** Chunks of other stores whose fsync failed in `syncAll`: never taken up (a later fsync of them succeeds though their pages were lost). */
  private readonly othersFailedChunks = new Set<number>();
  /** Ranges of chunks this store appended to and let go of, every byte of them fsynced through its writer's descriptor. */
  private readonly syncedHere = new Map<number, { readonly from: number; readonly to: number }[]>();
  /** Synchronous write for small runs: the seam's; else Node's when the seam opens files with Node's own `open`; else none. */
  private readonly writeSync: BlockFileSystem['writeSync'];

  /** @internal Use `openChunkStore`. */
  constructor(
    private readonly dir: string,
    private readonly chunkSize: number,
    private readonly mmap: MmapBinding | null,
    private readonly files: BlockFileSystem,
    private readonly referenced: ReferencedRanges | undefined = undefined,
    private readonly readOnly = false,
    private readonly chunkNumbers: (() => ChunkNumberRange) | undefined = undefined,
  ) {
    this.reader = mmap ? 'mmap' : 'read';
    // (node:fs/promises itself is known by its functions: a bundle's copy of the module is another object.)
    this.writeSync = files.writeSync?.bind(files) ?? (files.open === nodeFileSystem.open ? writeSync : undefined);
  }

  async append(bytes: Uint8Array): Promise<BlockRef> {
    const placed = await this.place(bytes);
    try {
      await placed.written;
    } finally {
      placed.release().catch(() => undefined);
    }
    return placed.ref;
  }

  async place(bytes: Uint8Array): Promise<PlacedBlock> {
    const { refs, written, release } = await this.placeMany([bytes]);
    return { ref: refs[0]!, written, release };
  }

  async placeMany(list: readonly Uint8Array[]): Promise<PlacedBlocks> {
    this.assertPlacing();
    for (const bytes of list) {
      if (bytes.byteLength > MAX_MAPPING_SIZE) throw new BlockError('INVALID_ARGUMENT', `A block of ${bytes.byteLength} bytes is larger than the ${MAX_MAPPING_SIZE}-byte maximum.`);
    }
    const refs: BlockRef[] = [];
    /** The chunks the blocks went to, each held once until `release`. */
    const held: Chunk[] = [];
    let settle!: { resolve: () => void; reject: (error: unknown) => void };
    const written = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // (Marked handled: a caller may look at it only once the other blocks it places meanwhile are placed,
    // and a write failing before then must not be an unhandled rejection. The caller still sees it.)
    written.catch(() => undefined);
    let left = list.length;
    const wroteOne = () => {
      if (--left === 0) settle.resolve();
    };
    let released: Promise<void> | undefined;
    const release = () => (released ??= this.releaseChunks(held));
    try {
      let chunk = this.active;
      for (const bytes of list) {
        const length = bytes.byteLength;
        // (Checked again after each wait: a seal meanwhile makes the chunk acquired before it no one's to append to.)
        while (!chunk || chunk !== this.active || !chunk.writer || !this.hasRoom(chunk, length)) chunk = await this.acquireChunk(length);
        // (Held as soon as it is chosen, before the next wait: a seal meanwhile must not let it go.)
        if (!held.includes(chunk)) {
          chunk.held++;
          held.push(chunk);
        }
        const writer = chunk.writer;
        const offset = writer.tail;
        writer.tail += length;
        refs.push({ chunk: chunk.index, offset, length, crc: crc32c(bytes) });
        this.pendingWrites.push({ chunk, offset, bytes, resolve: wroteOne, reject: settle.reject });
        if (this.pendingWrites.length === 1) queueMicrotask(() => this.flushWrites());
      }
    } catch (error) {
      void release().catch(() => undefined);
      throw error;
    }
    if (list.length === 0) settle.resolve();
    return { refs, written, release };
  }

  /** Lets go of one hold on each of `chunks`; a chunk sealed meanwhile that no block holds any more is let go of. */
  private releaseChunks(chunks: readonly Chunk[]): Promise<void> {
    const free: Chunk[] = [];
    for (const chunk of chunks) {
      chunk.held--;
      if (chunk.held === 0 && this.sealed.has(chunk.index) && chunk !== this.active) free.push(chunk);
    }
    return free.length > 0 ? this.letGoOfSealed(free) : Promise.resolve();
  }

  async sync(options?: BlockSyncOptions): Promise<void> {
    if (this.syncFailure) throw this.syncFailure;
    if (options?.rewrite?.length) {
      // (A chunk let go of meanwhile is written again through a descriptor of its own, fsynced here.)
      const opened = await this.rewrite(options.rewrite, true);
      try {
        for (const [index, handle] of opened) {
          await handle.datasync().catch((error: unknown) => {
            throw this.syncFailed(index, error);
          });
        }
      } finally {
        for (const handle of opened.values()) await handle.close().catch(() => undefined);
      }
    }
    for (const chunk of this.chunks.values()) {
      const writer = chunk.writer;
      if (!writer) continue;
      while (writer.syncing) await writer.syncing.catch(() => undefined);
      if (this.syncFailure) throw this.syncFailure;
      if (!writer.dirty) continue;
      writer.dirty = false;
      writer.syncing = writer.handle.datasync().finally(() => {
        writer.syncing = undefined;
      });
      try {
        await writer.syncing;
      } catch (error) {
        writer.dirty = true;
        throw this.syncFailed(chunk.index, error);
      }
    }
  }

  /**
   * A chunk's fsync failed: what was written there since the last one that succeeded may be lost, though
   * a later fsync of the file succeed (Linux reports a writeback error once, and marks the pages clean,
   * which still read back until the system drops them from memory). Every sync fails from now on (of
   * this store's chunks, or, for another's chunk, every `syncAll`), as the log does after a failed
   * fsync: no checkpoint of this process takes those blocks for durable and retires their copies.
   */
  private syncFailed(chunk: number, error: unknown, own = true): BlockError {
    const failure = new BlockError('IO_ERROR', `fsync of ${chunkFileName(chunk)} failed: ${(error as Error)?.message ?? error}. What was written there since may be lost, though it still reads back until the system drops it from memory: the disk may be failing. Close the store (the log keeps copies of the blocks it may have lost: an open puts back those that no longer read whole, and every checkpoint writes the others again before it retires their copies), and check the disk; memmapfs export copies its memories elsewhere.`, { cause: error });
    if (!own) {
      this.othersFailedChunks.add(chunk);
      // (Taken up while its fsync was under way: its blocks are this store's to sync now, and a later fsync succeeds.)
      if (this.chunks.get(chunk)?.writer || this.takingUp === chunk) this.syncFailure ??= failure;
      return (this.othersSyncFailure ??= failure);
    }
    return (this.syncFailure ??= failure);
  }

  async syncAll(options?: BlockSyncOptions): Promise<void> {
    this.assertWritable();
    if (this.othersSyncFailure) throw this.othersSyncFailure;
    // (Kept open until their fsync: an fsync reports a writeback error to the descriptors open when it happened.)
    const rewritten = options?.rewrite?.length ? await this.rewrite(options.rewrite, false) : new Map<number, FileHandle>();
    try {
      await this.sync();
      for (const index of new Set([...(await this.chunkIndexes()), ...rewritten.keys()])) {
        // (One this store took over after the sync above is synced by the one below.)
        if (this.chunks.get(index)?.writer && !rewritten.has(index)) continue;
        // Another process's chunk (or a dead one's): an fdatasync through any descriptor flushes the
        // file's pages, whoever wrote them.
        const path = join(this.dir, chunkFileName(index));
        try {
          // (A chunk compaction removed since the listing has nothing to sync.)
          const handle = rewritten.get(index) ?? await this.files.open(path, 'r').catch((error: NodeJS.ErrnoException) => {
            if (error.code === 'ENOENT') return undefined;
            throw error;
          });
          if (!handle) continue;
          try {
            await handle.datasync().catch((error: unknown) => {
              throw this.syncFailed(index, error, false);
            });
          } finally {
            rewritten.delete(index);
            await handle.close();
          }
        } catch (error) {
          if (error === this.othersSyncFailure) throw error;
          throw new BlockError('IO_ERROR', `fsync of ${chunkFileName(index)} failed: ${(error as Error).message}`, { cause: error });
        }
      }
    } finally {
      for (const handle of rewritten.values()) await handle.close().catch(() => undefined);
    }
    // The names too: chunk files `materialize` created (in this process or another) must outlive a power loss.
    try {
      await syncAndClose(await this.files.open(this.dir, 'r'));
    } catch (error) {
      throw new BlockError('IO_ERROR', `fsync of ${this.dir} failed: ${(error as Error).message}`, { cause: error });
    }
    await this.sync();
  }

  /**
   * Whether this store placed `ref` itself: written through its writer's descriptor, which it fsyncs (or
   * did, with success, before it let go of the chunk). A failure to write back its pages is reported to
   * that descriptor's fsync (Linux reports a writeback error to every descriptor open when it happened),
   * so it needs no writing again.
   */
  private writtenHere(ref: BlockRef): boolean {
    const writer = this.chunks.get(ref.chunk)?.writer;
    if (writer && ref.offset >= writer.from) return true;
    return this.syncedHere.get(ref.chunk)?.some((range) => ref.offset >= range.from && ref.offset + ref.length <= range.to) ?? false;
  }

  /**
   * Writes `refs` again where they lie (see `BlockSyncOptions.rewrite`): through the writer's descriptor
   * in a chunk this store appends to (marked for its next fsync), else through one opened here, returned
   * by chunk for the caller to fsync and close (`ownOnly`: only the blocks of chunks this store appends
   * to as it begins are written; one let go of meanwhile is written through a descriptor opened here).
   */
  private async rewrite(refs: readonly BlockRef[], ownOnly: boolean): Promise<Map<number, FileHandle>> {
    const opened = new Map<number, FileHandle>();
    /** Chunks gone since (compaction removed them): nothing of theirs to write. */
    const gone = new Set<number>();
    /** With `ownOnly`, the chunks this store appends to as it begins (one let go of meanwhile stays among them). */
    const own = ownOnly ? new Set(this.ownedChunks()) : undefined;
    let sinceTurn = 0;
    try {
      for (const run of rewriteRuns(refs.filter((ref) => (!own || own.has(ref.chunk)) && !this.writtenHere(ref)), (ref) => {
        if (gone.has(ref.chunk)) throw new Error('not written again');
        return this.read(ref);
      })) {
        const chunk = this.chunks.get(run.chunk);
        const writer = chunk?.writer;
        let handle = writer?.handle ?? opened.get(run.chunk);
        if (!handle) {
          handle = await this.files.open(join(this.dir, chunkFileName(run.chunk)), 'r+').catch((error: NodeJS.ErrnoException) => {
            if (error.code === 'ENOENT') return undefined;
            throw error;
          });
          if (!handle) {
            gone.add(run.chunk);
            continue;
          }
          opened.set(run.chunk, handle);
        }
        // (Held meanwhile: a chunk sealed now is not let go of, its descriptor closed, under the write.)
        if (writer) chunk.held++;
        try {
          for (let written = 0; written < run.bytes.byteLength; ) {
            written += (await handle.write(run.bytes, written, run.bytes.byteLength - written, run.offset + written)).bytesWritten;
          }
          if (writer) writer.dirty = true;
        } finally {
          if (writer) await this.releaseChunks([chunk]);
        }
        sinceTurn += run.bytes.byteLength;
        if (sinceTurn >= VERIFY_BYTES_PER_TURN) {
          sinceTurn = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    } catch (error) {
      for (const handle of opened.values()) await handle.close().catch(() => undefined);
      throw new BlockError('IO_ERROR', `Writing blocks again before an fsync failed: ${(error as Error).message}`, { cause: error });
    }
    return opened;
  }

  ownedChunks(): number[] {
    return [...this.chunks.values()].filter((chunk) => chunk.writer).map((chunk) => chunk.index);
  }

  /** Write descriptors of the chunks `materialize` wrote to (whose blocks this store did not place). */
  private readonly materialized = new Map<number, number>();

  materialize(ref: BlockRef, bytes: Uint8Array): void {
    this.assertOpen();
    this.assertWritable();
    if (!Number.isInteger(ref.chunk) || ref.chunk < 0 || ref.chunk > MAX_CHUNK_NUMBER || !Number.isSafeInteger(ref.offset) || ref.offset < 0) {
      throw new BlockError('INVALID_ARGUMENT', `Cannot write block ${describe(ref)}: its place is invalid.`);
    }
    if (bytes.byteLength !== ref.length || crc32c(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) !== ref.crc >>> 0) {
      throw new BlockError('INVALID_ARGUMENT', `The bytes given for block ${describe(ref)} do not match its length and checksum.`);
    }
    if (this.chunks.get(ref.chunk)?.writer) {
      throw new BlockError('INVALID_ARGUMENT', `Block ${describe(ref)} lies in ${chunkFileName(ref.chunk)}, which this store appends to: only blocks placed elsewhere are materialized.`);
    }
    const path = join(this.dir, chunkFileName(ref.chunk));
    try {
      let fd = this.materialized.get(ref.chunk);
      if (fd !== undefined) {
        // (Most recently used last.)
        this.materialized.delete(ref.chunk);
        this.materialized.set(ref.chunk, fd);
      } else {
        if (this.materialized.size >= MAX_MATERIALIZE_DESCRIPTORS) {
          const [oldest, oldFd] = this.materialized.entries().next().value as [number, number];
          this.materialized.delete(oldest);
          closeSync(oldFd);
        }
        try {
          fd = openSync(path, 'r+');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          // (Another process of this host may create it at the same moment: then both write the same bytes.)
          fd = openSync(path, 'a+');
          closeSync(fd);
          fd = openSync(path, 'r+');
        }
        this.materialized.set(ref.chunk, fd);
      }
      let written = 0;
      while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written, ref.offset + written);
    } catch (error) {
      throw new BlockError('IO_ERROR', `Writing block ${describe(ref)} to ${path} failed: ${(error as Error).message}`, { cause: error });
    }
    const known = this.chunks.get(ref.chunk);
    if (known) known.size = Math.max(known.size, ref.offset + ref.length);
  }

  async restore(ref: BlockRef, bytes: Uint8Array): Promise<void> {
    this.assertOpen();
    this.assertWritable();
    if (bytes.byteLength !== ref.length || crc32c(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) !== ref.crc >>> 0) {
      throw new BlockError('INVALID_ARGUMENT', `The bytes given to restore block ${describe(ref)} do not match its length and checksum.`);
    }
    const path = join(this.dir, chunkFileName(ref.chunk));
    let handle: FileHandle | undefined;
    let madeHere = false;
    try {
      handle = await this.files.open(path, 'r+').catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        madeHere = await this.createEmptyChunk(ref.chunk).then(() => true, (created: NodeJS.ErrnoException) => {
          if (created.code !== 'EEXIST') throw created;
          return false;
        });
        return this.files.open(path, 'r+');
      });
      // (An empty chunk another store made may not have its name durable yet: see `takeUp`.)
      if (!madeHere && (await handle.stat()).size === 0) await syncAndClose(await this.files.open(this.dir, 'r'));
      let written = 0;
      while (written < bytes.byteLength) {
        const { bytesWritten } = await handle.write(bytes, written, bytes.byteLength - written, ref.offset + written);
        written += bytesWritten;
      }
      await handle.datasync().catch((error: unknown) => {
        throw this.syncFailed(ref.chunk, error);
      });
    } catch (error) {
      if (error === this.syncFailure) throw error;
      throw new BlockError('IO_ERROR', `Restoring block ${describe(ref)} failed: ${(error as Error).message}`, { cause: error });
    } finally {
      await handle?.close();
    }
    const known = this.chunks.get(ref.chunk);
    if (known) known.size = Math.max(known.size, ref.offset + ref.length);
  }

  read(ref: BlockRef): Uint8Array {
    this.assertOpen();
    const end = ref.offset + ref.length;
    if (!Number.isInteger(ref.offset) || ref.offset < 0 || !Number.isInteger(ref.length) || ref.length < 0 || !Number.isInteger(ref.chunk) || ref.chunk < 0) {
      throw new BlockError('BLOCK_MISSING', `Block ${describe(ref)} is not in ${this.dir}: its range is invalid.`);
    }
    const chunk = this.chunks.get(ref.chunk) ?? this.discoverChunk(ref.chunk);
    if (!chunk) throw new BlockError('BLOCK_MISSING', `Block ${describe(ref)} is not in ${this.dir}: ${chunkFileName(ref.chunk)} does not exist.`);
    const bytes = this.mmap ? this.mappedRange(chunk, ref.offset, end) : this.readRange(chunk, ref.offset, ref.length);
    if (crc32c(bytes) !== ref.crc >>> 0) {
      throw new BlockError('BLOCK_CORRUPT', `Block ${describe(ref)} fails its checksum: ${chunkFileName(ref.chunk)} is damaged at that range. Restore the file from a backup, or delete what refers to this block.`);
    }
    return bytes;
  }

  async verify(refs: readonly BlockRef[]): Promise<BlockVerifyFailure | undefined> {
    this.assertOpen();
    let failed: BlockVerifyFailure | undefined;
    /** Reads since the last turn of the event loop. */
    let reads = 0;
    // (`read` is the judge of every block that fails in a run, or whose run could not be read: its error is the one given.)
    const judge = (index: number): void => {
      if (failed && failed.index < index) return;
      reads++;
      try {
        this.read(refs[index]!);
      } catch (error) {
        failed = { index, error: error instanceof BlockError ? error : new BlockError('IO_ERROR', `Reading block ${describe(refs[index]!)} failed: ${(error as Error).message}`, { cause: error }) };
      }
    };
    const order: number[] = [];
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i]!;
      const valid = Number.isInteger(ref.chunk) && ref.chunk >= 0 && Number.isSafeInteger(ref.offset) && ref.offset >= 0 && Number.isInteger(ref.length) && ref.length >= 0;
      if (valid) order.push(i);
      else judge(i);
    }
    order.sort((a, b) => refs[a]!.chunk - refs[b]!.chunk || refs[a]!.offset - refs[b]!.offset);
    let readSinceTurn = 0;
    for (let start = 0; start < order.length; ) {
      // A run: blocks of one chunk lying close together, read at once.
      const first = refs[order[start]!]!;
      let runEnd = first.offset + first.length;
      let end = start + 1;
      for (; end < order.length; end++) {
        const next = refs[order[end]!]!;
        const nextEnd = Math.max(runEnd, next.offset + next.length);
        if (next.chunk !== first.chunk || next.offset > runEnd + VERIFY_GAP || nextEnd - first.offset > VERIFY_RUN) break;
        runEnd = nextEnd;
      }
      let run: Buffer | undefined;
      reads++;
      try {
        const chunk = this.chunks.get(first.chunk) ?? this.discoverChunk(first.chunk);
        if (chunk) run = this.mmap ? this.mappedRange(chunk, first.offset, runEnd) : this.readRange(chunk, first.offset, runEnd - first.offset);
      } catch {
        // (Past the end of the file, say: each block of the run is judged on its own.)
      }
      for (let k = start; k < end; k++) {
        const index = order[k]!;
        if (failed && failed.index < index) continue;
        const ref = refs[index]!;
        const at = ref.offset - first.offset;
        if (run && crc32c(run.subarray(at, at + ref.length)) === ref.crc >>> 0) continue;
        judge(index);
      }
      start = end;
      readSinceTurn += runEnd - first.offset;
      // (Runs of a few blocks each, and blocks judged one by one, cost a read each: counted too.)
      if (readSinceTurn >= VERIFY_BYTES_PER_TURN || reads >= VERIFY_READS_PER_TURN) {
        readSinceTurn = 0;
        reads = 0;
        await new Promise((resolve) => setImmediate(resolve));
        this.assertOpen();
      }
    }
    return failed;
  }

  stats(): BlockStoreStats {
    let chunkFiles = 0;
    let bytes = 0;
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      names = [];
    }
    for (const name of names) {
      const match = CHUNK_NAME.exec(name);
      if (!match) continue;
      chunkFiles++;
      const chunk = this.chunks.get(Number(match[1]));
      bytes += chunk?.writer ? Math.max(chunk.size, chunk.writer.tail) : statSync(join(this.dir, name), { throwIfNoEntry: false })?.size ?? 0;
    }
    return { chunkFiles, bytes };
  }

  /** Write runs under way (see `flushWrites`). */
  private readonly runs = new Set<Promise<void>>();
  /** Chunks this store sealed: it never adopts them again. */
  private readonly sealed = new Set<number>();
  /** The chunk this store is taking up (between the owner's lock and its first append), if any. */
  private takingUp: number | undefined;

  async letGo(chunks: readonly number[]): Promise<void> {
    this.assertOpen();
    const asked = new Set(chunks);
    // (One it is taking up counts: the request may have come after the chunk's reservation was looked for.)
    const owns = [...this.chunks.values()].some((chunk) => chunk.writer && asked.has(chunk.index)) || (this.takingUp !== undefined && asked.has(this.takingUp));
    if (owns) await this.seal();
  }

  async seal(): Promise<void> {
    this.assertOpen();
    this.assertWritable();
    while (this.acquiring) await this.acquiring.catch(() => undefined);
    const sealing = [...this.chunks.values()].filter((chunk) => chunk.writer);
    // From here on, new blocks go to another chunk.
    this.active = undefined;
    for (const chunk of sealing) this.sealed.add(chunk.index);
    await this.letGoOfSealed(sealing);
  }

  /**
   * Lets go of sealed chunks: every block placed in them is written (writes may start while others
   * finish) and synced, and each whose placed blocks are all released is no longer this store's.
   */
  private async letGoOfSealed(chunks: Chunk[]): Promise<void> {
    await this.drainWrites();
    if (this.closed) return;
    await this.sync();
    for (const chunk of chunks) {
      const writer = chunk.writer;
      // (Never one taken up again meanwhile by a block placed during the sync, nor one still holding a
      // block whose record is not yet in the log: its release lets go of it.)
      if (!writer || chunk === this.active || chunk.held > 0 || writer.dirty) continue;
      chunk.writer = undefined;
      // (Not after a failed write: the next owner's blocks may lie below `tail`.)
      if (!writer.failedWrite) {
        const ranges = this.syncedHere.get(chunk.index);
        if (ranges) ranges.push({ from: writer.from, to: writer.tail });
        else this.syncedHere.set(chunk.index, [{ from: writer.from, to: writer.tail }]);
      }
      await writer.handle.close().catch(() => undefined);
    }
  }

  async listChunks(): Promise<ChunkInfo[]> {
    this.assertOpen();
    const listed: ChunkInfo[] = [];
    for (const chunk of await this.chunkIndexes().catch(() => [] as number[])) {
      const known = this.chunks.get(chunk);
      const bytes = known?.writer ? Math.max(known.size, known.writer.tail) : statSync(join(this.dir, chunkFileName(chunk)), { throwIfNoEntry: false })?.size;
      if (bytes !== undefined) listed.push({ chunk, bytes });
    }
    return listed;
  }

  /** Chunks this store claimed (holding their owner lock without appending): chunk number → descriptor. */
  private readonly claimed = new Map<number, FileHandle>();

  async claim(chunk: number): Promise<boolean> {
    this.assertOpen();
    this.assertWritable();
    if (this.claimed.has(chunk)) return true;
    if (this.chunks.get(chunk)?.writer) return false;
    let handle: FileHandle;
    try {
      // Read-write, for the exclusive lock (Linux OFD locks need a descriptor open for writing); nothing is written through it.
      handle = await this.files.open(join(this.dir, chunkFileName(chunk)), 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new BlockError('IO_ERROR', `Cannot open ${chunkFileName(chunk)}: ${(error as Error).message}`, { cause: error });
    }
    // The owner's lock: while it is held, no store adopts the chunk to append to it.
    try {
      if (!(await takeOwnerLock(handle))) return false;
    } catch (error) {
      if (error instanceof BlockError) throw error;
      throw new BlockError('IO_ERROR', `Cannot lock ${chunkFileName(chunk)}: ${(error as Error).message}`, { cause: error });
    }
    this.claimed.set(chunk, handle);
    return true;
  }

  async unclaim(chunk: number): Promise<void> {
    const handle = this.claimed.get(chunk);
    if (!handle) return;
    this.claimed.delete(chunk);
    await handle.close().catch(() => undefined);
  }

  /** Reservations this store holds (see `reserve`): chunk number → the lock on its mark, one per chunk. */
  private readonly reservations = new Map<number, FileLease>();

  async reserve(chunks: readonly number[]): Promise<ChunkReservation> {
    this.assertOpen();
    this.assertWritable();
    const taken: number[] = [];
    try {
      for (const chunk of new Set(chunks)) {
        if (this.reservations.has(chunk)) continue;
        this.reservations.set(chunk, await this.lockReservation(chunk));
        taken.push(chunk);
      }
    } catch (error) {
      for (const chunk of taken) await this.endReservation(chunk);
      throw error instanceof BlockError ? error : new BlockError('IO_ERROR', `Cannot reserve chunks in ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
    let released: Promise<void> | undefined;
    return {
      chunks: [...taken],
      release: () =>
        (released ??= (async () => {
          for (const chunk of taken) await this.endReservation(chunk);
        })()),
    };
  }

  /** Makes chunk `chunk`'s mark (if missing) and takes a shared lock on it. */
  private async lockReservation(chunk: number): Promise<FileLease> {
    const path = join(this.dir, reservationFileName(chunk));
    for (let tries = 1; ; tries++) {
      await (await this.files.open(path, 'a')).close();
      const lease = await tryLeaseFile(path, 'shared');
      if (typeof lease === 'object') return lease;
      // ('removed': a store removed a mark no one held between the open and the lock; 'busy': one holds it
      // exclusively for as long as it takes to check it, or to remove it.)
      if (tries >= RESERVE_TRIES) throw new BlockError('IO_ERROR', `Cannot lock ${reservationFileName(chunk)} in ${this.dir}: another process holds it exclusively.`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Lets go of this store's reservation of `chunk`, and removes its mark unless another store holds it too. */
  private async endReservation(chunk: number): Promise<void> {
    const lease = this.reservations.get(chunk);
    this.reservations.delete(chunk);
    await lease?.release();
    await this.removeUnheldReservation(chunk).catch(() => undefined);
  }

  /** Whether another store, or this one, reserves chunk `chunk` now; removes a mark no store holds (one a store that died left). */
  private async reservedNow(chunk: number): Promise<boolean> {
    if (this.reservations.has(chunk)) return true;
    return !(await this.removeUnheldReservation(chunk));
  }

  /** Removes chunk `chunk`'s mark if no store holds it: true when there is none now, false when one holds it. */
  private async removeUnheldReservation(chunk: number): Promise<boolean> {
    const path = join(this.dir, reservationFileName(chunk));
    const lease = await tryLeaseFile(path, 'exclusive');
    if (lease === 'removed') return true;
    if (lease === 'busy') return false;
    try {
      await this.files.unlink(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    } finally {
      await lease.release();
    }
    return true;
  }

  async retire(chunk: number): Promise<void> {
    this.assertOpen();
    this.assertWritable();
    const handle = this.claimed.get(chunk);
    if (!handle) throw new BlockError('INVALID_ARGUMENT', `Chunk ${chunkFileName(chunk)} was not claimed by this store: claim it first.`);
    try {
      // (Gone already: an earlier retire removed it and then failed to sync the folder.)
      await this.files.unlink(join(this.dir, chunkFileName(chunk))).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      await this.removeSecondNames(chunk);
      await syncAndClose(await this.files.open(this.dir, 'r'));
    } catch (error) {
      throw new BlockError('IO_ERROR', `Cannot remove ${chunkFileName(chunk)}: ${(error as Error).message}`, { cause: error });
    }
    this.claimed.delete(chunk);
    await handle.close().catch(() => undefined);
    this.forget(chunk);
    // (A mark a store that reserved the chunk and died left: nothing takes up a chunk that is gone.)
    if (!this.reservations.has(chunk)) await this.removeUnheldReservation(chunk).catch(() => undefined);
  }

  forget(chunk: number): void {
    const materialized = this.materialized.get(chunk);
    if (materialized !== undefined) {
      this.materialized.delete(chunk);
      closeSync(materialized);
    }
    const known = this.chunks.get(chunk);
    // (Never one this store appends to: its blocks are live.)
    if (!known || known.writer) return;
    known.mapping = undefined;
    this.chunks.delete(chunk);
    closeSync(known.fd);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    return (this.closeDone ??= this.closeNow());
  }

  private async closeNow(): Promise<void> {
    this.closing = true;
    try {
      while (this.acquiring) await this.acquiring.catch(() => undefined);
      // The blocks placed before the close are written (their writes are queued for a microtask), then synced.
      await this.drainWrites();
      await this.sync();
    } finally {
      this.closed = true;
      for (const handle of this.claimed.values()) await handle.close().catch(() => undefined);
      this.claimed.clear();
      for (const chunk of [...this.reservations.keys()]) await this.endReservation(chunk);
      for (const chunk of this.chunks.values()) {
        chunk.mapping = undefined;
        if (chunk.writer) await chunk.writer.handle.close().catch(() => undefined);
        closeSync(chunk.fd);
      }
      this.chunks.clear();
      for (const fd of this.materialized.values()) closeSync(fd);
      this.materialized.clear();
    }
  }

  private hasRoom(chunk: Chunk, length: number): boolean {
    const tail = chunk.writer!.tail;
    return tail === 0 || tail + length <= this.chunkSize;
  }

  /**
   * Writes the blocks placed since the last flush: each run of adjacent blocks in one chunk with one
   * write, so that a burst of appends costs one write, not one per block.
   */
  private flushWrites(): void {
    const writes = this.pendingWrites.splice(0);
    writes.sort((a, b) => a.chunk.index - b.chunk.index || a.offset - b.offset);
    let run: PendingWrite[] = [];
    for (const write of writes) {
      const last = run.at(-1);
      if (last && (last.chunk !== write.chunk || last.offset + last.bytes.byteLength !== write.offset)) {
        this.startRun(run);
        run = [];
      }
      run.push(write);
    }
    if (run.length > 0) this.startRun(run);
  }

  private startRun(run: PendingWrite[]): void {
    const running = this.writeRun(run);
    this.runs.add(running);
    void running.finally(() => this.runs.delete(running));
  }

  private async writeRun(run: PendingWrite[]): Promise<void> {
    const { chunk, offset } = run[0]!;
    const writer = chunk.writer!;
    const bytes = run.length === 1 ? run[0]!.bytes : Buffer.concat(run.map((w) => w.bytes));
    const length = bytes.byteLength;
    try {
      let written = 0;
      // Not while the chunk is being fsynced: on a device that needs stable pages, a write to a page under
      // writeback waits for the disk, and it must not wait on the event loop.
      const writeNow = length <= SYNC_WRITE_LIMIT && !writer.syncing ? this.writeSync : undefined;
      while (written < length) {
        written += writeNow
          ? writeNow(writer.handle.fd, bytes, written, length - written, offset + written)
          : (await writer.handle.write(bytes, written, length - written, offset + written)).bytesWritten;
      }
    } catch (error) {
      const failure = new BlockError('IO_ERROR', `Writing ${length} bytes to ${chunkFileName(chunk.index)} failed: ${(error as Error).message}`, { cause: error });
      writer.failedWrite = true;
      for (const write of run) write.reject(failure);
      return;
    }
    chunk.size = Math.max(chunk.size, offset + length);
    writer.dirty = true;
    for (const write of run) write.resolve();
  }

  /** Waits until every block placed so far is written (or its write has failed). */
  private async drainWrites(): Promise<void> {
    while (this.pendingWrites.length > 0 || this.runs.size > 0) {
      if (this.pendingWrites.length > 0) this.flushWrites();
      await Promise.allSettled([...this.runs]);
    }
  }

  /** Finds a chunk to append to: adopts the last chunk if it has room and nobody owns it, else creates one. */
  private async acquireChunk(length: number): Promise<Chunk> {
    while (this.acquiring) await this.acquiring.catch(() => undefined);
    if (this.closing) throw new BlockError('BLOCK_STORE_CLOSED', `The block store in ${this.dir} is closed.`);
    if (this.active && this.hasRoom(this.active, length)) return this.active;
    this.acquiring = this.startChunk(length);
    try {
      return (this.active = await this.acquiring);
    } finally {
      this.acquiring = undefined;
    }
  }

  private async startChunk(length: number): Promise<Chunk> {
    try {
      const chunkNumbers = this.chunkNumbers;
      const range = (chunkNumbers ? callersOwn(() => chunkNumbers()) : undefined) ?? { first: 0, end: MAX_CHUNK_NUMBER + 1 };
      const existing = (await this.chunkIndexes()).filter((index) => index >= range.first && index < range.end);
      const last = existing.at(-1);
      if (last !== undefined && last !== this.active?.index && !this.sealed.has(last)) {
        const adopted = await this.tryOwn(last, length, false);
        if (adopted) return adopted;
      }
      let createdNotOwned = 0;
      const active = this.active !== undefined && this.active.index >= range.first && this.active.index < range.end ? this.active.index : -1;
      const referencedLast = this.referenced ? callersOwn(() => this.referenced!.lastChunk(range.end)) : -1;
      for (let index = Math.max(range.first - 1, last ?? -1, active, referencedLast) + 1; ; index++) {
        if (index >= range.end) {
          throw new BlockError('CHUNKS_EXHAUSTED', `Cannot start a chunk file in ${this.dir}: every chunk number this store may use (${range.first} to ${range.end - 1}) is taken.`);
        }
        try {
          await this.createEmptyChunk(index);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw error;
        }
        const created = await this.tryOwn(index, length, true);
        if (created) return created;
        // Another process may adopt a chunk this one just created, now and then; every one of them, never.
        if (++createdNotOwned >= MAX_CREATED_NOT_OWNED) {
          throw new BlockError('IO_ERROR', `Cannot lock the chunk files this process creates in ${this.dir} (${createdNotOwned} in a row were refused): the system refuses file locks here (a security policy such as AppArmor or SELinux may deny them), or other processes take every new chunk.`);
        }
      }
    } catch (error) {
      throw error instanceof BlockError || callersErrors.has(error as object) ? error : new BlockError('IO_ERROR', `Cannot start a chunk file in ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Takes ownership of chunk `index` if no other process holds it and it has room for `length` bytes;
   * `madeHere`: this store just made it (and its name durable).
   */
  private async tryOwn(index: number, length: number, madeHere: boolean): Promise<Chunk | undefined> {
    const handle = await this.files.open(join(this.dir, chunkFileName(index)), 'r+').catch((error: NodeJS.ErrnoException) => {
      // Removed (by compaction) since the listing: not one to adopt.
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!handle || !(await takeOwnerLock(handle))) return undefined;
    if (this.othersFailedChunks.has(index)) {
      await handle.close();
      return undefined;
    }
    this.takingUp = index;
    try {
      return await this.takeUp(index, handle, length, madeHere);
    } finally {
      this.takingUp = undefined;
    }
  }

  /** `tryOwn` once the owner's lock is taken through `handle` (closed when the chunk is not taken up). */
  private async takeUp(index: number, handle: FileHandle, length: number, madeHere: boolean): Promise<Chunk | undefined> {
    // Checked under the owner's lock: a store that reserves the chunk does so before it asks its owner
    // to let go, so an owner that let go of it did so after the mark was there.
    try {
      if (await this.reservedNow(index)) {
        await handle.close();
        return undefined;
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    let size: number;
    let referencedEnd: number;
    try {
      const referenced = this.referenced;
      if (referenced?.beforeAdopt) await callersOwn(() => referenced.beforeAdopt!(index));
      size = (await handle.stat()).size;
      referencedEnd = referenced ? callersOwn(() => referenced.end(index)) : 0;
    } catch (error) {
      await handle.close();
      throw error;
    }
    // Too full; or shorter than what durable records reference in it (a crash took bytes that their
    // copies will put back): appending there would write into their ranges.
    if ((size > 0 && size + length > this.chunkSize) || size < referencedEnd) {
      await handle.close();
      return undefined;
    }
    // An empty chunk another store made: it may have stopped (been killed) before it made the chunk's
    // name durable, which the blocks written here, those without a copy in their record, need.
    // (A chunk with bytes in it was written by a store that had made its name durable first.)
    if (size === 0 && !madeHere) {
      try {
        await syncAndClose(await this.files.open(this.dir, 'r'));
      } catch (error) {
        await handle.close();
        throw error;
      }
    }
    // Reads and mappings use a descriptor of their own: a mapping keeps its open file alive, and with
    // it any lock taken through it, so mapping the writer's descriptor would outlive the ownership.
    const chunk = this.chunks.get(index) ?? this.discoverChunk(index);
    if (!chunk) {
      await handle.close();
      return undefined;
    }
    chunk.size = Math.max(chunk.size, size);
    // A chunk taken over from a process that died may hold bytes that were never fsynced: the next
    // sync (and so the next checkpoint naming this chunk) must cover them.
    chunk.writer = { handle, from: size, tail: size, dirty: size > 0, syncing: undefined };
    return chunk;
  }

  /** Creates chunk `index` empty, its name durable (the folder fsynced); EEXIST when another process made it first. */
  private async createEmptyChunk(index: number): Promise<void> {
    // Created exclusively under its own name (EEXIST where another process made it first). An empty
    // file is whole from the start: a temporary name linked into place bought nothing, and a writer
    // killed before it removed that name left the chunk a second name, which outlived its retirement.
    await syncAndClose(await this.files.open(join(this.dir, chunkFileName(index)), 'wx'));
    await syncAndClose(await this.files.open(this.dir, 'r'));
  }

  /**
   * Removes the temporary names of chunk `chunk` that writers of earlier releases, killed as they made
   * it, left linked to its file (`chunk_NNNN.bin.<pid>-<hex>.tmp`): the file would outlive the chunk's
   * retirement under them, what was deleted in it with it.
   */
  private async removeSecondNames(chunk: number): Promise<void> {
    const prefix = `${chunkFileName(chunk)}.`;
    for (const name of await this.files.readdir(this.dir)) {
      if (!name.startsWith(prefix) || !TEMPORARY_NAME.test(name.slice(prefix.length))) continue;
      await this.files.unlink(join(this.dir, name)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
  }

  private async chunkIndexes(): Promise<number[]> {
    return (await this.files.readdir(this.dir)).flatMap((name) => {
      const match = CHUNK_NAME.exec(name);
      return match ? [Number(match[1])] : [];
    }).sort((a, b) => a - b);
  }

  /** Opens, for reading, a chunk another process wrote. */
  private discoverChunk(index: number): Chunk | undefined {
    let fd: number;
    try {
      fd = openSync(join(this.dir, chunkFileName(index)), 'r');
    } catch {
      return undefined;
    }
    let size: number;
    try {
      size = fstatSync(fd).size;
    } catch (error) {
      closeSync(fd);
      throw new BlockError('IO_ERROR', `Cannot read the size of ${chunkFileName(index)}: ${(error as Error).message}`, { cause: error });
    }
    const chunk: Chunk = { index, fd, size, mapping: undefined, refusedMapping: 0, mappedSettled: false, writer: undefined, held: 0 };
    this.chunks.set(index, chunk);
    this.highestChunk = Math.max(this.highestChunk, index);
    return chunk;
  }

  /**
   * The bytes `start`–`end` of `chunk`: a view into its mapping when the mapping holds them, else from a
   * new mapping of the whole chunk once it has grown enough since the last one (`REMAP_GROWTH`), else a
   * copy read from the file. A mapping the system refuses is warned about once and the bytes are read.
   */
  private mappedRange(chunk: Chunk, start: number, end: number): Buffer {
    const mapping = chunk.mapping;
    if (mapping && end <= mapping.length) return mapping.subarray(start, end);
    if (end > chunk.size) {
      const fileSize = this.fileSize(chunk);
      chunk.size = Math.max(chunk.size, fileSize);
      if (fileSize < end) throw new BlockError('BLOCK_MISSING', `Block ${chunk.index}:${start}+${end - start} runs past the end of ${chunkFileName(chunk.index)} (${fileSize} bytes).`);
    }
    // Exactly what the file holds, never past its end: the views handed out share the mapping as their
    // `buffer`, and a caller touching any byte of it past the end of the file would die of SIGBUS.
    const length = Math.min(chunk.size, MAX_MAPPING_SIZE);
    // Also, once, when the chunk most likely grows no more (a later one exists, or it is full): its tail
    // would otherwise stay copies for good. Once only, as another writer may still be appending to it.
    const previous = Math.max(mapping?.length ?? 0, chunk.refusedMapping);
    const settled = !chunk.mappedSettled && (chunk.index < this.highestChunk || length >= this.chunkSize) && length > previous;
    const grown = length >= REMAP_GROWTH * previous || settled;
    if (end <= length && grown && length > 0) {
      const mmap = this.mmap!;
      try {
        // (The mapping it replaces is unmapped when the last view into it is garbage-collected.)
        chunk.mapping = mmap.map(length, mmap.PROT_READ, mmap.MAP_SHARED, chunk.fd, 0);
        chunk.refusedMapping = 0;
        chunk.mappedSettled ||= settled;
        return chunk.mapping.subarray(start, end);
      } catch (error) {
        chunk.refusedMapping = length;
        warnMapFailed(join(this.dir, chunkFileName(chunk.index)), error);
      }
    }
    return this.readRange(chunk, start, end - start);
  }

  private fileSize(chunk: Chunk): number {
    try {
      return fstatSync(chunk.fd).size;
    } catch (error) {
      throw new BlockError('IO_ERROR', `Cannot read the size of ${chunkFileName(chunk.index)}: ${(error as Error).message}`, { cause: error });
    }
  }

  private readRange(chunk: Chunk, start: number, length: number): Buffer {
    const target = Buffer.allocUnsafeSlow(length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = readSync(chunk.fd, target, done, length - done, start + done);
      } catch (error) {
        throw new BlockError('IO_ERROR', `Reading block ${chunk.index}:${start}+${length} from ${chunkFileName(chunk.index)} failed: ${(error as Error).message}`, { cause: error });
      }
      if (n === 0) throw new BlockError('BLOCK_MISSING', `Block ${chunk.index}:${start}+${length} runs past the end of ${chunkFileName(chunk.index)}.`);
      done += n;
    }
    return target;
  }

  private assertWritable(): void {
    if (this.readOnly) throw new BlockError('READ_ONLY', `The block store in ${this.dir} was opened read-only.`);
  }

  /** For `place` and `placeMany`: open, not closing (a block placed then would race the close), and writable. */
  private assertPlacing(): void {
    this.assertOpen();
    if (this.closing) throw new BlockError('BLOCK_STORE_CLOSED', `The block store in ${this.dir} is closing.`);
    this.assertWritable();
  }

  private assertOpen(): void {
    if (this.closed) throw new BlockError('BLOCK_STORE_CLOSED', `The block store in ${this.dir} is closed.`);
  }
}

/**
 * Takes a chunk's owner lock (an exclusive lock; `handle` open for writing) through `handle` if nobody holds it; otherwise closes
 * `handle` and returns false. (A descriptor opened before a compaction unlinked the chunk it retired
 * may take the lock once the compaction let go of it: what keeps such a chunk from being appended to
 * is `tryOwn`'s look at the references after catching up, which mark a retired chunk referenced to
 * its very end.)
 */
function takeOwnerLock(handle: FileHandle): Promise<boolean> {
  return tryLockHandle(handle, 'exclusive');
}

async function syncAndClose(handle: FileHandle): Promise<void> {
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function describe(ref: BlockRef): string {
  return `${ref.chunk}:${ref.offset}+${ref.length}`;
}

/** Errors the caller's callbacks (`referenced`, `chunkNumbers`) threw: passed on as they are, not as the files' `IO_ERROR`. */
const callersErrors = new WeakSet<object>();

/** Calls one of the caller's callbacks, marking what it throws (or rejects with) as the caller's own. */
function callersOwn<T>(call: () => T): T {
  const mark = (error: unknown): never => {
    if (typeof error === 'object' && error !== null) callersErrors.add(error);
    throw error;
  };
  let result: T;
  try {
    result = call();
  } catch (error) {
    return mark(error);
  }
  return (result instanceof Promise ? result.catch(mark) : result) as T;
}
