// A child process whose segments index (`flushAfter: 4`), rebuilt from the memories by its first
// query, is held as it writes out the segment that holds WORD (sealed, and built, before the parent
// deletes the memory): at `before-guard`, before the store's guard of index writes is asked; at
// `after-create`, once the guard let it create the file, before it writes it. It prints {"at":"writing"}
// there, waits for a line on stdin, goes on (written, or refused), and prints {"at":"written"}. With
// `busy`, it never lets go of its index after a purge elsewhere (as a process busy throughout), saves
// it or merges its segments; with
// `idle`, it does at its idle catch-up. Then it waits to be killed.
//   stale-index-writes.ts ROOT WORD before-guard|after-create busy|idle
import { createInterface } from 'node:readline';
import { MemMapFS, type SearchIndexOpenOptions } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { segmentSearch } from '@memmapfs/search-segments';

const [root, word, where, letGo] = process.argv.slice(2) as [string, string, 'before-guard' | 'after-create', 'busy' | 'idle'];
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (at: string) => process.stdout.write(`${JSON.stringify({ at })}\n`);
const provider = segmentSearch({ flushAfter: 4 });
type WriteSegment = (key: number, bytes: Buffer, ...rest: unknown[]) => Promise<unknown>;
const internals = provider as unknown as { writeSegment: WriteSegment };
const writeSegment = internals.writeSegment.bind(provider);
let held = false;
/** Runs `step` after a line on stdin, saying so before and after, if `bytes` hold WORD and nothing was held yet. */
const holding = async <T>(bytes: Buffer, step: () => Promise<T>): Promise<T> => {
  if (held || !bytes.includes(word)) return step();
  held = true;
  say('writing');
  await lines.next();
  const done = await step();
  say('written');
  return done;
};
if (where === 'before-guard') {
  internals.writeSegment = (key, bytes, ...rest) => holding(bytes, () => writeSegment(key, bytes, ...rest));
} else {
  // (The guard of the open under way: the bytes of the write it guards are those writeSegment was given.)
  let bytesNow: Buffer = Buffer.alloc(0);
  internals.writeSegment = (key, bytes, ...rest) => ((bytesNow = bytes), writeSegment(key, bytes, ...rest));
  const openIndex = provider.openIndex.bind(provider);
  provider.openIndex = (folder: string, saved: Uint8Array | undefined, options?: SearchIndexOpenOptions) => {
    const guardWrite = options?.guardWrite;
    return openIndex(folder, saved, guardWrite ? { ...options, guardWrite: (file, create, write) => { const bytes = bytesNow; return guardWrite(file, create, () => holding(bytes, write)); } } : options);
  };
}
const fs = await MemMapFS.init(root, { search: provider, codec: msgpack(), autoCompaction: false });
if (letGo === 'busy') {
  // (Nor does it save its index or merge segments, either of which would let go of the files it made.)
  const index = (fs as unknown as { engine: { index: { letGoAfterPurgeElsewhere(): Promise<void>; savePersistent(): Promise<void> } } }).engine.index;
  index.letGoAfterPurgeElsewhere = () => Promise.resolve();
  index.savePersistent = () => Promise.resolve();
  (provider as unknown as { scheduleMerge(): void }).scheduleMerge = () => undefined;
}
await fs.queryMemory('memory');
await new Promise(() => undefined);
