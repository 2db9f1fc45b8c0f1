// Run inside a project that installed the packed packages with npm: opens a store with the default
// adapters, appends, queries, reopens and queries again, and prints one JSON line with what it saw,
// the reader in use included.
import { MemMapFS } from '@memmapfs/core';

const root = process.argv[2];
if (!root) throw new Error('usage: node smoke.mjs ROOT');

const first = await MemMapFS.init(root);
const id = await first.appendMemory('The user prefers dark mode', ['preference']);
await first.appendMemory('Meeting notes: ship the packed-install test', ['work']);
const hits = await first.queryMemory('dark mode', { tags: ['preference'] });
const stats = first.stats();
await first.close();

const second = await MemMapFS.init(root);
const reopened = await second.getMemory(id);
const again = await second.queryMemory('meeting');
await second.close();

console.log(JSON.stringify({
  reader: stats.reader,
  search: stats.search,
  codec: stats.codec,
  memories: stats.memories,
  hits: hits.map((hit) => hit.text),
  reopened: reopened?.text,
  again: again.map((hit) => hit.text),
}));
