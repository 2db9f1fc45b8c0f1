// A child process killed (SIGKILL) as it makes its first chunk file: at the first link into, or open of,
// the store's blocks folder once the store is open, after that operation is done.
//   die-making-chunk.ts ROOT
import * as nodeFileSystem from 'node:fs/promises';
import { join } from 'node:path';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';

const root = process.argv[2]!;
const blocks = join(root, 'blocks');
let armed = false;
const dieAfter = async <T>(path: unknown, done: Promise<T>): Promise<T> => {
  const result = await done;
  if (armed && (String(path) === blocks || String(path).startsWith(`${blocks}/`))) process.kill(process.pid, 'SIGKILL');
  return result;
};
const files = {
  ...nodeFileSystem,
  link: ((existing: string, path: string) => dieAfter(path, nodeFileSystem.link(existing, path))) as typeof nodeFileSystem.link,
  open: ((path: string, ...rest: [string?, number?]) => (String(path) === blocks ? dieAfter(path, nodeFileSystem.open(path, ...rest)) : nodeFileSystem.open(path, ...rest))) as typeof nodeFileSystem.open,
};
const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), fileSystem: files });
armed = true;
await fs.appendMemory('the first memory makes the first chunk');
process.stdout.write('survived\n');
