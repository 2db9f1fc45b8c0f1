import { mapFile } from '@memmapfs/blocks';
import { mergeSegments } from './segment-merge.js';
import { SegmentReader } from './segment-reader.js';
import { runToEnd } from './segment-writer.js';

/**
 * A merge as a thread of its own is given it: the input segments by file, and which of their rows are
 * live, as the provider's owners table said when the merge began. (Rows that die while it runs are dead
 * in the merged segment by the same table afterwards, as in a merge on the main thread.)
 */
export interface MergeJob {
  /** The input segment files, absolute paths, in merge order. */
  readonly paths: readonly string[];
  /** Each input's key in the provider. */
  readonly keys: readonly number[];
  /**
   * The owners table as pairs: a memory's id, then the key of the segment holding its live version (or
   * a key no segment has, for a deleted one). A row of a memory not in it is live.
   */
  readonly owners: Float64Array;
  /** How the inputs are read: `'auto'` maps them as the provider's own readers do, `'read'` reads them. */
  readonly reader: 'auto' | 'read';
}

/** Runs `job` to its end: the merged segment's bytes (see `mergeSegments`). */
export function runMergeJob(job: MergeJob): Buffer {
  const inputs = job.paths.map((path) => new SegmentReader(mapFile(path, job.reader).bytes, path));
  const owners = new Map<number, number>();
  for (let i = 0; i + 1 < job.owners.length; i += 2) owners.set(job.owners[i]!, job.owners[i + 1]!);
  return runToEnd(
    mergeSegments(inputs, (input, _row, id) => {
      const owner = owners.get(id);
      return owner === undefined || owner === job.keys[input];
    }),
  );
}

/** The provider's owners table as `MergeJob.owners` carries it. */
export function ownersAsPairs(owners: ReadonlyMap<number, number>): Float64Array<ArrayBuffer> {
  const pairs = new Float64Array(owners.size * 2);
  let i = 0;
  for (const [id, owner] of owners) {
    pairs[i++] = id;
    pairs[i++] = owner;
  }
  return pairs;
}
