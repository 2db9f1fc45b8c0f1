import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emptyCheckpoint, uuid6, type CheckpointTuple } from '@langchain/langgraph-checkpoint';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemMapSaver, type CheckpointStore } from '../src/index.js';
import { openStore, tempFolder } from './support/open-store.js';
import { runScript, scriptArgs } from './support/run-script.js';

const worker = fileURLToPath(new URL('./support/saver-worker.ts', import.meta.url));

/** Runs the worker to its end and returns the JSON line it printed. */
async function runWorker(...args: string[]): Promise<unknown> {
  return JSON.parse(await runScript(worker, args));
}

let root: string;
let remove: () => Promise<void>;
beforeEach(async () => {
  ({ root, remove } = await tempFolder('processes'));
});
afterEach(() => remove());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const result: T[] = [];
  for await (const item of items) result.push(item);
  return result;
}

// Each worker is a new Node process that loads LangGraph: seconds each on a busy machine.
describe('a store folder shared by processes', { timeout: 90_000 }, () => {
  it('a checkpoint another process put is read by a saver opened before it, with its values, parent and writes', async () => {
    const store = await openStore(root);
    const saver = new MemMapSaver(store);
    expect(await saver.getTuple({ configurable: { thread_id: 'shared' } })).toBeUndefined();

    const { ids } = (await runWorker('put', root, 'shared', '3', 'child')) as { ids: string[] };
    const latest = await saver.getTuple({ configurable: { thread_id: 'shared' } });
    expect(latest?.checkpoint.id).toBe(ids[2]);
    expect(latest?.checkpoint.channel_values).toEqual({ step: 2, writer: 'child' });
    expect(latest?.metadata).toMatchObject({ writer: 'child', step: 2 });
    expect(latest?.parentConfig?.configurable?.checkpoint_id).toBe(ids[1]);
    expect(latest?.pendingWrites).toEqual([['task-child-2', 'step', 3]]);
    expect((await all(saver.list({ configurable: { thread_id: 'shared' } }))).map((t) => t.checkpoint.id)).toEqual([...ids].reverse());

    // And the other way round: what this process puts, a new process reads.
    const config = await saver.put(latest!.config, { ...emptyCheckpoint(), id: uuid6(-1), channel_values: { step: 3 }, channel_versions: { step: 'parent.3', writer: 'child' } }, { source: 'loop', step: 3, parents: {} }, { step: 'parent.3' });
    await saver.putWrites(config, [['step', 4]], 'task-parent');
    expect(await runWorker('read', root, 'shared')).toEqual({
      id: config.configurable?.checkpoint_id,
      parentId: ids[2],
      values: { step: 3, writer: 'child' },
      writes: [['task-parent', 'step', 4]],
      count: 4,
    });
    await store.close();

    // Closed and opened again: everything is still there.
    const reopened = await openStore(root);
    const again = new MemMapSaver(reopened);
    const tuples = await all(again.list({ configurable: { thread_id: 'shared' } }));
    expect(tuples.map((t) => t.checkpoint.id)).toEqual([config.configurable?.checkpoint_id, ...[...ids].reverse()]);
    expect(tuples[0]?.checkpoint.channel_values).toEqual({ step: 3, writer: 'child' });
    expect(tuples[0]?.pendingWrites).toEqual([['task-parent', 'step', 4]]);
    await reopened.close();
  });

  it('deleteThread racing another process\'s put leaves its checkpoint gone or whole, never without its channel values', async () => {
    const store = await openStore(root);
    const first = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: { step: 0 }, channel_versions: { step: 1 } };
    await new MemMapSaver(store).put({ configurable: { thread_id: 't', checkpoint_ns: '' } }, first, { source: 'loop', step: 0, parents: {} }, { step: 1 });
    // Another process puts a checkpoint on the thread while deleteThread is under way: as it looks at
    // the thread's keys (after its first look), or as it deletes them. (Run to its end right there.)
    let looks = 0;
    let raced = false;
    const race = () => {
      if (raced) return;
      raced = true;
      const run = spawnSync(process.execPath, [...scriptArgs(worker), 'put', root, 't', '1', 'child'], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`the worker failed: ${run.stderr}`);
    };
    const racing: CheckpointStore = {
      root: store.root,
      getKv: (key) => store.getKv(key),
      setKvs: (entries, options) => store.setKvs(entries, options),
      deleteKv: (key) => store.deleteKv(key),
      catchUp: () => store.catchUp(),
      listKv: (options) => {
        if (++looks === 2) race();
        return store.listKv(options);
      },
      deleteKvs: (keys) => {
        race();
        return store.deleteKvs(keys);
      },
    };
    await new MemMapSaver(racing).deleteThread('t');
    expect(raced).toBe(true);
    const left = await new MemMapSaver(store).getTuple({ configurable: { thread_id: 't' } });
    if (left !== undefined) {
      expect(left.checkpoint.channel_values).toEqual({ step: 0, writer: 'child' });
      expect(left.pendingWrites).toEqual([['task-child-0', 'step', 1]]);
    }
    await store.close();
  });

  it('deleteThread while another process runs a graph on the thread: the checkpoints the run puts after it hold every channel value', async () => {
    const store = await openStore(root);
    const gate = await mkdtemp(join(tmpdir(), 'memmapfs-langgraph-gate-'));
    try {
      const run = runWorker('graph', root, 't', gate);
      // The run is in its second node: its checkpoints so far hold channel a.
      for (const deadline = Date.now() + 60_000; !existsSync(join(gate, 'waiting')); await sleep(20)) {
        if (Date.now() > deadline) throw new Error('the graph did not reach its second node');
      }
      const saver = new MemMapSaver(store);
      await saver.deleteThread('t');
      writeFileSync(join(gate, 'go'), '');
      expect(await run).toEqual({ a: 'written by first', b: 'written by second' });
      // The run's next checkpoint names a's value, which the delete removed: it is written again with it.
      const tuple = await saver.getTuple({ configurable: { thread_id: 't' } });
      expect(tuple?.checkpoint.channel_values).toMatchObject({ a: 'written by first', b: 'written by second' });
    } finally {
      await store.close();
      await rm(gate, { recursive: true, force: true });
    }
  });

  it('keeps every checkpoint when two processes put checkpoints on one thread at the same time', async () => {
    const store = await openStore(root);
    const saver = new MemMapSaver(store);
    const [a, b] = (await Promise.all([runWorker('put', root, 'busy', '40', 'a'), runWorker('put', root, 'busy', '40', 'b')])) as Array<{ ids: string[] }>;
    const listed: CheckpointTuple[] = await all(saver.list({ configurable: { thread_id: 'busy', checkpoint_ns: '' } }));
    expect(listed.map((t) => t.checkpoint.id).sort()).toEqual([...a!.ids, ...b!.ids].sort());
    // Newest first.
    const listedIds = listed.map((t) => t.checkpoint.id);
    expect(listedIds).toEqual([...listedIds].sort().reverse());
    for (const tuple of listed) {
      const writer = tuple.metadata?.['writer' as keyof typeof tuple.metadata];
      expect(tuple.checkpoint.channel_values).toEqual({ step: tuple.metadata?.step, writer });
      expect(tuple.pendingWrites).toEqual([[`task-${writer}-${tuple.metadata?.step}`, 'step', tuple.metadata!.step + 1]]);
    }
    expect(await all(saver.list({ configurable: { thread_id: 'busy' } }, { filter: { writer: 'a' } }))).toHaveLength(40);
    await store.close();
  });
});
