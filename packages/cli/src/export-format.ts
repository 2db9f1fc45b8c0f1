import type { AgentState, Memory } from '@memmapfs/core';

/** The `format` of an export's header line. */
export const exportFormat = 'memmapfs-export';
/** The version of the export format this CLI writes. */
export const exportVersion = 2;
/** The versions it reads: 1 had no stream lines. */
export const readableExportVersions: readonly number[] = [1, 2];

/** The first line of an export. */
export interface ExportHeader {
  readonly type: 'header';
  readonly format: typeof exportFormat;
  readonly version: number;
  /** When the export began, in milliseconds since the epoch. */
  readonly exportedAt: number;
}

/**
 * A live memory, as exported: `meta` in tagged JSON (see `toTaggedJson`), `embedding` (when it has one)
 * an array of numbers (each float32 exactly, so that it reads back the same).
 */
export type ExportedMemory = { readonly type: 'memory' } & Omit<Memory, 'embedding'> & { readonly embedding?: readonly number[] };

/** A KV entry, as exported: `value` in tagged JSON. */
export interface ExportedKv {
  readonly type: 'kv';
  readonly key: string;
  readonly value: unknown;
}

/** One chunk of a stream, as appended, its bytes in base64; a stream's chunks follow one another in order. */
export interface ExportedStreamChunk {
  readonly type: 'stream';
  readonly key: string;
  readonly base64: string;
}

/** The agent state, as exported: in tagged JSON. */
export interface ExportedState {
  readonly type: 'state';
  readonly state: AgentState;
}

/**
 * One line of an export (JSON Lines): the header first, then memories (by id), KV entries (by key),
 * stream chunks (by key, each stream's in order), and the state.
 */
export type ExportLine = ExportHeader | ExportedMemory | ExportedKv | ExportedStreamChunk | ExportedState;
