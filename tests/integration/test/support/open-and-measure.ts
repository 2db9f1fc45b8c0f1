// Opens the store at ROOT (argv[2]) in this fresh process and prints, after a garbage collection, the
// bytes held in ArrayBuffers (where a log read whole would be) and the JavaScript heap in use as
// {"arrayBuffers":n,"heapUsed":n}. Run with --expose-gc.
// Blocks are read with plain reads: a mapping of a chunk file counts as an ArrayBuffer too, though it is
// the page cache, shared, and not the log.
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';

// argv[3] 'views': a codec that decodes binary values as views into its input, not copies.
const fs = await MemMapFS.init(process.argv[2]!, { search: flexsearch(), codec: msgpack(process.argv[3] === 'views' ? { copyBinary: false } : {}), reader: 'read' });
fs.stats();
// Collected, and given a moment: V8 frees the memory of collected ArrayBuffers in a task of its own.
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
await new Promise((resolve) => setTimeout(resolve, 200));
gc?.();
const { arrayBuffers, heapUsed } = process.memoryUsage();
process.stdout.write(`${JSON.stringify({ arrayBuffers, heapUsed })}\n`);
await fs.close();
