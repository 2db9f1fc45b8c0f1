// A child process for the store tests of puts, deletes and sweeps racing, its clock moved by an offset:
//   put-get ROOT KEY V OFFSET   with the clock at +OFFSET ms: puts ['ns'] KEY = { v: V } (TTL 1 minute), then
//                               reads it at +OFFSET+30 s (which refreshes its expiry); prints {"got":…}.
//   get ROOT KEY OFFSET         with the clock at +OFFSET ms: reads ['ns'] KEY (which refreshes its expiry);
//                               prints {"got":…}.
//   get-put-get ROOT KEY V      reads ['ns'] KEY, puts { v: V }, reads it again; prints {"before":…,"after":…}.
//   get-delete-get ROOT KEY     reads ['ns'] KEY, deletes it, reads it again; prints {"before":…,"after":…}.
//   delete-paused ROOT KEY      at a first line on stdin: reads ['ns'] KEY (prints {"before":…}), deletes it,
//                               and after the delete's first write (of its memory or its pointer) prints
//                               "paused" and waits for a second line; then reads again (prints {"after":…}).
import { createInterface } from 'node:readline';
import { MemMapStore } from '../../src/index.js';
import { openStore } from './open-store.js';

const [command, root, key, v, offset] = process.argv.slice(2);
const realNow = Date.now.bind(Date);
let shift = 0;
Date.now = () => realNow() + shift;
const fs = await openStore(root!);
const store = new MemMapStore(fs, { ttl: { defaultTtl: 1, refreshOnRead: true } });
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const read = async () => (await store.get(['ns'], key!))?.value ?? null;

if (command === 'put-get') {
  shift = Number(offset);
  await store.put(['ns'], key!, { v: Number(v) });
  shift += 30_000;
  print({ got: await read() });
} else if (command === 'get') {
  shift = Number(v);
  print({ got: await read() });
} else if (command === 'get-put-get') {
  const before = await read();
  await store.put(['ns'], key!, { v: Number(v) });
  print({ before, after: await read() });
} else if (command === 'delete-paused') {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  await lines.next();
  print({ before: await read() });
  let writes = 0;
  const pausing = <A extends unknown[], R>(write: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    const result = await write(...args);
    if (writes++ === 0) {
      print('paused');
      await lines.next();
    }
    return result;
  };
  fs.deleteMemory = pausing(fs.deleteMemory.bind(fs));
  fs.deleteKv = pausing(fs.deleteKv.bind(fs)) as typeof fs.deleteKv;
  await store.delete(['ns'], key!);
  print({ after: await read() });
} else if (command === 'get-delete-get') {
  const before = await read();
  await store.delete(['ns'], key!);
  print({ before, after: await read() });
} else {
  throw new Error(`unknown command ${command}`);
}
await fs.close();
