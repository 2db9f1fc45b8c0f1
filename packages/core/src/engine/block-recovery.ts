import type { BlockRef, BlockStore } from '@memmapfs/blocks';
import { RecordType, type LogRecord } from './log-records.js';

/** A block whose record carries a copy of its bytes. */
interface CopiedBlock {
  readonly ref: BlockRef;
  readonly copy: Uint8Array;
  readonly lsn: number;
}

/**
 * The blocks whose bytes a crash may have taken from the chunk files, gathered as the log is replayed:
 * those whose records carry a copy and that no later checkpoint covers (a checkpoint lists the chunks
 * it fsynced up to an LSN). Only these copies are kept (copied out of the log's windows), never the log.
 */
export class UncheckpointedCopies {
  /** The copies kept, each at `at` in `bytes` (in order), a checkpoint record dropping most of them again. */
  private pending: { readonly ref: BlockRef; readonly lsn: number; at: number; readonly length: number }[] = [];
  /**
   * The copies' bytes, one after the other: copied out of the log's windows (a view would keep the whole
   * window it was read in alive), into memory used again once a checkpoint record drops them (a buffer of
   * their own each, a hundred thousand of them, cost a page fault every few).
   */
  private bytes = Buffer.allocUnsafe(0);
  private used = 0;

  /** Takes the next record of the log, in order. */
  note(record: LogRecord, lsn: number): void {
    const retired = retiredChunks(record);
    if (record.type === RecordType.Checkpoint) {
      const synced = new Set(record.chunks);
      this.pending = this.pending.filter((b) => !(synced.has(b.ref.chunk) && b.lsn <= record.upTo));
    } else if (retired) {
      // Their live blocks moved and the files are (or will be) gone: restoring one would bring a file back.
      this.pending = this.pending.filter((b) => !retired.has(b.ref.chunk));
    } else if ((record.type === RecordType.MemoryPut || record.type === RecordType.StreamAppend) && record.copy) {
      const copy = record.copy;
      if (this.used + copy.byteLength > this.bytes.length) this.makeRoom(copy.byteLength);
      this.bytes.set(copy, this.used);
      this.pending.push({ ref: record.type === RecordType.MemoryPut ? record.memory.ref : record.ref, lsn, at: this.used, length: copy.byteLength });
      this.used += copy.byteLength;
    }
  }

  /**
   * Moves the copies still kept to the front, and grows the buffer if they fill more than half of it
   * (else copies that mostly survive would be moved again at every note) or leave less than `length` free.
   */
  private makeRoom(length: number): void {
    let kept = 0;
    for (const block of this.pending) {
      this.bytes.copyWithin(kept, block.at, block.at + block.length);
      block.at = kept;
      kept += block.length;
    }
    this.used = kept;
    if (kept + length > this.bytes.length || kept > this.bytes.length / 2) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.bytes.length, kept + length, 1 << 20));
      this.bytes.copy(grown, 0, 0, kept);
      this.bytes = grown;
    }
  }

  /** The copies kept: views into one buffer, which a later `note` may move or overwrite (read them after the last). */
  get blocks(): readonly CopiedBlock[] {
    return this.pending.map(({ ref, lsn, at, length }) => ({ ref, lsn, copy: this.bytes.subarray(at, at + length) }));
  }
}

/** Whether a record retires chunk files (compaction moved their live blocks): their copies must never be put back. */
export function retiredChunks(record: LogRecord): ReadonlySet<number> | undefined {
  return record.type === RecordType.BlocksMoved && record.retired.length > 0 ? new Set(record.retired) : undefined;
}

/**
 * Every block range the log references, kept compactly (three numbers each) as the log is replayed,
 * for the rare restore that must check a range is no other record's.
 */
export class ReferencedRangeLog {
  private data = new Float64Array(3 * 1024);
  private count = 0;

  note(ref: BlockRef): void {
    if ((this.count + 1) * 3 > this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    const at = this.count * 3;
    this.data[at] = ref.chunk;
    this.data[at + 1] = ref.offset;
    this.data[at + 2] = ref.length;
    this.count++;
  }

  /** Every range noted, as block references (without checksums). */
  all(): BlockRef[] {
    const refs: BlockRef[] = [];
    for (let i = 0; i < this.count; i++) refs.push({ chunk: this.data[i * 3]!, offset: this.data[i * 3 + 1]!, length: this.data[i * 3 + 2]!, crc: 0 });
    return refs;
  }
}

/**
 * The blocks of the records applied since the last checkpoint whose records carry a copy that an open
 * would still restore (no checkpoint record says their chunk was fsynced since): a range and the
 * record's LSN, five numbers each. Before the next checkpoint of the tables is written, each is read
 * back, since an open that starts from it never replays those copies again.
 */
export class CopiedBlockLog {
  private data = new Float64Array(5 * 256);
  private count = 0;

  note(ref: BlockRef, lsn: number): void {
    if ((this.count + 1) * 5 > this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    // (On the append path: five stores, no array.)
    const at = this.count * 5;
    this.data[at] = ref.chunk;
    this.data[at + 1] = ref.offset;
    this.data[at + 2] = ref.length;
    this.data[at + 3] = ref.crc;
    this.data[at + 4] = lsn;
    this.count++;
  }

  /** The blocks of records up to `lsn`, with the LSNs of those records (the same index in each list). */
  upTo(lsn: number): { refs: BlockRef[]; lsns: number[] } {
    const refs: BlockRef[] = [];
    const lsns: number[] = [];
    for (let i = 0; i < this.count; i++) {
      const at = i * 5;
      if (this.data[at + 4]! > lsn) continue;
      refs.push({ chunk: this.data[at]!, offset: this.data[at + 1]!, length: this.data[at + 2]!, crc: this.data[at + 3]! });
      lsns.push(this.data[at + 4]!);
    }
    return { refs, lsns };
  }

  /** Forgets the blocks of records up to `lsn` (a checkpoint of the tables covers them). */
  dropUpTo(lsn: number): void {
    this.dropWhere((chunk, blockLsn) => blockLsn <= lsn);
  }

  /**
   * Forgets the blocks of records up to `upTo` in `chunks`: a checkpoint record says those chunk files
   * were fsynced (an open no longer restores them from their copies either).
   */
  dropSynced(chunks: ReadonlySet<number>, upTo: number): void {
    this.dropWhere((chunk, blockLsn) => blockLsn <= upTo && chunks.has(chunk));
  }

  /** Forgets the blocks in `chunks` (compaction retired them: their live blocks moved elsewhere). */
  dropChunks(chunks: ReadonlySet<number>): void {
    this.dropWhere((chunk) => chunks.has(chunk));
  }

  private dropWhere(covered: (chunk: number, lsn: number) => boolean): void {
    let kept = 0;
    for (let i = 0; i < this.count; i++) {
      if (covered(this.data[i * 5]!, this.data[i * 5 + 4]!)) continue;
      this.data.copyWithin(kept * 5, i * 5, i * 5 + 5);
      kept++;
    }
    this.count = kept;
  }
}

/** Whether two different ranges of the same chunk share a byte (records of one block, e.g. an update that kept the text, share its range). */
function overlaps(a: BlockRef, b: BlockRef): boolean {
  if (a.chunk !== b.chunk || (a.offset === b.offset && a.length === b.length)) return false;
  return a.offset < b.offset + b.length && b.offset < a.offset + a.length;
}

/**
 * Puts back, from the copies in their records, the blocks a crash took from the chunk files (a power
 * loss before the chunk was fsynced). Runs under the writer lock, before any process can place a new
 * block: the same bytes go back to the same place, and no range another record uses is ever written (a
 * block whose range overlaps another record's is left alone and reported). Returns how many it put back.
 */
export async function restoreLostBlocks(blocks: BlockStore, candidates: readonly CopiedBlock[], allRefs: () => readonly BlockRef[]): Promise<number> {
  const lost = candidates.filter(({ ref }) => {
    try {
      blocks.read(ref);
      return false;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== 'BLOCK_CORRUPT' && code !== 'BLOCK_MISSING') throw error;
      return true;
    }
  });
  if (lost.length === 0) return 0;
  const refs = allRefs();
  let restored = 0;
  for (const { ref, copy, lsn } of lost) {
    if (refs.some((other) => overlaps(other, ref))) {
      process.emitWarning(`The block of record ${lsn} (chunk ${ref.chunk}, bytes ${ref.offset}–${ref.offset + ref.length}) was not put back: another record uses an overlapping range. Run \`memmapfs verify\`.`, { code: 'MEMMAPFS_BLOCK_OVERLAP' });
      continue;
    }
    await blocks.restore(ref, copy);
    restored++;
  }
  return restored;
}
