import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { MemMapFS } from '@memmapfs/core';
import { z } from 'zod';
import { toJsonValue } from '../json-value.js';
import { decodeCursor, encodeCursor } from '../page-cursor.js';
import { runTool } from '../tool-errors.js';
import { checkToolValue, inputFields, jsonValue, toolInput } from './fields.js';
import { pageLimits } from '../limits.js';

/** Registers `kv_get`, `kv_set`, `kv_delete` and `kv_list`: the store's key-value table, shared by every process. */
export function registerKvTools(server: McpServer, store: MemMapFS): void {
  server.registerTool('kv_get', {
    title: 'Get a KV value',
    description: 'Read the value of a key in the shared key-value store. found is false when the key is not set.',
    inputSchema: toolInput({ key: inputFields.key }),
    outputSchema: { key: z.string(), found: z.boolean(), value: z.unknown().optional() },
    annotations: { readOnlyHint: true },
  }, ({ key }) => runTool('kv_get', async () => {
    // (Every write that resolved before, on any host of a store on PostgreSQL too.)
    await store.catchUp();
    const value = store.getKv(key);
    return value === undefined ? { key, found: false } : { key, found: true, value: toJsonValue(value) };
  }));

  server.registerTool('kv_set', {
    title: 'Set a KV value',
    description: 'Set a key in the shared key-value store to a JSON value (null included), replacing any value it had. With ifAbsent, only if the key is not set: of agents racing to set it, in any processes, exactly one is told set: true (to claim a task, say).',
    inputSchema: toolInput({
      key: inputFields.key,
      value: jsonValue('value').refine((value) => value !== undefined, { message: 'value is required: any JSON value, null included' }).describe('Any JSON value'),
      ifAbsent: z.boolean().optional().describe('Set it only if the key is not set (default false); the answer says whether this call set it'),
    }),
    outputSchema: { key: z.string(), set: z.boolean().optional() },
    annotations: { idempotentHint: true },
  }, ({ key, value, ifAbsent }) => runTool('kv_set', async () => {
    checkToolValue(value, 'kv_set', 'value');
    if (ifAbsent === undefined) {
      await store.setKv(key, value);
      return { key };
    }
    const { skipped } = await store.setKvs([[key, value]], { ifAbsent });
    return { key, set: skipped.length === 0 };
  }));

  server.registerTool('kv_list', {
    title: 'List KV keys',
    description: `List the keys of the shared key-value store in sorted order, a page at a time (values are read with kv_get). prefix keeps the keys that start with it. When nextCursor is returned, pass it as cursor (with the same prefix) for the next page.`,
    inputSchema: toolInput({
      prefix: z.string().optional().describe('Only keys that start with this, e.g. "user/42/"'),
      limit: inputFields.limit.optional(),
      cursor: z.string().min(1).optional().describe('nextCursor of the previous page, to get the next one; repeat the prefix unchanged'),
    }),
    outputSchema: { keys: z.array(z.string()), nextCursor: z.string().optional() },
    annotations: { readOnlyHint: true },
  }, ({ prefix, limit, cursor }) => runTool('kv_list', async () => {
    await store.catchUp();
    const pageSize = limit ?? pageLimits.defaultLimit;
    const listing = { prefix };
    // The listing resumes after the last key of the page before: keys are their own position in the sorted list.
    const after = cursor === undefined ? undefined : decodeCursor(cursor, 'kv_list', listing).resume;
    const keys = store.listKv({ ...(prefix !== undefined ? { prefix } : {}), ...(after !== undefined ? { after } : {}), limit: pageSize + 1 });
    return keys.length > pageSize ? { keys: keys.slice(0, pageSize), nextCursor: encodeCursor('kv_list', listing, { offset: 0, resume: keys[pageSize - 1]! }) } : { keys };
  }));

  server.registerTool('kv_delete', {
    title: 'Delete a KV key',
    description: 'Remove a key from the shared key-value store. deleted is false when it was not set.',
    inputSchema: toolInput({ key: inputFields.key }),
    outputSchema: { key: z.string(), deleted: z.boolean() },
    annotations: { destructiveHint: true, idempotentHint: true },
  }, ({ key }) => runTool('kv_delete', async () => ({ key, deleted: await store.deleteKv(key) })));
}
