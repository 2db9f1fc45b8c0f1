/** Ints of a term's first block; each next block is twice the size of the one before, up to `MAX_BLOCK`. */
const FIRST_BLOCK = 8;
const MAX_BLOCK = 4096;
/** Ints a pool starts with at least, and at most whatever it is told (64 MiB). */
const MIN_CAPACITY = 1 << 16;
const MAX_START_CAPACITY = 1 << 24;
/**
 * A spare pool is taken from this share of the capacity asked for up to this many times it (see the
 * constructor): a pool of one segment of very many words is not kept for the small ones after it.
 */
const SPARE_SHARE = 0.8;
const SPARE_AT_MOST = 2;

/**
 * The postings of an in-memory segment: for each term, pairs of (row, frequency) appended in row order,
 * kept in one growing `Int32Array` as chains of blocks (the idea of Lucene's `IntBlockPool`). One pool
 * instead of an array per term: a segment of thousands of terms makes no garbage for the collector to
 * move, and the pool's memory is outside the JavaScript heap. A block ends with the offset of the next
 * one.
 */
export class PostingsPool {
  private pool: Int32Array<ArrayBuffer>;
  private used = 0;

  /**
   * `capacity`: the ints to start with (at least `MIN_CAPACITY`, at most `MAX_START_CAPACITY`), such as
   * what the last pool of a like segment took: a pool that grows is copied. `spare`: the ints of a pool
   * let go of (`release`), used instead of new ones when they are at least `SPARE_SHARE` of `capacity`
   * (a capacity asked for holds a quarter more than the last segment took) and at most `SPARE_AT_MOST`
   * times it; the old contents are never read. Memory a process has already touched costs nothing to
   * touch again, where new memory costs a page fault per page: on a virtual machine whose host takes
   * freed memory back, about 3 ms a megabyte.
   */
  constructor(capacity = MIN_CAPACITY, spare?: Int32Array<ArrayBuffer>) {
    const ints = Math.max(MIN_CAPACITY, Math.min(MAX_START_CAPACITY, Math.ceil(capacity)));
    this.pool = spare !== undefined && spare.length >= ints * SPARE_SHARE && spare.length <= ints * SPARE_AT_MOST ? spare : new Int32Array(ints);
  }

  /**
   * Lets go of the pool's ints, for a new pool to take (see the constructor); the pool holds nothing
   * from then on. Only once nothing reads it any more: a reader made before goes on reading the ints.
   */
  release(): Int32Array<ArrayBuffer> {
    const ints = this.pool;
    this.pool = new Int32Array(0);
    this.used = 0;
    this.termCount = 0;
    return ints;
  }

  /** Ints it holds room for now. */
  get capacity(): number {
    return this.pool.length;
  }

  /** Ints taken so far: the capacity a pool for a segment like this one's can start with. */
  get usedInts(): number {
    return this.used;
  }

  /**
   * By term: where its first block starts, where the next int goes, where its last block ends (the
   * next-block slot), the size of that block, how many ints it holds.
   */
  private heads = new Int32Array(1024);
  private writeAt = new Int32Array(1024);
  private blockEnds = new Int32Array(1024);
  private blockSizes = new Int32Array(1024);
  private lengths = new Int32Array(1024);
  private termCount = 0;

  /** Terms with a posting. */
  get size(): number {
    return this.termCount;
  }

  /** Pairs term `term` holds. */
  pairs(term: number): number {
    return term < this.termCount ? this.lengths[term]! / 2 : 0;
  }

  /** Appends (row, frequency) to term `term`'s postings; terms are numbered 0, 1, 2… (a term skipped has none). */
  add(term: number, row: number, frequency: number): void {
    while (term >= this.termCount) this.startTerm(this.termCount);
    let at = this.writeAt[term]!;
    if (at === this.blockEnds[term]) at = this.nextBlock(term, at);
    this.pool[at] = row;
    this.pool[at + 1] = frequency;
    this.writeAt[term] = at + 2;
    this.lengths[term]! += 2;
  }

  /** Calls `visit` with each (row, frequency) of term `term`, in order. */
  forEach(term: number, visit: (row: number, frequency: number) => void): void {
    const total = this.pairs(term) * 2;
    const pool = this.pool;
    let at = this.heads[term]!;
    let size = FIRST_BLOCK;
    let blockEnd = at + size;
    for (let read = 0; read < total; read += 2) {
      if (at === blockEnd) {
        at = pool[blockEnd]!;
        size = Math.min(size * 2, MAX_BLOCK);
        blockEnd = at + size;
      }
      visit(pool[at]!, pool[at + 1]!);
      at += 2;
    }
  }

  /** A reader of term `term`'s pairs, one at a time: those it holds now (a fixed view; later adds are not seen). */
  reader(term: number): PostingsPoolReader {
    return new PostingsPoolReader(this.pool, this.heads[term]!, this.pairs(term));
  }

  private startTerm(term: number): void {
    if (term === this.heads.length) {
      this.heads = grow(this.heads);
      this.writeAt = grow(this.writeAt);
      this.blockEnds = grow(this.blockEnds);
      this.blockSizes = grow(this.blockSizes);
      this.lengths = grow(this.lengths);
    }
    const start = this.allocate(FIRST_BLOCK + 1);
    this.heads[term] = start;
    this.writeAt[term] = start;
    this.blockEnds[term] = start + FIRST_BLOCK;
    this.blockSizes[term] = FIRST_BLOCK;
    this.lengths[term] = 0;
    this.termCount++;
  }

  /** Links a new block after the full one ending at `blockEnd`; returns where it starts. */
  private nextBlock(term: number, blockEnd: number): number {
    const size = Math.min(this.blockSizes[term]! * 2, MAX_BLOCK);
    const start = this.allocate(size + 1);
    this.pool[blockEnd] = start;
    this.blockEnds[term] = start + size;
    this.blockSizes[term] = size;
    return start;
  }

  private allocate(ints: number): number {
    if (this.used + ints > this.pool.length) {
      let length = this.pool.length * 2;
      while (this.used + ints > length) length *= 2;
      const pool = new Int32Array(length);
      pool.set(this.pool.subarray(0, this.used));
      this.pool = pool;
    }
    const start = this.used;
    this.used += ints;
    return start;
  }
}

function grow(array: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const grown = new Int32Array(array.length * 2);
  grown.set(array);
  return grown;
}

/** Reads one term's pairs from a `PostingsPool`, in order. */
export class PostingsPoolReader {
  /** The pair read last (row −1 before the first `next`, +∞ after the last). */
  row = -1;
  frequency = 0;
  private at: number;
  private blockEnd: number;
  private size = FIRST_BLOCK;
  private left: number;

  constructor(
    private readonly pool: Int32Array,
    head: number,
    pairs: number,
  ) {
    this.at = head;
    this.blockEnd = head + FIRST_BLOCK;
    this.left = pairs;
  }

  next(): void {
    if (this.left === 0) {
      this.row = Number.POSITIVE_INFINITY;
      this.frequency = 0;
      return;
    }
    if (this.at === this.blockEnd) {
      this.at = this.pool[this.blockEnd]!;
      this.size = Math.min(this.size * 2, MAX_BLOCK);
      this.blockEnd = this.at + this.size;
    }
    this.row = this.pool[this.at]!;
    this.frequency = this.pool[this.at + 1]!;
    this.at += 2;
    this.left--;
  }
}
