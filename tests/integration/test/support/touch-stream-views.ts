// Appends a short stream chunk to a new store at ROOT (argv[2]), reads it back through openRead (a view
// into the mapped chunk file), and touches every byte of the view's backing buffer, as structuredClone
// or postMessage would. Prints "ok"; a mapping past the end of the file would end the process with SIGBUS.
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';

const fs = await MemMapFS.init(process.argv[2]!, { search: flexsearch(), codec: msgpack(), reader: 'mmap' });
await fs.appendStream('log', 'eleven byte');
for await (const chunk of fs.openRead('log')) {
  structuredClone(chunk);
  const whole = new Uint8Array(chunk.buffer);
  let sum = 0;
  for (let i = 0; i < whole.length; i += 4096) sum += whole[i]!;
  sum += whole[whole.length - 1]!;
  if (Buffer.from(chunk).toString() !== 'eleven byte') throw new Error('wrong bytes');
}
await fs.close();
process.stdout.write('ok\n');
