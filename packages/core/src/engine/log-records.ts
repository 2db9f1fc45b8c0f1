import type { BlockRef } from '@memmapfs/blocks';
import type { Codec } from '../contracts/codec.js';
import { MemMapError } from '../errors.js';
import { describeThrown } from '@memmapfs/wal';

/** WAL record types. The numbers are part of the on-disk format (docs/FORMAT.md). */
export const RecordType = {
  MemoryPut: 1,
  MemoryDelete: 2,
  StateSet: 3,
  KvSet: 4,
  KvDelete: 5,
  StreamAppend: 6,
  Checkpoint: 7,
  BlocksMoved: 8,
  /** Holds the LSN of a record that repair could not keep (damage): applies as nothing. */
  Lost: 9,
  /**
   * A memory put whose memory has an embedding: decoded as a `MemoryPut`. A type of its own so that a
   * release that does not know embeddings refuses the log, rather than drop them when it rewrites the memory.
   */
  MemoryPutEmbedded: 10,
  /** Holds an LSN that `restoreMemories` skipped so that a memory gets the id it had: applies as nothing. */
  Reserved: 11,
  /**
   * A host cache's claim to the chunk numbers `first`–`end - 1` for the blocks it places, in a store
   * whose hosts share one log and keep their own chunk files: no other host places blocks there.
   */
  ChunksClaimed: 12,
  /**
   * A process opened host cache `cache` for writing (a log shared by hosts): the log vouches for the
   * cache, so that a copy of its folder elsewhere is told from the cache itself.
   */
  CacheOpened: 13,
  /**
   * Blocks moved, with the bytes of every block moved after the map (a log shared by hosts: each host
   * writes the copies where the moves say). Decoded as `BlocksMoved`. A type of its own so that a
   * release that cannot write the copies refuses the log rather than move references to nothing.
   */
  BlocksMovedWithCopies: 14,
  /**
   * The stream `key` was deleted: its blocks are dead. A type of its own, unknown to releases before it,
   * so that they refuse the log rather than keep the stream.
   */
  StreamDelete: 15,
} as const;

/** The WAL record type `record` is written with. */
export function walRecordType(record: LogRecord): number {
  if (record.type === RecordType.MemoryPut && record.memory.embedding !== undefined) return RecordType.MemoryPutEmbedded;
  if (record.type === RecordType.BlocksMoved && carriesCopies(record)) return RecordType.BlocksMovedWithCopies;
  return record.type;
}

/** Whether a blocks-moved record carries the bytes of the blocks it moves (every move has its copy). */
function carriesCopies(record: { readonly memories: readonly MemoryMove[]; readonly streams: readonly StreamMove[] }): boolean {
  const moves = [...record.memories, ...record.streams];
  return moves.length > 0 && moves.every((move) => move.copy !== undefined);
}

/** Whether a WAL record of type `type` decodes as a memory put. */
export function isMemoryPutType(type: number): boolean {
  return type === RecordType.MemoryPut || type === RecordType.MemoryPutEmbedded;
}

/** A memory's block that compaction copied elsewhere: it takes the new place while its reference is still the old one. */
export interface MemoryMove {
  readonly id: number;
  readonly from: BlockRef;
  readonly to: BlockRef;
  /** The block's bytes (a log shared by hosts: the other hosts write them at `to`). */
  readonly copy?: Uint8Array | undefined;
}

/** A stream's block (the `index`-th of stream `key`) that compaction copied elsewhere. */
export interface StreamMove {
  readonly key: string;
  readonly index: number;
  readonly from: BlockRef;
  readonly to: BlockRef;
  /** The block's bytes (a log shared by hosts: the other hosts write them at `to`). */
  readonly copy?: Uint8Array | undefined;
}

/** A memory as the log stores it: everything but the text, which lives in a block. */
export interface MemoryRecord {
  /** The memory id: the LSN of the record that created it (0 in a record not yet written). */
  readonly id: number;
  readonly ref: BlockRef;
  readonly tags: string[];
  readonly namespace: string;
  readonly meta: Record<string, unknown>;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt: number | undefined;
  /** The caller's embedding, as float32 little-endian bytes; absent when none was given. */
  readonly embedding?: Uint8Array;
  /**
   * The LSN of the record that wrote this version, set when the record is applied to the tables (not
   * part of the record itself): tells one version from the next, whatever the clock said.
   */
  readonly version?: number;
}

/** One decoded WAL record. */
export type LogRecord =
  | {
      readonly type: typeof RecordType.MemoryPut;
      readonly memory: MemoryRecord;
      readonly copy?: Uint8Array | undefined;
      /** Replaces an existing memory (the record names its id); applies only while that memory is live. */
      readonly update?: boolean;
    }
  | {
      readonly type: typeof RecordType.MemoryDelete;
      readonly id: number;
      /** When it was deleted (ms); absent in records written before it was recorded. */
      readonly at?: number | undefined;
    }
  | { readonly type: typeof RecordType.StateSet; readonly state: Record<string, unknown> }
  | { readonly type: typeof RecordType.KvSet; readonly key: string; readonly value: Uint8Array }
  | { readonly type: typeof RecordType.KvDelete; readonly key: string }
  | { readonly type: typeof RecordType.StreamAppend; readonly key: string; readonly ref: BlockRef; readonly copy?: Uint8Array | undefined }
  | { readonly type: typeof RecordType.StreamDelete; readonly key: string }
  | {
      readonly type: typeof RecordType.Checkpoint;
      readonly upTo: number;
      readonly chunks: readonly number[];
      /**
       * Chunks whose writers are asked to let go of them (seal them), so that a compaction with erase
       * can take them; absent in records written before it was asked, and ignored by releases before it.
       */
      readonly letGo?: readonly number[] | undefined;
    }
  | {
      readonly type: typeof RecordType.BlocksMoved;
      readonly memories: readonly MemoryMove[];
      readonly streams: readonly StreamMove[];
      /** Chunk files whose live blocks all moved: they are removed once every process has let go of them. */
      readonly retired: readonly number[];
    }
  /** Stands in for a record lost to damage (written by repair, so that LSNs, and memory ids, never move). Changes nothing. */
  | { readonly type: typeof RecordType.Lost }
  /** Holds an LSN skipped by a restore, so that the memory after it is written at its own id (its LSN). Changes nothing. */
  | { readonly type: typeof RecordType.Reserved }
  /** Chunk numbers `first` to `end - 1` are host cache `cache`'s, for the blocks it places (a log shared by hosts). */
  | { readonly type: typeof RecordType.ChunksClaimed; readonly first: number; readonly end: number; readonly cache: string; readonly nonce?: string }
  /**
   * Host cache `cache` was opened for writing (a log shared by hosts). Changes nothing in the tables.
   * `nonce`: a random name of this open, written to the cache's `host.json` before the record is
   * committed, so that the processes of the cache's own host know the open for theirs.
   */
  | { readonly type: typeof RecordType.CacheOpened; readonly cache: string; readonly nonce?: string };

type Wire = Record<string, unknown>;

const refToWire = (ref: BlockRef) => [ref.chunk, ref.offset, ref.length, ref.crc];

/** Bytes of a `PayloadArena`'s buffers; a payload of more than a quarter of it has a buffer of its own. */
const ARENA_BYTES = 64 * 1024;

/**
 * Cuts the payloads of a commit of many records from buffers of its own, instead of one slice of
 * Node's shared pool each (as `Buffer.allocUnsafe` would): every pool is an ArrayBuffer, and past V8's
 * external memory limit (a large store's mappings) allocating one costs a step of garbage collection.
 * Payloads are written to the log and let go of: a buffer lives as long as the commit.
 */
export class PayloadArena {
  private buffer: Buffer | undefined;
  private at = 0;

  /** `size` bytes, uninitialised, 8-byte aligned as the pool's are. */
  take(size: number): Buffer {
    if (size > ARENA_BYTES / 4) return Buffer.allocUnsafeSlow(size);
    if (!this.buffer || this.at + size > this.buffer.length) {
      this.buffer = Buffer.allocUnsafeSlow(ARENA_BYTES);
      this.at = 0;
    }
    const bytes = this.buffer.subarray(this.at, this.at + size);
    this.at = (this.at + size + 7) & ~7;
    return bytes;
  }
}

/**
 * Encodes a record's payload with the store's codec. Short keys keep records small. `arena`: where a
 * payload that carries a block's copy is cut from (see `PayloadArena`).
 */
export function encodeRecord(codec: Codec, record: LogRecord, arena?: PayloadArena): Uint8Array {
  let wire: Wire;
  switch (record.type) {
    case RecordType.MemoryPut: {
      const m = record.memory;
      wire = { ref: refToWire(m.ref), tags: m.tags, ns: m.namespace, meta: m.meta, at: m.createdAt, up: m.updatedAt };
      if (record.update) wire.id = m.id;
      if (m.expiresAt !== undefined) wire.exp = m.expiresAt;
      if (m.embedding !== undefined) wire.emb = m.embedding;
      return withBlockCopy(encodeWire(codec, wire), record.copy, arena);
    }
    case RecordType.MemoryDelete:
      wire = { id: record.id };
      if (record.at !== undefined) wire.at = record.at;
      break;
    case RecordType.StateSet: wire = { state: record.state }; break;
    case RecordType.KvSet: wire = { key: record.key, value: record.value }; break;
    case RecordType.KvDelete: wire = { key: record.key }; break;
    case RecordType.StreamDelete: wire = { key: record.key }; break;
    case RecordType.StreamAppend:
      return withBlockCopy(encodeWire(codec, { key: record.key, ref: refToWire(record.ref) }), record.copy, arena);
    case RecordType.Checkpoint:
      wire = { upTo: record.upTo, chunks: record.chunks };
      if (record.letGo !== undefined) wire.letGo = record.letGo;
      break;
    case RecordType.BlocksMoved:
      // A move keeps the block's length and checksum: [id, from chunk, from offset, to chunk, to offset, length, crc].
      wire = {
        m: record.memories.map((move) => [move.id, move.from.chunk, move.from.offset, move.to.chunk, move.to.offset, move.to.length, move.to.crc]),
        s: record.streams.map((move) => [move.key, move.index, move.from.chunk, move.from.offset, move.to.chunk, move.to.offset, move.to.length, move.to.crc]),
        r: record.retired,
      };
      if (carriesCopies(record)) {
        // (Type 14: the map's length, the map, then every block's bytes in the order of the moves.)
        const copies = [...record.memories, ...record.streams].map((move) => move.copy!);
        return withBlockCopy(encodeWire(codec, wire), copies.length === 1 ? copies[0] : Buffer.concat(copies));
      }
      break;
    case RecordType.Lost: wire = {}; break;
    case RecordType.Reserved: wire = {}; break;
    case RecordType.ChunksClaimed: wire = record.nonce === undefined ? { first: record.first, end: record.end, cache: record.cache } : { first: record.first, end: record.end, cache: record.cache, nonce: record.nonce }; break;
    case RecordType.CacheOpened: wire = record.nonce === undefined ? { cache: record.cache } : { cache: record.cache, nonce: record.nonce }; break;
  }
  return encodeWire(codec, wire);
}

/**
 * The payload of a record that points at a block (memory put, stream append): the length of the codec's
 * map (u32), the map, then the block's bytes when the record carries a copy of them. The copy stays out
 * of the codec: reading the log never decodes or copies it, and it is read in place when needed.
 */
function withBlockCopy(map: Uint8Array, copy: Uint8Array | undefined, arena?: PayloadArena): Uint8Array {
  const size = 4 + map.byteLength + (copy?.byteLength ?? 0);
  const payload = arena ? arena.take(size) : Buffer.allocUnsafe(size);
  payload.writeUInt32LE(map.byteLength, 0);
  payload.set(map, 4);
  if (copy) payload.set(copy, 4 + map.byteLength);
  return payload;
}

function encodeWire(codec: Codec, wire: Wire): Uint8Array {
  try {
    return codec.encode(wire);
  } catch (cause) {
    throw new MemMapError('INVALID_ARGUMENT', `The ${codec.name} codec cannot encode this value: ${describeThrown(cause)}. Use plain objects, arrays, strings, numbers, booleans, null and Uint8Array.`, { cause, subsystem: 'codec' });
  }
}

/**
 * Decodes and checks one record payload; anything unexpected is `WAL_RECORD_INVALID`. `detach`: decode a
 * copy of the codec's map, so that nothing decoded (a binary value, with a codec that hands out views)
 * shares memory with `payload` (a window of the log read at open, say); a block copy stays a view.
 */
export function decodeRecord(codec: Codec, type: number, payload: Uint8Array, lsn: number, detach = false): LogRecord {
  let wire: unknown;
  let copy: Uint8Array | undefined;
  let map = payload;
  const embedded = type === RecordType.MemoryPutEmbedded;
  if (embedded) type = RecordType.MemoryPut;
  const withCopies = type === RecordType.BlocksMovedWithCopies;
  if (withCopies) type = RecordType.BlocksMoved;
  if (type === RecordType.MemoryPut || type === RecordType.StreamAppend || withCopies) {
    const mapLength = payload.byteLength >= 4 ? new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true) : -1;
    if (mapLength < 0 || 4 + mapLength > payload.byteLength) throw invalid(lsn, 'its payload is cut short');
    map = payload.subarray(4, 4 + mapLength);
    if (4 + mapLength < payload.byteLength) copy = payload.subarray(4 + mapLength);
  }
  try {
    // (Buffer.from copies, small ones into a shared 8 KiB slab: cheaper than an ArrayBuffer of its own each.)
    wire = codec.decode(detach ? Buffer.from(map) : map);
  } catch (cause) {
    throw invalid(lsn, `the ${codec.name} codec cannot decode it (${describeThrown(cause)})`, cause);
  }
  if (!isObject(wire)) throw invalid(lsn, 'its payload is not a map');
  switch (type) {
    case RecordType.MemoryPut: {
      const { id, ref, tags, ns, meta, at, up, exp, emb } = wire;
      if ((id !== undefined && !isId(id)) || !Array.isArray(tags) || !tags.every((t) => typeof t === 'string') || typeof ns !== 'string' ||
        !isObject(meta) || typeof at !== 'number' || typeof up !== 'number' || (exp !== undefined && typeof exp !== 'number')) {
        throw invalid(lsn, 'a memory record is missing fields');
      }
      if (emb !== undefined && !isEmbeddingBytes(emb)) throw invalid(lsn, 'a memory record has an embedding that is not float32 bytes');
      if (embedded !== (emb !== undefined)) throw invalid(lsn, embedded ? 'a memory record of the embedding type has no embedding' : 'a memory record has an embedding but not the embedding type');
      const memoryRef = refFromWire(ref, lsn);
      checkCopy(copy, memoryRef, lsn);
      const memory: MemoryRecord = { id: (id as number | undefined) ?? lsn, ref: memoryRef, tags: tags as string[], namespace: ns, meta, createdAt: at, updatedAt: up, expiresAt: exp as number | undefined };
      return { type, update: id !== undefined, memory: emb === undefined ? memory : { ...memory, embedding: emb }, copy };
    }
    case RecordType.MemoryDelete:
      if (!isId(wire.id)) throw invalid(lsn, 'a delete record has no id');
      if (wire.at !== undefined && typeof wire.at !== 'number') throw invalid(lsn, 'a delete record has a time that is not a number');
      return { type, id: wire.id, at: wire.at as number | undefined };
    case RecordType.StateSet:
      if (!isObject(wire.state)) throw invalid(lsn, 'a state record has no state');
      return { type, state: wire.state };
    case RecordType.KvSet:
      if (typeof wire.key !== 'string' || !(wire.value instanceof Uint8Array)) throw invalid(lsn, 'a KV record is malformed');
      return { type, key: wire.key, value: wire.value };
    case RecordType.KvDelete:
      if (typeof wire.key !== 'string') throw invalid(lsn, 'a KV delete record has no key');
      return { type, key: wire.key };
    case RecordType.StreamAppend:
      if (typeof wire.key !== 'string') throw invalid(lsn, 'a stream record has no key');
      const streamRef = refFromWire(wire.ref, lsn);
      checkCopy(copy, streamRef, lsn);
      return { type, key: wire.key, ref: streamRef, copy };
    case RecordType.StreamDelete:
      if (typeof wire.key !== 'string') throw invalid(lsn, 'a stream delete record has no key');
      return { type, key: wire.key };
    case RecordType.Checkpoint:
      if (!Number.isSafeInteger(wire.upTo) || (wire.upTo as number) < 0 || !Array.isArray(wire.chunks) || !wire.chunks.every((c) => Number.isSafeInteger(c) && c >= 0)) {
        throw invalid(lsn, 'a checkpoint record is malformed');
      }
      if (wire.letGo === undefined) return { type, upTo: wire.upTo as number, chunks: wire.chunks as number[] };
      if (!Array.isArray(wire.letGo) || !wire.letGo.every((c) => Number.isSafeInteger(c) && c >= 0)) throw invalid(lsn, 'a checkpoint record is malformed');
      return { type, upTo: wire.upTo as number, chunks: wire.chunks as number[], letGo: wire.letGo as number[] };
    case RecordType.BlocksMoved: {
      const { m, s, r } = wire;
      // (Chunks, length and checksum fit a u32, as in a checkpoint row; the id or index and the offsets need not.)
      const numbers = (row: unknown, from: number) => Array.isArray(row) && row.slice(from).every((n, i) => Number.isSafeInteger(n) && n >= 0 && (i === 0 || i === 2 || i === 4 || n <= U32_MAX));
      if (!Array.isArray(m) || !Array.isArray(s) || !Array.isArray(r) || !r.every((c) => Number.isSafeInteger(c) && c >= 0) ||
        !m.every((row) => numbers(row, 0) && (row as unknown[]).length === 7 && isId((row as unknown[])[0])) ||
        !s.every((row) => numbers(row, 1) && (row as unknown[]).length === 8 && typeof (row as unknown[])[0] === 'string')) {
        throw invalid(lsn, 'a blocks-moved record is malformed');
      }
      const place = (chunk: number, offset: number, length: number, crc: number): BlockRef => ({ chunk, offset, length, crc });
      // (With copies, each move's block is the next `length` bytes after the map: views, as a put's copy.)
      let at = 0;
      const copyOf = (length: number): Uint8Array | undefined => {
        if (!withCopies) return undefined;
        const bytes = (copy ?? new Uint8Array(0)).subarray(at, at + length);
        at += length;
        return bytes;
      };
      const moved: LogRecord = {
        type,
        memories: (m as number[][]).map(([id, fromChunk, fromOffset, toChunk, toOffset, length, crc]) => ({ id: id!, from: place(fromChunk!, fromOffset!, length!, crc!), to: place(toChunk!, toOffset!, length!, crc!), copy: copyOf(length!) })),
        streams: (s as Array<[string, ...number[]]>).map(([key, index, fromChunk, fromOffset, toChunk, toOffset, length, crc]) => ({ key, index: index!, from: place(fromChunk!, fromOffset!, length!, crc!), to: place(toChunk!, toOffset!, length!, crc!), copy: copyOf(length!) })),
        retired: r as number[],
      };
      if (withCopies && (m.length + s.length === 0 || at !== (copy?.byteLength ?? 0))) throw invalid(lsn, `its block copies have ${copy?.byteLength ?? 0} bytes where its moves say ${at}`);
      return moved;
    }
    case RecordType.Lost:
    case RecordType.Reserved:
      return { type };
    case RecordType.ChunksClaimed:
      if (!Number.isSafeInteger(wire.first) || !Number.isSafeInteger(wire.end) || (wire.first as number) < 0 || (wire.end as number) <= (wire.first as number) || (wire.end as number) > 2 ** 32 || typeof wire.cache !== 'string' || (wire.nonce !== undefined && typeof wire.nonce !== 'string')) {
        throw invalid(lsn, 'a chunks-claimed record is malformed');
      }
      return wire.nonce === undefined
        ? { type, first: wire.first as number, end: wire.end as number, cache: wire.cache }
        : { type, first: wire.first as number, end: wire.end as number, cache: wire.cache, nonce: wire.nonce as string };
    case RecordType.CacheOpened:
      if (typeof wire.cache !== 'string' || (wire.nonce !== undefined && typeof wire.nonce !== 'string')) throw invalid(lsn, 'a cache-opened record is malformed');
      return wire.nonce === undefined ? { type, cache: wire.cache } : { type, cache: wire.cache, nonce: wire.nonce as string };
    default:
      throw invalid(lsn, `record type ${type} is unknown to this release; upgrade MemMapFS`);
  }
}

/** The largest u32. */
const U32_MAX = 0xffffffff;

function refFromWire(value: unknown, lsn: number): BlockRef {
  // (Chunk, length and checksum are u32 in a checkpoint row: a record that says more is refused here, not at every checkpoint.)
  if (!Array.isArray(value) || value.length !== 4 || !Number.isSafeInteger(value[1]) || !value.every((n, i) => Number.isInteger(n) && n >= 0 && (i === 1 || n <= U32_MAX))) throw invalid(lsn, 'a block reference is malformed');
  const [chunk, offset, length, crc] = value as number[];
  return { chunk: chunk!, offset: offset!, length: length!, crc: crc! };
}


/** A block copy is the block's bytes: as long as its reference says. */
function checkCopy(copy: Uint8Array | undefined, ref: BlockRef, lsn: number): void {
  if (copy && copy.byteLength !== ref.length) throw invalid(lsn, `its block copy has ${copy.byteLength} bytes where its reference says ${ref.length}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function isId(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

function invalid(lsn: number, why: string, cause?: unknown): MemMapError {
  return new MemMapError('WAL_RECORD_INVALID', `WAL record ${lsn} cannot be read: ${why}.`, { subsystem: 'wal', cause });
}

/** Whether `value` can be a memory's embedding as stored: float32 bytes, at least one number. */
export function isEmbeddingBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.byteLength > 0 && value.byteLength % 4 === 0;
}

/** The block references a record carries. */
export function blockRefsOf(record: LogRecord): BlockRef[] {
  if (record.type === RecordType.MemoryPut) return [record.memory.ref];
  if (record.type === RecordType.StreamAppend) return [record.ref];
  if (record.type === RecordType.BlocksMoved) return [...record.memories.map((move) => move.to), ...record.streams.map((move) => move.to)];
  return [];
}
