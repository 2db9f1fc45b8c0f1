import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError, SubscribeRequestSchema, UnsubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { MemMapFS } from '@memmapfs/core';
import { toJsonObject } from './json-value.js';

/** The URI of the agent state resource. */
export const stateResourceUri = 'memmapfs://state';

/** The state resource of one server. */
export interface StateResource {
  /** Stops telling the client of changes. */
  close(): void;
}

/**
 * Registers the agent state as the resource `memmapfs://state` (JSON), and lets the client subscribe
 * to it: while subscribed, each new state, whichever process wrote it, is announced with
 * `notifications/resources/updated`, and the client reads the resource for it. Call before `connect`.
 */
export function registerStateResource(server: McpServer, store: MemMapFS): StateResource {
  server.registerResource('agent-state', stateResourceUri, {
    title: 'Agent state',
    description: 'The agent state shared by every agent using this store: status, activeMemoryCount, lastUpdatedId, extra and any fields of your own. Subscribe to hear of each change, from any process.',
    mimeType: 'application/json',
  }, async (uri) => {
    await store.catchUp();
    return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(toJsonObject(store.getState())) }] };
  });

  let unsubscribe: (() => void) | undefined;
  const announce = (): void => {
    server.server.sendResourceUpdated({ uri: stateResourceUri }).catch((error: unknown) => {
      process.stderr.write(`memmapfs-mcp: could not announce a state change: ${error instanceof Error ? error.message : String(error)}\n`);
    });
  };
  const checkUri = (uri: string): void => {
    if (uri !== stateResourceUri) throw new McpError(ErrorCode.InvalidParams, `No resource ${JSON.stringify(uri)} to subscribe to; the one resource is ${stateResourceUri}.`);
  };

  server.server.registerCapabilities({ resources: { subscribe: true } });
  server.server.setRequestHandler(SubscribeRequestSchema, (request) => {
    checkUri(request.params.uri);
    unsubscribe ??= store.subscribeState(announce);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    checkUri(request.params.uri);
    unsubscribe?.();
    unsubscribe = undefined;
    return {};
  });
  return {
    close() {
      unsubscribe?.();
      unsubscribe = undefined;
    },
  };
}
