import { crc32c } from '@memmapfs/wal';
import { createFileDurably } from '@memmapfs/wal';
import { randomHex } from '../random-hex.js';
import type { StoreFileSystem } from '../types.js';

const FORMAT = 1;

/**
 * The store's manifest (`<root>/state.manifest`): which checkpoint file is current, for which log, up
 * to which LSN. Replaced whole and atomically (write-temp, fsync, rename, fsync of the folder), so it
 * is always one version or the next. Text: the CRC32C of the second line (8 hex digits), a newline,
 * then JSON.
 */
export interface StoreManifest {
  /** The log the checkpoint belongs to. */
  readonly logId: string;
  /** The checkpoint's file name, in `<root>/checkpoints/`. */
  readonly checkpoint: string;
  /** The last LSN the checkpoint covers. */
  readonly lsn: number;
  /**
   * A random value of this write of the manifest (absent in those of earlier releases): tells it from
   * another write that names a file of the same name (a cache made again, say).
   */
  readonly nonce?: string;
  /**
   * The record the log began right after when this manifest was written, its first records dropped by
   * retention: its LSN and frame checksum (absent when the log held every record, when the checkpoint
   * named ends with that record itself, when it was not known, and in those of earlier releases). It
   * vouches for a saved search index ending with that record once a newer checkpoint is named: the log
   * can still bring such an index up to date.
   */
  readonly logBase?: { readonly lsn: number; readonly checksum: number };
}

/** The name of the checkpoint file covering the log up to `lsn`. */
export function checkpointFileName(lsn: number): string {
  return `checkpoint-${String(lsn).padStart(16, '0')}.bin`;
}

/** The LSN a checkpoint file's name says it covers, or `undefined` for another file. */
export function checkpointFileLsn(name: string): number | undefined {
  const match = /^checkpoint-(\d{16})\.bin$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** The name a writer of the checkpoint file named `name` writes it under until it is published. */
export function checkpointTempFileName(name: string, pid: number, nonce: string): string {
  return `.${name}.${pid}-${nonce}.tmp`;
}

/** The LSN and the writer's process id a temporary checkpoint file's name holds, or `undefined` for another file. */
export function checkpointTempFile(name: string): { lsn: number; pid: number } | undefined {
  const match = /^\.checkpoint-(\d{16})\.bin\.(\d+)-[0-9a-f]+\.tmp$/.exec(name);
  return match ? { lsn: Number(match[1]), pid: Number(match[2]) } : undefined;
}

/**
 * Reads the manifest; `undefined` when there is none or it is damaged (the log alone is then the truth),
 * or when it cannot be read; with `strict`, an error other than its absence is thrown instead.
 */
export async function readManifest(path: string, files: Pick<StoreFileSystem, 'readFile'>, strict = false): Promise<StoreManifest | undefined> {
  let text: string;
  try {
    text = (await files.readFile(path)).toString('utf8');
  } catch (error) {
    if (strict && (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return undefined;
  }
  const newline = text.indexOf('\n');
  if (newline !== 8) return undefined;
  const body = text.slice(newline + 1);
  if (Number.parseInt(text.slice(0, 8), 16) !== crc32c(Buffer.from(body, 'utf8'))) return undefined;
  try {
    const parsed = JSON.parse(body) as { format?: unknown; logId?: unknown; checkpoint?: { file?: unknown; lsn?: unknown }; nonce?: unknown; logBase?: { lsn?: unknown; checksum?: unknown } };
    const file = parsed.checkpoint?.file;
    const lsn = parsed.checkpoint?.lsn;
    if (parsed.format !== FORMAT || typeof parsed.logId !== 'string' || typeof file !== 'string' || checkpointFileLsn(file) !== lsn || typeof lsn !== 'number') return undefined;
    const base = parsed.logBase;
    // (One that cannot be a record before the checkpoint's is not taken: the manifest stands without it.)
    const logBase = base !== null && typeof base === 'object' && Number.isSafeInteger(base.lsn) && (base.lsn as number) > 0 && (base.lsn as number) < lsn && Number.isInteger(base.checksum) && (base.checksum as number) >= 0 && (base.checksum as number) <= 0xffffffff
      ? { lsn: base.lsn as number, checksum: base.checksum as number }
      : undefined;
    return { logId: parsed.logId, checkpoint: file, lsn, ...(typeof parsed.nonce === 'string' ? { nonce: parsed.nonce } : {}), ...(logBase ? { logBase } : {}) };
  } catch {
    return undefined;
  }
}

/** Replaces the manifest atomically. */
export async function writeManifest(path: string, manifest: StoreManifest, files: StoreFileSystem): Promise<void> {
  const { logBase } = manifest;
  const body = JSON.stringify({ format: FORMAT, logId: manifest.logId, checkpoint: { file: manifest.checkpoint, lsn: manifest.lsn }, nonce: randomHex(8), ...(logBase ? { logBase: { lsn: logBase.lsn, checksum: logBase.checksum } } : {}) });
  const crc = crc32c(Buffer.from(body, 'utf8')).toString(16).padStart(8, '0');
  await createFileDurably(path, Buffer.from(`${crc}\n${body}`, 'utf8'), files);
}
