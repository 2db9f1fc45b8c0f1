// The quick start: open a store on the embedded defaults (the segments search index, msgpack records),
// remember something, find it again, and record what the agent is doing.
import { MemMapFS } from '@memmapfs/core';

const root = process.argv[2] ?? '.memmap_fs_root';
const fs = await MemMapFS.init(root);

const ids = await fs.appendMemories([
  { text: 'Hello from MemMapFS!', tags: ['demo'] },
  { text: 'The user prefers dark mode and short answers', tags: ['demo', 'preference'] },
  { text: 'The deploy key rotates every ninety days', tags: ['demo', 'ops'] },
]);
console.log(`appended memories #${ids.join(', #')}`);

// Ranked by BM25: a word that every memory holds would weigh (almost) nothing.
const hits = await fs.queryMemory('dark mode', { tags: ['demo'] });
console.log(`query "dark mode" found ${hits.length} memor${hits.length === 1 ? 'y' : 'ies'}:`);
for (const hit of hits.slice(0, 5)) console.log(`  #${hit.id} (score ${hit.score.toFixed(3)}) [${hit.tags.join(', ')}] ${hit.text}`);

await fs.updateState({ status: 'ready', activeMemoryCount: fs.stats().memories, lastUpdatedId: ids.at(-1)!, extra: { demo: true } });
console.log('state:', JSON.stringify(fs.getState()));

const { memories, reader, search, codec, walBytes } = fs.stats();
console.log(`stats: ${memories} memories, reader=${reader}, search=${search}, codec=${codec}, wal=${walBytes} bytes, root=${fs.root}`);
await fs.close();
