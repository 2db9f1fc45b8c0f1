import { fstatSync, readSync } from 'node:fs';
import * as nodeFileSystem from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { BlockError } from './block-error.js';
import type { BlockReader, BlockRef, BlockStore, BlockStoreStats, PlacedBlock } from './block-store.js';
import { MAX_MAPPING_SIZE, loadMmap, mmapLoadError, type MmapBinding } from './mmap-binding.js';

/** Options of `openChunkStore`. */
export interface ChunkStoreOptions {
  /** Folder of the chunk files, e.g. `<root>/blocks`. Created when missing. */
  dir: string;
  /** A chunk file is sealed once the next block would take it past this size. Default 64 MiB, at most 1 GiB. */
  chunkSize?: number;
  /**
   * `'auto'` (default): mmap when mmap-io loads, plain reads otherwise. `'mmap'`: fail if mmap-io does
   * not load. `'read'`: always plain reads.
   */
  reader?: 'auto' | BlockReader;
  /** The file operations the store uses. Default `node:fs/promises`; tests pass one that injects faults. */
  fileSystem?: BlockFileSystem;
}

/** The subset of `node:fs/promises` the block store uses: a seam for fault injection. */
export type BlockFileSystem = Pick<typeof nodeFileSystem, 'open' | 'rename' | 'mkdir' | 'readdir'>;

const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
const MAX_CHUNK_SIZE = 1024 * 1024 * 1024;
const CHUNK_NAME = /^chunk_(\d{4,})\.bin$/;

/** File name of chunk `index`: `chunk_0000.bin`, `chunk_0001.bin`, … */
export function chunkFileName(index: number): string {
  return `chunk_${String(index).padStart(4, '0')}.bin`;
}

interface Chunk {
  readonly index: number;
  readonly handle: FileHandle;
  /** Bytes on disk or being written. */
  size: number;
  dirty: boolean;
  /** The fdatasync in flight, if any: a later sync waits for it before deciding it has nothing to do. */
  syncing: Promise<void> | undefined;
  mapping: Buffer | undefined;
}

interface ActiveChunk {
  readonly index: number;
  /** Next free offset: blocks are placed when `append` is called, written when the file is ready. */
  size: number;
  readonly ready: Promise<Chunk>;
}

/** Opens the chunk files in `dir` (creating the folder when needed) as a `BlockStore`. */
export async function openChunkStore(options: ChunkStoreOptions): Promise<ChunkBlockStore> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 4096 || chunkSize > MAX_CHUNK_SIZE) {
    throw new BlockError('INVALID_ARGUMENT', `chunkSize must be an integer from 4096 to ${MAX_CHUNK_SIZE}; got ${chunkSize}.`);
  }
  const requested = options.reader ?? 'auto';
  const mmap = requested === 'read' ? null : loadMmap();
  if (requested === 'mmap' && mmap === null) {
    throw new BlockError('IO_ERROR', `reader 'mmap' was requested but mmap-io could not be loaded: ${(mmapLoadError() as Error)?.message}. Install mmap-io (it builds with node-gyp) or use reader 'auto'.`, { cause: mmapLoadError() });
  }
  const chunks = new Map<number, Chunk>();
  const files = options.fileSystem ?? nodeFileSystem;
  try {
    await files.mkdir(options.dir, { recursive: true });
    const indexes = (await files.readdir(options.dir)).flatMap((name) => {
      const match = CHUNK_NAME.exec(name);
      return match ? [Number(match[1])] : [];
    }).sort((a, b) => a - b);
    for (const index of indexes) {
      const handle = await files.open(join(options.dir, chunkFileName(index)), 'r+');
      chunks.set(index, { index, handle, size: (await handle.stat()).size, dirty: false, syncing: undefined, mapping: undefined });
    }
  } catch (error) {
    for (const chunk of chunks.values()) await chunk.handle.close().catch(() => undefined);
    throw new BlockError('IO_ERROR', `Cannot open the chunk files in ${options.dir}: ${(error as Error).message}`, { cause: error });
  }
  return new ChunkBlockStore(options.dir, chunkSize, mmap, chunks, files);
}

/**
 * Blocks appended to numbered chunk files (`chunk_0000.bin`, …). A chunk is only ever appended to,
 * never truncated or rewritten, so a mapping of it can never point past the end of its file. Under
 * mmap, reads return views into a shared read-only mapping of the chunk, remapped as the chunk grows.
 */
export class ChunkBlockStore implements BlockStore {
  readonly reader: BlockReader;
  private active: ActiveChunk | undefined;
  private closed = false;

  /** @internal Use `openChunkStore`. */
  constructor(
    private readonly dir: string,
    private readonly chunkSize: number,
    private readonly mmap: MmapBinding | null,
    private readonly chunks: Map<number, Chunk>,
    private readonly files: BlockFileSystem,
  ) {
    this.reader = mmap ? 'mmap' : 'read';
    const last = [...chunks.values()].at(-1);
    if (last && last.size < chunkSize) this.active = { index: last.index, size: last.size, ready: Promise.resolve(last) };
  }

  async append(bytes: Uint8Array): Promise<BlockRef> {
    const placed = this.place(bytes);
    await placed.written;
    return placed.ref;
  }

  place(bytes: Uint8Array): PlacedBlock {
    this.assertOpen();
    const length = bytes.byteLength;
    if (length > MAX_MAPPING_SIZE) throw new BlockError('INVALID_ARGUMENT', `A block of ${length} bytes is larger than the ${MAX_MAPPING_SIZE}-byte maximum.`);
    if (!this.active || (this.active.size > 0 && this.active.size + length > this.chunkSize)) {
      const index = this.active ? this.active.index + 1 : Math.max(-1, ...this.chunks.keys()) + 1;
      this.active = { index, size: 0, ready: this.createChunk(index) };
    }
    const target = this.active;
    const offset = target.size;
    target.size += length;
    const ref = { chunk: target.index, offset, length, crc: crc32c(Buffer.from(bytes.buffer, bytes.byteOffset, length)) };
    return { ref, written: this.writeAt(target, bytes, offset) };
  }

  private async writeAt(target: ActiveChunk, bytes: Uint8Array, offset: number): Promise<void> {
    const length = bytes.byteLength;
    const chunk = await target.ready.catch((error: unknown) => {
      if (this.active === target) this.active = undefined;
      throw error;
    });
    try {
      let written = 0;
      while (written < length) {
        const { bytesWritten } = await chunk.handle.write(bytes, written, length - written, offset + written);
        written += bytesWritten;
      }
    } catch (error) {
      throw new BlockError('IO_ERROR', `Writing ${length} bytes to ${chunkFileName(chunk.index)} failed: ${(error as Error).message}`, { cause: error });
    }
    chunk.size = Math.max(chunk.size, offset + length);
    chunk.dirty = true;
  }

  async sync(): Promise<void> {
    for (const chunk of this.chunks.values()) {
      while (chunk.syncing) await chunk.syncing.catch(() => undefined);
      if (!chunk.dirty) continue;
      chunk.dirty = false;
      chunk.syncing = chunk.handle.datasync().finally(() => {
        chunk.syncing = undefined;
      });
      try {
        await chunk.syncing;
      } catch (error) {
        chunk.dirty = true;
        throw new BlockError('IO_ERROR', `fsync of ${chunkFileName(chunk.index)} failed: ${(error as Error).message}`, { cause: error });
      }
    }
  }

  async restore(ref: BlockRef, bytes: Uint8Array): Promise<void> {
    this.assertOpen();
    if (bytes.byteLength !== ref.length || crc32c(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) !== ref.crc >>> 0) {
      throw new BlockError('INVALID_ARGUMENT', `The bytes given to restore block ${describe(ref)} do not match its length and checksum.`);
    }
    const chunk = this.chunks.get(ref.chunk) ?? (await this.createChunk(ref.chunk));
    try {
      let written = 0;
      while (written < bytes.byteLength) {
        const { bytesWritten } = await chunk.handle.write(bytes, written, bytes.byteLength - written, ref.offset + written);
        written += bytesWritten;
      }
    } catch (error) {
      throw new BlockError('IO_ERROR', `Restoring block ${describe(ref)} failed: ${(error as Error).message}`, { cause: error });
    }
    chunk.size = Math.max(chunk.size, ref.offset + ref.length);
    chunk.dirty = true;
    if (this.active?.index === chunk.index) this.active.size = Math.max(this.active.size, chunk.size);
    else if (!this.active || chunk.index > this.active.index) this.active = { index: chunk.index, size: chunk.size, ready: Promise.resolve(chunk) };
  }

  read(ref: BlockRef): Uint8Array {
    this.assertOpen();
    const chunk = this.chunks.get(ref.chunk);
    const end = ref.offset + ref.length;
    if (!chunk || !Number.isInteger(ref.offset) || ref.offset < 0 || !Number.isInteger(ref.length) || ref.length < 0) {
      throw new BlockError('BLOCK_MISSING', `Block ${describe(ref)} is not in ${this.dir}: ${chunk ? 'its range is invalid' : `${chunkFileName(ref.chunk)} does not exist`}.`);
    }
    const bytes = this.mmap ? this.mappedRange(chunk, ref.offset, end) : this.readRange(chunk, ref.offset, ref.length);
    if (crc32c(bytes) !== ref.crc >>> 0) {
      throw new BlockError('BLOCK_CORRUPT', `Block ${describe(ref)} fails its checksum: ${chunkFileName(ref.chunk)} is damaged at that range. Restore the file from a backup, or delete what refers to this block.`);
    }
    return bytes;
  }

  stats(): BlockStoreStats {
    let bytes = 0;
    for (const chunk of this.chunks.values()) bytes += chunk.size;
    return { chunkFiles: this.chunks.size, bytes };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.active?.ready.catch(() => undefined);
      await this.sync();
    } finally {
      this.closed = true;
      for (const chunk of this.chunks.values()) {
        chunk.mapping = undefined;
        await chunk.handle.close().catch(() => undefined);
      }
    }
  }

  private mappedRange(chunk: Chunk, start: number, end: number): Buffer {
    if (!chunk.mapping || chunk.mapping.length < end) {
      const fileSize = fstatSync(chunk.handle.fd).size;
      if (fileSize < end) throw new BlockError('BLOCK_MISSING', `Block ${chunk.index}:${start}+${end - start} runs past the end of ${chunkFileName(chunk.index)} (${fileSize} bytes).`);
      const mmap = this.mmap!;
      chunk.mapping = mmap.map(fileSize, mmap.PROT_READ, mmap.MAP_SHARED, chunk.handle.fd, 0);
    }
    return chunk.mapping.subarray(start, end);
  }

  private readRange(chunk: Chunk, start: number, length: number): Buffer {
    const target = Buffer.allocUnsafeSlow(length);
    let done = 0;
    while (done < length) {
      const n = readSync(chunk.handle.fd, target, done, length - done, start + done);
      if (n === 0) throw new BlockError('BLOCK_MISSING', `Block ${chunk.index}:${start}+${length} runs past the end of ${chunkFileName(chunk.index)}.`);
      done += n;
    }
    return target;
  }

  /** New chunk files appear whole: created under a temporary name, fsynced, renamed, folder fsynced. */
  private async createChunk(index: number): Promise<Chunk> {
    const path = join(this.dir, chunkFileName(index));
    const temp = `${path}.${process.pid}.tmp`;
    try {
      const created = await this.files.open(temp, 'w');
      await created.sync();
      await created.close();
      await this.files.rename(temp, path);
      const folder = await this.files.open(this.dir, 'r');
      await folder.sync();
      await folder.close();
      const chunk: Chunk = { index, handle: await this.files.open(path, 'r+'), size: 0, dirty: false, syncing: undefined, mapping: undefined };
      this.chunks.set(index, chunk);
      return chunk;
    } catch (error) {
      throw new BlockError('IO_ERROR', `Cannot create ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new BlockError('BLOCK_STORE_CLOSED', `The block store in ${this.dir} is closed.`);
  }
}

function describe(ref: BlockRef): string {
  return `${ref.chunk}:${ref.offset}+${ref.length}`;
}
