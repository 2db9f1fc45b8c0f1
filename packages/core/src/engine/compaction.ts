import type { BlockRef, BlockStore, ChunkInfo } from '@memmapfs/blocks';
import { MemMapError } from '../errors.js';
import { RecordType, type LogRecord, type MemoryMove, type StreamMove } from './log-records.js';
import type { MemoryTable } from './memory-table.js';
import type { ChunkClaims } from './chunk-claims.js';

/** Options of `MemMapFS.compact`. */
export interface CompactOptions {
  /**
   * Rewrite every chunk file that holds any dead byte (deleted, replaced or expired text), and drop
   * the log before the checkpoint at once, so that what was deleted is in no file of the store when it
   * resolves. Default `false`: only chunks mostly dead are rewritten.
   */
  erase?: boolean;
  /**
   * Called as the compaction goes: `done` of `total` of `step`. `'blocks'`: live blocks copied out of
   * the chunk files it rewrites; `'checkpoint'`: first 0 of 1, then the memory rows written by the
   * checkpoints that cover the move and let the log before them go (every 4,096 rows and at the end of
   * each; each checkpoint's rows are added to `total` as it begins, so `done` never goes back);
   * `'index'`: the search index saved without what was deleted (0 of 1, then 1 of 1).
   */
  onProgress?: (done: number, total: number, step: CompactionStep) => void;
}

/** What a compaction reports progress of (see `CompactOptions.onProgress`). */
export type CompactionStep = 'blocks' | 'checkpoint' | 'index';

/** What a compaction did. */
export interface CompactionReport {
  /** Expired memories deleted (their text became dead bytes). */
  readonly expiredDeleted: number;
  /** Chunk files rewritten: their live blocks copied elsewhere, the files removed. */
  readonly chunksRewritten: number;
  /**
   * Chunk files with dead bytes left as they are: another process appends to them (with `erase`, one
   * that did not let go of them when asked), or a write waiting for the lock has a block there; or
   * `close()` cut the compaction short after their live blocks moved (a later compaction removes them).
   */
  readonly chunksSkipped: number;
  /** Live blocks copied. */
  readonly blocksMoved: number;
  /** Bytes of chunk files before and after. */
  readonly chunkBytesBefore: number;
  readonly chunkBytesAfter: number;
  /** Bytes of the search index's files (`index/`) before the compaction, and after it: what a persistent index gave back (see `SearchProvider.saveIndex`). */
  readonly indexBytesBefore: number;
  readonly indexBytesAfter: number;
  /** LSN of the oldest record the log still holds afterwards. */
  readonly logFirstLsn: number;
  /**
   * (With `erase`.) Files of the search index there before the erase that are still there: another
   * process still read them (they go once it lets go, at its next idle catch-up, within a second or two,
   * or at its close), or the erase could not purge or clean up (counted as one each; every file there before, when it could
   * not look). They may
   * hold what deleted memories said; a later `compact({ erase: true })` removes them.
   */
  readonly indexFilesLeft: number;
  /**
   * (With `erase`.) Whether nothing deleted before the compaction began is left in a file of the store:
   * no chunk file skipped, the log cut past the deletions, no checkpoint file from before the
   * compaction's left, no index file left, and every removal durable (its folder fsynced). When false,
   * see `chunksSkipped`, `indexFilesLeft` and `logFirstLsn`, and run `compact({ erase: true })` again
   * once the other processes have let go (or closed); a checkpoint file that could not be removed, or a
   * folder that could not be fsynced, is an I/O error of the disk.
   */
  readonly erased?: boolean;
}

/** A chunk is rewritten by policy when at least this share of it is dead… */
const DEAD_SHARE = 0.5;
/** …and at least this many bytes (tiny chunks are not worth the copies). */
const DEAD_BYTES = 64 * 1024;

/** What compaction needs of the engine. */
export interface CompactionSite {
  readonly memories: MemoryTable;
  readonly streams: ReadonlyMap<string, readonly BlockRef[]>;
  readonly blocks: BlockStore;
  /** This store's claims of chunks, counted by the parts that hold them: claimed and let go of through it. */
  readonly claims: ChunkClaims;
  /**
   * Writes a block (`BlockStore.place`; with a shared log, claiming more chunk numbers when this host
   * used up its own) and holds its chunk until `release`: no seal lets go of it meanwhile, so no other
   * store takes the chunk while nothing in the log points at the block yet.
   */
  placeWrittenBlock(bytes: Uint8Array): Promise<{ readonly ref: BlockRef; release(): void }>;
  /** Catches up with the log (other processes' records). */
  refresh(): void;
  /** Calls `watcher` with every block reference a record applied from now on holds (it must not throw); returns how to stop. */
  watchRefs(watcher: (ref: BlockRef) => void): () => void;
  /** Commits `records` if `holds()` (run under the writer lock, every earlier record applied). */
  commitIf(records: LogRecord[], blocks: undefined, holds: () => boolean): Promise<'written' | 'refused'>;
  /** Whether compaction may take chunk `chunk`: with a log hosts share, only this host's own (no other host appends there). */
  mayCompact(chunk: number): boolean;
  /** With a log hosts share: the moves carry their blocks' bytes, every other host's only source of them. */
  readonly movesCarryCopies: boolean;
}

/** With moves that carry copies: the most bytes of copies in one record (earlier records move what they carry, and retire nothing). */
const COPIES_PER_RECORD = 1024 * 1024;

/** The chunk files compaction takes, and what it copies out of them. */
export interface CompactionPlan {
  readonly victims: number[];
  /** Chunks it would take but could not claim: another store appends to them. */
  readonly skipped: number[];
  readonly chunkBytesBefore: number;
}

/** Live bytes per chunk: what the tables reference. */
export function liveBytes(site: Pick<CompactionSite, 'memories' | 'streams'>): Map<number, number> {
  const steps = liveBytesSteps(site);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** References counted between turns of the event loop by `liveBytesInTurns`. */
const LIVE_BYTES_PER_TURN = 32_768;

/**
 * `liveBytes`, giving the event loop a turn every `LIVE_BYTES_PER_TURN` references: at a million memories
 * one count in one go held it for a few hundred milliseconds. Records applied meanwhile may be counted
 * or not, so the result only guides a choice (whether to compact, which chunks are mostly dead), never
 * what must move or may be removed: those take `liveBytes`, or check again under the writer lock. When
 * a checkpoint swaps the table's layers meanwhile, it counts again at once.
 */
export async function liveBytesInTurns(site: Pick<CompactionSite, 'memories' | 'streams'>): Promise<Map<number, number>> {
  const arrangement = site.memories.arrangement;
  const steps = liveBytesSteps(site);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await new Promise((resolve) => setImmediate(resolve));
    // A checkpoint frozen, written or failed meanwhile: the walk would miss a whole layer, or count one
    // twice (all of a bulk load's new chunks taken for dead). Counted again at once.
    if (site.memories.arrangement !== arrangement) return liveBytes(site);
  }
}

/** The count of `liveBytes` as steps: it yields every `LIVE_BYTES_PER_TURN` references. */
function* liveBytesSteps(site: Pick<CompactionSite, 'memories' | 'streams'>): Generator<void, Map<number, number>, void> {
  const live = new Map<number, number>();
  const add = (ref: BlockRef) => live.set(ref.chunk, (live.get(ref.chunk) ?? 0) + ref.length);
  let counted = 0;
  for (const [, ref] of site.memories.refs()) {
    add(ref);
    if (++counted % LIVE_BYTES_PER_TURN === 0) yield;
  }
  for (const refs of site.streams.values()) for (const ref of refs) add(ref);
  return live;
}

/** Dead bytes of `chunk` if compaction takes it (with `erase`, any; else when mostly dead), else 0. */
export function reclaimable({ chunk, bytes }: ChunkInfo, live: ReadonlyMap<number, number>, erase: boolean): number {
  const dead = bytes - (live.get(chunk) ?? 0);
  return (erase ? dead > 0 : mostlyDead(dead, bytes)) ? dead : 0;
}

/** Whether a chunk of `bytes` with `dead` of them dead is one compaction takes without `erase`. */
export function mostlyDead(dead: number, bytes: number): boolean {
  return dead >= DEAD_BYTES && dead >= bytes * DEAD_SHARE;
}

/**
 * Chooses the victims and claims them (no store places a block in a claimed chunk): chunks with dead
 * bytes (any, with `erase`; else mostly dead), but never one a store appends to (the claim fails).
 * This store lets go of its own first. (A chunk number is never used again: the tables remember the
 * highest one any record referenced, and new chunks are numbered after it.)
 */
export async function claimVictims(site: CompactionSite, erase: boolean): Promise<CompactionPlan> {
  await site.blocks.seal();
  const chunks: ChunkInfo[] = await site.blocks.listChunks();
  // (Which chunks are mostly dead is a choice, counted in turns; a chunk with any dead byte, for an
  // erase, is not: counted at once, from the tables as they stand.)
  const live = erase ? liveBytes(site) : await liveBytesInTurns(site);
  const victims: number[] = [];
  const skipped: number[] = [];
  try {
    for (const info of chunks) {
      if (!site.mayCompact(info.chunk) || reclaimable(info, live, erase) === 0) continue;
      const { chunk } = info;
      if (await site.claims.claim(chunk)) victims.push(chunk);
      else skipped.push(chunk);
    }
  } catch (error) {
    await site.claims.unclaim(victims);
    throw error;
  }
  return { victims, skipped, chunkBytesBefore: chunks.reduce((sum, c) => sum + c.bytes, 0) };
}

/** Every live block in the victims, as the tables say now. */
function blocksIn(site: CompactionSite, victims: ReadonlySet<number>): { memories: Array<{ id: number; ref: BlockRef }>; streams: Array<{ key: string; index: number; ref: BlockRef }> } {
  const memories: Array<{ id: number; ref: BlockRef }> = [];
  const streams: Array<{ key: string; index: number; ref: BlockRef }> = [];
  for (const [id, ref] of site.memories.refs()) if (victims.has(ref.chunk)) memories.push({ id, ref });
  for (const [key, refs] of site.streams) refs.forEach((ref, index) => victims.has(ref.chunk) && streams.push({ key, index, ref }));
  return { memories, streams };
}

const key = (ref: BlockRef) => `${ref.chunk}:${ref.offset}:${ref.length}`;

/**
 * Copies the live blocks of the victims into chunks this store owns, makes them durable, and commits
 * the record that moves every reference and retires the victims. The commit holds only if, under the
 * writer lock with every record applied, no reference into a victim is left that the record does not
 * move (a record another process committed meanwhile may point there: its block is copied too, and
 * the commit tried again). When no record applied since the live blocks were listed holds a reference
 * into a victim (the usual case), that is known without a scan, so the check under the lock costs
 * nothing however many memories there are. Returns how many blocks moved.
 */
export async function moveLiveBlocks(site: CompactionSite, victims: readonly number[], onProgress?: CompactOptions['onProgress']): Promise<number> {
  const retired = new Set(victims);
  /** Copies made so far, by the old place: a block is copied once, whatever the retries. */
  const copies = new Map<string, BlockRef>();
  /** Moves committed in records before the last (with copies). */
  let moves = 0;
  /** Lets go of the copies' chunks once the move is in the log (or given up): until then no seal lets go of them, and no other store takes them. */
  const holds: Array<() => void> = [];
  try {
    for (let attempt = 1; attempt <= 8; attempt++) {
      site.refresh();
      const live = blocksIn(site, retired);
      // From here on, a record applied that holds a reference into a victim may leave the move incomplete.
      // Usually none is: then the check under the lock costs nothing, with no scan of the tables holding
      // it; otherwise the tables are checked, pair by pair (a memory, or a stream's block, and its place).
      let touched = false;
      const stopWatching = site.watchRefs((ref) => {
        if (retired.has(ref.chunk)) touched = true;
      });
      const moved = new Set([...live.memories.map((m) => `m${m.id}@${key(m.ref)}`), ...live.streams.map((s) => `s${s.key}#${s.index}@${key(s.ref)}`)]);
      const complete = () => {
        if (!touched) return true;
        const now = blocksIn(site, retired);
        return now.memories.every((m) => moved.has(`m${m.id}@${key(m.ref)}`)) && now.streams.every((s) => moved.has(`s${s.key}#${s.index}@${key(s.ref)}`));
      };
      try {
        const total = live.memories.length + live.streams.length;
        let done = 0;
        const copy = async (ref: BlockRef): Promise<BlockRef> => {
          let to = copies.get(key(ref));
          if (!to) {
            // (Copied out of the view first: the bytes go to the writer's queue, the mapping may go away.)
            const copied = await site.placeWrittenBlock(Buffer.from(site.blocks.read(ref)));
            holds.push(() => copied.release());
            to = copied.ref;
            copies.set(key(ref), to);
          }
          if (++done % 1000 === 0 || done === total) onProgress?.(done, total, 'blocks');
          return to;
        };
        let memoryMoves: MemoryMove[] = [];
        let streamMoves: StreamMove[] = [];
        let carried = 0;
        /** The bytes a move carries (with a shared log), read back from the copy. */
        const carry = (to: BlockRef) => {
          if (!site.movesCarryCopies) return undefined;
          carried += to.length;
          return Buffer.from(site.blocks.read(to));
        };
        // With copies in the records, the moves go out a few MiB at a time: each record moves what it
        // carries (a move of a block no longer at its old place changes nothing), and the last one, under
        // the check, retires the victims.
        const sendCarried = async () => {
          await site.blocks.sync();
          await site.commitIf([{ type: RecordType.BlocksMoved, memories: memoryMoves, streams: streamMoves, retired: [] }], undefined, () => true);
          moves += memoryMoves.length + streamMoves.length;
          memoryMoves = [];
          streamMoves = [];
          carried = 0;
        };
        for (const { id, ref } of live.memories) {
          const to = await copy(ref);
          memoryMoves.push({ id, from: ref, to, copy: carry(to) });
          if (carried >= COPIES_PER_RECORD) await sendCarried();
        }
        for (const { key: streamKey, index, ref } of live.streams) {
          const to = await copy(ref);
          streamMoves.push({ key: streamKey, index, from: ref, to, copy: carry(to) });
          if (carried >= COPIES_PER_RECORD) await sendCarried();
        }
        // The copies are durable before the record that points at them.
        await site.blocks.sync();
        const outcome = await site.commitIf([{ type: RecordType.BlocksMoved, memories: memoryMoves, streams: streamMoves, retired: victims }], undefined, complete);
        if (outcome === 'written') return moves + memoryMoves.length + streamMoves.length;
      } finally {
        stopWatching();
      }
    }
    throw new MemMapError('LOCK_TIMEOUT', 'Compaction gave up: other processes kept writing into the chunks it was rewriting. Try again when the store is quieter.', { subsystem: 'blocks' });
  } finally {
    for (const release of holds) release();
  }
}
