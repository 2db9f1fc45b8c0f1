/**
 * Memories with a TTL, soonest expiry first (a binary min-heap), so that finding the expired ones
 * costs the number of expired memories, not the number of memories with a TTL. Entries are never
 * removed early: the caller checks each one it takes against the memory as it is then.
 */
export class ExpiryQueue {
  /** Heap of `[expiresAt, id]`. */
  readonly #heap: Array<readonly [number, number]> = [];

  get size(): number {
    return this.#heap.length;
  }

  add(id: number, expiresAt: number): void {
    const heap = this.#heap;
    heap.push([expiresAt, id]);
    let child = heap.length - 1;
    while (child > 0) {
      const parent = (child - 1) >>> 1;
      if (heap[parent]![0] <= heap[child]![0]) break;
      [heap[parent], heap[child]] = [heap[child]!, heap[parent]!];
      child = parent;
    }
  }

  /** Takes every entry due at `now` (expiry at or before it), soonest first. */
  takeDue(now: number): number[] {
    const due: number[] = [];
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]![0] <= now) {
      due.push(heap[0]![1]);
      const last = heap.pop()!;
      if (heap.length === 0) break;
      heap[0] = last;
      let parent = 0;
      for (;;) {
        const left = parent * 2 + 1;
        const right = left + 1;
        let smallest = parent;
        if (left < heap.length && heap[left]![0] < heap[smallest]![0]) smallest = left;
        if (right < heap.length && heap[right]![0] < heap[smallest]![0]) smallest = right;
        if (smallest === parent) break;
        [heap[parent], heap[smallest]] = [heap[smallest]!, heap[parent]!];
        parent = smallest;
      }
    }
    return due;
  }
}
