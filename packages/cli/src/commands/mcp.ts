import type { StoreCommand } from '../command.js';
import { importModule } from '../import-module.js';

/**
 * `memmapfs mcp`: serves the store to one MCP client over stdio (the protocol on stdin and stdout),
 * until stdin ends, stdout closes, or Ctrl-C / SIGTERM; then the store is closed and the exit code is 0.
 * It creates the store when there is none, as an MCP client's configuration is often the first to name it.
 */
export const mcpCommand: StoreCommand = {
  path: ['mcp'],
  summary: 'Serve the store to an MCP client over stdio until stdin ends or Ctrl-C; creates the store if there is none',
  arguments: [],
  options: {},
  examples: [
    'memmapfs mcp --root ~/.agent-memory',
  ],
  store: 'create',
  prepare: () => async (store, output, { root, signal }) => {
    // The process's stdin and stdout carry the protocol: nothing else is written to stdout.
    output.note([`memmapfs mcp: serving the store at ${root} over stdio`]);
    // Imported here: the server and its SDK take longer to load than any other command needs.
    const { serveStdio } = await importModule<typeof import('@memmapfs/mcp')>('@memmapfs/mcp');
    await serveStdio(store, { signal });
  },
};
