import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BlockError } from './block-error.js';
import { loadMmap, MAX_MAPPING_SIZE, MMAP_PACKAGE, mmapInstallAdvice, warnMapFailed, warnReadFallback } from './mmap-binding.js';

/** A whole file's bytes, read in place through a read-only mapping when the platform can, else read into memory. */
export interface MappedFile {
  /** The file's bytes. Under a mapping they are shared with the page cache: never write to them. */
  readonly bytes: Buffer;
  /** Whether `bytes` is a mapping (else a copy in this process's memory). */
  readonly mapped: boolean;
}

/**
 * Maps the file at `path` read-only (`reader: 'read'`, or the binding missing, or a file too large to map:
 * reads it instead; a missing binding under `'auto'` is warned about once per process, and so is a mapping
 * the system refuses, read instead under `'auto'`, a `BlockError` `IO_ERROR` under `'mmap'`). For immutable
 * files only: a mapped file must never be truncated or rewritten (its pages would vanish under the
 * reader), and it stays readable after it is unlinked, until the mapping is garbage-collected. Throws the `open`/`read` error as it is (ENOENT for a missing file).
 */
export function mapFile(path: string, reader: 'auto' | 'mmap' | 'read' = 'auto'): MappedFile {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const mmap = reader === 'read' ? null : loadMmap();
    if (reader === 'auto' && mmap === null) warnReadFallback();
    if (mmap && size > 0 && size <= MAX_MAPPING_SIZE) {
      try {
        return { bytes: mmap.map(size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0), mapped: true };
      } catch (error) {
        if (reader === 'mmap') throw new BlockError('IO_ERROR', `${path} cannot be mapped: ${(error as Error).message}`, { cause: error });
        warnMapFailed(path, error);
      }
    }
    if (reader === 'mmap' && size > 0) throw new BlockError('ADDON_MISSING', mmap ? `${path} cannot be mapped: it is larger than ${MAX_MAPPING_SIZE} bytes.` : `${path} cannot be mapped: the native addon of ${MMAP_PACKAGE} did not load. ${mmapInstallAdvice()}`);
    const bytes = Buffer.allocUnsafeSlow(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, bytes, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return { bytes: bytes.subarray(0, done), mapped: false };
  } finally {
    // A mapping keeps its own reference to the file.
    closeSync(fd);
  }
}
