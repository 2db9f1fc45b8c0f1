// Opens the store at ROOT (argv[2]) twice in this fresh process, with a codec that decodes binary values
// as views: the second instance writes memories with binaries in their meta among large KV values, the
// first reads them as another process's records. Prints, once the writer is closed and after a garbage
// collection, the bytes held in ArrayBuffers as {"arrayBuffers":n,"logBytes":n}. Run with --expose-gc.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';

const root = process.argv[2]!;
const open = () => MemMapFS.init(root, { search: flexsearch(), codec: msgpack({ copyBinary: false }), durability: 'none', reader: 'read' });
const reader = await open();
const writer = await open();
for (let i = 0; i < 40; i++) {
  await writer.appendMemory(`memory ${i} with a binary in its meta`, [], { meta: { mark: new Uint8Array([i]) } });
  await writer.setKv(`padding-${i % 4}`, new Uint8Array(256 * 1024).fill(i));
}
await writer.close();
// One read of everything the writer committed.
if (reader.stats().memories !== 40) throw new Error('the reader did not see the memories');
// The least of several samples a while apart: what the closed writer's work still in flight holds (a
// timer's closure, a write being settled) lets go in time; a read of the log kept alive never does.
const gc = (globalThis as { gc?: () => void }).gc;
let arrayBuffers = Infinity;
for (const waitMs of [200, 400, 800]) {
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  gc?.();
  arrayBuffers = Math.min(arrayBuffers, process.memoryUsage().arrayBuffers);
}
const logBytes = (await stat(join(root, 'state.wal'))).size;
process.stdout.write(`${JSON.stringify({ arrayBuffers, logBytes })}\n`);
await reader.close();
