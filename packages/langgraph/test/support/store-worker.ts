// A child process for MemMapStore's multi-process tests:
//   work ROOT WRITER COUNT   puts COUNT items of its own (['shared', WRITER], key i) and, each time, the
//                            contested key `c<i % 5>` in ['shared', 'contested'] with { writer, i };
//                            deletes its own odd items, searches as it goes; prints what it left and saw.
//   repeat ROOT KEY COUNT    puts ['hot'] KEY COUNT times, { i } each; prints {}.
//   stall ROOT DIR           puts ['user'] 'profile' and stops between its two writes (after the item's
//                            memory, before its pointer): makes DIR/appended, waits for DIR/go; prints
//                            what a get then reads back.
//   kill-delete ROOT         deletes ['only', 'ns'] 'k' and is killed (SIGKILL) at its second write.
//   put ROOT KEY TEXT        puts ['ns'] KEY = { text: TEXT }, prints {}.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemMapStore } from '../../src/index.js';
import { openStore } from './open-store.js';

const [command, root, writer, count] = process.argv.slice(2);
const fs = await openStore(root!);
const store = new MemMapStore(fs);
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

if (command === 'repeat') {
  for (let i = 0; i < Number(count); i++) await store.put(['hot'], writer!, { i });
  print({});
} else if (command === 'stall') {
  const dir = writer!;
  const setKv = fs.setKv.bind(fs);
  fs.setKv = async (key, value, options) => {
    if (key.startsWith('langgraph-store/item/')) {
      writeFileSync(join(dir, 'appended'), '');
      while (!existsSync(join(dir, 'go'))) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return setKv(key, value, options);
  };
  await store.put(['user'], 'profile', { text: 'acknowledged value' });
  print({ readBack: (await store.get(['user'], 'profile'))?.value ?? null });
} else if (command === 'kill-delete') {
  let writes = 0;
  const killAtSecond = <T extends (...args: never[]) => Promise<unknown>>(write: T): T => (async (...args: Parameters<T>) => {
    if (++writes === 2) {
      process.kill(process.pid, 'SIGKILL');
      await new Promise(() => undefined);
    }
    return write(...args);
  }) as T;
  fs.deleteMemory = killAtSecond(fs.deleteMemory.bind(fs));
  fs.deleteKv = killAtSecond(fs.deleteKv.bind(fs));
  await store.delete(['only', 'ns'], 'k');
  throw new Error('the delete ended without its second write');
} else if (command === 'put') {
  await store.put(['ns'], writer!, { text: count! });
  print({});
} else if (command !== 'work') {
  throw new Error(`unknown command ${command}`);
}

const n = command === 'work' ? Number(count) : 0;
let searches = 0;
for (let i = 0; i < n; i++) {
  await Promise.all([
    store.put(['shared', writer!], `item-${i}`, { writer, i, text: `note ${i} from ${writer}` }),
    store.put(['shared', 'contested'], `c${i % 5}`, { writer, i }),
  ]);
  if (i % 2 === 1) await store.delete(['shared', writer!], `item-${i}`);
  if (i % 10 === 9) searches += (await store.search(['shared', writer!], { query: `from ${writer}`, limit: 100 })).length;
}
if (command === 'work') {
  const mine = await store.search(['shared', writer!], { limit: 1000 });
  print({ kept: mine.map((item) => item.key), searches });
}
await fs.close();
