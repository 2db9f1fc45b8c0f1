// A child process whose segments index (`flushAfter: 4`), rebuilt from the memories by its first
// query, is held as it writes out the segment that holds WORD (sealed, and built, before the parent
// deletes the memory), before the store's guard of index writes is asked: it prints {"at":"writing"} there,
// waits for a line on stdin, writes (or is refused), and prints {"at":"written"}. With `busy`, it
// never lets go of its index after a purge elsewhere (as a process busy throughout); with `idle`, it
// does at its idle catch-up. Then it waits to be killed.
//   stale-index-writes.ts ROOT WORD busy|idle
import { createInterface } from 'node:readline';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { segmentSearch } from '@memmapfs/search-segments';

const [root, word, letGo] = process.argv.slice(2) as [string, string, 'busy' | 'idle'];
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (at: string) => process.stdout.write(`${JSON.stringify({ at })}\n`);
const provider = segmentSearch({ flushAfter: 4 });
type WriteSegment = (...args: unknown[]) => Promise<unknown>;
const internals = provider as unknown as { writeSegment: WriteSegment };
const writeSegment = internals.writeSegment.bind(provider);
let held = false;
internals.writeSegment = async (...args) => {
  if (held || !Buffer.from(args[1] as Buffer).includes(word)) return writeSegment(...args);
  held = true;
  say('writing');
  await lines.next();
  const written = await writeSegment(...args);
  say('written');
  return written;
};
const fs = await MemMapFS.init(root, { search: provider, codec: msgpack(), autoCompaction: false });
if (letGo === 'busy') (fs as unknown as { engine: { index: { letGoAfterPurgeElsewhere(): Promise<void> } } }).engine.index.letGoAfterPurgeElsewhere = () => Promise.resolve();
await fs.queryMemory('memory');
await new Promise(() => undefined);
