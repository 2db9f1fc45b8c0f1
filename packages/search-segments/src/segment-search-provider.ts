import { mkdir, open, readdir, unlink } from 'node:fs/promises';
import { channel } from 'node:diagnostics_channel';
import { join } from 'node:path';
import { adapterOptionError, checkAdapterOptions, MemMapError, type JsonValue, type SearchDocument, type SearchHit, type SearchIndexOpenOptions, type SearchProvider, type SearchProviderSpec, type SearchRequest, type SegmentSearchOptions } from '@memmapfs/core';
import { mapFile, tryLeaseFile, type FileLease } from '@memmapfs/blocks';
import { searchSegments } from './bm25-search.js';
import { NewSegmentFile } from './new-segment-file.js';
import { decodeDescription, encodeDescription, isSegmentFileName } from './index-description.js';
import { verifySavedIndex } from './index-verification.js';
import { SegmentBuilder } from './segment-builder.js';
import { mergeSegments } from './segment-merge.js';
import { ownersAsPairs } from './merge-job.js';
import { MergeThread } from './merge-thread.js';
import { SegmentCorrupt, SegmentReader } from './segment-reader.js';
import { monotonicMs } from './monotonic-clock.js';

export type { SegmentSearchOptions };

/** A segment written out: a file of the index's folder, mapped (or, with no folder, bytes in memory). */
interface WrittenSegment {
  readonly kind: 'written';
  readonly key: number;
  readonly file: string | undefined;
  readonly reader: SegmentReader;
  /** Says "in use" to other processes, so that none removes the file. */
  readonly lease: FileLease | undefined;
}

/** Documents in memory: the one taking new documents, or one sealed and waiting to be written out. */
interface HeldSegment {
  readonly kind: 'held';
  readonly key: number;
  readonly builder: SegmentBuilder;
}

type Segment = WrittenSegment | HeldSegment;

/** `owners` value of a deleted memory. */
const DELETED = -1;
/**
 * The in-memory segment is also written out once it holds this many distinct terms, whatever its
 * documents: its build sorts them in one go, and texts whose words are all different (hashes, code,
 * base64) would otherwise make that sort long enough to hold the event loop for a noticeable time.
 */
const SEAL_AFTER_TERMS = 262_144;
/** …or once it holds this many words (its postings then take about 16 MiB). */
const SEAL_AFTER_WORDS = 2_097_152;
/** How long a merge or the build of a segment runs before it gives the event loop a turn. */
const SLICE_MS = 8;
/**
 * A written segment is rewritten without its dead rows (removed documents, replaced versions) once
 * this share of its rows is dead, whatever its tier: else the postings of memories deleted or updated
 * long ago stay on disk until enough segments of that size come along (Lucene's merge policy weighs
 * deletions likewise).
 */
const REWRITE_DEAD_SHARE = 0.25;
/** `saveIndex({ compact: true })` rewrites every segment with at least this share of dead rows (Lucene's `forceMergeDeletes` default). */
const COMPACT_DEAD_SHARE = 0.1;
/** Rows a step of counting a segment's dead rows walks (see `deadRowsInSteps`). */
const ROWS_PER_STEP = 65_536;
/** After a merge failed (a full disk, say), the next is tried after this long, doubled at each failure in a row up to a minute. */
const MERGE_RETRY_MS = 1000;

/** What the `memmapfs:segments:merge` diagnostics channel is told after each merge. */
export interface SegmentMergeMessage {
  /** How many written segments were merged. */
  readonly segments: number;
  /** How many documents the merged segment holds (0: every one was dead, and no segment was written). */
  readonly documents: number;
  /** Whether the merge ran on the merge thread (else on the main thread, in slices). */
  readonly thread: boolean;
}

/**
 * Told of each merge of written segments (`SegmentMergeMessage`), for `diagnostics_channel`
 * subscribers: how the index's background work goes.
 */
const mergeChannel = channel('memmapfs:segments:merge');

/**
 * Runs `steps` to its end, giving the event loop a turn every `SLICE_MS`; returns what it returns, or
 * `undefined` when `stop()` says so at a turn.
 */
async function inSlices<T>(steps: Generator<void, T, void>, stop: () => boolean = () => false): Promise<T | undefined> {
  let sliceEnds = monotonicMs() + SLICE_MS;
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done) return step.value;
    if (monotonicMs() >= sliceEnds) {
      await new Promise((resolve) => setImmediate(resolve));
      if (stop()) return undefined;
      sliceEnds = monotonicMs() + SLICE_MS;
    }
  }
}

/**
 * Validates `options` and creates the provider. `MemMapFS.init(root, { search: 'segments' })` loads it by
 * name; the store then gives it a folder (`openIndex`) and it keeps its index there.
 */
export function segmentSearch(options: SegmentSearchOptions = {}): SegmentSearchProvider {
  checkAdapterOptions(options, ['flushAfter', 'mergeFactor'], 'segmentSearch');
  const positive = (name: keyof SegmentSearchOptions, min: number) => {
    const value = options[name];
    if (value === undefined) return;
    if (!Number.isInteger(value) || value < min) throw adapterOptionError('segmentSearch', `${name} must be an integer of at least ${min}, not ${String(value)}`);
  };
  positive('flushAfter', 1);
  positive('mergeFactor', 2);
  // The options given, recorded with the saved index: a store opened later without a search option
  // makes this provider again with them.
  const given: { [key: string]: JsonValue } = {};
  if (options.flushAfter !== undefined) given.flushAfter = options.flushAfter;
  if (options.mergeFactor !== undefined) given.mergeFactor = options.mergeFactor;
  const spec: SearchProviderSpec = Object.keys(given).length > 0 ? { provider: 'segments', options: given } : { provider: 'segments' };
  return new SegmentSearchProvider(options.flushAfter ?? 16_384, options.mergeFactor ?? 10, spec);
}

/**
 * A BM25 index kept as immutable segment files read through mappings, so that every process that opens
 * a store shares one copy in the page cache, and opening costs the same at any size. New documents go
 * to an in-memory segment, written out at `flushAfter` documents (or `SEAL_AFTER_TERMS` terms, or `SEAL_AFTER_WORDS` words) and when the store saves the index;
 * segments of a size are merged in the background, leaving out deleted documents, which until then are
 * skipped at query time.
 *
 * Several processes may use one folder: each holds a shared lease on every file it reads or may still
 * name, and a file is removed only under an exclusive lease, when it is named neither by a process nor
 * by the index the store saved last.
 */
export class SegmentSearchProvider implements SearchProvider {
  readonly name = 'segments';
  // (BM25 over the statistics of the whole index, filters read from it: a score is the same whatever they are.)
  readonly supports = { snapshot: false, prefix: true, wholeWords: true, persistent: true, comparableScores: true } as const;

  private folder: string | undefined;
  private written: WrittenSegment[] = [];
  private sealed: HeldSegment[] = [];
  private memory: HeldSegment;
  private nextKey = 0;
  /** How segment files are read: the store's reader (`openIndex`), a mapping when the binding loads by default. */
  private reader: 'auto' | 'read' = 'auto';
  /**
   * Memories held by more than one segment, or deleted while a written one holds them: id → the key of
   * the segment holding the live version, or `DELETED`. Any other row of them is dead.
   */
  private owners = new Map<number, number>();
  /**
   * At least every id a segment holds or the owners table names: a document above it is new, found
   * nowhere, and is added without looking (every add of a bulk load).
   */
  private highestId = 0;
  /** Files named by the description `saveIndex` returned last, or merged away since: kept leased until the next save. */
  private pinned: WrittenSegment[] = [];
  private retired: WrittenSegment[] = [];
  /** Changes on `clear`: work begun before it is dropped. */
  private epoch = 0;
  private writingOut: Promise<void> | undefined;
  private merging: Promise<void> | undefined;
  /** While a purge merges everything, no other merge starts. */
  private mergesHeld = 0;
  /**
   * Dead rows of each written segment, by key: counted from the owners table when first needed (a
   * slice at a time: after an open, the table may name a good part of a large index), then kept up as
   * documents are replaced or removed and segments written. For the merge policy only: a count off by
   * some rows (changes while it was counted) merges a little early or late, nothing more.
   */
  private deadRows: Map<number, number> | undefined;
  private countingDead: Promise<void> | undefined;
  /** Merges that failed in a row, and the timer of the next try after the last one failed. */
  private mergeFailures = 0;
  /**
   * A part of a segment file found damaged, by a read, a merge or the count of dead rows: every later
   * call says so (`readingFiles`) and none is merged any more (`scheduleMerge`), until the index is
   * cleared or opened anew.
   */
  private damaged: SegmentCorrupt | undefined;
  private mergeRetry: NodeJS.Timeout | undefined;
  /** The postings' ints of the last in-memory segment written out, for the next one to take (see `PostingsPool`). */
  private sparePostings: Int32Array<ArrayBuffer> | undefined;
  /** Where merges of written segments run, off the event loop (see `merge`). */
  private readonly mergeThread = new MergeThread(new URL('./merge-worker.js', import.meta.url));
  /** Whether the segment files opened so far were mapped (else read): the merge thread reads them alike. */
  private mapsFiles = true;
  /** The store is read-only (see `SearchProvider.openIndex`): segments are written out, and merged, in memory. */
  private readOnly = false;
  /** Runs each write of a new file of the index open now (see `SearchIndexOpenOptions.guardWrite`). */
  private guardWrite: SearchIndexOpenOptions['guardWrite'];
  /**
   * A write of the index open now was refused (the saved index was purged since it was opened): it
   * writes no file until it is opened again, and is not saved; what it seals and merges stays in memory.
   */
  private purgedElsewhere = false;
  /**
   * While a `saveIndex({ purge: true })` runs: the key of the in-memory segment it began (segments from
   * it on hold only documents added since), for the index of `epoch`. Their files, and its own merge's,
   * are written as holding nothing it erases (`GuardedFileHolds.sincePurge`).
   */
  private purgeBegan: { key: number; epoch: number } | undefined;
  private closed = false;

  constructor(
    private readonly flushAfter: number,
    private readonly mergeFactor: number,
    /** How it is made again by name (see `SearchProvider.spec`). */
    readonly spec: SearchProviderSpec = { provider: 'segments' },
  ) {
    this.memory = this.newHeld();
  }

  add(doc: SearchDocument): void {
    this.assertOpen();
    this.readingFiles(() => this.addNow(doc));
  }

  private addNow(doc: SearchDocument): void {
    if (doc.id > this.highestId) {
      // (Raised first: an add that fails half-way leaves a row that the next add or remove must look for.)
      this.highestId = doc.id;
      this.memory.builder.add(doc);
      this.sealWhenFull();
      return;
    }
    this.memory.builder.remove(doc.id);
    const owner = this.owners.get(doc.id);
    const holder = owner === undefined ? this.soleHolder(doc.id) : undefined;
    this.killed(owner ?? holder?.key);
    this.memory.builder.add(doc);
    if (owner !== undefined || holder !== undefined) this.owners.set(doc.id, this.memory.key);
    this.sealWhenFull();
  }

  /** Seals the in-memory segment, and starts writing it out, once it holds enough. */
  private sealWhenFull(): void {
    const builder = this.memory.builder;
    if (builder.liveCount >= this.flushAfter || builder.termCount >= SEAL_AFTER_TERMS || builder.totalLength >= SEAL_AFTER_WORDS) {
      this.seal();
      void this.writeOut().catch(() => undefined);
    }
  }

  remove(id: number): void {
    this.assertOpen();
    this.readingFiles(() => this.removeNow(id));
  }

  private removeNow(id: number): void {
    if (id > this.highestId) return;
    this.memory.builder.remove(id);
    const owner = this.owners.get(id);
    const holder = owner === undefined ? this.soleHolder(id) : undefined;
    this.killed(owner ?? holder?.key);
    if (owner !== undefined || holder !== undefined) this.owners.set(id, DELETED);
  }

  search(request: SearchRequest): SearchHit[] {
    this.assertOpen();
    return this.readingFiles(() => this.searchNow(request));
  }

  /**
   * Runs `read`, which may read the segment files: a part of one found damaged (`SegmentCorrupt`), or a
   * merge that found one so before, throws `SEARCH_INDEX_DAMAGED` (see `SearchProvider`), now and until
   * the index is cleared or opened anew.
   */
  private readingFiles<T>(read: () => T): T {
    if (this.damaged) throw this.damagedError(this.damaged);
    try {
      return read();
    } catch (error) {
      this.throwFound(error);
    }
  }

  /** Throws `error`; a damaged part (`SegmentCorrupt`) first marks the index damaged and becomes `SEARCH_INDEX_DAMAGED`. */
  private throwFound(error: unknown): never {
    if (!(error instanceof SegmentCorrupt)) throw error;
    this.damaged = error;
    throw this.damagedError(error);
  }

  private damagedError(cause: SegmentCorrupt): MemMapError {
    return new MemMapError('SEARCH_INDEX_DAMAGED', `${cause.message}: the index must be rebuilt from the memories.`, { subsystem: 'search', cause });
  }

  private searchNow(request: SearchRequest): SearchHit[] {
    const segments: Segment[] = [...this.written, ...this.sealed, this.memory];
    return searchSegments(
      segments.map((segment) => (segment.kind === 'written' ? segment.reader : segment.builder)),
      { text: request.text, limit: request.limit, tags: request.tags, namespace: request.namespace, prefix: request.prefix !== false },
      (s, row, id) => {
        const segment = segments[s]!;
        if (segment.kind === 'held' && segment.builder.isDead(row)) return true;
        const owner = this.owners.get(id);
        return owner !== undefined && owner !== segment.key;
      },
    );
  }

  clear(): void {
    this.assertOpen();
    this.epoch++;
    this.damaged = undefined;
    for (const segment of this.written) this.retired.push(segment);
    this.written = [];
    this.sealed = [];
    this.memory = this.newHeld();
    this.owners = new Map();
    this.highestId = 0;
    this.deadRows = undefined;
  }

  /**
   * Opens the index saved in `folder` as `saved` describes it (what `saveIndex` returned), or an empty
   * one there. Throws when a file it names is missing or damaged.
   */
  async openIndex(folder: string, saved: Uint8Array | undefined, options?: SearchIndexOpenOptions): Promise<void> {
    this.assertOpen();
    this.reader = options?.reader === 'mmap' ? 'auto' : options?.reader ?? 'auto';
    // (Read-only, the folder may be missing, on a file system that cannot make it: an empty index.)
    this.readOnly = options?.readOnly === true;
    if (!this.readOnly) await mkdir(folder, { recursive: true });
    const description = saved ? decodeDescription(saved) : { segments: [], owners: new Map<number, number>() };
    // Opened whole before it takes the place of what the provider holds: a search meanwhile reads the
    // old index, never half of the new one.
    const opened: WrittenSegment[] = [];
    let highestId = 0;
    // (The leases all at once: each is a file opened on the thread pool.)
    const leases = await Promise.allSettled(description.segments.map((file) => leaseShared(join(folder, file))));
    try {
      description.segments.forEach((file, i) => {
        const path = join(folder, file);
        const lease = leases[i]!;
        if (lease.status === 'rejected') throw lease.reason;
        if (!lease.value) throw Object.assign(new Error(`the search segment ${path} was removed`), { code: 'ENOENT' });
        opened.push({ kind: 'written', key: this.nextKey++, file, reader: this.segmentReader(path), lease: lease.value });
      });
      // (Read before anything changes: a part found damaged throws with the index as it was.)
      for (const segment of opened) highestId = Math.max(highestId, segment.reader.maxId);
      // (Closed while the leases were taken: they are let go of here.)
      this.assertOpen();
    } catch (error) {
      for (const lease of leases) if (lease.status === 'fulfilled') await lease.value?.release();
      // A file whole but of a newer release's format is not damage (that release's index, rebuilt here).
      if (error instanceof SegmentCorrupt && !error.unsupportedVersion) throw this.damagedError(error);
      throw error;
    }
    const old = [...this.written, ...this.pinned, ...this.retired];
    this.clear();
    this.guardWrite = options?.guardWrite;
    this.purgedElsewhere = false;
    this.retired = [];
    this.pinned = [];
    this.folder = folder;
    this.written = opened;
    for (const [id, position] of description.owners) this.owners.set(id, position === DELETED ? DELETED : opened[position]!.key);
    this.highestId = highestId;
    for (const id of this.owners.keys()) this.highestId = Math.max(this.highestId, id);
    // What the provider held before is named by nothing it will save: let go, so that it may be removed.
    for (const segment of old) await segment.lease?.release();
  }

  /**
   * Writes every document added so far to segment files, makes them durable, and returns the
   * description of the index as it stood when the save began (documents added meanwhile are in a later
   * one). With `purge`, first merges every segment into one without the deleted documents, so that no
   * file of the index keeps what they said; with `compact`, rewrites every segment of which a tenth or
   * more is dead without those rows. No merge starts while a save runs.
   */
  async saveIndex(options: { purge?: boolean; compact?: boolean } = {}): Promise<Uint8Array> {
    this.assertOpen();
    // (A damaged index is not described again: its files are let go of and it is rebuilt.)
    if (this.damaged) throw this.damagedError(this.damaged);
    try {
      const description = await this.saveIndexNow(options);
      // (Damage the count of dead rows found while it saved: the index it describes is not to be described.)
      if (this.damaged) throw this.damaged;
      return description;
    } catch (error) {
      this.throwFound(error);
    }
  }

  private async saveIndexNow(options: { purge?: boolean; compact?: boolean }): Promise<Uint8Array> {
    const folder = this.folder;
    if (!folder) throw new Error('the segments search provider has no folder to save its index in: openIndex comes first');
    if (this.readOnly) throw new Error('the segments search provider was opened read-only: it saves no index');
    this.assertNotPurgedElsewhere();
    // What the last description named is safe to let go now: the store has replaced it (or kept an
    // older one, whose files are protected by being named there). The store saves one at a time.
    const previous = [...this.pinned, ...this.retired];
    this.pinned = [];
    this.retired = [];
    this.mergesHeld++;
    const epoch = this.epoch;
    try {
      while (this.merging) await this.merging;
      if (options.purge || options.compact) {
        this.seal();
        if (options.purge) this.purgeBegan = { key: this.memory.key, epoch };
        const sealedNow = this.sealed.map((segment) => segment.key);
        while (this.sealed.some((segment) => sealedNow.includes(segment.key)) && this.epoch === epoch) {
          this.assertOpen();
          await this.writeNext();
        }
        if (options.purge && this.written.length > 0) await this.merge(this.written.slice(), epoch);
        if (!options.purge) {
          for (const segment of this.written.slice()) {
            if (this.epoch !== epoch) break;
            // The counts kept for the merge policy when there are any; else the segment's rows counted in
            // slices (at a million rows, one count in one go held the event loop for a tenth of a second).
            const dead = this.deadRows ? (this.deadRows.get(segment.key) ?? 0) : await inSlices(this.deadRowsInSteps(segment), () => this.epoch !== epoch || this.closed);
            if (dead === undefined) break;
            if (dead > 0 && dead >= COMPACT_DEAD_SHARE * segment.reader.docCount) await this.merge([segment], epoch);
          }
        }
      }
      // The description: the segments as they stand now, the in-memory one sealed; its owners table
      // points only at them (the in-memory segment that takes new documents is empty yet).
      this.seal();
      const named = [...this.written, ...this.sealed].map((segment) => segment.key);
      const owners = new Map(this.owners);
      // Those alone: segments sealed after this point belong to a later save.
      while (this.sealed.some((segment) => named.includes(segment.key))) {
        this.assertOpen();
        if (this.epoch !== epoch) break;
        await this.writeNext();
      }
      if (this.epoch !== epoch) throw new Error('the index was cleared while it was being saved');
      this.assertNotPurgedElsewhere();
      const files = named.map((key) => this.written.find((segment) => segment.key === key)!);
      const position = new Map(named.map((key, i) => [key, i]));
      const positions = new Map<number, number>();
      for (const [id, key] of owners) positions.set(id, key === DELETED ? DELETED : position.get(key)!);
      const description = encodeDescription({ segments: files.map((segment) => segment.file!), owners: positions });
      await syncFolder(folder);
      this.pinned = files;
      return description;
    } finally {
      this.purgeBegan = undefined;
      this.mergesHeld--;
      for (const segment of previous) if (!this.written.includes(segment) && !this.pinned.includes(segment)) await segment.lease?.release();
      this.scheduleMerge();
    }
  }

  /** Fails once a write of this index was refused (`purgedElsewhere`): its segments may be in memory only, and it may hold what a purge erased. */
  private assertNotPurgedElsewhere(): void {
    if (this.purgedElsewhere) throw new Error('the saved search index was purged (compact({ erase: true })) since this one was opened, and this one may hold what that purge erased: it is not saved; open the index again');
  }

  /** The segment files the description `saved` names. */
  indexFiles(saved: Uint8Array): string[] {
    return [...decodeDescription(saved).segments];
  }

  /** Checks the saved index `saved` describes: every segment file there and passing its checksums. */
  verifyIndex(folder: string, saved: Uint8Array): Promise<string[]> {
    return verifySavedIndex(folder, saved);
  }

  /**
   * Removes the segment files of the folder that no process uses and `current()` (the description the
   * store keeps now) does not name, and makes their removal durable (the folder fsynced after).
   */
  async removeUnusedFiles(current: () => Promise<Uint8Array | undefined>, options: { closing?: boolean } = {}): Promise<void> {
    const folder = this.folder;
    if (!folder) return;
    // About to close: this process lets go of its own files first, so that those it alone kept go too.
    if (options.closing) await this.close();
    // (A read-only store's folder is not this process's to change.)
    if (this.readOnly) return;
    // (A description that cannot be read or decoded throws: then nothing is removed.)
    const named = async () => {
      const bytes = await current();
      return new Set(bytes ? decodeDescription(bytes).segments : []);
    };
    const mine = new Set([...this.written, ...this.pinned, ...this.retired].map((segment) => segment.file));
    const before = await named();
    let removed = false;
    for (const name of await readdir(folder)) {
      if (!isSegmentFileName(name) || mine.has(name) || before.has(name)) continue;
      const path = join(folder, name);
      const lease = await tryLeaseFile(path, 'exclusive').catch(() => 'busy' as const);
      if (typeof lease === 'string') continue;
      try {
        // Named meanwhile by a description saved by a process that has let go since: kept.
        if (!(await named()).has(name)) removed = (await unlink(path).then(() => true, () => false)) || removed;
      } finally {
        await lease.release();
      }
    }
    // (Made durable: a file a power loss brought back may hold what a purge removed.)
    if (removed) await syncFolder(folder);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.epoch++;
    clearTimeout(this.mergeRetry);
    await this.writingOut?.catch(() => undefined);
    await this.mergeThread.close();
    await this.merging?.catch(() => undefined);
    for (const segment of [...this.written, ...this.pinned, ...this.retired]) await segment.lease?.release();
    this.written = [];
    this.pinned = [];
    this.retired = [];
    this.sealed = [];
  }

  /**
   * `after`: the in-memory segment it follows, whose postings say how large to make the new one's at
   * first, with a quarter more: each growth of a pool copies it.
   */
  private newHeld(after?: SegmentBuilder): HeldSegment {
    const builder = new SegmentBuilder(after && after.postingsUsed * 1.25, this.sparePostings);
    this.sparePostings = undefined;
    return { kind: 'held', key: this.nextKey++, builder };
  }

  /**
   * The segment other than the in-memory one that holds a row of `id`, for an id the owners table does
   * not name (its one row, if any, is live).
   */
  private soleHolder(id: number): Segment | undefined {
    for (const segment of this.sealed) if (segment.builder.has(id)) return segment;
    for (const segment of this.written) if (segment.reader.rowOf(id) >= 0) return segment;
    return undefined;
  }

  /** The live row of a document in the segment with key `key` is dead now (replaced or removed). */
  private killed(key: number | undefined): void {
    if (!this.deadRows || key === undefined || key === DELETED) return;
    if (this.written.some((segment) => segment.key === key)) this.deadRows.set(key, (this.deadRows.get(key) ?? 0) + 1);
  }

  /** Starts counting the dead rows of the written segments, unless they are counted or being counted; merges are considered again once done. */
  private countDeadRows(): void {
    if (this.deadRows || this.countingDead || this.closed) return;
    const epoch = this.epoch;
    const counted = this.written.slice();
    this.countingDead = inSlices(this.deadRowsSteps(counted), () => this.epoch !== epoch || this.closed)
      .then((counts) => {
        if (!counts || this.epoch !== epoch || this.closed) return;
        // Segments written or merged while it counted: counted row by row now (their rows replaced or
        // removed meanwhile are dead already).
        for (const segment of this.written) if (!counted.includes(segment)) counts.set(segment.key, this.deadRowsIn(segment));
        this.deadRows = counts;
      })
      .catch((error: unknown) => {
        if (this.epoch !== epoch || this.closed) return;
        // (Not counted again and again: no merge runs until the index is made again, which the next query has the store do.)
        this.deadRows = new Map();
        if (error instanceof SegmentCorrupt && !error.unsupportedVersion) this.foundDamaged(error);
      })
      .finally(() => {
        this.countingDead = undefined;
        // (Cut short by a clear or an open: a count of what there is now starts.)
        this.scheduleMerge();
      });
  }

  /** Dead rows of every written segment: each owners entry makes every row of its memory dead but the one in the segment it names. */
  private *deadRowsSteps(written: readonly WrittenSegment[]): Generator<void, Map<number, number>, void> {
    const counts = new Map<number, number>();
    let step = 0;
    for (const [id, owner] of this.owners) {
      for (const segment of written) if (segment.key !== owner && segment.reader.rowOf(id) >= 0) counts.set(segment.key, (counts.get(segment.key) ?? 0) + 1);
      if (++step % 1024 === 0) yield;
    }
    return counts;
  }

  /** Dead rows of `segment`, row by row. */
  private deadRowsIn(segment: WrittenSegment): number {
    const steps = this.deadRowsInSteps(segment);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /** `deadRowsIn` as steps: it yields every `ROWS_PER_STEP` rows. */
  private *deadRowsInSteps(segment: WrittenSegment): Generator<void, number, void> {
    const reader = segment.reader;
    let dead = 0;
    for (let row = 0; row < reader.docCount; row++) {
      const owner = this.owners.get(reader.idAt(row));
      if (owner !== undefined && owner !== segment.key) dead++;
      if (row % ROWS_PER_STEP === ROWS_PER_STEP - 1) yield;
    }
    return dead;
  }

  /** Starts a new in-memory segment; the old one waits to be written out. */
  private seal(): void {
    const full = this.memory;
    if (full.builder.docCount === 0) return;
    this.memory = this.newHeld(full.builder);
    if (full.builder.liveCount > 0) this.sealed.push(full);
  }

  /** Writes the sealed segments out, oldest first; rejects with the first failure (they stay sealed, searchable, for the next try). */
  private writeOut(): Promise<void> {
    this.writingOut ??= (async () => {
      while (this.sealed.length > 0 && !this.closed) await this.writeNext();
    })().finally(() => {
      this.writingOut = undefined;
      this.scheduleMerge();
    });
    return this.writingOut;
  }

  private writingNext: Promise<void> | undefined;

  /** Writes the oldest sealed segment out (one write at a time, whoever asks). */
  private writeNext(): Promise<void> {
    this.writingNext ??= (async () => {
      const held = this.sealed[0];
      if (!held) return;
      const epoch = this.epoch;
      const bytes = await inSlices(held.builder.buildSteps(), () => this.epoch !== epoch || this.closed);
      if (!bytes || this.epoch !== epoch || this.closed) return;
      const written = await this.writeSegment(held.key, bytes, epoch);
      if (this.epoch !== epoch || this.closed) {
        await this.discard(written);
        return;
      }
      this.sealed.shift();
      this.written.push(written);
      // Searched and built no more: its postings' memory goes to the next in-memory segment.
      this.sparePostings = held.builder.releasePostings();
      // (Rows of it replaced or removed while it was sealed are dead already.)
      this.deadRows?.set(written.key, this.deadRowsIn(written));
    })().finally(() => {
      this.writingNext = undefined;
    });
    return this.writingNext;
  }

  /**
   * Writes `bytes`, built by the index of `epoch`, as a new segment file (leased, fsynced, mapped) through
   * the store's `guardWrite`; in memory when there is no folder, the store is read-only, a write was
   * refused, or the index was opened again since `epoch` (the caller then drops it).
   */
  private async writeSegment(key: number, bytes: Buffer, epoch: number): Promise<WrittenSegment> {
    const folder = this.folder;
    const inMemory = (): WrittenSegment => ({ kind: 'written', key, file: undefined, reader: new SegmentReader(bytes), lease: undefined });
    if (!folder || this.readOnly || this.purgedElsewhere || this.epoch !== epoch) return inMemory();
    const guardWrite = this.guardWrite;
    for (;;) {
      const file = `seg-${Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex')}.seg`;
      const made = new NewSegmentFile(join(folder, file));
      let kept: boolean;
      try {
        // (The purge's own merge, the one merge running while it does, drops every removed document.)
        const sincePurge = this.purgeBegan !== undefined && this.purgeBegan.epoch === epoch && key >= this.purgeBegan.key;
        if (guardWrite) kept = await guardWrite(file, () => made.create(), () => made.write(bytes), sincePurge ? { sincePurge } : undefined);
        else {
          await made.create();
          await made.write(bytes);
          kept = true;
        }
      } catch (error) {
        await made.discard();
        throw error;
      }
      if (!kept) {
        await made.discard();
        // This index may hold what a purge of the saved one erased: it writes no file from now on. (One
        // refused for an index opened before leaves the one open now as it is.)
        if (this.epoch === epoch) this.purgedElsewhere = true;
        return inMemory();
      }
      if (made.taken) continue;
      try {
        return { kind: 'written', key, file, reader: this.segmentReader(made.path), lease: made.lease };
      } catch (error) {
        await made.discard();
        throw error;
      }
    }
  }

  /**
   * A merge, or the count of dead rows that plans merges, met a damaged part: the index says so to every
   * later call (`readingFiles`), and merges no more.
   */
  private foundDamaged(error: SegmentCorrupt): void {
    // (Said once: a read that found it first already stopped the merges.)
    if (this.damaged) return;
    this.damaged = error;
    process.emitWarning(`Search segments were not merged, nor will be while this index is open: ${error.message}. The next query rebuilds the index from the memories.`, { code: 'MEMMAPFS_MERGE_FAILED' });
  }

  /** Lets go of a segment written for work that was dropped; its file is removed now. */
  private async discard(segment: WrittenSegment): Promise<void> {
    await segment.lease?.release();
    if (this.folder && segment.file) await unlink(join(this.folder, segment.file)).catch(() => undefined);
  }

  /**
   * Starts a merge if the segments call for one and none runs. After a failure the next waits (see
   * `MERGE_RETRY_MS`): the same segments would fail again at once, each try writing what it could.
   */
  private scheduleMerge(): void {
    if (this.merging || this.closed || this.mergesHeld > 0 || this.mergeRetry || this.damaged) return;
    const inputs = this.mergeCandidates();
    if (!inputs) return;
    this.merging = this.merge(inputs, this.epoch)
      .then(
        () => {
          this.mergeFailures = 0;
        },
        (error: unknown) => {
          if (error instanceof SegmentCorrupt) {
            // (Tried again, it would fail again: no merge runs until the index is made again, which the
            // next query has the store do.)
            this.foundDamaged(error);
            return;
          }
          this.mergeFailures++;
          process.emitWarning(`Search segments were not merged (they stay as they are; tried again later): ${(error as Error)?.message ?? error}`, { code: 'MEMMAPFS_MERGE_FAILED' });
          this.mergeRetry = setTimeout(() => {
            this.mergeRetry = undefined;
            this.scheduleMerge();
          }, Math.min(60_000, MERGE_RETRY_MS * 2 ** (this.mergeFailures - 1)));
          this.mergeRetry.unref();
        },
      )
      .finally(() => {
        this.merging = undefined;
        this.scheduleMerge();
      });
  }

  /**
   * `mergeFactor` written segments of one size tier (tier n: up to `flushAfter` × `mergeFactor`ⁿ
   * documents), the oldest first; else the segment with the largest share of dead rows, if that is
   * `REWRITE_DEAD_SHARE` or more, alone; `undefined` when there is neither.
   */
  private mergeCandidates(): WrittenSegment[] | undefined {
    const tiers = new Map<number, WrittenSegment[]>();
    // (Read-only, a merge is written in memory: not of the files, which it would copy into the heap.)
    const mergeable = this.readOnly ? this.written.filter((written) => written.file === undefined) : this.written;
    for (const segment of mergeable) {
      const tier = Math.max(0, Math.ceil(Math.log(segment.reader.docCount / this.flushAfter) / Math.log(this.mergeFactor) - 1e-9));
      const list = tiers.get(tier) ?? [];
      list.push(segment);
      if (list.length >= this.mergeFactor) return list;
      tiers.set(tier, list);
    }
    if (!this.deadRows) {
      this.countDeadRows();
      return undefined;
    }
    let deadest: WrittenSegment | undefined;
    let share = REWRITE_DEAD_SHARE;
    for (const segment of mergeable) {
      const dead = (this.deadRows.get(segment.key) ?? 0) / segment.reader.docCount;
      if (dead >= share) {
        deadest = segment;
        share = dead;
      }
    }
    return deadest ? [deadest] : undefined;
  }

  /**
   * Merges `inputs` into one segment without their dead rows, giving the event loop turns; inputs with
   * no live row left are dropped without a new segment.
   */
  private async merge(inputs: WrittenSegment[], epoch: number): Promise<void> {
    const keys = new Set(inputs.map((segment) => segment.key));
    const isLive = (input: number, id: number) => {
      const owner = this.owners.get(id);
      return owner === undefined || owner === inputs[input]!.key;
    };
    let merged: WrittenSegment | undefined;
    let thread = false;
    if (inputs.some((segment, i) => hasLiveRow(segment.reader, (id) => isLive(i, id)))) {
      let bytes = await this.mergeOffThread(inputs);
      if (this.epoch !== epoch || this.closed) return;
      thread = bytes !== undefined;
      bytes ??= await inSlices(
        mergeSegments(
          inputs.map((segment) => segment.reader),
          (input, _row, id) => isLive(input, id),
        ),
        () => this.epoch !== epoch || this.closed,
      );
      if (bytes === undefined || this.epoch !== epoch || this.closed) return;
      merged = await this.writeSegment(this.nextKey++, bytes, epoch);
    }
    if (this.epoch !== epoch || this.closed || !inputs.every((segment) => this.written.includes(segment))) {
      if (merged) await this.discard(merged);
      return;
    }
    // From here on, synchronous: the merged segment takes the inputs' place. (The owners worked out
    // first: a part of a segment found damaged throws with the index as it was.)
    const written = [...this.written.filter((segment) => !keys.has(segment.key)), ...(merged ? [merged] : [])];
    const owners = new Map<number, number | undefined>();
    try {
      for (const [id, owner] of this.owners) {
        const now = keys.has(owner) ? merged?.key ?? DELETED : owner;
        // An entry is needed while another segment holds a row of the memory.
        const holders = this.holdersOf(id, written);
        if (holders === 0 || (holders === 1 && now !== DELETED && this.holds(now, id, written))) owners.set(id, undefined);
        else if (now !== owner) owners.set(id, now);
      }
    } catch (error) {
      if (merged) await this.discard(merged);
      throw error;
    }
    this.written = written;
    for (const [id, now] of owners) {
      if (now === undefined) this.owners.delete(id);
      else this.owners.set(id, now);
    }
    if (this.deadRows) {
      for (const key of keys) this.deadRows.delete(key);
      // (Rows it took that were replaced or removed while it merged are dead already.)
      if (merged) this.deadRows.set(merged.key, this.deadRowsIn(merged));
    }
    for (const segment of inputs) {
      // Named by the last saved description: leased until the next save.
      if (this.pinned.includes(segment)) this.retired.push(segment);
      else await segment.lease?.release();
    }
    if (mergeChannel.hasSubscribers) mergeChannel.publish({ segments: inputs.length, documents: merged?.reader.docCount ?? 0, thread } satisfies SegmentMergeMessage);
  }

  /** A reader of the segment file at `path`, mapped unless the store reads its files. */
  private segmentReader(path: string): SegmentReader {
    const file = mapFile(path, this.reader);
    // (Once one is read, the merge thread reads them all: it may not be able to map them either.)
    if (!file.mapped && file.bytes.length > 0) this.mapsFiles = false;
    return new SegmentReader(file.bytes, path);
  }

  /**
   * The merge of `inputs` on the merge thread, when it can take it: every input is a file, and the
   * thread is there. `undefined` when it cannot, or was lost under way (closing, or the thread ended):
   * the caller merges on the main thread. So it does after an error of the merge there.
   */
  private async mergeOffThread(inputs: readonly WrittenSegment[]): Promise<Buffer | undefined> {
    const folder = this.folder;
    if (!folder || !this.mergeThread.available || inputs.some((segment) => segment.file === undefined)) return undefined;
    try {
      return await this.mergeThread.run({
        paths: inputs.map((segment) => join(folder, segment.file!)),
        keys: inputs.map((segment) => segment.key),
        owners: ownersAsPairs(this.owners),
        reader: this.reader === 'read' || !this.mapsFiles ? 'read' : 'auto',
      });
    } catch {
      // (Lost, or the merge failed there: the main thread's merge, over its own mappings, says what is
      // wrong if anything is.)
      return undefined;
    }
  }

  /** How many segments hold a row of `id`, dead or alive (the in-memory one by its live rows). */
  private holdersOf(id: number, written = this.written): number {
    let count = 0;
    for (const segment of written) if (segment.reader.rowOf(id) >= 0) count++;
    for (const segment of [...this.sealed, this.memory]) if (segment.builder.has(id)) count++;
    return count;
  }

  private holds(key: number, id: number, written = this.written): boolean {
    const segment = [...written, ...this.sealed, this.memory].find((s) => s.key === key);
    if (!segment) return false;
    return segment.kind === 'written' ? segment.reader.rowOf(id) >= 0 : segment.builder.has(id);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the segments search provider is closed');
  }
}

/**
 * A shared lease on a segment file, waiting out a process that holds it exclusively for a moment (to
 * check, then keep or remove it); `undefined` when the file is gone.
 */
async function leaseShared(path: string): Promise<FileLease | undefined> {
  for (let attempt = 0; ; attempt++) {
    const lease = await tryLeaseFile(path, 'shared');
    if (lease === 'removed') return undefined;
    if (lease !== 'busy') return lease;
    if (attempt >= 200) throw new Error(`the search segment ${path} stayed locked by another process for a second`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Whether a row of `reader` holds an id `isLive` accepts. */
function hasLiveRow(reader: SegmentReader, isLive: (id: number) => boolean): boolean {
  for (let row = 0; row < reader.docCount; row++) if (isLive(reader.idAt(row))) return true;
  return false;
}
