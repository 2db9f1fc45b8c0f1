// Appends four small memories (each with its copy in its record) to the store at argv[2], prints their
// ids, and SIGKILLs itself: nothing fsyncs its chunk file, and no checkpoint record covers it.
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';

const fs = await MemMapFS.init(process.argv[2]!, { search: flexsearch(), codec: msgpack() });
const ids: number[] = [];
for (let i = 0; i < 4; i++) ids.push(await fs.appendMemory(`dead owner's memory ${i} ${'d'.repeat(300)}`));
process.stdout.write(`${JSON.stringify(ids)}\n`, () => process.kill(process.pid, 'SIGKILL'));
