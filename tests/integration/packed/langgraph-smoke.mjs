// Run inside a project that installed @memmapfs/langgraph with core and LangGraph with npm: a graph
// with a MemMapSaver invoked twice on one thread, then again on the reopened store, and a MemMapStore
// put, get and searched; prints one JSON line with what it saw.
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import { MemMapFS } from '@memmapfs/core';
import { MemMapSaver, MemMapStore } from '@memmapfs/langgraph';

const root = process.argv[2];
if (!root) throw new Error('usage: node langgraph-smoke.mjs ROOT');

const State = Annotation.Root({
  turns: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
});
const compile = (fs) => new StateGraph(State)
  .addNode('reply', (state) => ({ turns: [`reply to ${state.turns.at(-1)}`] }))
  .addEdge(START, 'reply')
  .addEdge('reply', END)
  .compile({ checkpointer: new MemMapSaver(fs) });
const thread = { configurable: { thread_id: 'conversation-1' } };
const namespace = ['user-42', 'memories'];

const fs = await MemMapFS.init(root);
const graph = compile(fs);
const first = await graph.invoke({ turns: ['hello'] }, thread);
const second = await graph.invoke({ turns: ['and again'] }, thread);
const items = new MemMapStore(fs);
await items.put(namespace, 'tea', { text: 'drinks green tea', kind: 'preference' });
await items.put(namespace, 'editor', { text: 'writes code in vim', kind: 'tool' });
const got = await items.get(namespace, 'tea');
const found = await items.search(['user-42'], { query: 'tea', filter: { kind: 'preference' }, limit: 5 });
await fs.close();

const reopened = await MemMapFS.init(root);
const third = await compile(reopened).invoke({ turns: ['after reopening'] }, thread);
const kept = await new MemMapStore(reopened).get(namespace, 'editor');
await reopened.close();

console.log(JSON.stringify({
  first: first.turns,
  second: second.turns,
  third: third.turns,
  got: got?.value,
  found: found.map((item) => ({ key: item.key, namespace: item.namespace, value: item.value })),
  kept: kept?.value,
}));
