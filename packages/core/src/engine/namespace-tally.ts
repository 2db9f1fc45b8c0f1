/**
 * How one layer of the memory table changes the number of memories per namespace: `+1` for each
 * memory it sets, `-1` for each version it replaces or deletes. A replaced version held in the heap is
 * counted off at once; one that lies in the checkpoint's rows is only noted (`replacedInBase`) and
 * counted off when the tally is read, so that applying a record never decodes a checkpoint row (a
 * damaged one must not stop the log from being applied).
 */
export class NamespaceTally {
  readonly delta = new Map<string, number>();
  readonly replacedInBase = new Set<number>();

  add(namespace: string, by: number): void {
    const count = (this.delta.get(namespace) ?? 0) + by;
    if (count === 0) this.delta.delete(namespace);
    else this.delta.set(namespace, count);
  }

  /**
   * Counts off the base's versions noted so far, reading each one's namespace with `namespaceInBase`.
   * All or nothing: when a read throws (a damaged row), nothing is counted off and the ids stay noted.
   */
  settle(namespaceInBase: (id: number) => string | undefined): void {
    const namespaces = [...this.replacedInBase].map(namespaceInBase);
    for (const namespace of namespaces) if (namespace !== undefined) this.add(namespace, -1);
    this.replacedInBase.clear();
  }

  /** Takes `other`'s changes in too (a frozen layer merged back). */
  absorb(other: NamespaceTally): void {
    for (const [namespace, by] of other.delta) this.add(namespace, by);
    for (const id of other.replacedInBase) this.replacedInBase.add(id);
  }
}

/** `counts` with each tally's changes applied, namespaces left with no memory dropped. */
export function applyTallies(counts: ReadonlyMap<string, number>, tallies: Iterable<NamespaceTally>): Map<string, number> {
  const result = new Map(counts);
  for (const tally of tallies) {
    for (const [namespace, by] of tally.delta) {
      const count = (result.get(namespace) ?? 0) + by;
      if (count <= 0) result.delete(namespace);
      else result.set(namespace, count);
    }
  }
  return result;
}
