import type { BlockRef } from './block-store.js';

/** Bytes of adjacent blocks of one chunk file, to be written again at `offset`. */
export interface RewriteRun {
  readonly chunk: number;
  readonly offset: number;
  readonly bytes: Buffer;
}

/** A run holds at most this many bytes (more blocks start another): a checkpoint's thousands of blocks are not held in memory at once. */
const MAX_RUN_BYTES = 1024 * 1024;

/**
 * The blocks of `refs` as runs of adjacent ones, by chunk and offset, each block's bytes as `read`
 * returns them (checked against its checksum). A block `read` throws for is left out, and ends the run
 * it would have joined; one listed twice is written once.
 */
export function* rewriteRuns(refs: readonly BlockRef[], read: (ref: BlockRef) => Uint8Array): IterableIterator<RewriteRun> {
  const sorted = [...refs].sort((a, b) => a.chunk - b.chunk || a.offset - b.offset);
  let parts: Uint8Array[] = [];
  let chunk = -1;
  let start = 0;
  let end = 0;
  const run = (): RewriteRun => {
    const bytes = Buffer.concat(parts, end - start);
    parts = [];
    return { chunk, offset: start, bytes };
  };
  for (const ref of sorted) {
    if (ref.chunk === chunk && ref.offset + ref.length <= end && parts.length > 0) continue;
    let bytes: Uint8Array;
    try {
      bytes = read(ref);
    } catch {
      if (parts.length > 0) yield run();
      continue;
    }
    if (parts.length > 0 && (ref.chunk !== chunk || ref.offset !== end || end - start + ref.length > MAX_RUN_BYTES)) yield run();
    if (parts.length === 0) {
      chunk = ref.chunk;
      start = ref.offset;
      end = ref.offset;
    }
    parts.push(bytes);
    end += ref.length;
  }
  if (parts.length > 0) yield run();
}
