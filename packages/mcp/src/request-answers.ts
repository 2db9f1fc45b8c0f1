import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

type RequestId = string | number;

/**
 * Follows the requests `transport` hands to its server and the answers the server sends back, and
 * resolves `answered()` once every request read so far has its answer written (or was cancelled by the
 * client, which gets none). A session whose stdin ends waits for it before it closes: a client that
 * pipes requests and closes stdin gets an answer to each of them (they were carried out either way).
 * Call before the transport is connected: it wraps the handler the server sets and `send`.
 */
export function followRequests(transport: Transport): { answered(): Promise<void> } {
  const unanswered = new Set<RequestId>();
  let waiting: Array<() => void> = [];
  const settle = (id: RequestId | undefined): void => {
    if (id === undefined || !unanswered.delete(id) || unanswered.size > 0) return;
    for (const resolve of waiting) resolve();
    waiting = [];
  };
  let handler: Transport['onmessage'];
  Object.defineProperty(transport, 'onmessage', {
    configurable: true,
    get: () => handler,
    set: (next: Transport['onmessage']) => {
      handler = next && ((message, extra) => {
        const { id, method, params } = message as { id?: RequestId; method?: string; params?: { requestId?: RequestId } };
        if (method !== undefined && id !== undefined) unanswered.add(id);
        next(message, extra);
        // (Cancelled: the server sends nothing for it.)
        if (method === 'notifications/cancelled') settle(params?.requestId);
      });
    },
  });
  const send = transport.send.bind(transport);
  transport.send = async (message: JSONRPCMessage, options) => {
    try {
      await send(message, options);
    } finally {
      const { id, method } = message as { id?: RequestId; method?: string };
      if (method === undefined) settle(id);
    }
  };
  return {
    answered: () => (unanswered.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
  };
}
