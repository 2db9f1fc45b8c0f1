import type { RawData } from '@orama/orama';

/** The Orama release whose `save()` output a snapshot holds; must match the pinned dependency. */
export const ORAMA_VERSION = '3.1.18';

/**
 * Version of the snapshot layout below; bump on any change to it or to the word tokenizer. Format 1:
 * UTF-8 JSON of an index without vectors (what releases before vector search wrote, and still what a
 * provider without `vectors` writes). Format 2: the same JSON with `vectors`, a zero byte, then the
 * embeddings as binary (`VectorSection`); releases before it reject it and the store rebuilds.
 */
const SNAPSHOT_FORMAT = 1;
const SNAPSHOT_FORMAT_WITH_VECTORS = 2;

/** The Orama schema property that holds a memory's embedding. */
export const VECTOR_PROPERTY = 'embedding';

/** An Orama provider's index as stored in a snapshot (UTF-8 JSON). */
export interface OramaSnapshot {
  /** Name of the provider that wrote it. */
  readonly provider: 'orama';
  /** Version of this layout. */
  readonly format: number;
  /** Library and version whose export format the snapshot holds, e.g. `@orama/orama@3.1.18`. */
  readonly library: string;
  /** (Format 2.) The index holds `count` embeddings of `dimensions` numbers. Absent: no vector search. */
  readonly vectors?: { readonly dimensions: number; readonly count: number };
  /** Orama's own `save()` output (with vectors, its vector index saved empty: they follow as binary). */
  readonly data: RawData;
}

/**
 * The embeddings of an index with vectors, kept after the JSON as binary: JSON has no room for them
 * (at 20,000 memories of 384 numbers the JSON was 7 times the binary size and took seconds to write,
 * and of 1,536 numbers it exceeded the largest string V8 makes).
 */
export interface VectorSection {
  readonly dimensions: number;
  /** Orama's internal document ids, one per embedding. */
  readonly ids: Uint32Array;
  /** The embeddings, one after another: `ids.length × dimensions` numbers. */
  readonly values: Float32Array;
}

/** A decoded snapshot: the JSON, and the embeddings when it has vectors. */
export interface DecodedSnapshot extends OramaSnapshot {
  readonly vectorSection?: VectorSection;
}

/** Encodes Orama's `save()` output as a snapshot, with `vectors` when the index has vector search. */
export function encodeSnapshot(data: RawData, vectors?: VectorSection): Uint8Array {
  const library = `@orama/orama@${ORAMA_VERSION}`;
  if (vectors === undefined) return new TextEncoder().encode(JSON.stringify({ provider: 'orama', format: SNAPSHOT_FORMAT, library, data } satisfies OramaSnapshot));
  const { dimensions, ids, values } = vectors;
  const snapshot: OramaSnapshot = { provider: 'orama', format: SNAPSHOT_FORMAT_WITH_VECTORS, library, vectors: { dimensions, count: ids.length }, data };
  const json = new TextEncoder().encode(JSON.stringify(snapshot));
  // (JSON.stringify escapes control characters: the JSON holds no zero byte.)
  const bytes = new Uint8Array(json.length + 1 + ids.byteLength + values.byteLength);
  bytes.set(json);
  bytes.set(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength), json.length + 1);
  bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), json.length + 1 + ids.byteLength);
  return bytes;
}

/**
 * Decodes and checks a snapshot made by `encodeSnapshot`, for a provider whose embeddings have
 * `dimensions` numbers (`undefined`: no vector search); throws when it is not one that provider reads.
 */
export function decodeSnapshot(bytes: Uint8Array, dimensions?: number): DecodedSnapshot {
  const end = bytes.indexOf(0);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(end < 0 ? bytes : bytes.subarray(0, end)));
  } catch (cause) {
    throw snapshotError('it is not UTF-8 JSON', cause);
  }
  const snapshot = value as Partial<OramaSnapshot> | null;
  if (snapshot?.provider !== 'orama') throw snapshotError('it was not made by the orama provider');
  if ((snapshot.format !== SNAPSHOT_FORMAT && snapshot.format !== SNAPSHOT_FORMAT_WITH_VECTORS) || snapshot.library !== `@orama/orama@${ORAMA_VERSION}`) {
    throw snapshotError(`it has format ${String(snapshot.format)} from ${String(snapshot.library)}; this release reads formats ${SNAPSHOT_FORMAT} and ${SNAPSHOT_FORMAT_WITH_VECTORS} from @orama/orama@${ORAMA_VERSION}`);
  }
  if (typeof snapshot.data !== 'object' || snapshot.data === null) throw snapshotError('its content is incomplete');
  const held = snapshot.format === SNAPSHOT_FORMAT_WITH_VECTORS ? snapshot.vectors?.dimensions : undefined;
  const count = snapshot.vectors?.count;
  if (snapshot.format === SNAPSHOT_FORMAT_WITH_VECTORS && !(isCount(held) && held > 0 && isCount(count))) {
    throw snapshotError('its content is incomplete (no vector dimensions or count)');
  }
  if (held !== dimensions) {
    const holds = held === undefined ? 'it has no vectors' : `it holds embeddings of ${held} numbers`;
    const takes = dimensions === undefined ? 'this provider has no vector search' : `this provider takes ${dimensions}`;
    throw snapshotError(`${holds}, and ${takes}`);
  }
  const vectorIndex = (snapshot.data as { index?: { vectorIndexes?: Record<string, { size?: unknown }> } }).index?.vectorIndexes?.[VECTOR_PROPERTY];
  if (held === undefined) {
    if (end >= 0) throw snapshotError('it has bytes after its JSON');
    return snapshot as OramaSnapshot;
  }
  if (vectorIndex?.size !== held) throw snapshotError('its content is incomplete (no vector index of its dimensions)');
  const binary = bytes.subarray(end + 1);
  if (end < 0 || binary.length !== count! * 4 * (1 + held)) throw snapshotError(`its embeddings are cut short or too long (${count} of ${held} numbers expected)`);
  // A copy: aligned for the typed arrays, and independent of the caller's bytes.
  const copy = new Uint8Array(binary).buffer;
  const vectorSection = { dimensions: held, ids: new Uint32Array(copy, 0, count!), values: new Float32Array(copy, count! * 4, count! * held) };
  return { ...(snapshot as OramaSnapshot), vectorSection };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/** The error for a snapshot that cannot be restored; the store then rebuilds the index from its log. */
export function snapshotError(reason: string, cause?: unknown): Error {
  return new Error(`[memmapfs] [search] [orama] Cannot import the index snapshot: ${reason}.`, cause === undefined ? undefined : { cause });
}
