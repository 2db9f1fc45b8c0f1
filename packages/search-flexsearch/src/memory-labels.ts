import type { SearchRequest } from '@memmapfs/core';

/** The filterable part of an indexed memory: its tags and namespace. */
export interface MemoryLabel {
  /** Exact-match tags of the memory. */
  readonly tags: ReadonlySet<string>;
  /** Namespace of the memory. */
  readonly namespace: string;
}

/**
 * The tags and namespace of every indexed memory, kept beside the flexsearch index, which holds only
 * text: flexsearch's `Document` tag filter ORs several values and, with a query, looks only at the 100
 * best text matches. Also counts the memories carrying each tag and namespace, to answer at once when a
 * filter can match nothing.
 */
export class MemoryLabels {
  readonly #byId = new Map<number, MemoryLabel>();
  readonly #tagCounts = new Map<string, number>();
  readonly #namespaceCounts = new Map<string, number>();

  /** Whether a memory with this id is indexed. */
  has(id: number): boolean {
    return this.#byId.has(id);
  }

  /** Records (or replaces) the labels of a memory. */
  set(id: number, tags: readonly string[], namespace: string): void {
    this.delete(id);
    const label: MemoryLabel = { tags: new Set(tags), namespace };
    this.#byId.set(id, label);
    for (const tag of label.tags) increment(this.#tagCounts, tag);
    increment(this.#namespaceCounts, namespace);
  }

  /** Forgets a memory; unknown ids are ignored. */
  delete(id: number): void {
    const label = this.#byId.get(id);
    if (label === undefined) return;
    this.#byId.delete(id);
    for (const tag of label.tags) decrement(this.#tagCounts, tag);
    decrement(this.#namespaceCounts, label.namespace);
  }

  /** Whether the memory is indexed and passes the request's tag (AND) and namespace filters. */
  matches(id: number, request: SearchRequest): boolean {
    const label = this.#byId.get(id);
    if (label === undefined) return false;
    if (request.namespace !== undefined && label.namespace !== request.namespace) return false;
    return (request.tags ?? []).every((tag) => label.tags.has(tag));
  }

  /** False when some requested tag or namespace is on no memory at all, so nothing can match. */
  canMatch(request: SearchRequest): boolean {
    if (request.namespace !== undefined && !this.#namespaceCounts.has(request.namespace)) return false;
    return (request.tags ?? []).every((tag) => this.#tagCounts.has(tag));
  }

  /** Every memory as `[id, namespace, tags]`, for a snapshot. */
  entries(): Array<[number, string, string[]]> {
    return [...this.#byId].map(([id, label]) => [id, label.namespace, [...label.tags]]);
  }
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function decrement(counts: Map<string, number>, key: string): void {
  const count = (counts.get(key) ?? 0) - 1;
  if (count > 0) counts.set(key, count);
  else counts.delete(key);
}
