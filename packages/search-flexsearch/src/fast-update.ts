type Id = number | string;
type IdList = Id[];

interface IndexInternals {
  fastupdate: boolean;
  reg: Set<Id> | Map<Id, IdList[]>;
  map: Map<string, Array<IdList | null | undefined>>;
  ctx: Map<string, Map<string, Array<IdList | null | undefined>>>;
}

/**
 * Turns flexsearch's fast updates back on for an `Index` filled by `import()`.
 *
 * flexsearch 0.8.212 does not export the per-id references that make `remove` cheap: an index must be
 * created with `fastupdate: false` to import at all, and every later remove or re-add then scans the
 * whole index. This rebuilds those references from the imported term lists, as `add` would have made
 * them. It reads private fields of that exact version; on any other shape it leaves the index as it is
 * (correct, only slower). Returns whether fast updates are on afterwards.
 */
export function restoreFastUpdate(index: object): boolean {
  const internals = index as Partial<IndexInternals>;
  if (internals.fastupdate === true) return true;
  if (!isImportedIndex(internals)) return false;

  const references = new Map<Id, IdList[]>();
  for (const id of internals.reg.keys()) references.set(id, []);
  const reference = (ids: IdList | null | undefined): void => {
    if (!Array.isArray(ids)) return;
    for (const id of ids) {
      const lists = references.get(id);
      if (lists === undefined) references.set(id, [ids]);
      else lists.push(ids);
    }
  };
  for (const slots of internals.map.values()) slots.forEach(reference);
  for (const terms of internals.ctx.values()) for (const slots of terms.values()) slots.forEach(reference);

  internals.reg = references;
  internals.fastupdate = true;
  return true;
}

function isImportedIndex(index: Partial<IndexInternals>): index is IndexInternals {
  return index.reg instanceof Set && index.map instanceof Map && index.ctx instanceof Map;
}
