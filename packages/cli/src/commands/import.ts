import { MemMapError, type AgentState, type MemMapFS, type NewMemory, type RestoredMemory } from '@memmapfs/core';
import { labelOptions, positiveInteger, stringOption } from '../arguments.js';
import type { StoreCommand } from '../command.js';
import { exportFormat, readableExportVersions } from '../export-format.js';
import { CommandFailure, UsageError } from '../failures.js';
import { NotUtf8Line, openInput, utf8Lines } from '../input-source.js';
import { BadTaggedValue, fromTaggedJson, isBase64 } from '../json-value.js';

const formats = ['jsonl', 'lines'] as const;
type Format = (typeof formats)[number];

const idModes = ['auto', 'keep', 'new'] as const;
/** What becomes of the ids of an export: kept when the store can take them, kept or fail, or new ones. */
type IdMode = (typeof idModes)[number];

/** Memories per `appendMemories` call (one commit) when `--batch` is not given. */
export const defaultImportBatch = 1000;

/** The fields a JSONL line without `type` may have. */
const itemFields: ReadonlySet<string> = new Set(['text', 'tags', 'namespace', 'meta', 'ttlMs']);
/** The fields of a memory line of an export (`type: 'memory'`). */
const exportedMemoryFields: ReadonlySet<string> = new Set(['type', 'id', 'text', 'tags', 'namespace', 'meta', 'createdAt', 'updatedAt', 'expiresAt', 'embedding']);

/** What `import` prints: `firstId` and `lastId` are null when no memory was imported. */
export interface ImportResult {
  readonly imported: number;
  readonly firstId: number | null;
  readonly lastId: number | null;
  /** KV entries set (lines `{"type":"kv"}` of an export). */
  readonly kvKeys: number;
  /** Streams appended to (lines `{"type":"stream"}` of an export). */
  readonly streams: number;
  /** Whether an agent state was set (a line `{"type":"state"}` of an export). */
  readonly state: boolean;
  /** Memories of an export left out because they expired before they were imported. */
  readonly expired: number;
  /** Memories of an export that got an id other than the one they had there (its log was past them, or `--ids new`). */
  readonly renumbered: number;
}

/** What every imported memory gets from the command line. */
interface Overrides {
  readonly tags: readonly string[];
  readonly namespace: string | undefined;
}

/** A line that cannot be imported; the import stops before writing its batch. */
class BadLine extends Error {
  constructor(readonly line: number, reason: string, readonly code = 'INVALID_INPUT') {
    super(reason.replace(/\.$/, ''));
  }
}

/** What one line of the input asks for: a new memory, or a memory of an export (written back as it was). */
type Entry =
  | { readonly kind: 'memory'; readonly memory: NewMemory }
  | { readonly kind: 'exported'; readonly memory: RestoredMemory & { readonly id?: number } }
  | { readonly kind: 'kv'; readonly key: string; readonly value: unknown }
  | { readonly kind: 'stream'; readonly key: string; readonly bytes: Buffer }
  | { readonly kind: 'state'; readonly state: AgentState }
  | { readonly kind: 'skip'; readonly expired: boolean };

/**
 * `memmapfs import [FILE]`: reads memories from a file or stdin, one per line, and appends them in
 * batches (one commit each) while streaming, so the input is never held whole in memory. Reads the
 * output of `export` too, losslessly: its memories are written back with their ids (when the store's
 * log is below them, see `--ids`), times, expiries and embeddings; its KV entries, streams (appended
 * to a stream of the same key) and state as well.
 */
export const importCommand: StoreCommand = {
  path: ['import'],
  summary: 'Import memories from a file or stdin, one per line (JSON lines or plain text), or what export wrote',
  arguments: [{ name: 'FILE', optional: true, description: "The file to read; '-' or none reads stdin" }],
  options: {
    format: {
      type: 'string',
      valueName: 'jsonl|lines',
      description: 'jsonl (default): each line a JSON object {text, tags?, namespace?, meta?, ttlMs?}, a JSON string, or a line of an export; lines: each line a text',
    },
    tag: { type: 'string', multiple: true, valueName: 'T', description: "A tag added to every memory, besides the line's own" },
    namespace: { type: 'string', valueName: 'NS', description: "Namespace of every memory (replaces the line's own). Default: the line's, else default" },
    batch: { type: 'string', valueName: 'N', description: `Memories per commit. Default: ${defaultImportBatch}` },
    ids: {
      type: 'string',
      valueName: 'auto|keep|new',
      description: "Ids of an export's memories. auto (default): kept when the store's log ends below the first (a new store), else new ones; keep: kept, or fail; new: new ones. Times, expiries and embeddings are kept either way",
    },
  },
  examples: [
    'memmapfs import notes.jsonl --tag imported',
    'cat notes.txt | memmapfs import --format lines --namespace notes',
    'memmapfs import backup.jsonl                      # what memmapfs export wrote',
    'memmapfs --root ./copy import backup.jsonl --ids keep   # ids as in the export, or fail',
  ],
  store: 'existing',
  prepare(args) {
    const file = args.positionals[0];
    const format = stringOption(args, 'format') ?? 'jsonl';
    if (!(formats as readonly string[]).includes(format)) throw new UsageError(`--format must be ${formats.join(' or ')}, got '${format}'`);
    const { tags, namespace } = labelOptions(args);
    const batchOption = stringOption(args, 'batch');
    const batchSize = batchOption === undefined ? defaultImportBatch : positiveInteger(batchOption, '--batch');
    const idMode = stringOption(args, 'ids') ?? 'auto';
    if (!(idModes as readonly string[]).includes(idMode)) throw new UsageError(`--ids must be ${idModes.join(', ')}, got '${idMode}'`);
    const overrides: Overrides = { tags, namespace };

    return async (store, output, context) => {
      const input = await openInput(file, context.cwd, context.stdin);
      // By the bytes read when the input's size is known (a file), else a count of lines.
      const progress = input.size === undefined ? output.progress('import', 'lines') : output.progress('import', 'KiB');
      const showProgress = (lineNumber: number, bytesRead: number): void =>
        input.size === undefined ? progress.update(lineNumber) : progress.update(Math.round(bytesRead / 1024), Math.max(1, Math.round(input.size / 1024)));
      let imported = 0;
      let firstId: number | null = null;
      let lastId: number | null = null;
      let kvKeys = 0;
      const streamKeys = new Set<string>();
      let state = false;
      let expired = 0;
      let renumbered = 0;
      let lastWrittenLine = 0;
      /** Whether the export's ids are kept: decided at its first memory (`auto`), given up if the store cannot take them. */
      let keeping: boolean | undefined = idMode === 'new' ? false : undefined;
      /** Why `auto` gave the export's ids up: the store's log is past them, or too far below them. */
      let renumberedBecause: 'past' | 'far' = 'past';
      const idsGivenUp = (): boolean => keeping === false;
      /** One commit's worth of memories of one kind: new ones, or an export's written back with or without their ids. */
      let batchKind: 'append' | 'keep' | 'renumber' = 'append';
      let batch: Array<NewMemory | RestoredMemory> = [];
      let batchLines: number[] = [];
      let batchExportedIds: Array<number | undefined> = [];
      const result = (): ImportResult => ({ imported, firstId, lastId, kvKeys, streams: streamKeys.size, state, expired, renumbered });

      /** Counts memories written (the lines they came from, and their ids in the export, if any). */
      const record = (ids: readonly number[], lines: readonly number[], exportedIds: ReadonlyArray<number | undefined>): void => {
        if (ids.length === 0) return;
        imported += ids.length;
        firstId ??= ids[0]!;
        lastId = ids.at(-1)!;
        for (const [i, id] of ids.entries()) if (exportedIds[i] !== undefined && exportedIds[i] !== id) renumbered++;
        lastWrittenLine = lines.at(-1)!;
      };

      /**
       * Writes memories of one kind in one commit, counted as soon as it is in (`record`); an export's ids
       * too far apart for one are split into several, and a later one that fails leaves the earlier ones
       * written, and counted.
       */
      const write = async (kind: typeof batchKind, items: ReadonlyArray<NewMemory | RestoredMemory>, lines: readonly number[], exportedIds: ReadonlyArray<number | undefined>): Promise<void> => {
        try {
          if (kind === 'append') {
            record(await store.appendMemories(items as NewMemory[]), lines, exportedIds);
            return;
          }
          const exported = items as readonly RestoredMemory[];
          record(await store.restoreMemories(kind === 'keep' ? exported : exported.map(({ id: _id, ...memory }) => memory)), lines, exportedIds);
        } catch (error) {
          if (kind === 'keep' && MemMapError.is(error, 'RESTORE_GAP_TOO_LARGE') && items.length > 1) {
            // The first alone tells why (a refused call writes nothing): too far above the log, and the ids
            // are given up (or the import fails), or too far apart for one commit, and the rest is split.
            await write(kind, items.slice(0, 1), lines.slice(0, 1), exportedIds.slice(0, 1));
            if (idsGivenUp()) return write('renumber', items.slice(1), lines.slice(1), exportedIds.slice(1));
            const half = Math.ceil(items.length / 2);
            await write(kind, items.slice(1, half), lines.slice(1, half), exportedIds.slice(1, half));
            return write(idsGivenUp() ? 'renumber' : kind, items.slice(half), lines.slice(half), exportedIds.slice(half));
          }
          if (kind === 'keep' && MemMapError.is(error) && (error.code === 'MEMORY_ID_TAKEN' || error.code === 'RESTORE_GAP_TOO_LARGE')) {
            if (idMode === 'keep') {
              const id = (items[0] as RestoredMemory).id!;
              const why = error.code === 'MEMORY_ID_TAKEN'
                ? `id ${id} is not above the last record of this store's log (${store.stats().lastLsn}), so the store cannot take the export's ids: import into a new store, or with --ids auto (new ids)`
                // (What the call that was refused wrote, core says; what the import wrote before it, the message below.)
                : error.message.replace(/^\[memmapfs\] (\[\w+\] )?restoreMemories: /, '').replace(/ (Nothing was written\.|None of its memories was written \([^)]*\)\.)/, '');
              throw new BadLine(lines[0]!, why, error.code);
            }
            // (auto) The store's log is past the export's ids (another process wrote meanwhile, say), or too far
            // below them to pad: new ids from here on.
            keeping = false;
            renumberedBecause = error.code === 'MEMORY_ID_TAKEN' ? 'past' : 'far';
            return write('renumber', items, lines, exportedIds);
          }
          throw lineOfRejectedItem(error, lines) ?? error;
        }
      };

      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        await write(batchKind, batch, batchLines, batchExportedIds);
        batch = [];
        batchLines = [];
        batchExportedIds = [];
      };

      /** Adds a memory to the batch, first writing the batch when it is full or of another kind. */
      const add = async (kind: typeof batchKind, memory: NewMemory | RestoredMemory, lineNumber: number, exportedId: number | undefined): Promise<void> => {
        if (kind !== batchKind) {
          await flush();
          batchKind = kind;
        }
        batch.push(memory);
        batchLines.push(lineNumber);
        batchExportedIds.push(exportedId);
        if (batch.length >= batchSize) await flush();
      };

      const lines = utf8Lines(input.stream as AsyncIterable<Buffer>);
      let bytesRead = 0;
      try {
        for (let lineNumber = 1; ; lineNumber++) {
          let next: IteratorResult<string>;
          try {
            next = await lines.next();
          } catch (error) {
            if (error instanceof NotUtf8Line) throw new BadLine(error.line, error.message);
            throw new CommandFailure('INPUT_UNREADABLE', `cannot read ${input.name}: ${(error as Error).message}`);
          }
          if (next.done) break;
          bytesRead += Buffer.byteLength(next.value, 'utf8') + 1;
          if (lineNumber % 1000 === 0) showProgress(lineNumber, bytesRead);
          const line = lineNumber === 1 ? next.value.replace(/^\uFEFF/, '') : next.value;
          if (line.trim() === '') continue;
          const entry = parseLine(line, lineNumber, format as Format, overrides);
          switch (entry.kind) {
            case 'memory':
              await add('append', entry.memory, lineNumber, undefined);
              break;
            case 'exported': {
              const id = entry.memory.id;
              // Decided at the first memory of the export: its ids ascend, so the store takes them all if it takes that one.
              keeping ??= idMode === 'keep' || (id !== undefined && id > store.stats().lastLsn);
              await add(keeping && id !== undefined ? 'keep' : 'renumber', entry.memory, lineNumber, id);
              break;
            }
            case 'kv':
              await flush();
              await setKv(store, entry.key, entry.value, lineNumber);
              kvKeys++;
              lastWrittenLine = lineNumber;
              break;
            case 'stream':
              await flush();
              await appendStream(store, entry.key, entry.bytes, lineNumber);
              streamKeys.add(entry.key);
              lastWrittenLine = lineNumber;
              break;
            case 'state':
              await flush();
              await updateState(store, entry.state, lineNumber);
              state = true;
              lastWrittenLine = lineNumber;
              break;
            case 'skip':
              if (entry.expired) expired++;
              break;
          }
        }
        await flush();
      } catch (error) {
        progress.end();
        if (output.json) output.result(result(), () => []);
        if (error instanceof BadLine) {
          const before = imported + kvKeys + streamKeys.size === 0 && !state ? 'nothing imported' : `imported ${summary(result(), false)} (input lines 1–${lastWrittenLine}) before it`;
          throw new CommandFailure(error.code, `line ${error.line}: ${error.message}; ${before}`);
        }
        throw error;
      } finally {
        progress.end();
        await lines.return();
        input.close();
      }
      const done = result();
      output.result(done, () => [`imported ${summary(done)}`, ...notes(done, idMode as IdMode, renumberedBecause)]);
    };
  },
};

const plural = (count: number): string => `${count} ${count === 1 ? 'memory' : 'memories'}`;

/** `3 memories (ids 1–3), 2 KV keys and the state`; without `ids`, `3 memories, …`. */
function summary(result: ImportResult, ids = true): string {
  const { imported, firstId, lastId } = result;
  const idRange = !ids || firstId === null ? '' : firstId === lastId ? ` (id ${firstId})` : ` (ids ${firstId}–${lastId})`;
  const parts = [`${plural(imported)}${idRange}`];
  if (result.kvKeys > 0) parts.push(`${result.kvKeys} KV key${result.kvKeys === 1 ? '' : 's'}`);
  if (result.streams > 0) parts.push(`${result.streams} stream${result.streams === 1 ? '' : 's'}`);
  if (result.state) parts.push('the state');
  return parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

function notes(result: ImportResult, idMode: IdMode, because: 'past' | 'far'): string[] {
  const lines: string[] = [];
  if (result.expired > 0) lines.push(`left out ${plural(result.expired)} that expired before the import`);
  if (result.renumbered > 0) {
    const why = idMode === 'new' ? 'as --ids new asked'
      : because === 'past' ? 'the log of this store is past the ids of the export (--ids keep refuses instead)'
      : 'the ids of the export are too far above the end of the log of this store to fill the log up to them (--ids keep refuses instead)';
    lines.push(`${plural(result.renumbered)} got new ids: ${why}`);
    // (The import cannot tell which values hold ids: it says so rather than rewrite them.)
    if (result.kvKeys > 0) lines.push("KV values that name memories by id (such as the items of @memmapfs/langgraph's MemMapStore) still name the ids of the export: import into a new, empty store to keep them (--ids keep)");
  }
  return lines;
}

/** A KV entry of an export; a value the store refuses is a bad line. */
async function setKv(store: MemMapFS, key: string, value: unknown, lineNumber: number): Promise<void> {
  try {
    await store.setKv(key, value);
  } catch (error) {
    if (MemMapError.is(error, 'INVALID_ARGUMENT')) throw new BadLine(lineNumber, error.message.replace(/^\[memmapfs\] /, ''));
    throw error;
  }
}

/** A chunk of a stream of an export; one the store refuses (an empty one, say) is a bad line. */
async function appendStream(store: MemMapFS, key: string, bytes: Buffer, lineNumber: number): Promise<void> {
  try {
    await store.appendStream(key, bytes);
  } catch (error) {
    if (MemMapError.is(error, 'INVALID_ARGUMENT') || MemMapError.is(error, 'TEXT_TOO_LARGE')) throw new BadLine(lineNumber, error.message.replace(/^\[memmapfs\] (\[\w+\] )?/, ''));
    throw error;
  }
}

/** The state of an export; one the store refuses is a bad line. */
async function updateState(store: MemMapFS, state: AgentState, lineNumber: number): Promise<void> {
  try {
    await store.updateState(state);
  } catch (error) {
    if (MemMapError.is(error, 'INVALID_ARGUMENT')) throw new BadLine(lineNumber, error.message.replace(/^\[memmapfs\] /, ''));
    throw error;
  }
}

/** A line's value in tagged JSON (`fromTaggedJson`); a `{"$base64"}` that is not base64 is a bad line. */
function tagged(json: unknown, name: string, lineNumber: number): unknown {
  try {
    return fromTaggedJson(json, name);
  } catch (error) {
    if (error instanceof BadTaggedValue) throw new BadLine(lineNumber, error.message);
    throw error;
  }
}

const describe = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What one non-empty line asks for, with the command line's tags and namespace applied to a memory. */
function parseLine(line: string, lineNumber: number, format: Format, overrides: Overrides): Entry {
  if (format === 'lines') return { kind: 'memory', memory: withOverrides({ text: line }, overrides) };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new BadLine(lineNumber, `not valid JSON (${(error as Error).message})`);
  }
  if (typeof value === 'string') return { kind: 'memory', memory: withOverrides({ text: value }, overrides) };
  if (!isPlainObject(value)) throw new BadLine(lineNumber, `expected a JSON object {"text": …} or a JSON string, got ${describe(value)}`);
  if (value.type !== undefined) return parseExportLine(value, lineNumber, overrides);
  const unknown = Object.keys(value).find((key) => !itemFields.has(key));
  if (unknown !== undefined) throw new BadLine(lineNumber, `unknown field "${unknown}" (a line has text, tags?, namespace?, meta?, ttlMs?)`);
  checkMemoryFields(value, lineNumber);
  if (value.ttlMs !== undefined && typeof value.ttlMs !== 'number') throw new BadLine(lineNumber, `"ttlMs" must be a number, got ${describe(value.ttlMs)}`);
  // (meta in tagged JSON, as `append --meta` and export lines read it: {"$base64": …} is bytes.)
  const memory = (value.meta !== undefined ? { ...value, meta: tagged(value.meta, 'meta', lineNumber) } : value) as unknown as NewMemory;
  return { kind: 'memory', memory: withOverrides(memory, overrides) };
}

/** A line `export` wrote: the header, a memory, a KV entry or the state. */
function parseExportLine(item: Record<string, unknown>, lineNumber: number, overrides: Overrides): Entry {
  switch (item.type) {
    case 'header':
      if (item.format !== exportFormat || !readableExportVersions.includes(item.version as number)) {
        throw new BadLine(lineNumber, `not an export this version reads (format ${JSON.stringify(item.format)}, version ${JSON.stringify(item.version)}; expected ${exportFormat} version ${readableExportVersions.join(' or ')})`);
      }
      return { kind: 'skip', expired: false };
    case 'memory': {
      const unknown = Object.keys(item).find((key) => !exportedMemoryFields.has(key));
      if (unknown !== undefined) throw new BadLine(lineNumber, `unknown field "${unknown}" in a memory of an export`);
      checkMemoryFields(item, lineNumber);
      for (const field of ['id', 'createdAt', 'updatedAt', 'expiresAt']) {
        if (item[field] !== undefined && typeof item[field] !== 'number') throw new BadLine(lineNumber, `"${field}" must be a number, got ${describe(item[field])}`);
      }
      // (Whether the ids are kept or not: an export never wrote another.)
      if (item.id !== undefined && !(Number.isSafeInteger(item.id) && (item.id as number) >= 1)) throw new BadLine(lineNumber, `"id" must be a positive integer, got ${describe(item.id)}`);
      if (item.embedding !== undefined && !(Array.isArray(item.embedding) && item.embedding.every((n) => typeof n === 'number'))) {
        throw new BadLine(lineNumber, `"embedding" must be an array of numbers, got ${describe(item.embedding)}`);
      }
      if (typeof item.expiresAt === 'number' && item.expiresAt <= Date.now()) return { kind: 'skip', expired: true };
      // (A line without times, written by hand, gets the time of the import.)
      const createdAt = (item.createdAt as number | undefined) ?? Date.now();
      const tags = [...((item.tags as string[] | undefined) ?? []), ...overrides.tags];
      const memory: RestoredMemory & { id?: number } = {
        ...(item.id !== undefined ? { id: item.id as number } : {}),
        text: item.text as string,
        tags,
        ...((overrides.namespace ?? item.namespace) !== undefined ? { namespace: (overrides.namespace ?? item.namespace) as string } : {}),
        ...(item.meta !== undefined ? { meta: tagged(item.meta, 'meta', lineNumber) as Record<string, unknown> } : {}),
        createdAt,
        updatedAt: (item.updatedAt as number | undefined) ?? createdAt,
        ...(item.expiresAt !== undefined ? { expiresAt: item.expiresAt as number } : {}),
        ...(item.embedding !== undefined ? { embedding: item.embedding as number[] } : {}),
      };
      return { kind: 'exported', memory };
    }
    case 'kv':
      if (typeof item.key !== 'string') throw new BadLine(lineNumber, `"key" must be a string, got ${describe(item.key)}`);
      if (!('value' in item)) throw new BadLine(lineNumber, 'a KV line of an export needs a "value"');
      return { kind: 'kv', key: item.key, value: tagged(item.value, 'value', lineNumber) };
    case 'stream':
      if (typeof item.key !== 'string') throw new BadLine(lineNumber, `"key" must be a string, got ${describe(item.key)}`);
      if (typeof item.base64 !== 'string' || !isBase64(item.base64)) {
        throw new BadLine(lineNumber, `"base64" must be the chunk's bytes in base64, got ${typeof item.base64 === 'string' ? 'a string that is not base64' : describe(item.base64)}`);
      }
      return { kind: 'stream', key: item.key, bytes: Buffer.from(item.base64, 'base64') };
    case 'state':
      if (!isPlainObject(item.state)) throw new BadLine(lineNumber, `"state" must be a JSON object, got ${describe(item.state)}`);
      return { kind: 'state', state: tagged(item.state, 'state', lineNumber) as AgentState };
    default:
      throw new BadLine(lineNumber, `unknown "type" ${JSON.stringify(item.type)} (an export has header, memory, kv, stream and state lines)`);
  }
}

/** The fields a memory line and an export's memory line share: text, tags, namespace, meta. */
function checkMemoryFields(item: Record<string, unknown>, lineNumber: number): void {
  if (typeof item.text !== 'string') throw new BadLine(lineNumber, `"text" must be a string, got ${item.text === undefined ? 'none' : describe(item.text)}`);
  if (item.tags !== undefined && !(Array.isArray(item.tags) && item.tags.every((tag) => typeof tag === 'string'))) {
    throw new BadLine(lineNumber, `"tags" must be an array of strings, got ${describe(item.tags)}`);
  }
  if (item.namespace !== undefined && typeof item.namespace !== 'string') throw new BadLine(lineNumber, `"namespace" must be a string, got ${describe(item.namespace)}`);
  if (item.meta !== undefined && !isPlainObject(item.meta)) throw new BadLine(lineNumber, `"meta" must be a JSON object, got ${describe(item.meta)}`);
}

function withOverrides(item: NewMemory, overrides: Overrides): NewMemory {
  const tags = [...(item.tags ?? []), ...overrides.tags];
  const namespace = overrides.namespace ?? item.namespace;
  return {
    text: item.text,
    ...(tags.length > 0 ? { tags } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(item.meta !== undefined ? { meta: item.meta } : {}),
    ...(item.ttlMs !== undefined ? { ttlMs: item.ttlMs } : {}),
  };
}

/**
 * A value core refused in a batch (`appendMemories: item I: …`; nothing of the batch was written),
 * as the input line it came from; undefined for any other failure.
 */
function lineOfRejectedItem(error: unknown, batchLines: readonly number[]): BadLine | undefined {
  if (!MemMapError.is(error) || (error.code !== 'INVALID_ARGUMENT' && error.code !== 'TEXT_TOO_LARGE')) return undefined;
  const match = /(?:appendMemories|restoreMemories): item (\d+): (.*)$/s.exec(error.message);
  const line = match ? batchLines[Number(match[1])] : undefined;
  return line === undefined ? undefined : new BadLine(line, match![2]!);
}
