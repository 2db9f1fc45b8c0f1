import type { RawData } from '@orama/orama';

/** The Orama release whose `save()` output a snapshot holds; must match the pinned dependency. */
export const ORAMA_VERSION = '3.1.18';

/** Version of the snapshot layout below; bump on any change to it or to the word tokenizer. */
const SNAPSHOT_FORMAT = 1;

/** An Orama provider's index as stored in a snapshot (UTF-8 JSON). */
export interface OramaSnapshot {
  /** Name of the provider that wrote it. */
  readonly provider: 'orama';
  /** Version of this layout. */
  readonly format: number;
  /** Library and version whose export format the snapshot holds, e.g. `@orama/orama@3.1.18`. */
  readonly library: string;
  /** Orama's own `save()` output. */
  readonly data: RawData;
}

/** Encodes Orama's `save()` output as a UTF-8 JSON snapshot. */
export function encodeSnapshot(data: RawData): Uint8Array {
  const snapshot: OramaSnapshot = { provider: 'orama', format: SNAPSHOT_FORMAT, library: `@orama/orama@${ORAMA_VERSION}`, data };
  return new TextEncoder().encode(JSON.stringify(snapshot));
}

/** Decodes and checks a snapshot made by `encodeSnapshot`; throws when it is not one this release reads. */
export function decodeSnapshot(bytes: Uint8Array): OramaSnapshot {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw snapshotError('it is not UTF-8 JSON', cause);
  }
  const snapshot = value as Partial<OramaSnapshot> | null;
  if (snapshot?.provider !== 'orama') throw snapshotError('it was not made by the orama provider');
  if (snapshot.format !== SNAPSHOT_FORMAT || snapshot.library !== `@orama/orama@${ORAMA_VERSION}`) {
    throw snapshotError(`it has format ${String(snapshot.format)} from ${String(snapshot.library)}; this release reads format ${SNAPSHOT_FORMAT} from @orama/orama@${ORAMA_VERSION}`);
  }
  if (typeof snapshot.data !== 'object' || snapshot.data === null) throw snapshotError('its content is incomplete');
  return snapshot as OramaSnapshot;
}

/** The error for a snapshot that cannot be restored; the store then rebuilds the index from its log. */
export function snapshotError(reason: string, cause?: unknown): Error {
  return new Error(`[memmapfs] [search] [orama] Cannot import the index snapshot: ${reason}.`, cause === undefined ? undefined : { cause });
}
