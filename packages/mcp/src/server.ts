import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { MemMapFS } from '@memmapfs/core';
import { maxToolInputElements } from './limits.js';
import { registerStateResource } from './state-resource.js';
import { registerKvTools } from './tools/kv-tools.js';
import { registerMemoryTools } from './tools/memory-tools.js';
import { registerStateTools } from './tools/state-tools.js';
import { mcpVersion } from './version.js';

/** An MCP server over one open store, not yet connected to a transport. */
export interface MemMapMcpServer {
  /** The SDK's server: `connect` it to a transport. */
  readonly server: McpServer;
  /** Stops announcing state changes and closes the connection. The store stays open: it is the caller's. */
  close(): Promise<void>;
}

const instructions = `MemMapFS: memory that lasts across sessions and is shared by every agent and process using the same store folder.
- remember stores a fact, preference, decision or note; recall searches them (full text, best first); get_memory, update_memory, forget and list_memories work on them by id.
- get_state / update_state read and change one shared agent state (also the resource memmapfs://state, which can be subscribed to).
- kv_get / kv_set / kv_delete keep JSON values under keys; kv_list pages through the keys.
Results come a page at a time: pass nextCursor back as cursor, with the other arguments unchanged, for the next page.`;

/**
 * Creates an MCP server over `store` with the tools `remember`, `recall`, `get_memory`,
 * `update_memory`, `forget`, `list_memories`, `get_state`, `update_state`, `kv_get`, `kv_set`,
 * `kv_delete` and `kv_list`, and the subscribable resource `memmapfs://state`. Connect it to any transport;
 * `serveStdio` does so over stdin and stdout.
 *
 * @example
 * const store = await MemMapFS.init(root);
 * const { server } = createMcpServer(store);
 * await server.connect(transport);
 */
export function createMcpServer(store: MemMapFS): MemMapMcpServer {
  const server = new McpServer({ name: 'memmapfs', title: 'MemMapFS', version: mcpVersion }, { instructions, maxToolInputElements });
  registerMemoryTools(server, store);
  registerStateTools(server, store);
  registerKvTools(server, store);
  const state = registerStateResource(server, store);
  return {
    server,
    async close() {
      state.close();
      await server.close();
    },
  };
}
