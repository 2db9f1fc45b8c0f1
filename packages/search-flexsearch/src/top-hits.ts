import type { SearchHit } from '@memmapfs/core';

/**
 * The best `limit` hits offered so far: a min-heap on score, ties going to the newer memory (the
 * higher id), so that equal scores come out in the same order on every run.
 */
export class TopHits {
  readonly #limit: number;
  readonly #ids: number[] = [];
  readonly #scores: number[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Number of hits held. */
  get size(): number {
    return this.#ids.length;
  }

  /** Whether `limit` hits are held. */
  get full(): boolean {
    return this.#ids.length >= this.#limit;
  }

  /** The lowest score held (`-Infinity` when empty). */
  get lowest(): number {
    return this.#ids.length === 0 ? -Infinity : this.#scores[0]!;
  }

  /** Keeps the hit if it is among the best `limit` so far. */
  offer(id: number, score: number): void {
    const ids = this.#ids;
    const scores = this.#scores;
    if (ids.length < this.#limit) {
      ids.push(id);
      scores.push(score);
      this.#up(ids.length - 1);
    } else if (ids.length > 0 && worse(scores[0]!, ids[0]!, score, id)) {
      ids[0] = id;
      scores[0] = score;
      this.#down(0);
    }
  }

  /** The hits held, best first. */
  sorted(): SearchHit[] {
    const hits = this.#ids.map((id, i) => ({ id, score: this.#scores[i]! }));
    return hits.sort((a, b) => b.score - a.score || b.id - a.id);
  }

  #up(at: number): void {
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.#worseAt(at, parent)) return;
      this.#swap(at, parent);
      at = parent;
    }
  }

  #down(at: number): void {
    const size = this.#ids.length;
    for (;;) {
      const left = 2 * at + 1;
      const right = left + 1;
      let smallest = at;
      if (left < size && this.#worseAt(left, smallest)) smallest = left;
      if (right < size && this.#worseAt(right, smallest)) smallest = right;
      if (smallest === at) return;
      this.#swap(at, smallest);
      at = smallest;
    }
  }

  #worseAt(a: number, b: number): boolean {
    return worse(this.#scores[a]!, this.#ids[a]!, this.#scores[b]!, this.#ids[b]!);
  }

  #swap(a: number, b: number): void {
    const ids = this.#ids;
    const scores = this.#scores;
    [ids[a], ids[b]] = [ids[b]!, ids[a]!];
    [scores[a], scores[b]] = [scores[b]!, scores[a]!];
  }
}

/** Whether hit (scoreA, idA) ranks below hit (scoreB, idB). */
function worse(scoreA: number, idA: number, scoreB: number, idB: number): boolean {
  return scoreA < scoreB || (scoreA === scoreB && idA < idB);
}
