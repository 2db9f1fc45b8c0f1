// MemMapSaver while another process deletes the thread: a checkpoint is read whole or not at all, and
// one put meanwhile holds every channel value it names, whoever stored them before.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import { emptyCheckpoint, JsonPlusSerializer, uuid6, type SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemMapSaver } from '../src/index.js';
import { openStore, tempFolder } from './support/open-store.js';
import { runScript, scriptArgs } from './support/run-script.js';

const worker = fileURLToPath(new URL('./support/saver-worker.ts', import.meta.url));

/** deleteThread(thread) in another process, run to its end before this returns. */
function deleteThreadElsewhere(root: string, thread: string): void {
  const run = spawnSync(process.execPath, [...scriptArgs(worker), 'delete', root, thread], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`the deleting process failed: ${run.stderr}`);
}

let root: string;
let remove: () => Promise<void>;
beforeEach(async () => {
  ({ root, remove } = await tempFolder('delete-races'));
});
afterEach(() => remove());

const meta = (step: number) => ({ source: 'loop' as const, step, parents: {} });
const threadConfig = (thread: string) => ({ configurable: { thread_id: thread, checkpoint_ns: '' } });

describe('MemMapSaver while another process deletes the thread', { timeout: 90_000 }, () => {
  it('getTuple gives the checkpoint with its channel values, or none, when the delete commits while it decodes the checkpoint', async () => {
    const store = await openStore(root);
    const checkpoint = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: { a: 'A', b: 'B' }, channel_versions: { a: 1.5, b: 1.5 } };
    await new MemMapSaver(store).put(threadConfig('t'), checkpoint, meta(0), { a: 1.5, b: 1.5 });
    const inner = new JsonPlusSerializer();
    let deleted = false;
    const serde: SerializerProtocol = {
      dumpsTyped: (value) => inner.dumpsTyped(value),
      loadsTyped: async (type, data) => {
        if (!deleted) {
          deleted = true;
          deleteThreadElsewhere(root, 't');
        }
        return inner.loadsTyped(type, data);
      },
    };
    const reader = new MemMapSaver(store, { serde });
    expect(await reader.getTuple({ configurable: { thread_id: 't' } })).toBeUndefined();
    expect(deleted).toBe(true);
    await store.close();
  });

  it('getTuple and list called beside deleteThread in one process never give a checkpoint without its channel values', async () => {
    const store = await openStore(root);
    const saver = new MemMapSaver(store);
    const torn: unknown[] = [];
    for (let i = 0; i < 20; i++) {
      const checkpoint = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: { a: 'A', b: 'B' }, channel_versions: { a: 1.5, b: 1.5 } };
      await saver.put(threadConfig(`t${i}`), checkpoint, meta(0), { a: 1.5, b: 1.5 });
      const listing = (async () => {
        const tuples = [];
        for await (const tuple of saver.list({ configurable: { thread_id: `t${i}` } })) tuples.push(tuple);
        return tuples;
      })();
      const [tuple, listed] = await Promise.all([saver.getTuple({ configurable: { thread_id: `t${i}` } }), listing, saver.deleteThread(`t${i}`)]);
      for (const each of [tuple, ...listed]) if (each !== undefined && Object.keys(each.checkpoint.channel_values).length !== 2) torn.push(each.checkpoint.channel_values);
    }
    expect(torn).toEqual([]);
    await store.close();
  });

  it('a put by a saver that only read a value it keeps (another process stored it) holds that value, though a delete removed it since', async () => {
    // Another process put the thread's checkpoint (channels step and writer).
    await runScript(worker, ['put', root, 't', '1', 'w']);
    const store = await openStore(root);
    const saver = new MemMapSaver(store);
    const parent = await saver.getTuple({ configurable: { thread_id: 't' } });
    expect(parent?.checkpoint.channel_values).toEqual({ step: 0, writer: 'w' });
    deleteThreadElsewhere(root, 't');
    // The next step changes `step` only; `writer` keeps its version.
    const next = { ...parent!.checkpoint, id: uuid6(-1), channel_values: { step: 1, writer: 'w' }, channel_versions: { ...parent!.checkpoint.channel_versions, step: 2.5 } };
    const config = await saver.put(parent!.config, next, meta(1), { step: 2.5 });
    expect((await saver.getTuple(config))?.checkpoint.channel_values).toEqual({ step: 1, writer: 'w' });
    await store.close();
  });

  it('a graph interrupted under one saver and resumed under another, the thread deleted while its last node runs, ends with a checkpoint holding every channel', async () => {
    const store = await openStore(root);
    const State = Annotation.Root({ a: Annotation<string>(), b: Annotation<string>() });
    const build = (saver: MemMapSaver) => new StateGraph(State)
      .addNode('first', () => ({ a: 'written by first' }))
      .addNode('second', () => {
        deleteThreadElsewhere(root, 't');
        return { b: 'written by second' };
      })
      .addEdge(START, 'first').addEdge('first', 'second').addEdge('second', END)
      .compile({ checkpointer: saver, interruptBefore: ['second'] });
    const config = { configurable: { thread_id: 't' } };
    await build(new MemMapSaver(store)).invoke({ a: 'input' }, config);
    const resumed = new MemMapSaver(store);
    expect(await build(resumed).invoke(null, config)).toEqual({ a: 'written by first', b: 'written by second' });
    expect((await resumed.getTuple(config))?.checkpoint.channel_values).toMatchObject({ a: 'written by first', b: 'written by second' });
    await store.close();
  });
});
