/** The flexsearch release whose export format a snapshot holds; must match the pinned dependency. */
export const FLEXSEARCH_VERSION = '0.8.212';

/** Version of the snapshot layout below; bump on any change to it or to what the index holds. */
const SNAPSHOT_FORMAT = 2;

/** Everything needed to restore a flexsearch provider, as stored in a snapshot (UTF-8 JSON). */
export interface FlexSearchSnapshot {
  /** Name of the provider that wrote it. */
  readonly provider: 'flexsearch';
  /** Version of this layout. */
  readonly format: number;
  /** Library and version whose export format the snapshot holds, e.g. `flexsearch@0.8.212`. */
  readonly library: string;
  /** Index settings the index was built with; an index with other settings cannot read it. */
  readonly settings: { readonly tokenize: string; readonly resolution: number };
  /** The tags and namespace of every memory: `[id, namespace, tags]`. */
  readonly memories: Array<[number, string, string[]]>;
  /** What the text index exported (FlexSearch's `export()` parts, and the word counts it keeps). */
  readonly index: unknown;
}

/** The snapshot content before the header is added. */
export type FlexSearchSnapshotBody = Pick<FlexSearchSnapshot, 'settings' | 'memories' | 'index'>;

/** Encodes a snapshot as UTF-8 JSON. */
export function encodeSnapshot(body: FlexSearchSnapshotBody): Uint8Array {
  const snapshot: FlexSearchSnapshot = { provider: 'flexsearch', format: SNAPSHOT_FORMAT, library: `flexsearch@${FLEXSEARCH_VERSION}`, ...body };
  return new TextEncoder().encode(JSON.stringify(snapshot));
}

/** Decodes and checks a snapshot made by `encodeSnapshot`; throws when it is not one this release reads. */
export function decodeSnapshot(bytes: Uint8Array): FlexSearchSnapshot {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw snapshotError('it is not UTF-8 JSON', cause);
  }
  const snapshot = value as Partial<FlexSearchSnapshot> | null;
  if (snapshot?.provider !== 'flexsearch') throw snapshotError('it was not made by the flexsearch provider');
  if (snapshot.format !== SNAPSHOT_FORMAT || snapshot.library !== `flexsearch@${FLEXSEARCH_VERSION}`) {
    throw snapshotError(`it has format ${String(snapshot.format)} from ${String(snapshot.library)}; this release reads format ${SNAPSHOT_FORMAT} from flexsearch@${FLEXSEARCH_VERSION}`);
  }
  if (!isSettings(snapshot.settings) || !Array.isArray(snapshot.memories) || typeof snapshot.index !== 'object' || snapshot.index === null) {
    throw snapshotError('its content is incomplete');
  }
  return snapshot as FlexSearchSnapshot;
}

/** The error for a snapshot that cannot be restored; the store then rebuilds the index from its log. */
export function snapshotError(reason: string, cause?: unknown): Error {
  return new Error(`[memmapfs] [search] [flexsearch] Cannot import the index snapshot: ${reason}.`, cause === undefined ? undefined : { cause });
}

function isSettings(value: unknown): value is FlexSearchSnapshot['settings'] {
  const settings = value as Partial<FlexSearchSnapshot['settings']> | null | undefined;
  return typeof settings?.tokenize === 'string' && typeof settings.resolution === 'number';
}
