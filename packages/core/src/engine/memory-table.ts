import type { BlockRef } from '@memmapfs/blocks';
import type { CheckpointMemories } from '../checkpoint/checkpoint-rows.js';
import type { CheckpointEntry } from '../checkpoint/checkpoint-file.js';
import type { MemoryRecord } from './log-records.js';

/** Deleted ids are dropped from a layer's order once there are more than this many and they are half of it. */
const COMPACT_AFTER_DELETES = 1024;

/**
 * Changes on top of what lies below: a memory record, or `null` for a memory deleted that lies below.
 * `order` lists, sorted, the ids created in this layer (found in no layer below nor in the base).
 */
interface Layer {
  readonly changes: Map<number, MemoryRecord | null>;
  order: number[];
  deletedInOrder: number;
}

const newLayer = (): Layer => ({ changes: new Map(), order: [], deletedInOrder: 0 });

/** The memories of a table frozen for a checkpoint, in id order, and how many there are. */
export interface FrozenMemories {
  readonly count: number;
  entries(): Iterable<CheckpointEntry>;
}

/**
 * The memories of the store by id, able to list the newest first without sorting. The memories of
 * the last checkpoint are its rows, read in place (the base); the changes since are layers of maps on
 * top: the current layer, and while a checkpoint is being written, the frozen one it is written from.
 * Ids are LSNs and records are applied in LSN order, so a layer's new ids are all higher than every id
 * below it, and each layer keeps its new ids as a sorted array.
 */
export class MemoryTable {
  #base: CheckpointMemories | undefined;
  /** `[expiresAt, id]` of the base's memories with a TTL. */
  #baseExpiring: ReadonlyArray<readonly [number, number]> = [];
  #frozen: Layer | undefined;
  #current: Layer = newLayer();

  /** The checkpoint the table starts from (at open, before any change is applied). */
  setBase(base: CheckpointMemories, expiring: ReadonlyArray<readonly [number, number]>): void {
    this.#base = base;
    this.#baseExpiring = expiring;
  }

  /** How many memories the base (the checkpoint the table starts from) holds. */
  get baseCount(): number {
    return this.#base?.count ?? 0;
  }

  get(id: number): MemoryRecord | undefined {
    const current = this.#current.changes.get(id);
    if (current !== undefined) return current ?? undefined;
    const frozen = this.#frozen?.changes.get(id);
    if (frozen !== undefined) return frozen ?? undefined;
    return this.#base?.get(id);
  }

  /** Whether `id` is live. Never fails on a damaged checkpoint (its rows are not checked here). */
  has(id: number): boolean {
    const current = this.#current.changes.get(id);
    if (current !== undefined) return current !== null;
    const frozen = this.#frozen?.changes.get(id);
    if (frozen !== undefined) return frozen !== null;
    return (this.#base?.indexOf(id, false) ?? -1) >= 0;
  }

  /** The expiry of live memory `id`, if it has one; like `has`, never fails on a damaged checkpoint. */
  expiryOf(id: number): number | undefined {
    const above = this.#above(id);
    if (above !== undefined) return above?.expiresAt;
    const index = this.#base?.indexOf(id, false) ?? -1;
    return index < 0 ? undefined : this.#base!.expiresAt(index, false);
  }

  /** Whether `id` has an entry below the current layer (live or deleted there). */
  #below(id: number): boolean {
    return this.#frozen?.changes.has(id) === true || (this.#base?.indexOf(id, false) ?? -1) >= 0;
  }

  /** Adds or replaces a memory. */
  set(id: number, memory: MemoryRecord): void {
    const layer = this.#current;
    if (!layer.changes.has(id) && !this.#below(id)) {
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
    if (!this.has(id)) return false;
    const layer = this.#current;
    if (this.#below(id)) {
      layer.changes.set(id, null);
      return true;
    }
    layer.changes.delete(id);
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
    const base = this.#base;
    if (base) {
      for (let i = base.firstAbove(id); i < base.count; i++) {
        const above = this.#above(base.idAt(i));
        if (above === undefined) yield base.record(i);
        else if (above !== null) yield above;
      }
    }
    for (const layer of this.#layers()) {
      for (let i = insertionPoint(layer.order, id + 1); i < layer.order.length; i++) {
        const memory = this.get(layer.order[i]!);
        if (memory) yield memory;
      }
    }
  }

  /** Up to `limit` memories that pass `keep`, newest (highest id) first. */
  newest(limit: number, keep: (memory: MemoryRecord) => boolean): MemoryRecord[] {
    const found: MemoryRecord[] = [];
    for (const layer of [...this.#layers()].reverse()) {
      for (let i = layer.order.length - 1; i >= 0 && found.length < limit; i--) {
        const memory = this.get(layer.order[i]!);
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
    }
    for (const [expiresAt, id] of this.#baseExpiring) if (expiresAt <= now && !overridden.has(id)) count--;
    return count;
  }

  /** `[id, ref]` of every live memory, in increasing id order, without decoding the base's labels. */
  *refs(): IterableIterator<readonly [number, BlockRef]> {
    const base = this.#base;
    if (base) {
      for (let i = 0; i < base.count; i++) {
        const id = base.idAt(i);
        const above = this.#above(id);
        if (above === undefined) yield [id, base.refAt(i)];
        else if (above !== null) yield [id, above.ref];
      }
    }
    for (const layer of this.#layers()) {
      for (const id of layer.order) {
        const memory = this.get(id);
        if (memory) yield [id, memory.ref];
      }
    }
  }

  /** The block references of the base's rows (live or not), without decoding them. */
  *baseRefs(): IterableIterator<BlockRef> {
    const base = this.#base;
    if (base) for (let i = 0; i < base.count; i++) yield base.refAt(i);
  }

  /** `[id, expiresAt]` of every live memory with a TTL, expired or not. */
  *withExpiry(): IterableIterator<readonly [number, number]> {
    for (const [expiresAt, id] of this.#baseExpiring) if (this.#above(id) === undefined) yield [id, expiresAt];
    for (const layer of this.#layers()) {
      for (const [id, memory] of layer.changes) {
        // The latest version only: a frozen entry overridden by the current layer is skipped there.
        if (layer === this.#frozen && this.#current.changes.has(id)) continue;
        if (memory?.expiresAt !== undefined) yield [id, memory.expiresAt];
      }
    }
  }

  /**
   * Freezes the changes so far for a checkpoint: from now on changes go to a new layer, and the
   * returned view (the base with the frozen layer) stays as it is while the checkpoint is written.
   * Then `rebase` (written) or `thaw` (failed).
   */
  freeze(): FrozenMemories {
    if (this.#frozen) throw new Error('a checkpoint is already being written');
    const frozen = (this.#frozen = this.#current);
    this.#current = newLayer();
    const base = this.#base;
    const entries = function* (): Iterable<CheckpointEntry> {
      if (base) {
        for (let index = 0; index < base.count; index++) {
          const change = frozen.changes.get(base.idAt(index));
          if (change === undefined) yield { base, index };
          else if (change !== null) yield change;
        }
      }
      for (const id of frozen.order) {
        const change = frozen.changes.get(id);
        if (change) yield change;
      }
    };
    let count = 0;
    for (const _ of entries()) count++;
    return { count, entries };
  }

  /** The frozen changes are in `base`, the checkpoint just written: it replaces the old base and them. */
  rebase(base: CheckpointMemories, expiring: ReadonlyArray<readonly [number, number]>): void {
    this.#base = base;
    this.#baseExpiring = expiring;
    this.#frozen = undefined;
  }

  /** The checkpoint was not written: the frozen changes are merged back under the current ones. */
  thaw(): void {
    const frozen = this.#frozen;
    if (!frozen) return;
    for (const [id, memory] of this.#current.changes) frozen.changes.set(id, memory);
    frozen.order = frozen.order.concat(this.#current.order);
    frozen.deletedInOrder += this.#current.deletedInOrder;
    this.#current = frozen;
    this.#frozen = undefined;
  }

  /** What the layers say of `id`: a record, `null` (deleted), or `undefined` (nothing: as the base says). */
  #above(id: number): MemoryRecord | null | undefined {
    const current = this.#current.changes.get(id);
    if (current !== undefined) return current;
    return this.#frozen?.changes.get(id);
  }

  /** The layers, oldest first. */
  *#layers(): IterableIterator<Layer> {
    if (this.#frozen) yield this.#frozen;
    yield this.#current;
  }
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
