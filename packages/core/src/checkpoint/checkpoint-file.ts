import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { mapFile, type BlockRef } from '@memmapfs/blocks';
import { crc32c, describeThrown, LOG_ID_SIZE, syncFolder, type WalPosition } from '@memmapfs/wal';
import type { Codec } from '../contracts/codec.js';
import { MemMapError } from '../errors.js';
import type { MemoryRecord } from '../engine/log-records.js';
import type { NewMemoryRows } from '../engine/new-memory-rows.js';
import type { StoreFileSystem } from '../types.js';
import { CheckpointMemories, damaged, type CopyScratch, encodeLabels, ROW_EXPIRES_AT, ROW_ID, ROW_LABELS_LENGTH, ROW_LABELS_OFFSET, ROW_SIZE, ROWS_PER_CHECK, SCRATCH_KEPT_BYTES, scratchBytes, writeRow } from './checkpoint-rows.js';
import { randomHex } from '../random-hex.js';
import { checkpointTempFileName } from './checkpoint-manifest.js';
import { SectionWriter } from './section-writer.js';
import { CheckpointKv, kvSectionLength, type KvSectionPlace, writeKvSection } from './checkpoint-kv.js';
import { DecodedKvPairs, type KvPairs } from './kv-pairs.js';

/**
 * A checkpoint file: the store's tables as they stood after one record of the log (docs/FORMAT.md).
 * Layout: a 160-byte header, the memory rows (sorted by id, `ROW_SIZE` each), the labels section, the
 * tables section (KV, streams, state, where records point in the chunk files, the memories with a
 * TTL: the codec's encoding of one map), and the row checks (a CRC32C per group of `ROWS_PER_CHECK`
 * rows with their labels, checked before a row is first used). Written once under a temporary name and renamed into place;
 * never changed after, so every process maps it read-only and shares its pages.
 */
const MAGIC = Buffer.from('MMFS-CKP', 'ascii');
/**
 * The format version written when some memory has an embedding (in its labels): a release that does not
 * know embeddings refuses such a checkpoint rather than drop them. Without embeddings, `VERSION_WITHOUT_EMBEDDINGS`.
 */
const VERSION = 4;
const VERSION_WITHOUT_EMBEDDINGS = 3;
/**
 * The format version written now: the KV pairs in a section of their own, read in place (see
 * `CheckpointKv`), between the labels and the tables; whether memories may hold embeddings is a flag
 * (`FLAG_EMBEDDINGS` at `H_FLAGS`). Versions 3 and 4 hold the KV pairs in the tables, decoded at open.
 */
const VERSION_KV_SECTION = 5;
const H_FLAGS = 36;
const FLAG_EMBEDDINGS = 1;
export const CHECKPOINT_HEADER_SIZE = 160;
const H_CRC = 12;
const H_LSN = 16;
const H_OFFSET = 24;
const H_CHECKSUM = 32;
const H_LOG_ID = 40;
const H_WRITTEN_AT = H_LOG_ID + LOG_ID_SIZE;
const H_ROWS = 64;
const H_LABELS_OFFSET = 72;
const H_LABELS_LENGTH = 80;
const H_TABLES_OFFSET = 88;
const H_TABLES_LENGTH = 96;
const H_ROWS_CRC = 104;
const H_LABELS_CRC = 108;
const H_TABLES_CRC = 112;
const H_CODEC_LENGTH = 116;
const H_CODEC = 120;
const MAX_CODEC_NAME = 32;
const H_CHECKS_OFFSET = 152;
/** Rows of an earlier checkpoint copied at a time (about 288 KiB). */
const COPY_ROWS = 4096;
/** How often `onRows` hears of the rows written: at each multiple of this, and at the end. */
const REPORT_ROWS = 4096;

/**
 * A memory to write as a row, or rows `from` to `to` (excluded) copied as they are: of an earlier
 * checkpoint (`base`), or of the memories created since it (`rows`).
 */
export type CheckpointEntry = MemoryRecord | { readonly base: CheckpointMemories; readonly from: number; readonly to: number } | { readonly rows: NewMemoryRows; readonly from: number; readonly to: number };

/** What a checkpoint holds, as handed to `writeCheckpointFile`. */
export interface CheckpointContents {
  /** The log it belongs to, and the last record it covers. */
  readonly logId: string;
  /** The codec the log's payloads (and so the labels and tables) are encoded with. */
  readonly codec: string;
  readonly position: WalPosition;
  /** How many memories `memories()` yields. */
  readonly memoryCount: number;
  /** Every live memory, in increasing id order. */
  memories(): Iterable<CheckpointEntry>;
  /** How many of them each namespace holds. */
  readonly namespaces: ReadonlyMap<string, number>;
  /** The KV pairs: how many, and each in ascending order of key. */
  readonly kv: { readonly size: number; entries(): Iterable<readonly [string, Uint8Array]> };
  readonly streams: ReadonlyMap<string, readonly BlockRef[]>;
  /** The agent state, or `null` while no state was ever written (each opener then starts from its own initial state). */
  readonly state: Record<string, unknown> | null;
  /** Per chunk, the end of the highest range any record up to `position` references. */
  readonly chunkEnds: ReadonlyMap<number, number>;
  /** With a log hosts share: the last record that claimed or opened each host cache (see `CacheOpen`). */
  readonly cacheOpens: ReadonlyMap<string, CacheOpen>;
}

/** The last record that claimed or opened a host cache: its LSN, and the nonce of the open (none for a claim). */
export interface CacheOpen {
  readonly lsn: number;
  readonly nonce?: string;
}

/** The small tables of a checkpoint, decoded into the heap at open. */
export interface CheckpointTables {
  /** The KV pairs: read in place (format 5), or decoded into the heap (formats 3 and 4). */
  readonly kv: KvPairs;
  readonly streams: Map<string, BlockRef[]>;
  readonly state: Record<string, unknown> | null;
  readonly chunkEnds: Map<number, number>;
  /** The last open of each host cache (a log hosts share); empty in a checkpoint written before they were kept. */
  readonly cacheOpens: Map<string, CacheOpen>;
  /** `[expiresAt, id]` of every memory with a TTL. */
  readonly expiring: Array<readonly [number, number]>;
  /**
   * How many memories each namespace holds; `undefined` in a checkpoint written before they were kept,
   * or when they are wrong (`namespaceCountsWrong`): the rows are then counted instead.
   */
  namespaces: Map<string, number> | undefined;
  /** Why the namespace counts the checkpoint holds were not taken (a namespace twice, a sum that is not the rows'). */
  namespaceCountsWrong?: string;
}

/** A checkpoint file opened (mapped) and its header checked; its sections are read when asked for. */
export interface CheckpointFile {
  readonly path: string;
  readonly logId: string;
  /** The name of the codec its labels and tables are encoded with. */
  readonly codec: string;
  readonly position: WalPosition;
  readonly writtenAt: number;
  /** The memory rows, read in place. */
  memories(codec: Codec): CheckpointMemories;
  /** Decodes the tables section (its checksum was checked when the file was opened). */
  tables(codec: Codec): CheckpointTables;
  /** Checks the rows' and labels' checksums too (reads the whole file): what `memmapfs verify` does. */
  verify(): string | undefined;
  /** The whole file, as read at open (mapped: a view of the page cache, not a heap copy). */
  bytes(): Uint8Array;
}

/** Called as the rows of a checkpoint are written: `written` of `total`. */
export type CheckpointRowsProgress = (written: number, total: number) => void;

/**
 * Writes the checkpoint to `path`: a temporary file, fsynced, renamed into place, folder fsynced (in
 * place of the file there: for a repair that writes a checkpoint again). `onRows` hears of the rows
 * written every `REPORT_ROWS` rows and when the last is.
 */
export async function writeCheckpointFile(path: string, contents: CheckpointContents, codec: Codec, files: StoreFileSystem, reader: 'auto' | 'mmap' | 'read' = 'auto', onRows?: CheckpointRowsProgress): Promise<WrittenCheckpoint> {
  const { file, tables, temp } = await writeUnnamedCheckpoint(path, contents, codec, files, reader, onRows);
  try {
    await files.rename(temp, path);
  } catch (error) {
    await files.unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncFolder(dirname(path), files);
  return { file, tables };
}

/**
 * Writes the checkpoint for `path` under a temporary name beside it, fsynced, mapped and read back:
 * `CheckpointStore.publish` gives it its name (or removes it, when another writer published one as
 * recent). `onRows` hears of the rows written every `REPORT_ROWS` rows and when the last is.
 */
export async function writeUnnamedCheckpoint(path: string, contents: CheckpointContents, codec: Codec, files: StoreFileSystem, reader: 'auto' | 'mmap' | 'read' = 'auto', onRows?: CheckpointRowsProgress): Promise<UnnamedCheckpoint> {
  const temp = join(dirname(path), checkpointTempFileName(basename(path), process.pid, randomHex(6)));
  const handle = await files.open(temp, 'w');
  try {
    const rowsEnd = CHECKPOINT_HEADER_SIZE + contents.memoryCount * ROW_SIZE;
    const rows = new SectionWriter(handle, CHECKPOINT_HEADER_SIZE);
    const labels = new SectionWriter(handle, rowsEnd);
    const expiring: number[] = [];
    const row = Buffer.alloc(ROW_SIZE);
    const rowView = new DataView(row.buffer, row.byteOffset, ROW_SIZE);
    let count = 0;
    let lastId = 0;
    let embeddings = false;
    // The CRC32C of each group of rows with their labels, so that a reader checks a row before it uses it.
    const checks = Buffer.alloc(4 * Math.ceil(contents.memoryCount / ROWS_PER_CHECK));
    let groupRows = 0;
    // The labels of the group under way, copied (a copy of the last checkpoint's rows is reused from
    // slice to slice, and a group may span slices), in a buffer reused from group to group.
    let groupLabels = Buffer.allocUnsafe(16 * 1024);
    let groupLabelsLength = 0;
    const scratch: CopyScratch = {};
    /** Counts `rowCount` more rows written, and tells `onRows`. */
    const advance = (rowCount: number) => {
      const before = count;
      count += rowCount;
      if (onRows && (Math.floor(count / REPORT_ROWS) > Math.floor(before / REPORT_ROWS) || count === contents.memoryCount)) onRows(count, contents.memoryCount);
    };
    /** Takes `rows` (whole rows, as written) and their `labels` into the group CRCs; they end no later than the group. */
    const checkGroup = (rowBytes: Uint8Array, labelBytes: Uint8Array) => {
      groupRows = crc32c(rowBytes, groupRows);
      const needed = groupLabelsLength + labelBytes.byteLength;
      if (needed > groupLabels.length) {
        const bigger = Buffer.allocUnsafe(scratchBytes(needed));
        groupLabels.copy(bigger, 0, 0, groupLabelsLength);
        groupLabels = bigger;
      }
      groupLabels.set(labelBytes, groupLabelsLength);
      groupLabelsLength += labelBytes.byteLength;
      advance(rowBytes.byteLength / ROW_SIZE);
      if (count % ROWS_PER_CHECK === 0 || count === contents.memoryCount) {
        checks.writeUInt32LE(crc32c(groupLabels.subarray(0, groupLabelsLength), groupRows), 4 * Math.floor((count - 1) / ROWS_PER_CHECK));
        groupRows = 0;
        groupLabelsLength = 0;
        if (groupLabels.length > SCRATCH_KEPT_BYTES) groupLabels = Buffer.allocUnsafe(16 * 1024);
      }
    };
    /** Takes a whole group of `groupRowCount` rows, starting a group, whose check is known: `check`. */
    const takeGroup = (groupRowCount: number, check: number) => {
      advance(groupRowCount);
      checks.writeUInt32LE(check, 4 * Math.floor((count - 1) / ROWS_PER_CHECK));
    };
    for (const entry of contents.memories()) {
      if ('base' in entry || 'rows' in entry) {
        // Rows of the last checkpoint, or of the memories created since, copied a slice at a time: their
        // bytes as they are but for where their labels now lie, and their labels (contiguous) in one piece.
        const source = 'base' in entry ? entry.base : entry.rows;
        // (Only the last checkpoint's rows can be damaged: new rows out of order are a fault of this code.)
        const wrong = (row: number, why: string) => ('base' in entry ? damaged(`row ${row} of the last checkpoint`, why) : new Error(`new memory row ${row}: ${why}`));
        embeddings ||= source.mayHoldEmbeddings;
        for (let from = entry.from; from < entry.to; ) {
          const to = Math.min(entry.to, from + COPY_ROWS);
          // Copies in the heap, checked there: what goes out under the new checksums is what was checked,
          // not a page of the mapping read back from the disk meanwhile. (New rows have no checks yet.)
          const slice = source.rawRows(from, to, scratch);
          const copied = slice.rows;
          const copiedLabels = slice.labels;
          // (A DataView, not the Buffer's methods: Buffer reads and writes a double a byte at a time.)
          const view = new DataView(copied.buffer, copied.byteOffset, copied.byteLength);
          const delta = labels.written - slice.labelsOffset;
          let expected = slice.labelsOffset;
          for (let at = 0; at < copied.length; at += ROW_SIZE) {
            const id = view.getFloat64(at + ROW_ID, true);
            if (!(id > lastId)) throw wrong(from + at / ROW_SIZE, `its id ${id} does not follow ${lastId}`);
            lastId = id;
            const labelsAt = view.getFloat64(at + ROW_LABELS_OFFSET, true);
            // (Rows and labels are written in the same order: a copy relies on it.)
            if (labelsAt !== expected) throw wrong(from + at / ROW_SIZE, 'its labels are not where those of the row before end');
            expected += view.getUint32(at + ROW_LABELS_LENGTH, true);
            if (delta !== 0) view.setFloat64(at + ROW_LABELS_OFFSET, labelsAt + delta, true);
            const expiresAt = view.getFloat64(at + ROW_EXPIRES_AT, true);
            if (!Number.isNaN(expiresAt)) expiring.push(expiresAt, id);
          }
          await rows.write(copied);
          await labels.write(copiedLabels);
          // Into the group CRCs split where groups end.
          for (let at = 0; at < copied.length; ) {
            const inGroup = Math.min(ROWS_PER_CHECK - (count % ROWS_PER_CHECK), (copied.length - at) / ROW_SIZE);
            const end = at + inGroup * ROW_SIZE;
            const labelsFrom = view.getFloat64(at + ROW_LABELS_OFFSET, true) - delta - slice.labelsOffset;
            const labelsTo = view.getFloat64(end - ROW_SIZE + ROW_LABELS_OFFSET, true) - delta - slice.labelsOffset + view.getUint32(end - ROW_SIZE + ROW_LABELS_LENGTH, true);
            const oldRow = from + at / ROW_SIZE;
            // A whole group of the last checkpoint, unmoved and with its labels where they were: its bytes
            // are the group's as `rawRows` just checked them, and so is its check.
            if (slice.groupChecks && delta === 0 && inGroup === ROWS_PER_CHECK && oldRow % ROWS_PER_CHECK === 0 && oldRow === count) takeGroup(inGroup, slice.groupChecks[oldRow / ROWS_PER_CHECK - Math.floor(from / ROWS_PER_CHECK)]!);
            else checkGroup(copied.subarray(at, end), copiedLabels.subarray(labelsFrom, labelsTo));
            at = end;
          }
          from = to;
        }
        continue;
      }
      const encoded = encodeLabels(codec, entry);
      writeRow(rowView, 0, entry, labels.written, encoded.byteLength);
      const labelsWrite = labels.write(encoded);
      if (labelsWrite) await labelsWrite;
      embeddings ||= entry.embedding !== undefined;
      if (entry.expiresAt !== undefined) expiring.push(entry.expiresAt, entry.id);
      if (entry.id <= lastId) throw new Error(`checkpoint rows out of order: ${entry.id} after ${lastId}`);
      lastId = entry.id;
      const rowWrite = rows.write(row);
      if (rowWrite) await rowWrite;
      checkGroup(row, encoded);
    }
    if (count !== contents.memoryCount) throw new Error(`checkpoint expected ${contents.memoryCount} memories, got ${count}`);
    await rows.flush();
    await labels.flush();
    const kvSection = await writeKvSection(handle, rowsEnd + labels.written, contents.kv.entries(), contents.kv.size);
    const tablesOffset = kvSection.offset + kvSection.length;
    const tables = Buffer.from(encodeTables(codec, {
      kv: [],
      kvSection: [kvSection.offset, kvSection.count, kvSection.dataLength],
      streams: [...contents.streams].map(([key, refs]) => [key, refs.flatMap((r) => [r.chunk, r.offset, r.length, r.crc])]),
      state: contents.state,
      ends: [...contents.chunkEnds].flat(),
      expiring,
      namespaces: [...contents.namespaces].flat(),
      ...(contents.cacheOpens.size > 0 ? { caches: [...contents.cacheOpens].flatMap(([cache, open]) => [cache, open.lsn, open.nonce ?? '']) } : {}),
    }));
    await handle.write(tables, 0, tables.length, tablesOffset);
    const checksOffset = tablesOffset + tables.length;
    await handle.write(checks, 0, checks.length, checksOffset);
    const header = Buffer.alloc(CHECKPOINT_HEADER_SIZE);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(VERSION_KV_SECTION, 8);
    header.writeUInt32LE(embeddings ? FLAG_EMBEDDINGS : 0, H_FLAGS);
    header.writeDoubleLE(contents.position.lsn, H_LSN);
    header.writeDoubleLE(contents.position.offset, H_OFFSET);
    header.writeUInt32LE(contents.position.checksum >>> 0, H_CHECKSUM);
    header.write(contents.logId, H_LOG_ID, LOG_ID_SIZE, 'hex');
    const codecName = Buffer.from(contents.codec, 'utf8');
    if (codecName.length > MAX_CODEC_NAME) throw new Error(`codec name ${contents.codec} is longer than ${MAX_CODEC_NAME} bytes`);
    header.writeUInt8(codecName.length, H_CODEC_LENGTH);
    codecName.copy(header, H_CODEC);
    header.writeDoubleLE(checksOffset, H_CHECKS_OFFSET);
    header.writeDoubleLE(Date.now(), H_WRITTEN_AT);
    header.writeDoubleLE(count, H_ROWS);
    header.writeDoubleLE(rowsEnd, H_LABELS_OFFSET);
    header.writeDoubleLE(labels.written, H_LABELS_LENGTH);
    header.writeDoubleLE(tablesOffset, H_TABLES_OFFSET);
    header.writeDoubleLE(tables.length, H_TABLES_LENGTH);
    header.writeUInt32LE(rows.crc, H_ROWS_CRC);
    header.writeUInt32LE(labels.crc, H_LABELS_CRC);
    header.writeUInt32LE(crc32c(tables), H_TABLES_CRC);
    header.writeUInt32LE(crc32c(header.subarray(16)), H_CRC);
    await handle.write(header, 0, header.length, 0);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await files.unlink(temp).catch(() => undefined);
    throw error;
  }
  try {
    await handle.close();
  } catch (error) {
    await files.unlink(temp).catch(() => undefined);
    throw error;
  }
  // Mapped under its temporary name: it is removed unnamed when another writer published one as recent,
  // and a newer one's publisher may remove it by name soon after it took it; the mapping keeps it
  // readable. Read back there, its header checked and its tables decoded (its rows are checked as they
  // are read): a file of the same name another process published is never the one taken away for what
  // this one holds.
  let file: CheckpointFile;
  let tables: CheckpointTables;
  try {
    file = openCheckpointFile(path, reader, temp);
    tables = file.tables(codec);
  } catch (error) {
    await files.unlink(temp).catch(() => undefined);
    throw unreadableNewCheckpoint(path, error);
  }
  return { file, tables, temp };
}

/** A checkpoint just written: the file, and its tables as they were read back from it. */
export interface WrittenCheckpoint {
  readonly file: CheckpointFile;
  readonly tables: CheckpointTables;
}

/** A checkpoint written and read back that does not have its name yet: it is at `temp`. */
export interface UnnamedCheckpoint extends WrittenCheckpoint {
  readonly temp: string;
}

/**
 * The error for a checkpoint this process just wrote (at `path`, under its temporary name still) that
 * does not read back as written: `IO_ERROR`, not `CHECKPOINT_CORRUPT`, which says the checkpoint the
 * store stands on is damaged. Its temporary file is removed; the one before stands.
 */
function unreadableNewCheckpoint(path: string, cause: unknown): MemMapError {
  return new MemMapError('IO_ERROR', `The checkpoint ${path} just written does not read back as it was written (${describeThrown(cause)}): it was removed, and the checkpoint before it (if any) stands; the log still holds every change. The disk or the file system may be failing: check the system log (\`dmesg\`), then run \`memmapfs verify\`.`, { cause, subsystem: 'checkpoint' });
}

/**
 * Opens (maps) the checkpoint at `path` (read from `mapFrom`, when it is still under another name) and
 * checks its header. Throws the file system's error when the file cannot be opened (ENOENT when another
 * process removed it), `CHECKPOINT_CORRUPT` when it is not a whole checkpoint of this version.
 */
export function openCheckpointFile(path: string, reader: 'auto' | 'mmap' | 'read' = 'auto', mapFrom: string = path): CheckpointFile {
  const { bytes } = mapFile(mapFrom, reader === 'mmap' ? 'auto' : reader);
  const bad = (why: string) => new MemMapError('CHECKPOINT_CORRUPT', `${path} is not a usable checkpoint: ${why}.`, { subsystem: 'checkpoint' });
  if (bytes.length < CHECKPOINT_HEADER_SIZE || !bytes.subarray(0, 8).equals(MAGIC)) throw bad('it does not start with a checkpoint header');
  const version = bytes.readUInt32LE(8);
  if (version !== VERSION && version !== VERSION_WITHOUT_EMBEDDINGS && version !== VERSION_KV_SECTION) throw bad(`format version ${version} is not ${VERSION_WITHOUT_EMBEDDINGS}, ${VERSION} or ${VERSION_KV_SECTION}${version > VERSION_KV_SECTION ? ' (written by a newer release: upgrade MemMapFS)' : ''}`);
  const mayHoldEmbeddings = version === VERSION || (version === VERSION_KV_SECTION && (bytes.readUInt32LE(H_FLAGS) & FLAG_EMBEDDINGS) !== 0);
  if (bytes.readUInt32LE(H_CRC) !== crc32c(bytes.subarray(16, CHECKPOINT_HEADER_SIZE))) throw bad('its header fails its checksum');
  const count = bytes.readDoubleLE(H_ROWS);
  const labelsOffset = bytes.readDoubleLE(H_LABELS_OFFSET);
  const labelsLength = bytes.readDoubleLE(H_LABELS_LENGTH);
  const tablesOffset = bytes.readDoubleLE(H_TABLES_OFFSET);
  const tablesLength = bytes.readDoubleLE(H_TABLES_LENGTH);
  const checksOffset = bytes.readDoubleLE(H_CHECKS_OFFSET);
  // (Format 5 has its KV section between the labels and the tables.)
  if (labelsOffset !== CHECKPOINT_HEADER_SIZE + count * ROW_SIZE || (version === VERSION_KV_SECTION ? tablesOffset < labelsOffset + labelsLength : tablesOffset !== labelsOffset + labelsLength) || checksOffset !== tablesOffset + tablesLength || checksOffset + 4 * Math.ceil(count / ROWS_PER_CHECK) !== bytes.length) {
    throw bad('its sections do not add up to its size');
  }
  const rows = bytes.subarray(CHECKPOINT_HEADER_SIZE, labelsOffset);
  const labels = bytes.subarray(labelsOffset, labelsOffset + labelsLength);
  const tablesBytes = bytes.subarray(tablesOffset, checksOffset);
  const checks = bytes.subarray(checksOffset);
  // Small, and decoded whole at open: checked here, so that a damaged one is never used.
  if (crc32c(tablesBytes) !== bytes.readUInt32LE(H_TABLES_CRC)) throw bad('its tables section fails its checksum');
  const codecLength = bytes.readUInt8(H_CODEC_LENGTH);
  if (codecLength > MAX_CODEC_NAME) throw bad('its codec name is too long');
  return {
    path,
    logId: bytes.toString('hex', H_LOG_ID, H_LOG_ID + LOG_ID_SIZE),
    codec: bytes.toString('utf8', H_CODEC, H_CODEC + codecLength),
    position: { lsn: bytes.readDoubleLE(H_LSN), offset: bytes.readDoubleLE(H_OFFSET), checksum: bytes.readUInt32LE(H_CHECKSUM) },
    writtenAt: bytes.readDoubleLE(H_WRITTEN_AT),
    memories: (codec) => new CheckpointMemories(rows, labels, checks, codec, path, mayHoldEmbeddings),
    tables: (codec) => decodeTables(codec, tablesBytes, count, bad, version === VERSION_KV_SECTION ? { file: bytes, from: labelsOffset + labelsLength, to: tablesOffset, source: path } : undefined),
    bytes: () => bytes,
    verify: () => {
      if (crc32c(rows) !== bytes.readUInt32LE(H_ROWS_CRC)) return 'its memory rows fail their checksum';
      if (crc32c(labels) !== bytes.readUInt32LE(H_LABELS_CRC)) return 'its labels fail their checksum';
      if (crc32c(tablesBytes) !== bytes.readUInt32LE(H_TABLES_CRC)) return 'its tables section fails its checksum';
      return undefined;
    },
  };
}

/**
 * What is damaged in `file`, if anything: its sections against their checksums first, then every group
 * of rows against its check (damage to the checks alone leaves the sections' checksums whole), then every
 * group of KV pairs (format 5).
 */
export function checkpointDamage(file: CheckpointFile, codec: Codec): string | undefined {
  const damage = file.verify();
  if (damage) return damage;
  try {
    const unreadable = file.memories(codec).unreadableRows();
    if (unreadable > 0) return `${unreadable} of its rows fail their checks`;
  } catch (error) {
    return `its rows cannot be checked (${describeThrown(error)})`;
  }
  try {
    return file.tables(codec).kv.verify();
  } catch (error) {
    return `its KV pairs cannot be checked (${describeThrown(error)})`;
  }
}

/**
 * The log id and the position a checkpoint's header names (its first bytes alone, read, not mapped), or
 * `undefined` when it has no valid header (or is gone, or cannot be read: with `strict`, an error other
 * than its absence is thrown instead).
 */
export async function readCheckpointHeader(path: string, files: Pick<StoreFileSystem, 'open'>, strict = false): Promise<{ logId: string; position: WalPosition } | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await files.open(path, 'r');
    return (await readHeader(handle))?.names;
  } catch (error) {
    if (strict && (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return undefined;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** A checkpoint file's header, when it is one (its magic and checksum), and the log and position it names. */
async function readHeader(handle: FileHandle): Promise<{ header: Buffer; names: { logId: string; position: WalPosition } } | undefined> {
  const header = Buffer.alloc(CHECKPOINT_HEADER_SIZE);
  const { bytesRead } = await handle.read(header, 0, header.length, 0);
  if (bytesRead < header.length || !header.subarray(0, 8).equals(MAGIC) || header.readUInt32LE(H_CRC) !== crc32c(header.subarray(16))) return undefined;
  return {
    header,
    names: {
      logId: header.toString('hex', H_LOG_ID, H_LOG_ID + LOG_ID_SIZE),
      position: { lsn: header.readDoubleLE(H_LSN), offset: header.readDoubleLE(H_OFFSET), checksum: header.readUInt32LE(H_CHECKSUM) },
    },
  };
}

/**
 * `readCheckpointHeader`, and only when the tables section reads back whole too (its checksum, as an
 * open checks it): the header and that section alone are read, with positioned reads, never the rows.
 * `undefined` when the file is gone or damaged; any other error reading it is thrown.
 */
export async function readWholeCheckpointHeader(path: string, files: Pick<StoreFileSystem, 'open'>): Promise<{ logId: string; position: WalPosition } | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await files.open(path, 'r');
    const read = await readHeader(handle);
    if (!read) return undefined;
    const { header, names } = read;
    const offset = header.readDoubleLE(H_TABLES_OFFSET);
    const length = header.readDoubleLE(H_TABLES_LENGTH);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < CHECKPOINT_HEADER_SIZE || length < 0) return undefined;
    const tables = Buffer.alloc(length);
    for (let done = 0; done < length;) {
      const { bytesRead: read } = await handle.read(tables, done, Math.min(length - done, 1 << 30), offset + done);
      if (read === 0) return undefined;
      done += read;
    }
    return crc32c(tables) === header.readUInt32LE(H_TABLES_CRC) ? names : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * The tables section decoded. With `kvIn` (format 5), the KV pairs are those of the KV section the
 * tables place, which must lie in the file `kvIn.file` between `kvIn.from` and `kvIn.to`; else those of
 * the tables' `kv` pairs.
 */
function decodeTables(codec: Codec, bytes: Uint8Array, memoryCount: number, bad: (why: string) => MemMapError, kvIn?: { file: Buffer; from: number; to: number; source: string }): CheckpointTables {
  let wire: Record<string, unknown>;
  try {
    wire = codec.decode(Buffer.from(bytes)) as Record<string, unknown>;
  } catch (cause) {
    throw new MemMapError('CHECKPOINT_CORRUPT', `A checkpoint's tables cannot be decoded by the ${codec.name} codec: ${describeThrown(cause)}.`, { cause, subsystem: 'checkpoint' });
  }
  const { kv, kvSection, streams, state, ends, expiring, namespaces, caches } = wire ?? {};
  const isNumbers = (value: unknown): value is number[] => Array.isArray(value) && value.every((n) => typeof n === 'number');
  if (!Array.isArray(kv) || !Array.isArray(streams) || typeof state !== 'object' || !isNumbers(ends) || !isNumbers(expiring)) throw bad('its tables are malformed');
  if (namespaces !== undefined && (!Array.isArray(namespaces) || namespaces.length % 2 !== 0)) throw bad('its namespaces are malformed');
  if (caches !== undefined && (!Array.isArray(caches) || caches.length % 3 !== 0)) throw bad('its host caches are malformed');
  let kvPairs: KvPairs;
  if (kvIn) {
    if (!isNumbers(kvSection) || kvSection.length !== 3 || (kv as unknown[]).length !== 0) throw bad('its KV section is not placed');
    const place: KvSectionPlace = { offset: kvSection[0]!, count: kvSection[1]!, dataLength: kvSection[2]! };
    const pairs = new CheckpointKv(kvIn.file, place, kvIn.source);
    if (place.offset !== kvIn.from || place.offset + kvSectionLength(place.count, place.dataLength) !== kvIn.to) throw bad('its KV section does not lie between its labels and its tables');
    kvPairs = pairs;
  } else {
    const pairs: Array<[string, Uint8Array]> = [];
    for (const pair of kv) {
      if (!Array.isArray(pair) || typeof pair[0] !== 'string' || !(pair[1] instanceof Uint8Array)) throw bad('a KV entry is malformed');
      pairs.push([pair[0], new Uint8Array(pair[1])]);
    }
    kvPairs = new DecodedKvPairs(pairs);
  }
  const tables: CheckpointTables = { kv: kvPairs, streams: new Map(), state: state as Record<string, unknown> | null, chunkEnds: new Map(), cacheOpens: new Map(), expiring: [], namespaces: namespaces === undefined ? undefined : new Map() };
  for (let i = 0; Array.isArray(caches) && i < caches.length; i += 3) {
    const [cache, lsn, nonce] = [caches[i], caches[i + 1], caches[i + 2]];
    if (typeof cache !== 'string' || !Number.isSafeInteger(lsn) || (lsn as number) < 1 || typeof nonce !== 'string') throw bad('a host cache entry is malformed');
    tables.cacheOpens.set(cache, nonce === '' ? { lsn: lsn as number } : { lsn: lsn as number, nonce });
  }
  for (let i = 0; Array.isArray(namespaces) && i < namespaces.length; i += 2) {
    const [namespace, count] = [namespaces[i], namespaces[i + 1]];
    if (typeof namespace !== 'string' || !Number.isSafeInteger(count) || (count as number) < 1) throw bad('a namespace entry is malformed');
    if (tables.namespaces!.has(namespace)) tables.namespaceCountsWrong ??= `they name ${JSON.stringify(namespace)} twice`;
    tables.namespaces!.set(namespace, count as number);
  }
  // Queries and listings go by these counts: ones that do not add up to the rows would hide memories.
  // Wrong ones are not taken (the rows are counted instead), but the rest of the checkpoint is: it may
  // be the only copy of records the log has dropped.
  let counted = 0;
  for (const count of tables.namespaces?.values() ?? []) counted += count;
  if (tables.namespaces !== undefined && counted !== memoryCount) tables.namespaceCountsWrong ??= `they add up to ${counted} memories where it holds ${memoryCount}`;
  if (tables.namespaceCountsWrong !== undefined) tables.namespaces = undefined;
  for (const pair of streams) {
    if (!Array.isArray(pair) || typeof pair[0] !== 'string' || !isNumbers(pair[1]) || pair[1].length % 4 !== 0) throw bad('a stream entry is malformed');
    const flat = pair[1];
    const refs: BlockRef[] = [];
    for (let i = 0; i < flat.length; i += 4) refs.push({ chunk: flat[i]!, offset: flat[i + 1]!, length: flat[i + 2]!, crc: flat[i + 3]! });
    tables.streams.set(pair[0], refs);
  }
  for (let i = 0; i + 1 < ends.length; i += 2) tables.chunkEnds.set(ends[i]!, ends[i + 1]!);
  for (let i = 0; i + 1 < expiring.length; i += 2) tables.expiring.push([expiring[i]!, expiring[i + 1]!]);
  return tables;
}

/**
 * The tables section, encoded in one value by the store's codec: every stream's block list, the state
 * and the small tables (the KV pairs have a section of their own). A codec that cannot fails the
 * checkpoint with `PROVIDER_FAILED`, saying what to do.
 */
function encodeTables(codec: Codec, tables: Record<string, unknown>): Uint8Array {
  const tooLarge = (why: string, cause?: unknown) =>
    new MemMapError('PROVIDER_FAILED', `No checkpoint was written: the tables (every stream's block list, the state, the namespace counts) ${why}. Nothing is lost (the log holds every change), but checkpoints and compactions fail until they shrink: delete streams of many appends no one reads (deleteStream).`, { ...(cause === undefined ? {} : { cause }), subsystem: 'checkpoint' });
  let bytes: Uint8Array;
  try {
    bytes = codec.encode(tables);
  } catch (cause) {
    throw tooLarge(`cannot be encoded in one value by the ${codec.name} codec: ${describeThrown(cause)}`, cause);
  }
  if (bytes.byteLength > MAX_TABLES_BYTES) throw tooLarge(`encode to ${bytes.byteLength} bytes, more than the ${MAX_TABLES_BYTES} a checkpoint's tables section holds`);
  return bytes;
}

/** The largest tables section: one write of a file (and one read back) takes at most this many bytes. */
const MAX_TABLES_BYTES = 2 ** 31 - 1;
