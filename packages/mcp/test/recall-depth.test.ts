import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { MemMapFS } from '@memmapfs/core';
import msgpack from '@memmapfs/codec-msgpack';
import flexsearch from '@memmapfs/search-flexsearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMcpServer, pageLimits, type MemMapMcpServer } from '../src/index.js';
import { encodeCursor } from '../src/page-cursor.js';
import { connectInProcess, tempFolder } from './server-process.js';

describe('recall pages, in this process', () => {
  let folder: Awaited<ReturnType<typeof tempFolder>>;
  let store: MemMapFS;
  let mcp: MemMapMcpServer;
  let client: Client;

  beforeAll(async () => {
    folder = await tempFolder();
    store = await MemMapFS.init(folder.root, { search: flexsearch(), codec: msgpack(), durability: 'none' });
    await store.appendMemories(Array.from({ length: pageLimits.recallDepth + 5 }, (_, i) => ({ text: `Depth note ${i}`, meta: { i } })));
    mcp = createMcpServer(store);
    client = await connectInProcess(mcp);
  });

  afterAll(async () => {
    await client?.close();
    await mcp?.close();
    await store?.close();
    await folder?.remove();
  });

  async function recall(args: Record<string, unknown>): Promise<CallToolResult> {
    return (await client.callTool({ name: 'recall', arguments: args })) as CallToolResult;
  }

  it(`reach the best ${pageLimits.recallDepth} hits, and say when more lie beyond`, async () => {
    const seen = new Set<number>();
    let cursor: string | undefined;
    let last: { hits: Array<{ id: number }>; nextCursor?: string; truncated?: boolean } | undefined;
    let pages = 0;
    do {
      const result = await recall({ query: 'depth note', limit: 50, ...(cursor ? { cursor } : {}) });
      expect(result.isError).toBeFalsy();
      last = result.structuredContent as typeof last & object;
      for (const hit of last.hits) seen.add(hit.id);
      cursor = last.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(pageLimits.recallDepth / 50);
    expect(seen.size).toBe(pageLimits.recallDepth);
    expect(last.truncated).toBe(true);

    const deeper = await recall({ query: 'depth note', limit: 50, cursor: encodeCursor('recall', { query: 'depth note' }, { offset: pageLimits.recallDepth }) });
    expect(deeper.isError).toBe(true);
    expect((deeper.content[0] as { text: string }).text).toMatch(/best 500 hits.*\(PAGE_TOO_DEEP\)$/);
  });

  it('stop without truncated when every hit fits', async () => {
    const result = await recall({ query: 'depth note', filter: { i: { $lt: 3 } } });
    expect(result.structuredContent).toEqual({ hits: expect.any(Array) });
    expect((result.structuredContent as { hits: Array<{ meta: { i: number } }> }).hits.map((hit) => hit.meta.i).sort()).toEqual([0, 1, 2]);
  });
});
