// A child process for the multi-process tests, driven by its arguments:
//   put ROOT THREAD COUNT WRITER  puts COUNT checkpoints in a chain on THREAD (metadata { writer: WRITER },
//                                 channel `step` = i, one pending write each), prints {"ids":[…]}.
//   read ROOT THREAD              prints the latest checkpoint of THREAD: {"id","parentId","values","writes","count"}
//                                 (null when there is none).
//   graph ROOT THREAD DIR         runs a graph of two nodes on THREAD: `first` sets channel a, `second` makes the
//                                 file DIR/waiting, waits for DIR/go, and sets b; prints the graph's output.
//   delete ROOT THREAD            deletes THREAD (deleteThread), prints {}.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
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
} else if (command === 'graph') {
  const dir = rest[0]!;
  const State = Annotation.Root({ a: Annotation<string>(), b: Annotation<string>() });
  const graph = new StateGraph(State)
    .addNode('first', () => ({ a: 'written by first' }))
    .addNode('second', async () => {
      writeFileSync(join(dir, 'waiting'), '');
      while (!existsSync(join(dir, 'go'))) await new Promise((resolve) => setTimeout(resolve, 20));
      return { b: 'written by second' };
    })
    .addEdge(START, 'first')
    .addEdge('first', 'second')
    .addEdge('second', END)
    .compile({ checkpointer: saver });
  print(await graph.invoke({ a: 'input' }, { configurable: { thread_id: thread! } }));
} else if (command === 'delete') {
  await saver.deleteThread(thread!);
  print({});
} else {
  throw new Error(`unknown command ${command}`);
}
await store.close();
