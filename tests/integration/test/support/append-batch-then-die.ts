// Appends to the store at argv[2] (older records sealed behind a checkpoint, then a few single
// appends, then one batch of four), prints the batch's ids once it is acknowledged, and SIGKILLs
// itself: nothing is written after the batch, not even what a close would write.
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';

const fs = await MemMapFS.init(process.argv[2]!, { search: flexsearch(), codec: msgpack(), historyRetentionMs: 0 });
for (let i = 0; i < 4; i++) await fs.appendMemory(`early memory ${i} wren`);
await fs.checkpoint();
for (let i = 0; i < 4; i++) await fs.appendMemory(`late memory ${i} wren`);
const batch = await fs.appendMemories([0, 1, 2, 3].map((i) => ({ text: `batch memory ${i} wren ${'x'.repeat(200)}` })));
process.stdout.write(`${JSON.stringify(batch)}\n`, () => process.kill(process.pid, 'SIGKILL'));
