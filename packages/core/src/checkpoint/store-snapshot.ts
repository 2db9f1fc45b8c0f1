import { basename, dirname, join } from 'node:path';
import { BlockError, type BlockRef, type BlockStore } from '@memmapfs/blocks';
import { syncFolder, type LogSnapshot, type WalHeader } from '@memmapfs/wal';
import type { Codec } from '../contracts/codec.js';
import { MemMapError } from '../errors.js';
import type { StoreFileSystem } from '../types.js';
import { openCheckpointFile, type CheckpointFile } from './checkpoint-file.js';
import { checkpointFileName } from './checkpoint-manifest.js';
import { randomHex } from '../random-hex.js';

/**
 * A store's snapshot, kept with a log hosts share (`LogSnapshots`), from which a new host starts
 * instead of replaying the log from its first record (docs/FORMAT.md, "Snapshots"): a 24-byte header
 * (magic, version, the checkpoint's length), a checkpoint file as it is, then every block its memories
 * and streams reference, each after a 20-byte header (chunk, offset, length, CRC32C), and a 20-byte
 * trailer laid out as a block header (chunk 0xFFFFFFFF, the number of blocks as its offset).
 */
const MAGIC = Buffer.from('MMFS-SNP', 'ascii');
const VERSION = 1;
const HEADER_SIZE = 24;
const BLOCK_HEADER_SIZE = 20;
/** The trailer's first field (after as many blocks as the checkpoint references); its offset field holds their number. */
const END_MARK = 0xffffffff;
/** Bytes gathered before they are handed on (blocks are small: one piece holds many). */
const PIECE_BYTES = 1024 * 1024;

/** The snapshot of the tables `file` holds, with their blocks read from `blocks`: its bytes, in pieces. */
export async function* snapshotBytes(file: CheckpointFile, codec: Codec, blocks: BlockStore): AsyncGenerator<Uint8Array> {
  const checkpoint = file.bytes();
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(VERSION, 8);
  header.writeDoubleLE(checkpoint.byteLength, 16);
  yield header;
  for (let at = 0; at < checkpoint.byteLength; at += PIECE_BYTES) yield checkpoint.subarray(at, Math.min(at + PIECE_BYTES, checkpoint.byteLength));
  const pieces = new PieceBuffer();
  let count = 0;
  for (const ref of referencedBlocks(file, codec)) {
    const bytes = blocks.read(ref);
    const head = Buffer.alloc(BLOCK_HEADER_SIZE);
    head.writeUInt32LE(ref.chunk, 0);
    head.writeDoubleLE(ref.offset, 4);
    head.writeUInt32LE(ref.length, 12);
    head.writeUInt32LE(ref.crc >>> 0, 16);
    pieces.add(head);
    count++;
    if (pieces.add(bytes)) yield pieces.take();
    // (Each read checks a checksum: the event loop gets a turn now and then.)
    if (count % 4096 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const end = Buffer.alloc(BLOCK_HEADER_SIZE);
  end.writeUInt32LE(END_MARK, 0);
  end.writeDoubleLE(count, 4);
  pieces.add(end);
  yield pieces.take();
}

/**
 * Installs a snapshot for an open with no usable checkpoint of its own: its checkpoint file written
 * into `folder` (under the name of the LSN it covers; no manifest names it until this host writes one of
 * its own), its blocks written into this host's chunk files where their references say, and made
 * durable before the checkpoint takes its name. Resolves with the checkpoint, opened; or `undefined`,
 * with a warning, when it cannot be used (of another log or codec, damaged, cut short): the open then
 * reads the log as if there were none.
 */
export async function installSnapshot(snapshot: LogSnapshot, header: WalHeader, folder: string, blocks: BlockStore, codec: Codec, files: StoreFileSystem, reader: 'auto' | 'mmap' | 'read'): Promise<CheckpointFile | undefined> {
  if (codec.name !== header.codec) return undefined;
  const pieces = snapshot.read()[Symbol.asyncIterator]();
  const path = join(folder, checkpointFileName(snapshot.lsn));
  const temp = join(folder, `.${basename(path)}.${process.pid}-${randomHex(6)}.tmp`);
  try {
    const file = await install(new ExactReader(pieces, snapshot.lsn), snapshot.lsn, header, temp, blocks, codec, files, reader);
    if (!file) return undefined;
    await files.rename(temp, path);
    await syncFolder(folder, files);
    return file;
  } catch (error) {
    // (What the log cannot give — a connection lost — fails the open as any read of it would.)
    // (A block whose bytes are not those its reference names is damage; a full disk is not.)
    const damaged = MemMapError.is(error, 'CHECKPOINT_CORRUPT') || (error instanceof BlockError && error.code === 'INVALID_ARGUMENT');
    if (!damaged) throw error;
    process.emitWarning(`The snapshot of record ${snapshot.lsn} kept with the shared log is not used (the open reads the log instead; publish a new snapshot): ${(error as Error).message}`, { code: 'MEMMAPFS_SNAPSHOT_UNUSABLE' });
    return undefined;
  } finally {
    await files.unlink(temp).catch(() => undefined);
    // (Read to its end or not: whatever the reading holds — a connection, a transaction — is let go of.)
    await pieces.return?.();
  }
}

async function install(input: ExactReader, lsn: number, header: WalHeader, temp: string, blocks: BlockStore, codec: Codec, files: StoreFileSystem, reader: 'auto' | 'mmap' | 'read'): Promise<CheckpointFile | undefined> {
  const head = await input.read(HEADER_SIZE);
  if (!head.subarray(0, 8).equals(MAGIC)) throw input.bad('it does not start with a snapshot header');
  const version = head.readUInt32LE(8);
  if (version !== VERSION) throw input.bad(`its format version ${version} is not ${VERSION}${version > VERSION ? ' (written by a newer release: upgrade MemMapFS)' : ''}`);
  await files.mkdir(dirname(temp), { recursive: true });
  const handle = await files.open(temp, 'w');
  try {
    let left = head.readDoubleLE(16);
    for (let at = 0; left > 0; ) {
      const piece = await input.read(Math.min(left, PIECE_BYTES));
      await handle.write(piece, 0, piece.byteLength, at);
      at += piece.byteLength;
      left -= piece.byteLength;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  const file = openCheckpointFile(join(dirname(temp), checkpointFileName(lsn)), reader, temp);
  if (file.logId !== header.logId || file.codec !== header.codec || file.position.lsn !== lsn) {
    process.emitWarning(`The snapshot of record ${lsn} kept with the shared log is of another log or codec: the open reads the log instead.`, { code: 'MEMMAPFS_SNAPSHOT_UNUSABLE' });
    return undefined;
  }
  // Rows are copied from it into later checkpoints as they are: damage must be found now.
  const damage = file.verify() ?? file.tables(codec).kv.verify();
  if (damage) throw input.bad(`its checkpoint is damaged (${damage})`);
  let count = 0;
  // The blocks come in the order the checkpoint references them: each header must name the next one.
  for (const expected of referencedBlocks(file, codec)) {
    const blockHead = await input.read(BLOCK_HEADER_SIZE);
    const ref: BlockRef = { chunk: blockHead.readUInt32LE(0), offset: blockHead.readDoubleLE(4), length: blockHead.readUInt32LE(12), crc: blockHead.readUInt32LE(16) };
    if (ref.chunk !== expected.chunk || ref.offset !== expected.offset || ref.length !== expected.length || ref.crc >>> 0 !== expected.crc >>> 0) {
      throw input.bad(`its block ${count + 1} is not the one its checkpoint references next`);
    }
    // (materialize checks the bytes against the reference's length and checksum.)
    blocks.materialize(ref, await input.read(ref.length));
    count++;
    if (count % 4096 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const end = await input.read(BLOCK_HEADER_SIZE);
  if (end.readUInt32LE(0) !== END_MARK || end.readDoubleLE(4) !== count) throw input.bad(`it does not end after the ${count} blocks its checkpoint references`);
  // Durable before the checkpoint takes its name: a later open may take it for this host's own.
  await blocks.syncAll();
  return file;
}

/**
 * Every block the checkpoint's memories and streams reference, in the order of its rows and then of its
 * streams (what the snapshot holds, and the order an install expects them in). A block two of them
 * share comes twice: writing it twice writes the same bytes.
 */
function* referencedBlocks(file: CheckpointFile, codec: Codec): IterableIterator<BlockRef> {
  const memories = file.memories(codec);
  for (let i = 0; i < memories.count; i++) yield memories.refAt(i);
  for (const refs of file.tables(codec).streams.values()) yield* refs;
}

/** Small buffers gathered into pieces of about `PIECE_BYTES`. */
class PieceBuffer {
  private parts: Uint8Array[] = [];
  private size = 0;

  /** Adds `bytes`; says whether the piece is full. */
  add(bytes: Uint8Array): boolean {
    this.parts.push(bytes);
    this.size += bytes.byteLength;
    return this.size >= PIECE_BYTES;
  }

  take(): Uint8Array {
    const piece = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    return piece;
  }
}

/** Reads exactly the bytes asked for from a sequence of pieces of any size. */
class ExactReader {
  private piece: Uint8Array = new Uint8Array(0);
  private at = 0;

  constructor(private readonly pieces: AsyncIterator<Uint8Array>, private readonly lsn: number) {}

  async read(length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      if (this.at === this.piece.byteLength) {
        const next = await this.pieces.next();
        if (next.done) throw this.bad('it ends early');
        this.piece = next.value;
        this.at = 0;
        continue;
      }
      const take = Math.min(length - filled, this.piece.byteLength - this.at);
      out.set(this.piece.subarray(this.at, this.at + take), filled);
      filled += take;
      this.at += take;
    }
    return out;
  }

  bad(why: string): MemMapError {
    return new MemMapError('CHECKPOINT_CORRUPT', `The snapshot of record ${this.lsn} kept with the shared log is not usable: ${why}. Publish a new one (publishSnapshot) from a host that has the store open.`, { subsystem: 'checkpoint' });
  }
}
