import { Annotation, Command, END, START, StateGraph, interrupt } from '@langchain/langgraph';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemMapSaver } from '../src/index.js';
import { openStore, tempFolder } from './support/open-store.js';

const Conversation = Annotation.Root({
  turns: Annotation<string[]>({ reducer: (left, right) => left.concat(right), default: () => [] }),
  replies: Annotation<number>({ reducer: (left, right) => left + right, default: () => 0 }),
});

/** A graph of one node that answers each turn, with the saver as its checkpointer. */
function conversation(saver: MemMapSaver) {
  return new StateGraph(Conversation)
    .addNode('reply', (state) => ({ turns: [`reply to ${state.turns.at(-1)}`], replies: 1 }))
    .addEdge(START, 'reply')
    .addEdge('reply', END)
    .compile({ checkpointer: saver });
}

let root: string;
let remove: () => Promise<void>;
beforeEach(async () => {
  ({ root, remove } = await tempFolder('graph'));
});
afterEach(() => remove());

describe('a compiled StateGraph with MemMapSaver', () => {
  it('keeps a thread state across invocations and across a close and reopen of the store', async () => {
    const store = await openStore(root);
    const graph = conversation(new MemMapSaver(store));
    const thread = { configurable: { thread_id: 'conversation-1' } };
    await graph.invoke({ turns: ['hello'] }, thread);
    const second = await graph.invoke({ turns: ['how are you'] }, thread);
    expect(second).toEqual({ turns: ['hello', 'reply to hello', 'how are you', 'reply to how are you'], replies: 2 });
    expect((await graph.invoke({ turns: ['other thread'] }, { configurable: { thread_id: 'conversation-2' } })).replies).toBe(1);
    await store.close();

    const reopened = await openStore(root);
    const again = conversation(new MemMapSaver(reopened));
    expect((await again.getState(thread)).values).toEqual(second);
    const history = [];
    for await (const snapshot of again.getStateHistory(thread)) history.push(snapshot);
    // Newest first; per invocation: the input, the input applied, the node's reply.
    expect(history.map((snapshot) => [snapshot.metadata?.source, snapshot.metadata?.step])).toEqual([['loop', 4], ['loop', 3], ['input', 2], ['loop', 1], ['loop', 0], ['input', -1]]);
    expect(history.at(-1)?.values).toEqual({ turns: [], replies: 0 });
    const third = await again.invoke({ turns: ['still there?'] }, thread);
    expect(third.turns).toHaveLength(6);
    expect(third.replies).toBe(3);
    await reopened.close();
  });

  it('resumes an interrupted run after the store was closed and opened again', async () => {
    const Approval = Annotation.Root({ request: Annotation<string>, decision: Annotation<string> });
    const build = (saver: MemMapSaver) => new StateGraph(Approval)
      .addNode('ask', (state) => ({ decision: interrupt<string, string>(`approve ${state.request}?`) }))
      .addEdge(START, 'ask')
      .addEdge('ask', END)
      .compile({ checkpointer: saver });
    const thread = { configurable: { thread_id: 'approval-1' } };

    const store = await openStore(root);
    const paused = await build(new MemMapSaver(store)).invoke({ request: 'deploy' }, thread);
    expect(paused).toMatchObject({ __interrupt__: [{ value: 'approve deploy?' }] });
    await store.close();

    const reopened = await openStore(root);
    const graph = build(new MemMapSaver(reopened));
    expect((await graph.getState(thread)).tasks[0]?.interrupts[0]?.value).toBe('approve deploy?');
    expect(await graph.invoke(new Command({ resume: 'yes' }), thread)).toEqual({ request: 'deploy', decision: 'yes' });
    await reopened.close();
  });

  it('keeps the checkpoints of a subgraph in its own namespace and resumes an interrupt inside it', async () => {
    const Verdict = Annotation.Root({ verdict: Annotation<string> });
    const Outer = Annotation.Root({ log: Annotation<string[]>({ reducer: (left, right) => left.concat(right), default: () => [] }), verdict: Annotation<string> });
    const inner = new StateGraph(Verdict)
      .addNode('check', () => ({ verdict: `inner got ${interrupt<string, string>('check?')}` }))
      .addEdge(START, 'check')
      .addEdge('check', END)
      .compile();
    const build = (saver: MemMapSaver) => new StateGraph(Outer)
      .addNode('before', () => ({ log: ['outer before'] }))
      .addNode('inner', inner)
      .addEdge(START, 'before')
      .addEdge('before', 'inner')
      .addEdge('inner', END)
      .compile({ checkpointer: saver });
    const thread = { configurable: { thread_id: 'nested-1' } };

    const store = await openStore(root);
    await build(new MemMapSaver(store)).invoke({ log: ['start'] }, thread);
    const namespaces = new Set(store.listKv({ prefix: 'langgraph/checkpoint/nested-1/' }).map((key) => decodeURIComponent(key.split('/')[3]!)));
    expect([...namespaces].sort()).toEqual(['', expect.stringMatching(/^inner:/)]);
    await store.close();

    const reopened = await openStore(root);
    const graph = build(new MemMapSaver(reopened));
    const state = await graph.getState(thread, { subgraphs: true });
    expect(state.values).toEqual({ log: ['start', 'outer before'] });
    expect(state.tasks[0]?.state).toMatchObject({ tasks: [{ name: 'check', interrupts: [{ value: 'check?' }] }] });
    expect(await graph.invoke(new Command({ resume: 'ok' }), thread)).toEqual({ log: ['start', 'outer before'], verdict: 'inner got ok' });
    await reopened.close();
  });

  it('keeps every branch of a thread whole: a replay or a fork from an earlier checkpoint changes none of the checkpoints saved before', async () => {
    const Trail = Annotation.Root({ v: Annotation<string>({ reducer: (_, right) => right, default: () => '' }) });
    const store = await openStore(root);
    let calls = 0;
    const graph = new StateGraph(Trail)
      .addNode('a', (state) => ({ v: `${state.v}>a#${++calls}` }))
      .addNode('b', (state) => ({ v: `${state.v}>b#${++calls}` }))
      .addEdge(START, 'a')
      .addEdge('a', 'b')
      .addEdge('b', END)
      .compile({ checkpointer: new MemMapSaver(store) });
    const thread = { configurable: { thread_id: 'branches' } };
    await graph.invoke({ v: 'in' }, thread);
    const history = [];
    for await (const snapshot of graph.getStateHistory(thread)) history.push(snapshot);
    const firstEnd = history[0]!;
    const beforeB = history.find((snapshot) => snapshot.next[0] === 'b')!;
    expect(firstEnd.values.v).toBe('in>a#1>b#2');
    // Replayed from before b: b runs again, with another value.
    await graph.invoke(null, beforeB.config);
    expect((await graph.getState(thread)).values.v).toBe('in>a#1>b#3');
    // Forked from before b with another value.
    const forked = await graph.updateState(beforeB.config, { v: 'forked' });
    expect((await graph.getState(forked)).values.v).toBe('forked');
    expect((await graph.getState(firstEnd.config)).values.v).toBe('in>a#1>b#2');
    expect((await graph.getState(beforeB.config)).values.v).toBe('in>a#1');
    await store.close();
  });
});
