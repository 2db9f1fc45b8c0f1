// A child process for the multi-process tests, driven by its arguments:
//   put ROOT THREAD COUNT WRITER  puts COUNT checkpoints in a chain on THREAD (metadata { writer: WRITER },
//                                 channel `step` = i, one pending write each), prints {"ids":[…]}.
//   read ROOT THREAD              prints the latest checkpoint of THREAD: {"id","parentId","values","writes","count"}
//                                 (null when there is none).
import { emptyCheckpoint, uuid6 } from '@langchain/langgraph-checkpoint';
import { MemMapSaver } from '../../src/index.js';
import { openStore } from './open-store.js';

const [command, root, thread, ...rest] = process.argv.slice(2);
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const store = await openStore(root!);
const saver = new MemMapSaver(store);

if (command === 'put') {
  const [count, writer] = [Number(rest[0]), rest[1]!];
  const ids: string[] = [];
  let config = { configurable: { thread_id: thread!, checkpoint_ns: '' } } as { configurable: Record<string, string> };
  for (let i = 0; i < count; i++) {
    const checkpoint = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: { step: i, writer }, channel_versions: { step: `${writer}.${i}`, writer } };
    config = (await saver.put(config, checkpoint, { source: 'loop', step: i, parents: {}, writer } as never, { step: `${writer}.${i}`, writer })) as typeof config;
    await saver.putWrites(config, [['step', i + 1]], `task-${writer}-${i}`);
    ids.push(checkpoint.id);
  }
  print({ ids });
} else if (command === 'read') {
  const tuple = await saver.getTuple({ configurable: { thread_id: thread! } });
  let count = 0;
  for await (const _ of saver.list({ configurable: { thread_id: thread! } })) count++;
  print(tuple === undefined ? null : {
    id: tuple.checkpoint.id,
    parentId: tuple.parentConfig?.configurable?.checkpoint_id ?? null,
    values: tuple.checkpoint.channel_values,
    writes: tuple.pendingWrites,
    count,
  });
} else {
  throw new Error(`unknown command ${command}`);
}
await store.close();
