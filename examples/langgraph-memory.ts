// A LangGraph graph that remembers, across runs and across processes, with no server and no LLM: its
// conversation threads are checkpointed by MemMapSaver and what the user tells it is kept in a
// MemMapStore, both in one folder. This process talks on thread "ada"; a second process it starts
// continues that thread, then both remember things at the same time. Run it twice: the second run
// starts from everything the first one left.
//
// Run: sh scripts/pnpm.sh --filter @memmapfs/examples langgraph-memory [folder]
import { fork } from 'node:child_process';
import { Annotation, END, START, StateGraph, type LangGraphRunnableConfig } from '@langchain/langgraph';
import { MemMapFS } from '@memmapfs/core';
import { MemMapSaver, MemMapStore } from '@memmapfs/langgraph';

const [role, root = '.memmap_fs_root'] = process.argv[2] === 'second-process' ? ['second-process', process.argv[3]] : ['first-process', process.argv[2]];

const Chat = Annotation.Root({
  user: Annotation<string>,
  turns: Annotation<string[]>({ reducer: (left, right) => left.concat(right), default: () => [] }),
});

/** The assistant: a deterministic node that keeps facts in the store and reads the thread's turns. */
async function assistant(state: typeof Chat.State, config: LangGraphRunnableConfig): Promise<Partial<typeof Chat.State>> {
  const store = config.store!;
  const facts = ['users', state.user, 'facts'];
  const said = state.turns.at(-1)!.replace(/^user: /, '');
  let reply: string;
  const remember = /^remember (.+)$/i.exec(said);
  const recall = /^recall (.+)$/i.exec(said);
  if (remember) {
    const fact = remember[1]!;
    // One item per fact: telling it again replaces it instead of adding a copy.
    await store.put(facts, fact.toLowerCase().replace(/[^a-z0-9]+/g, '-'), { text: fact, toldIn: role });
    reply = `Noted: ${fact}.`;
  } else if (recall) {
    const hits = await store.search(facts, { query: recall[1]! });
    reply = hits.length === 0 ? 'Nothing comes to mind.' : hits.map((hit) => hit.value.text).join('; ');
  } else if (/what do you know/i.test(said)) {
    const items = await store.search(facts, { limit: 100 });
    const texts = items.map((item) => String(item.value.text)).sort();
    reply = texts.length === 0 ? 'I know nothing about you yet.' : `I know ${texts.length} things: ${texts.join('; ')}.`;
  } else if (/what did i just tell you/i.test(said)) {
    const before = state.turns.slice(0, -1).findLast((turn) => turn.startsWith('user: '));
    reply = before === undefined ? 'Nothing yet.' : `You said: "${before.slice('user: '.length)}".`;
  } else {
    reply = 'Tell me "remember …", "recall …", or ask what I know.';
  }
  return { turns: [`assistant: ${reply}`] };
}

const fs = await MemMapFS.init(root);
const graph = new StateGraph(Chat)
  .addNode('assistant', assistant)
  .addEdge(START, 'assistant')
  .addEdge('assistant', END)
  .compile({ checkpointer: new MemMapSaver(fs), store: new MemMapStore(fs) });

async function say(thread: string, message: string): Promise<void> {
  const { turns } = await graph.invoke({ user: 'ada', turns: [`user: ${message}`] }, { configurable: { thread_id: thread } });
  console.log(`[${role} ${process.pid}] ${thread}: ${message} -> ${turns.at(-1)!.replace(/^assistant: /, '')}`);
}

if (role === 'second-process') {
  // Continues the thread the first process started: its checkpoints are in the folder.
  await say('ada', 'what did I just tell you?');
  process.send!('thread handed back');
  // Then remembers something while the first process does too.
  await say('ada-on-phone', 'remember my cat is called Miso');
} else {
  await say('ada', 'what do you know about me?');
  await say('ada', 'remember I drink green tea');
  const second = fork(new URL(import.meta.url).pathname, ['second-process', root], { execArgv: process.execArgv });
  const exited = new Promise<number | null>((resolve) => second.on('exit', resolve));
  await new Promise((resolve) => second.once('message', resolve));
  await say('ada', 'remember I live in Lisbon');
  if ((await exited) !== 0) throw new Error('the second process failed');
  await say('ada', 'what do you know about me?');
  await say('ada', 'recall cat');
  const { values } = await graph.getState({ configurable: { thread_id: 'ada' } });
  console.log(`Thread "ada" has ${values.turns.length} turns, kept in ${fs.root} with the facts; run again to continue.`);
}
await fs.close();
