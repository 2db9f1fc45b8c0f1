// A child process for MemMapStore's multi-process tests:
//   work ROOT WRITER COUNT   puts COUNT items of its own (['shared', WRITER], key i) and, each time, the
//                            contested key `c<i % 5>` in ['shared', 'contested'] with { writer, i };
//                            deletes its own odd items, searches as it goes; prints what it left and saw.
import { MemMapStore } from '../../src/index.js';
import { openStore } from './open-store.js';

const [command, root, writer, count] = process.argv.slice(2);
if (command !== 'work') throw new Error(`unknown command ${command}`);
const fs = await openStore(root!);
const store = new MemMapStore(fs);
const n = Number(count);
let searches = 0;
for (let i = 0; i < n; i++) {
  await Promise.all([
    store.put(['shared', writer!], `item-${i}`, { writer, i, text: `note ${i} from ${writer}` }),
    store.put(['shared', 'contested'], `c${i % 5}`, { writer, i }),
  ]);
  if (i % 2 === 1) await store.delete(['shared', writer!], `item-${i}`);
  if (i % 10 === 9) searches += (await store.search(['shared', writer!], { query: `from ${writer}`, limit: 100 })).length;
}
const mine = await store.search(['shared', writer!], { limit: 1000 });
process.stdout.write(`${JSON.stringify({ kept: mine.map((item) => item.key), searches })}\n`);
await fs.close();
