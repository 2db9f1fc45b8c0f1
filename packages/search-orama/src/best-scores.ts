import type { TokenScore } from '@orama/orama';

/**
 * The best `limit` of `ids` (Orama's internal ids) by `scores[id]` as `[id, score]`, best first, ties
 * to the newer memory (the higher `memoryId(id)`, as the provider contract asks; Orama's own order
 * would keep the first added): a heap of `limit` entries instead of sorting every id.
 */
export function bestScores(ids: readonly number[], scores: Float64Array, limit: number, memoryId: (id: number) => number): TokenScore[] {
  const ranked = (a: number, b: number): number => scores[b]! - scores[a]! || memoryId(b) - memoryId(a);
  if (ids.length <= limit) return [...ids].sort(ranked).map((id) => [id, scores[id]!]);
  // A heap whose root is the worst of the best so far.
  const heap: number[] = [];
  const worse = (a: number, b: number): boolean => ranked(a, b) > 0;
  for (const id of ids) {
    if (heap.length < limit) {
      heap.push(id);
      let at = heap.length - 1;
      while (at > 0) {
        const parent = (at - 1) >> 1;
        if (!worse(heap[at]!, heap[parent]!)) break;
        [heap[at], heap[parent]] = [heap[parent]!, heap[at]!];
        at = parent;
      }
    } else if (worse(heap[0]!, id)) {
      heap[0] = id;
      let at = 0;
      for (;;) {
        const left = 2 * at + 1;
        let worst = at;
        if (left < heap.length && worse(heap[left]!, heap[worst]!)) worst = left;
        if (left + 1 < heap.length && worse(heap[left + 1]!, heap[worst]!)) worst = left + 1;
        if (worst === at) break;
        [heap[at], heap[worst]] = [heap[worst]!, heap[at]!];
        at = worst;
      }
    }
  }
  return heap.sort(ranked).map((id) => [id, scores[id]!]);
}
