import type { BlockRef } from '@memmapfs/blocks';
import type { Codec } from '../contracts/codec.js';
import { MemMapError } from '../errors.js';
import { copyInto, type CopyScratch, encodeLabels, recordOfRow, refOfRow, ROW_EXPIRES_AT, ROW_ID, ROW_LABELS_LENGTH, ROW_LABELS_OFFSET, ROW_SIZE, ROW_VERSION, writeRow } from '../checkpoint/checkpoint-rows.js';
import type { MemoryRecord } from './log-records.js';

/**
 * Memories created since the last checkpoint, each with an id above every one before it, kept as the
 * rows and labels a checkpoint holds (docs/FORMAT.md) in two growing buffers rather than as objects.
 * A bulk load would otherwise hold hundreds of thousands of object graphs until the next checkpoint,
 * which the collector copies and marks again and again; and the checkpoint copies these rows as they
 * are. A row is decoded when asked for. The row of a memory deleted since is marked dead.
 */
export class NewMemoryRows {
  #rows = Buffer.allocUnsafe(64 * ROW_SIZE);
  #view = new DataView(this.#rows.buffer, this.#rows.byteOffset, this.#rows.byteLength);
  #labels = Buffer.allocUnsafe(4096);
  #labelsLength = 0;
  #count = 0;
  /** A byte per row, 1 for a dead one; none until a row dies. */
  #dead: Uint8Array | undefined;
  #embeddings = false;
  #withExpiry = 0;
  /** Each row's namespace, as an index into `#namespaceNames`: read without decoding the labels. */
  #namespaceIds = new Uint32Array(64);
  #namespaceNames: string[] = [];
  #namespaceIdOf = new Map<string, number>();

  constructor(private readonly codec: Codec) {}

  /** How many rows there are, dead ones included. */
  get count(): number {
    return this.#count;
  }

  /** How many rows have an expiry (dead ones included). */
  get withExpiry(): number {
    return this.#withExpiry;
  }

  /** Whether some row's labels hold an embedding: a checkpoint that copies them must say so. */
  get mayHoldEmbeddings(): boolean {
    return this.#embeddings;
  }

  /**
   * Adds `memory` as the last row, under `id` (above the last row's). Throws, adding nothing, when the
   * codec cannot encode its labels or a field does not fit a row.
   */
  add(id: number, memory: MemoryRecord): void {
    if (this.#count > 0 && !(id > this.idAt(this.#count - 1))) throw new RangeError(`new memory rows must be added in increasing id order: ${id} after ${this.idAt(this.#count - 1)}`);
    const labels = encodeLabels(this.codec, memory);
    const at = this.#count * ROW_SIZE;
    // (Everything that can fail, before anything is counted: a row added in part would leave the next
    // one's labels where no row's end.)
    if (at + ROW_SIZE > this.#rows.length) this.#growRows(at + ROW_SIZE);
    writeRow(this.#view, at, memory, this.#labelsLength, labels.byteLength);
    this.#view.setFloat64(at + ROW_ID, id, true);
    if (this.#labelsLength + labels.byteLength > this.#labels.length) this.#growLabels(this.#labelsLength + labels.byteLength);
    const namespace = this.#namespaceId(memory.namespace);
    this.#labels.set(labels, this.#labelsLength);
    this.#labelsLength += labels.byteLength;
    this.#namespaceIds[this.#count] = namespace;
    this.#embeddings ||= memory.embedding !== undefined;
    if (memory.expiresAt !== undefined) this.#withExpiry++;
    this.#count++;
  }

  /** Adds every row of `later` (whose ids are all above these), dead ones dead. */
  append(later: NewMemoryRows): void {
    if (later.#count === 0) return;
    if (this.#count > 0 && !(later.idAt(0) > this.idAt(this.#count - 1))) throw new RangeError('new memory rows appended out of id order');
    const from = this.#count;
    const end = (from + later.#count) * ROW_SIZE;
    if (end > this.#rows.length) this.#growRows(end);
    later.#rows.copy(this.#rows, from * ROW_SIZE, 0, later.#count * ROW_SIZE);
    const shift = this.#labelsLength;
    if (shift !== 0) {
      for (let at = from * ROW_SIZE; at < end; at += ROW_SIZE) this.#view.setFloat64(at + ROW_LABELS_OFFSET, this.#view.getFloat64(at + ROW_LABELS_OFFSET, true) + shift, true);
    }
    if (this.#labelsLength + later.#labelsLength > this.#labels.length) this.#growLabels(this.#labelsLength + later.#labelsLength);
    later.#labels.copy(this.#labels, this.#labelsLength, 0, later.#labelsLength);
    this.#labelsLength += later.#labelsLength;
    for (let row = 0; row < later.#count; row++) this.#namespaceIds[from + row] = this.#namespaceId(later.namespaceAt(row));
    if (later.#dead) {
      this.#dead ??= new Uint8Array(this.#rows.length / ROW_SIZE);
      this.#dead.set(later.#dead.subarray(0, later.#count), from);
    }
    this.#embeddings ||= later.#embeddings;
    this.#withExpiry += later.#withExpiry;
    this.#count += later.#count;
  }

  /** The row of `id`, dead or not, or -1. */
  indexOf(id: number): number {
    if (this.#count === 0 || id < this.idAt(0) || id > this.idAt(this.#count - 1)) return -1;
    let low = 0;
    let high = this.#count - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const at = this.idAt(middle);
      if (at < id) low = middle + 1;
      else if (at > id) high = middle - 1;
      else return middle;
    }
    return -1;
  }

  /** The row of `id` if it is there and not dead, else -1. */
  liveIndexOf(id: number): number {
    const index = this.indexOf(id);
    return index >= 0 && !this.isDead(index) ? index : -1;
  }

  /** Index of the first row whose id is `id` or above (`count` when none is). */
  firstFrom(id: number): number {
    let low = 0;
    let high = this.#count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.idAt(middle) < id) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  isDead(index: number): boolean {
    return this.#dead !== undefined && this.#dead[index] === 1;
  }

  /** Marks row `index` dead: its memory was deleted. */
  kill(index: number): void {
    this.#dead ??= new Uint8Array(this.#rows.length / ROW_SIZE);
    this.#dead[index] = 1;
  }

  idAt(index: number): number {
    return this.#view.getFloat64(index * ROW_SIZE + ROW_ID, true);
  }

  versionAt(index: number): number {
    return this.#view.getFloat64(index * ROW_SIZE + ROW_VERSION, true);
  }

  expiresAt(index: number): number | undefined {
    const value = this.#view.getFloat64(index * ROW_SIZE + ROW_EXPIRES_AT, true);
    return Number.isNaN(value) ? undefined : value;
  }

  refAt(index: number): BlockRef {
    return refOfRow(this.#rows, index * ROW_SIZE);
  }

  namespaceAt(index: number): string {
    return this.#namespaceNames[this.#namespaceIds[index]!]!;
  }

  /**
   * Row `index` as a memory record. Its labels are decoded from a copy of their own, of their exact size
   * (not a slice of Node's shared pool): a codec that decodes binary values as views would otherwise
   * keep the whole buffer alive through them.
   */
  record(index: number): MemoryRecord {
    const at = index * ROW_SIZE;
    const labelsOffset = this.#view.getFloat64(at + ROW_LABELS_OFFSET, true);
    const labelsLength = this.#view.getUint32(at + ROW_LABELS_LENGTH, true);
    const copy = new Uint8Array(labelsLength);
    copy.set(this.#labels.subarray(labelsOffset, labelsOffset + labelsLength));
    try {
      return recordOfRow(this.#rows, at, Buffer.from(copy.buffer, 0, labelsLength), labelsOffset, this.codec, 'the store');
    } catch (cause) {
      throw new MemMapError('PROVIDER_FAILED', `The ${this.codec.name} codec cannot decode the labels (tags, namespace, meta) it encoded for memory ${this.idAt(index)}: a codec must decode what it encodes. Use a codec that does (the built-in msgpack and cbor codecs do).`, { cause, subsystem: 'codec' });
    }
  }

  /**
   * Copies of the bytes of rows `from` to `to` (excluded) and of their labels, which follow one another
   * from `labelsOffset` on: for a checkpoint to copy as they are (as `CheckpointMemories.rawRows`, with no
   * row checks: these rows have none). Given `scratch`, in its buffers, good until the next call with it.
   */
  rawRows(from: number, to: number, scratch?: CopyScratch): { rows: Buffer; labels: Buffer; labelsOffset: number; groupChecks?: undefined } {
    const rows = copyInto(scratch, 'rows', this.#rows.subarray(from * ROW_SIZE, to * ROW_SIZE));
    const labelsOffset = this.#view.getFloat64(from * ROW_SIZE + ROW_LABELS_OFFSET, true);
    const lastAt = (to - 1) * ROW_SIZE;
    const labelsEnd = this.#view.getFloat64(lastAt + ROW_LABELS_OFFSET, true) + this.#view.getUint32(lastAt + ROW_LABELS_LENGTH, true);
    return { rows, labels: copyInto(scratch, 'labels', this.#labels.subarray(labelsOffset, labelsEnd)), labelsOffset };
  }

  #namespaceId(namespace: string): number {
    let id = this.#namespaceIdOf.get(namespace);
    if (id === undefined) {
      id = this.#namespaceNames.push(namespace) - 1;
      this.#namespaceIdOf.set(namespace, id);
    }
    return id;
  }

  #growRows(needed: number): void {
    const grown = Buffer.allocUnsafe(Math.max(needed, this.#rows.length * 2));
    this.#rows.copy(grown, 0, 0, this.#count * ROW_SIZE);
    const rowsRoom = grown.length / ROW_SIZE;
    const namespaceIds = new Uint32Array(rowsRoom);
    namespaceIds.set(this.#namespaceIds.subarray(0, this.#count));
    const dead = this.#dead ? grownBytes(this.#dead, rowsRoom) : undefined;
    this.#rows = grown;
    this.#view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
    this.#namespaceIds = namespaceIds;
    this.#dead = dead;
  }

  #growLabels(needed: number): void {
    const grown = Buffer.allocUnsafe(Math.max(needed, this.#labels.length * 2));
    this.#labels.copy(grown, 0, 0, this.#labelsLength);
    this.#labels = grown;
  }
}

/** `bytes` in a new array of `length` bytes (zeros after them). */
function grownBytes(bytes: Uint8Array, length: number): Uint8Array {
  const grown = new Uint8Array(length);
  grown.set(bytes.subarray(0, Math.min(bytes.length, length)));
  return grown;
}
