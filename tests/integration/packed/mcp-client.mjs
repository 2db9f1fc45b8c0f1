// Run inside a project that installed @memmapfs/mcp (with core and the MCP SDK) with npm: starts the
// server's bin over stdio with the SDK's client, lists the tools, remembers and recalls a memory, then
// starts the bin again on the same folder and recalls it there, then serves the store from code
// (`createMcpServer`, as the README shows) to an in-memory client; prints one JSON line with what it saw.
import { MemMapFS } from '@memmapfs/core';
import { createMcpServer } from '@memmapfs/mcp';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';

const [bin, root] = process.argv.slice(2);
if (!bin || !root) throw new Error('usage: node mcp-client.mjs BIN ROOT');

/** One session over `transport`; the client is closed after `use`. */
async function session(transport, use) {
  const client = new Client({ name: 'packed-install-test', version: '1.0.0' });
  await client.connect(transport);
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

/** A tool call's structured result; a call that failed throws with its text, which the test then shows. */
function structured(result) {
  if (result.isError) throw new Error(`tool call failed: ${JSON.stringify(result.content)}`);
  return result.structuredContent;
}

/** A server process of its own; `stderr: 'inherit'` shows the server's log lines after ours. */
const serverProcess = () => new StdioClientTransport({ command: bin, args: ['--root', root], stderr: 'inherit' });

const first = await session(serverProcess(), async (client) => {
  const { tools } = await client.listTools();
  const { id } = structured(await client.callTool({ name: 'remember', arguments: { text: 'The user prefers dark mode', tags: ['preference'] } }));
  structured(await client.callTool({ name: 'remember', arguments: { text: 'Meeting notes: ship the packed-install test', tags: ['work'] } }));
  const { hits } = structured(await client.callTool({ name: 'recall', arguments: { query: 'dark mode', tags: ['preference'] } }));
  return { server: client.getServerVersion(), tools: tools.map((tool) => tool.name).sort(), id, hits: hits.map((hit) => hit.text) };
});

const second = await session(serverProcess(), async (client) => {
  const { hits } = structured(await client.callTool({ name: 'recall', arguments: { query: 'meeting' } }));
  const { found, memory } = structured(await client.callTool({ name: 'get_memory', arguments: { id: first.id } }));
  return { again: hits.map((hit) => hit.text), reopened: found ? memory.text : null };
});

const store = await MemMapFS.init(root);
const inProcess = createMcpServer(store);
const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
await inProcess.server.connect(serverSide);
const fromCode = await session(clientSide, async (client) => {
  const { hits } = structured(await client.callTool({ name: 'recall', arguments: { query: 'dark mode' } }));
  return hits.map((hit) => hit.text);
});
await inProcess.close();
await store.close();

console.log(JSON.stringify({ ...first, ...second, fromCode }));
