// Opens the store at ROOT (argv[3]) in this fresh process with its files memory-mapped, reads memory ID
// (argv[4]) and runs a query, and prints which of the store's files this process maps then and after
// MODE (argv[2]), garbage collected, as {"before":[…],"after":[…]}:
//   close       closes the store, still holding its handle;
//   checkpoint  writes a memory and a new checkpoint (which removes the one the open read) and reads
//               again, the store still open;
//   compact     a second handle reads every memory, the first deletes two memories in three and compacts
//               with erase (which rewrites the chunk files and the index segments, and removes the old
//               ones), then both read again, still open, and rest a few idle catch-ups;
//   published   a second handle writes a memory and a new checkpoint (which removes the one the first
//               opened from), and the first, reading nothing, rests a few idle catch-ups.
// Run with --expose-gc, on Linux (it reads /proc/self/maps; a removed file shows there as "PATH (deleted)").
import { readFileSync } from 'node:fs';
import { MemMapFS } from '@memmapfs/core';

const [mode, root, id] = [process.argv[2], process.argv[3]!, Number(process.argv[4])];
const mappedFiles = (): string[] => {
  const paths = readFileSync('/proc/self/maps', 'utf8').split('\n').map((line) => line.split(/\s+/).slice(5).join(' '));
  return [...new Set(paths.filter((path) => path.startsWith(`${root}/`)))].sort();
};
const gc = (globalThis as { gc?: () => void }).gc!;

/** A few of the catch-ups a store makes on its own while idle (one a second), with nothing asked of it. */
const idleCatchUps = () => new Promise((resolve) => setTimeout(resolve, 3_500));

const fs = await MemMapFS.init(root, { reader: 'mmap' });
const read = async (): Promise<void> => {
  if (!(await fs.getMemory(id))) throw new Error(`memory ${id} was not found`);
  if ((await fs.queryMemory('memory', { limit: 5 })).length === 0) throw new Error('the query found nothing');
};
await read();
const before = mappedFiles();
let other: MemMapFS | undefined;
if (mode === 'close') {
  await fs.close();
} else if (mode === 'compact') {
  other = await MemMapFS.init(root, { reader: 'mmap' });
  const ids: number[] = [];
  for (let page = await other.listMemories({ limit: 500 }); ; page = await other.listMemories({ limit: 500, cursor: page.nextCursor })) {
    ids.push(...page.memories.map((memory) => memory.id));
    if (!page.nextCursor) break;
  }
  await other.queryMemory('memory', { limit: 5 });
  for (const [i, memoryId] of ids.entries()) if (i % 3 !== 0) await fs.deleteMemory(memoryId);
  await fs.compact({ erase: true });
  for (const handle of [fs, other]) {
    if (!(await handle.getMemory(ids[0]!))) throw new Error(`memory ${ids[0]} was not found after the compaction`);
    if ((await handle.queryMemory('memory', { limit: 5 })).length === 0) throw new Error('the query found nothing after the compaction');
  }
  await idleCatchUps();
} else if (mode === 'published') {
  other = await MemMapFS.init(root, { reader: 'mmap' });
  await other.appendMemory('one memory more, so that the new checkpoint differs');
  await other.checkpoint();
  await idleCatchUps();
} else {
  await fs.appendMemory('one memory more, so that the new checkpoint differs');
  await fs.checkpoint();
  await read();
}
// V8 frees a collected ArrayBuffer's memory (here: unmaps it) in a task of its own.
for (let round = 0; round < 3; round++) {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 50));
}
process.stdout.write(`${JSON.stringify({ before, after: mappedFiles() })}\n`);
await fs.close();
await other?.close();
