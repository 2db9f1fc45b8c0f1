// A child process whose index is busy throughout (it follows the log, but never lets go of its index
// after a purge elsewhere), whose segments index (`flushAfter: 4`) is held as it is about to write
// a segment out: its first query loads the index (rebuilt from the memories), whose first segment of
// four is sealed and written out in the background; that write prints {"at":"writing"}, waits for a line
// on stdin, then prints {"at":"written"} once done. Then the process waits to be killed.
//   stale-index-writes.ts ROOT
import { createInterface } from 'node:readline';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { SegmentSearchProvider, segmentSearch } from '@memmapfs/search-segments';

const root = process.argv[2]!;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (at: string) => process.stdout.write(`${JSON.stringify({ at })}\n`);
const provider = segmentSearch({ flushAfter: 4 });
const writeSegment = (SegmentSearchProvider.prototype as unknown as { writeSegment: (...args: unknown[]) => Promise<unknown> }).writeSegment;
let held = false;
(provider as unknown as { writeSegment: (...args: unknown[]) => Promise<unknown> }).writeSegment = async function (...args: unknown[]) {
  if (held) return writeSegment.apply(this, args);
  held = true;
  say('writing');
  await lines.next();
  const written = await writeSegment.apply(this, args);
  say('written');
  return written;
};
const fs = await MemMapFS.init(root, { search: provider, codec: msgpack(), autoCompaction: false });
(fs as unknown as { engine: { index: { letGoAfterPurgeElsewhere(): Promise<void> } } }).engine.index.letGoAfterPurgeElsewhere = () => Promise.resolve();
await fs.queryMemory('memory');
await new Promise(() => undefined);
