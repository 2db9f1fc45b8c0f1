import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { MemMapError, type MemMapFS, type MemoryUpdate, type MetaFilter } from '@memmapfs/core';
import { z } from 'zod';
import { pageLimits } from '../limits.js';
import { decodeCursor, encodeCursor } from '../page-cursor.js';
import { runTool, ToolFailure } from '../tool-errors.js';
import { checkToolText, checkToolValue, hitOutput, inputFields, memoryOutput, tagSet, toHitOutput, toMemoryOutput, toolInput } from './fields.js';
import { fitMemory, fitPage } from '../result-size.js';

const nextCursor = z.string().optional().describe('Pass it as cursor, with the other arguments unchanged, for the next page; absent on the last page');

/** The labels and conditions of a search or listing, as core takes them: only those given. */
function conditions(tags: string[] | undefined, namespace: string | undefined, filter: Record<string, unknown> | undefined) {
  return { ...(tags !== undefined ? { tags } : {}), ...(namespace !== undefined ? { namespace } : {}), ...(filter !== undefined ? { filter: filter as MetaFilter } : {}) };
}

/**
 * Registers the memory tools: `remember`, `recall`, `get_memory`, `update_memory`, `forget` and
 * `list_memories`.
 */
export function registerMemoryTools(server: McpServer, store: MemMapFS): void {
  server.registerTool('remember', {
    title: 'Remember',
    description: 'Store a memory that lasts across sessions and is visible to every agent using this store. Returns its id.',
    inputSchema: toolInput({
      text: inputFields.text,
      tags: inputFields.tags.optional(),
      namespace: inputFields.namespace.optional(),
      meta: inputFields.meta.optional(),
      ttlMs: z.number().int().positive().optional().describe('Forget it by itself after this many milliseconds'),
    }),
    outputSchema: { id: z.number().int().describe("The new memory's id") },
  }, ({ text, tags, namespace, meta, ttlMs }) => runTool('remember', async () => {
    checkToolText(text, 'remember');
    if (meta !== undefined) checkToolValue(meta, 'remember', 'meta');
    const id = await store.appendMemory(text, tags, { ...(namespace !== undefined ? { namespace } : {}), ...(meta !== undefined ? { meta } : {}), ...(ttlMs !== undefined ? { ttlMs } : {}) });
    return { id };
  }));

  server.registerTool('recall', {
    title: 'Recall',
    description: `Full-text search over the memories, best match first, a page at a time (default ${pageLimits.defaultLimit}). An empty query lists the newest memories. `
      + 'tags, namespace and filter narrow it; filter is on meta, e.g. {"source":"slack","priority":{"$gte":2}}. '
      + `Pages reach the best ${pageLimits.recallDepth} hits; a page holds fewer than limit when their texts are long.`,
    inputSchema: toolInput({
      query: z.string().describe('Words to search for; "" lists the newest memories'),
      tags: inputFields.tagFilter.optional(),
      namespace: inputFields.namespaceFilter.optional(),
      filter: inputFields.filter.optional(),
      limit: inputFields.limit.optional(),
      cursor: inputFields.cursor.optional(),
    }),
    outputSchema: {
      hits: z.array(hitOutput),
      nextCursor,
      truncated: z.boolean().optional().describe(`true when more hits lie beyond the best ${pageLimits.recallDepth}: narrow the query to reach them`),
    },
    annotations: { readOnlyHint: true },
  }, ({ query, tags, namespace, filter, limit = pageLimits.defaultLimit, cursor }) => runTool('recall', async () => {
    const listing = { query, tags: tagSet(tags), namespace, filter };
    const { offset } = cursor === undefined ? { offset: 0 } : decodeCursor(cursor, 'recall', listing);
    const remaining = pageLimits.recallDepth - offset;
    if (remaining <= 0) {
      throw new ToolFailure('PAGE_TOO_DEEP', `recall: pages reach the best ${pageLimits.recallDepth} hits of a query; narrow it (other words, tags, namespace, filter) to find what lies deeper.`);
    }
    // One hit more than the page tells whether another page (or, at the deepest page, more hits) follows.
    const hits = await store.queryMemory(query, { limit: Math.min(limit, remaining) + 1, offset, ...conditions(tags, namespace, filter) });
    // (Fewer than `limit` when their texts are long: a result is one message.)
    const page = fitPage(hits.slice(0, Math.min(limit, remaining)).map(toHitOutput));
    const more = hits.length > page.length;
    const last = offset + page.length >= pageLimits.recallDepth;
    return {
      hits: page,
      ...(more && !last ? { nextCursor: encodeCursor('recall', listing, { offset: offset + page.length }) } : {}),
      ...(more && last ? { truncated: true } : {}),
    };
  }));

  server.registerTool('get_memory', {
    title: 'Get a memory',
    description: 'Read one memory by id. found is false when there is none (never written, forgotten or expired). A text too long for one result comes back cut short, with textTruncated.',
    inputSchema: toolInput({ id: inputFields.id }),
    outputSchema: { found: z.boolean(), memory: memoryOutput.optional() },
    annotations: { readOnlyHint: true },
  }, ({ id }) => runTool('get_memory', async () => {
    const memory = await store.getMemory(id);
    return memory === undefined ? { found: false } : { found: true, memory: fitMemory(toMemoryOutput(memory)) };
  }));

  server.registerTool('update_memory', {
    title: 'Update a memory',
    description: "Change a memory's text, tags or meta: each one given replaces the old one whole, the others are kept. Returns the updated memory.",
    inputSchema: toolInput({
      id: inputFields.id,
      text: inputFields.text.optional(),
      tags: inputFields.tags.optional(),
      meta: inputFields.meta.optional(),
    }),
    outputSchema: { memory: memoryOutput },
    annotations: { idempotentHint: true },
  }, ({ id, text, tags, meta }) => runTool('update_memory', async () => {
    const update: MemoryUpdate = { ...(text !== undefined ? { text } : {}), ...(tags !== undefined ? { tags } : {}), ...(meta !== undefined ? { meta } : {}) };
    if (Object.keys(update).length === 0) throw new ToolFailure('INVALID_ARGUMENT', 'update_memory: give at least one of text, tags and meta to change.');
    if (text !== undefined) checkToolText(text, 'update_memory');
    if (meta !== undefined) checkToolValue(meta, 'update_memory', 'meta');
    return { memory: fitMemory(toMemoryOutput(await store.updateMemory(id, update))) };
  }));

  server.registerTool('forget', {
    title: 'Forget a memory',
    description: 'Delete a memory by id, for every agent using this store. deleted is false when there was none to delete. ' +
      'With erase: true (when the user asks that it be removed now, not just hidden), the store is then compacted so that what it said is in no file of the store; ' +
      'erased says whether that was so for everything deleted (false: another process still held some; try again later). An erase takes seconds on a large store.',
    inputSchema: toolInput({ id: inputFields.id, erase: z.boolean().optional().describe('Also erase what it said from every file of the store, now (default false)') }),
    outputSchema: {
      id: z.number().int(),
      deleted: z.boolean(),
      erased: z.boolean().optional(),
      eraseError: z.string().optional().describe('Why the erase did not run (the memory is deleted all the same): call forget with erase again later'),
    },
    annotations: { destructiveHint: true, idempotentHint: true },
  }, ({ id, erase }) => runTool('forget', async () => {
    const deleted = await store.deleteMemory(id);
    // (Erased even when it was deleted before: what it said may still be in the store's files.)
    if (!erase) return { id, deleted };
    try {
      return { id, deleted, erased: (await store.compact({ erase: true })).erased === true };
    } catch (error) {
      // The delete is written: the call succeeded at that, and says what became of the erase.
      if (!MemMapError.is(error)) throw error;
      return { id, deleted, erased: false, eraseError: `${error.message.replace(/^\[memmapfs\] (\[\w+\] )?/, '')} (${error.code}); the memory is deleted: call forget with erase again later to erase what it said.` };
    }
  }));

  server.registerTool('list_memories', {
    title: 'List memories',
    description: `List every memory, oldest first, a page at a time (default ${pageLimits.defaultLimit}); namespace, tags and filter (on meta, as for recall) narrow it. Memories written meanwhile come on later pages; none is listed twice; a page holds fewer than limit when their texts are long. Use recall to search.`,
    inputSchema: toolInput({
      namespace: inputFields.namespaceFilter.optional(),
      tags: inputFields.tagFilter.optional(),
      filter: inputFields.filter.optional(),
      limit: inputFields.limit.optional(),
      cursor: inputFields.cursor.optional(),
    }),
    outputSchema: { memories: z.array(memoryOutput), nextCursor },
    annotations: { readOnlyHint: true },
  }, ({ namespace, tags, filter, limit = pageLimits.defaultLimit, cursor }) => runTool('list_memories', async () => {
    const listing = { tags: tagSet(tags), namespace, filter };
    const resume = cursor === undefined ? undefined : decodeCursor(cursor, 'list_memories', listing).resume;
    const list = (count: number) => store.listMemories({ limit: count, ...(resume !== undefined ? { cursor: resume } : {}), ...conditions(tags, namespace, filter) });
    // Fewer than `limit` when their texts are long (a result is one message): listed again to as many as
    // fit, for the cursor after the last one returned.
    for (let count = limit; ; ) {
      const page = await list(count);
      const memories = fitPage(page.memories.map(toMemoryOutput));
      if (memories.length === page.memories.length) {
        return { memories, ...(page.nextCursor !== undefined ? { nextCursor: encodeCursor('list_memories', listing, { offset: 0, resume: page.nextCursor }) } : {}) };
      }
      count = memories.length;
    }
  }));
}
