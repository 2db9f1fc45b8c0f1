import type { BlockRef } from '@memmapfs/blocks';
import type { CheckpointMemories } from '../checkpoint/checkpoint-rows.js';
import type { Codec } from '../contracts/codec.js';
import { MemMapError } from '../errors.js';
import type { CheckpointEntry } from '../checkpoint/checkpoint-file.js';
import type { MemoryRecord } from './log-records.js';
import { applyTallies, NamespaceTally } from './namespace-tally.js';
import { NewMemoryRows } from './new-memory-rows.js';

/** Deleted ids are dropped from a layer's order once there are more than this many and they are half of it. */
const COMPACT_AFTER_DELETES = 1024;

/**
 * Changes on top of what lies below: a memory record, or `null` for a memory deleted that lies below.
 * The memories created in this layer (found in no layer below nor in the base) are in `rows` when each
 * was above every id there was (a bulk load's), else listed, sorted, in `order`. A change in `changes`
 * replaces a row of the same layer (an update or a deletion after it was created); a row deleted in its
 * own layer is marked dead.
 */
interface Layer {
  readonly changes: Map<number, MemoryRecord | null>;
  order: number[];
  deletedInOrder: number;
  readonly rows: NewMemoryRows;
  /** How the layer changes the number of memories per namespace. */
  readonly tally: NamespaceTally;
}

/** An id a layer created, as its walk yields it: `row` is its index in the layer's rows, or -1 for an id of its order. */
interface CreatedId {
  id: number;
  row: number;
}

/** The memories of a table frozen for a checkpoint, in id order, and how many there are. */
export interface FrozenMemories {
  readonly count: number;
  entries(): Iterable<CheckpointEntry>;
  /** How many of them each namespace holds. */
  readonly namespaces: ReadonlyMap<string, number>;
}

/**
 * The memories of the store by id, able to list the newest first without sorting. The memories of
 * the last checkpoint are its rows, read in place (the base); the changes since are layers on top: the
 * current layer, and while a checkpoint is being written, the frozen one it is written from. Ids are
 * LSNs and records are applied in LSN order, so a layer's new ids are all higher than every id below
 * it: each layer keeps them in id order, as rows (see `Layer`) or in a sorted array.
 */
export class MemoryTable {
  readonly #codec: Codec;
  #base: CheckpointMemories | undefined;
  #arrangement = 0;
  /** `[expiresAt, id]` of the base's memories with a TTL. */
  #baseExpiring: ReadonlyArray<readonly [number, number]> = [];
  /** How many of the base's memories each namespace holds; counted from its rows when its checkpoint does not say. */
  #baseNamespaces: ReadonlyMap<string, number> | undefined;
  /** `namespaceCounts()` until the next change. */
  #namespaces: ReadonlyMap<string, number> | undefined;
  #frozen: Layer | undefined;
  #current: Layer;
  /**
   * At least every id any layer or the base holds (deleted ones included): a higher id is a new memory,
   * found nowhere below, which `set` adds without looking (a bulk load adds nothing else).
   */
  #highest = 0;
  #closed = false;

  /** `codec` encodes the labels of new memories' rows, as a checkpoint's (see `NewMemoryRows`). */
  constructor(codec: Codec) {
    this.#codec = codec;
    this.#current = this.#newLayer();
  }

  #newLayer(): Layer {
    return { changes: new Map(), order: [], deletedInOrder: 0, rows: new NewMemoryRows(this.#codec), tally: new NamespaceTally() };
  }

  #assertOpen(): void {
    if (this.#closed) throw new MemMapError('STORE_CLOSED', 'The store is closed. Open it again with MemMapFS.init.');
  }

  /**
   * Raises `#highest` to the base's last id (its rows are in id order). A damaged last row does not fail
   * the bookkeeping: every id then takes the way that looks (as before `#highest`).
   */
  #noteBase(base: CheckpointMemories): void {
    if (base.count === 0) return;
    let last: number;
    try {
      last = base.idAt(base.count - 1);
    } catch {
      last = Number.POSITIVE_INFINITY;
    }
    this.#highest = Math.max(this.#highest, last);
  }

  /** Forgets which groups of the base's rows were checked (see `CheckpointMemories.forgetChecks`). */
  forgetChecks(): void {
    this.#assertOpen();
    this.#base?.forgetChecks();
  }

  /**
   * The checkpoint the table starts from (at open, before any change is applied), with its memories
   * per namespace (`undefined` when the checkpoint does not hold them: counted from the rows when first needed).
   */
  setBase(base: CheckpointMemories, expiring: ReadonlyArray<readonly [number, number]>, namespaces: ReadonlyMap<string, number> | undefined): void {
    this.#assertOpen();
    this.#arrangement++;
    this.#base = base;
    this.#noteBase(base);
    this.#baseExpiring = expiring;
    this.#baseNamespaces = namespaces;
    this.#namespaces = undefined;
  }

  /**
   * How many memories each namespace holds (by its string form; memories that expired but are not
   * deleted yet included). Costs the changes since the checkpoint the first time after a change.
   */
  namespaceCounts(): ReadonlyMap<string, number> {
    this.#assertOpen();
    if (this.#namespaces) return this.#namespaces;
    const base = this.#countBase();
    const tallies: NamespaceTally[] = [];
    for (const layer of this.#layers()) {
      layer.tally.settle((id) => this.#namespaceInBase(id));
      tallies.push(layer.tally);
    }
    return (this.#namespaces = applyTallies(base, tallies));
  }

  /** `namespaceCounts()` without the memories that expired by `now` (costs the memories with a TTL). */
  liveNamespaceCounts(now: number): ReadonlyMap<string, number> {
    this.#assertOpen();
    const counts = new Map(this.namespaceCounts());
    for (const [id, expiresAt] of this.withExpiry()) {
      if (expiresAt > now) continue;
      const namespace = this.get(id)?.namespace;
      if (namespace === undefined) continue;
      const count = counts.get(namespace)! - 1;
      if (count > 0) counts.set(namespace, count);
      else counts.delete(namespace);
    }
    return counts;
  }

  #countBase(): ReadonlyMap<string, number> {
    if (this.#baseNamespaces) return this.#baseNamespaces;
    const counts = new Map<string, number>();
    const base = this.#base;
    if (base) {
      for (let i = 0; i < base.count; i++) {
        const { namespace } = base.record(i);
        counts.set(namespace, (counts.get(namespace) ?? 0) + 1);
      }
    }
    return (this.#baseNamespaces = counts);
  }

  #namespaceInBase(id: number): string | undefined {
    const index = this.#base?.indexOf(id) ?? -1;
    return index < 0 ? undefined : this.#base!.record(index).namespace;
  }

  /** Counts off, in the current layer, the version of `id` a change replaces. */
  #countReplaced(id: number): void {
    const tally = this.#current.tally;
    // (A row's namespace is read without decoding its labels: applying a record must not fail.)
    const above = this.#locate(id);
    if (above instanceof RowOf) tally.add(above.rows.namespaceAt(above.row), -1);
    else if (above) tally.add(above.namespace, -1);
    else if (above === undefined && (this.#base?.indexOf(id, false) ?? -1) >= 0) tally.replacedInBase.add(id);
    this.#namespaces = undefined;
  }

  /** How many memories the base (the checkpoint the table starts from) holds. */
  get baseCount(): number {
    this.#assertOpen();
    return this.#base?.count ?? 0;
  }

  /** The memory `id`, or `undefined`; `recheck`: see `CheckpointMemories.get` (a record from the base only). */
  get(id: number, recheck = false): MemoryRecord | undefined {
    this.#assertOpen();
    const found = this.#locate(id);
    if (found !== undefined) return found === null ? undefined : found instanceof RowOf ? found.rows.record(found.row) : found;
    return this.#base?.get(id, recheck);
  }

  /** The version of the live memory `id` (see `MemoryRecord.version`), or `undefined`: `get(id)?.version` without decoding a row of the base. */
  versionOf(id: number): number | undefined {
    this.#assertOpen();
    if (id > this.#highest) return undefined;
    const found = this.#locate(id);
    if (found !== undefined) return found === null ? undefined : found instanceof RowOf ? found.rows.versionAt(found.row) : found.version;
    const index = this.#base?.indexOf(id) ?? -1;
    return index < 0 ? undefined : this.#base!.versionAt(index);
  }

  /** Whether `id` is live. Never fails on a damaged checkpoint (its rows are not checked here). */
  has(id: number): boolean {
    this.#assertOpen();
    if (id > this.#highest) return false;
    const found = this.#locate(id);
    if (found !== undefined) return found !== null;
    return (this.#base?.indexOf(id, false) ?? -1) >= 0;
  }

  /** The expiry of live memory `id`, if it has one; like `has`, never fails on a damaged checkpoint. */
  expiryOf(id: number): number | undefined {
    this.#assertOpen();
    const found = this.#locate(id);
    if (found !== undefined) return found === null ? undefined : found instanceof RowOf ? found.rows.expiresAt(found.row) : found.expiresAt;
    const index = this.#base?.indexOf(id, false) ?? -1;
    return index < 0 ? undefined : this.#base!.expiresAt(index, false);
  }

  /** Whether `id` has an entry below the current layer (live or deleted there). */
  #below(id: number): boolean {
    const frozen = this.#frozen;
    return (frozen !== undefined && (frozen.changes.has(id) || frozen.rows.liveIndexOf(id) >= 0)) || (this.#base?.indexOf(id, false) ?? -1) >= 0;
  }

  /** Adds or replaces a memory. */
  set(id: number, memory: MemoryRecord): void {
    this.#assertOpen();
    const layer = this.#current;
    if (id > this.#highest) {
      // A new memory above every id there is: nothing below it to count off, and the layer's last row.
      this.#highest = id;
      this.#namespaces = undefined;
      layer.tally.add(memory.namespace, 1);
      try {
        layer.rows.add(id, memory);
        return;
      } catch {
        // (Labels the codec cannot encode, or a field too large for a row: kept as a record, last in the
        // order, for the checkpoint to refuse as before. Applying a record must not fail.)
      }
      layer.order.push(id);
      layer.changes.set(id, memory);
      return;
    }
    this.#countReplaced(id);
    layer.tally.add(memory.namespace, 1);
    if (!layer.changes.has(id) && layer.rows.liveIndexOf(id) < 0 && !this.#below(id)) {
      const last = layer.order.at(-1);
      if (last === undefined || id > last) {
        layer.order.push(id);
      } else {
        const at = insertionPoint(layer.order, id);
        // A deleted id still in the order is live again rather than listed twice.
        if (layer.order[at] === id) layer.deletedInOrder--;
        else layer.order.splice(at, 0, id);
      }
    }
    layer.changes.set(id, memory);
  }

  delete(id: number): boolean {
    this.#assertOpen();
    if (!this.has(id)) return false;
    const layer = this.#current;
    this.#countReplaced(id);
    if (this.#below(id)) {
      layer.changes.set(id, null);
      return true;
    }
    const row = layer.rows.liveIndexOf(id);
    layer.changes.delete(id);
    if (row >= 0) {
      layer.rows.kill(row);
      return true;
    }
    if (++layer.deletedInOrder > COMPACT_AFTER_DELETES && layer.deletedInOrder * 2 > layer.order.length) {
      layer.order = layer.order.filter((kept) => layer.changes.has(kept));
      layer.deletedInOrder = 0;
    }
    return true;
  }

  /** Every live memory, in increasing id order. */
  values(): IterableIterator<MemoryRecord> {
    return this.after(0);
  }

  /** Every live memory with an id above `id`, in increasing id order. */
  *after(id: number): IterableIterator<MemoryRecord> {
    this.#assertOpen();
    const base = this.#base;
    if (base) {
      for (let i = base.firstAbove(id); i < base.count; i++) {
        // (Checked at each step: a walk resumed after a close would answer from a base let go of.)
        this.#assertOpen();
        const above = this.#above(base.idAt(i));
        if (above === undefined) yield base.record(i);
        else if (above !== null) yield above;
      }
    }
    for (const layer of this.#layers()) {
      // (Also where one layer ends and the next begins: a walk resumed there after a close would end early.)
      this.#assertOpen();
      for (const created of this.#createdIds(layer, id + 1)) {
        this.#assertOpen();
        const memory = this.#latestCreated(layer, created);
        if (memory) yield memory;
      }
    }
  }

  /** Up to `limit` memories that pass `keep`, newest (highest id) first. */
  newest(limit: number, keep: (memory: MemoryRecord) => boolean): MemoryRecord[] {
    this.#assertOpen();
    const found: MemoryRecord[] = [];
    for (const layer of [...this.#layers()].reverse()) {
      for (const created of this.#createdIdsDown(layer)) {
        if (found.length >= limit) break;
        const memory = this.#latestCreated(layer, created);
        if (memory && keep(memory)) found.push(memory);
      }
    }
    const base = this.#base;
    if (base) {
      for (let i = base.count - 1; i >= 0 && found.length < limit; i--) {
        const above = this.#above(base.idAt(i));
        const memory = above === undefined ? base.record(i) : above;
        if (memory && keep(memory)) found.push(memory);
      }
    }
    return found;
  }

  /** How many live memories have not expired at `now`; costs the changes since the checkpoint, not the memories. */
  countLive(now: number): number {
    this.#assertOpen();
    const live = (memory: MemoryRecord | null | undefined) => !!memory && (memory.expiresAt === undefined || memory.expiresAt > now);
    const base = this.#base;
    let count = base?.count ?? 0;
    const overridden = new Set<number>();
    for (const layer of this.#layers()) {
      for (const id of layer.changes.keys()) {
        if (base && base.indexOf(id, false) >= 0 && !overridden.has(id)) {
          overridden.add(id);
          count -= 1;
          if (live(this.get(id))) count += 1;
        }
      }
      for (const id of layer.order) if (live(this.get(id))) count++;
      const rows = layer.rows;
      for (let row = 0; row < rows.count; row++) {
        if (rows.isDead(row)) continue;
        const over = this.#overOf(layer, rows.idAt(row));
        if (over !== undefined) {
          if (live(over)) count++;
          continue;
        }
        const expiresAt = rows.expiresAt(row);
        if (expiresAt === undefined || expiresAt > now) count++;
      }
    }
    for (const [expiresAt, id] of this.#baseExpiring) if (expiresAt <= now && !overridden.has(id)) count--;
    return count;
  }

  /** `[id, ref]` of every live memory, in increasing id order, without decoding the base's labels. */
  *refs(): IterableIterator<readonly [number, BlockRef]> {
    this.#assertOpen();
    const base = this.#base;
    if (base) {
      for (let i = 0; i < base.count; i++) {
        this.#assertOpen();
        const id = base.idAt(i);
        const above = this.#above(id);
        if (above === undefined) yield [id, base.refAt(i)];
        else if (above !== null) yield [id, above.ref];
      }
    }
    for (const layer of this.#layers()) {
      this.#assertOpen();
      for (const created of this.#createdIds(layer, 0)) {
        this.#assertOpen();
        const { id, row } = created;
        if (row < 0) {
          const memory = this.get(id);
          if (memory) yield [id, memory.ref];
          continue;
        }
        if (layer.rows.isDead(row)) continue;
        const over = this.#overOf(layer, id);
        if (over === undefined) yield [id, layer.rows.refAt(row)];
        else if (over !== null) yield [id, over.ref];
      }
    }
  }

  /** The block references of the base's rows (live or not), without decoding them; rows in damaged groups are skipped, and counted to `onDamaged`. */
  *baseRefs(onDamaged: (rows: number) => void): IterableIterator<BlockRef> {
    this.#assertOpen();
    const base = this.#base;
    if (!base) return;
    for (const ref of base.checkedRefs(onDamaged)) {
      this.#assertOpen();
      yield ref;
    }
  }

  /** `[id, expiresAt]` of every live memory with a TTL, expired or not. */
  *withExpiry(): IterableIterator<readonly [number, number]> {
    this.#assertOpen();
    for (const [expiresAt, id] of this.#baseExpiring) {
      this.#assertOpen();
      if (this.#above(id) === undefined) yield [id, expiresAt];
    }
    for (const layer of this.#layers()) {
      this.#assertOpen();
      for (const [id, memory] of layer.changes) {
        this.#assertOpen();
        // The latest version only: a frozen entry overridden by the current layer is skipped there.
        if (layer === this.#frozen && this.#current.changes.has(id)) continue;
        if (memory?.expiresAt !== undefined) yield [id, memory.expiresAt];
      }
      const rows = layer.rows;
      if (rows.withExpiry === 0) continue;
      for (let row = 0; row < rows.count; row++) {
        this.#assertOpen();
        if (rows.isDead(row)) continue;
        const id = rows.idAt(row);
        // (A row replaced has its change's expiry, walked above.)
        if (layer.changes.has(id) || (layer === this.#frozen && this.#current.changes.has(id))) continue;
        const expiresAt = rows.expiresAt(row);
        if (expiresAt !== undefined) yield [id, expiresAt];
      }
    }
  }

  /**
   * Freezes the changes so far for a checkpoint: from now on changes go to a new layer, and the
   * returned view (the base with the frozen layer) stays as it is while the checkpoint is written.
   * Then `rebase` (written) or `thaw` (failed).
   */
  freeze(): FrozenMemories {
    this.#assertOpen();
    if (this.#frozen) throw new Error('a checkpoint is already being written');
    const layer = this.#current;
    const base = this.#base;
    // The base's rows the layer replaces or deletes, in row order: the rows between them are copied as
    // they lie. (Its other ids, above the base's, are the memories it created.) Found before anything is
    // frozen: a damaged row check found on the way leaves the table as it was.
    const changed: number[] = [];
    let count = 0;
    if (base && base.count > 0) {
      const baseLast = base.idAt(base.count - 1);
      for (const id of layer.changes.keys()) {
        if (id > baseLast) continue;
        const index = base.indexOf(id);
        if (index >= 0) changed.push(index);
      }
      changed.sort((a, b) => a - b);
      // A record that replaces a base row was made from that row (an update keeps its labels, a move
      // all but its place), and a deleted row's namespace is counted off: their groups are checked again
      // now, in proportion to the changes, not the whole file.
      base.recheck(changed);
      count = base.count;
      for (const index of changed) if (layer.changes.get(base.idAt(index)) === null) count--;
    }
    for (const id of layer.order) if (layer.changes.get(id)) count++;
    const rows = layer.rows;
    for (let row = 0; row < rows.count; row++) if (!rows.isDead(row) && layer.changes.get(rows.idAt(row)) !== null) count++;
    layer.tally.settle((id) => this.#namespaceInBase(id));
    const namespaces = applyTallies(this.#countBase(), [layer.tally]);
    const frozen = (this.#frozen = layer);
    this.#current = this.#newLayer();
    this.#arrangement++;
    const entries = function* (): Iterable<CheckpointEntry> {
      if (base) {
        let from = 0;
        for (const index of changed) {
          if (index > from) yield { base, from, to: index };
          const change = frozen.changes.get(base.idAt(index));
          if (change) yield change;
          from = index + 1;
        }
        if (from < base.count) yield { base, from, to: base.count };
      }
      // The memories the layer created, in id order: those of its order, and runs of its rows copied as
      // they are, broken where a row is dead or replaced by a change.
      const order = frozen.order;
      let next = 0;
      let row = 0;
      while (next < order.length || row < rows.count) {
        const orderId = next < order.length ? order[next]! : Number.POSITIVE_INFINITY;
        if (row < rows.count && rows.idAt(row) < orderId) {
          let run = -1;
          for (; row < rows.count && rows.idAt(row) < orderId; row++) {
            const change = rows.isDead(row) ? null : frozen.changes.get(rows.idAt(row));
            if (change === undefined) {
              if (run < 0) run = row;
              continue;
            }
            if (run >= 0) yield { rows, from: run, to: row };
            run = -1;
            if (change) yield change;
          }
          if (run >= 0) yield { rows, from: run, to: row };
          continue;
        }
        const change = frozen.changes.get(orderId);
        if (change) yield change;
        next++;
      }
    };
    return { count, entries, namespaces };
  }

  /** The frozen changes are in `base`, the checkpoint just written: it replaces the old base and them. */
  rebase(base: CheckpointMemories, expiring: ReadonlyArray<readonly [number, number]>, namespaces: ReadonlyMap<string, number>): void {
    this.#assertOpen();
    this.#arrangement++;
    this.#base = base;
    this.#noteBase(base);
    this.#baseExpiring = expiring;
    this.#baseNamespaces = namespaces;
    this.#frozen = undefined;
    this.#namespaces = undefined;
  }

  /**
   * Takes `other`'s base and changes in place of its own: `other` holds the same memories, from a newer
   * checkpoint and the records after it (see `StoreEngine.adoptPublishedCheckpoint`). Its old base is
   * let go of. Neither table may be writing a checkpoint; `other` is not used afterwards.
   */
  adopt(other: MemoryTable): void {
    this.#assertOpen();
    other.#assertOpen();
    if (this.#frozen || other.#frozen) throw new Error('a checkpoint is being written');
    this.#arrangement++;
    this.#base = other.#base;
    this.#baseExpiring = other.#baseExpiring;
    this.#baseNamespaces = other.#baseNamespaces;
    this.#current = other.#current;
    // (Never lower: an id above every one held takes the short way in `set`.)
    this.#highest = Math.max(this.#highest, other.#highest);
    this.#namespaces = undefined;
    other.#closed = true;
  }

  /**
   * Changes whenever the base or the layers are swapped (a base set, a checkpoint frozen, written or
   * failed): a walk of the table across turns of the event loop that sees it change has walked parts of
   * two arrangements, and may have missed or repeated memories.
   */
  get arrangement(): number {
    return this.#arrangement;
  }

  /**
   * The store closed: lets go of the base's rows (a mapping of the checkpoint file, which stays mapped
   * while anything reaches it) and of the changes. Anything asked of it later (a lookup that raced the
   * close, a walk under way, a checkpoint finishing) fails with `STORE_CLOSED` rather than answering
   * from nothing.
   */
  close(): void {
    this.#closed = true;
    this.#arrangement++;
    this.#base = undefined;
    this.#baseExpiring = [];
    this.#baseNamespaces = undefined;
    this.#namespaces = undefined;
    this.#frozen = undefined;
    this.#current = this.#newLayer();
  }

  /** The checkpoint was not written: the frozen changes are merged back under the current ones. */
  thaw(): void {
    const frozen = this.#frozen;
    // (Closed meanwhile: there is nothing left to merge back into.)
    if (!frozen || this.#closed) return;
    // (What allocates much first, the rows last of it, which add nothing should they fail: a thaw that
    // fails leaves both layers as they were.)
    const order = frozen.order.concat(this.#current.order);
    frozen.rows.append(this.#current.rows);
    this.#arrangement++;
    for (const [id, memory] of this.#current.changes) frozen.changes.set(id, memory);
    frozen.order = order;
    frozen.deletedInOrder += this.#current.deletedInOrder;
    frozen.tally.absorb(this.#current.tally);
    this.#current = frozen;
    this.#frozen = undefined;
  }

  /** What the layers say of `id`: a record, `null` (deleted), or `undefined` (nothing: as the base says). */
  #above(id: number): MemoryRecord | null | undefined {
    const found = this.#locate(id);
    return found instanceof RowOf ? found.rows.record(found.row) : found;
  }

  /** As `#above`, but a memory in a layer's rows is that row, not decoded. */
  #locate(id: number): MemoryRecord | null | undefined | RowOf {
    const current = this.#current;
    const change = current.changes.get(id);
    if (change !== undefined) return change;
    const row = current.rows.liveIndexOf(id);
    if (row >= 0) return new RowOf(current.rows, row);
    const frozen = this.#frozen;
    if (!frozen) return undefined;
    const frozenChange = frozen.changes.get(id);
    if (frozenChange !== undefined) return frozenChange;
    const frozenRow = frozen.rows.liveIndexOf(id);
    return frozenRow >= 0 ? new RowOf(frozen.rows, frozenRow) : undefined;
  }

  /** The change that replaces, in `layer` or the one above it, the memory `id` of `layer`'s rows: a record, `null` (deleted), or `undefined` (none). */
  #overOf(layer: Layer, id: number): MemoryRecord | null | undefined {
    if (layer !== this.#current) {
      const change = this.#current.changes.get(id);
      if (change !== undefined) return change;
    }
    return layer.changes.get(id);
  }

  /** The memory `created` names now (`null`: deleted), as the walk of its `layer` found it. */
  #latestCreated(layer: Layer, created: CreatedId): MemoryRecord | null {
    if (created.row < 0) return this.get(created.id) ?? null;
    if (layer.rows.isDead(created.row)) return null;
    const over = this.#overOf(layer, created.id);
    return over !== undefined ? over : layer.rows.record(created.row);
  }

  /**
   * The ids `layer` created from `from` on, in increasing order: those of its order and of its rows (dead
   * ones too), merged. Yields the same object each time, changed.
   */
  *#createdIds(layer: Layer, from: number): IterableIterator<CreatedId> {
    const created: CreatedId = { id: 0, row: -1 };
    const order = layer.order;
    const rows = layer.rows;
    let next = insertionPoint(order, from);
    let row = rows.firstFrom(from);
    while (next < order.length || row < rows.count) {
      const orderId = next < order.length ? order[next]! : Number.POSITIVE_INFINITY;
      if (row < rows.count && rows.idAt(row) < orderId) {
        created.id = rows.idAt(row);
        created.row = row++;
      } else {
        created.id = orderId;
        created.row = -1;
        next++;
      }
      yield created;
    }
  }

  /** `#createdIds` from the highest id down. */
  *#createdIdsDown(layer: Layer): IterableIterator<CreatedId> {
    const created: CreatedId = { id: 0, row: -1 };
    const order = layer.order;
    const rows = layer.rows;
    let next = order.length - 1;
    let row = rows.count - 1;
    while (next >= 0 || row >= 0) {
      const orderId = next >= 0 ? order[next]! : Number.NEGATIVE_INFINITY;
      if (row >= 0 && rows.idAt(row) > orderId) {
        created.id = rows.idAt(row);
        created.row = row--;
      } else {
        created.id = orderId;
        created.row = -1;
        next--;
      }
      yield created;
    }
  }

  /** The layers, oldest first. */
  *#layers(): IterableIterator<Layer> {
    if (this.#frozen) yield this.#frozen;
    yield this.#current;
  }
}

/** Row `row` of `rows`: where a layer holds a memory it created, not decoded. */
class RowOf {
  constructor(
    readonly rows: NewMemoryRows,
    readonly row: number,
  ) {}
}

/** Index of the first id in `order` that is not lower than `id` (for ids that arrive out of order). */
function insertionPoint(order: number[], id: number): number {
  let low = 0;
  let high = order.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (order[middle]! < id) low = middle + 1;
    else high = middle;
  }
  return low;
}
