import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { MemMapError, MemMapFS } from '@memmapfs/core';
import msgpack from '@memmapfs/codec-msgpack';
import flexsearch from '@memmapfs/search-flexsearch';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMcpServer, type MemMapMcpServer } from '../src/index.js';
import { connectInProcess, tempFolder } from './server-process.js';

describe('forget with erase, when the compaction fails after the delete', () => {
  let folder: Awaited<ReturnType<typeof tempFolder>>;
  let store: MemMapFS;
  let mcp: MemMapMcpServer;
  let client: Client;

  beforeEach(async () => {
    folder = await tempFolder();
    store = await MemMapFS.init(folder.root, { search: flexsearch(), codec: msgpack() });
    // The store as the server sees it: its compaction fails (another process held a lock too long, say).
    const failing = new Proxy(store, {
      get(target, property) {
        if (property === 'compact') return () => Promise.reject(new MemMapError('LOCK_TIMEOUT', 'compact: waited 120000 ms for state.manifest.lock; nothing was compacted.'));
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    mcp = createMcpServer(failing);
    client = await connectInProcess(mcp);
  });

  afterEach(async () => {
    await client?.close();
    await mcp?.close();
    await store?.close();
    await folder?.remove();
  });

  it('says the memory is deleted and not erased, and why, rather than fail a call that wrote', async () => {
    const id = await store.appendMemory('my password is hunter2');
    const result = (await client.callTool({ name: 'forget', arguments: { id, erase: true } })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ id, deleted: true, erased: false, eraseError: expect.stringMatching(/LOCK_TIMEOUT/) });
    expect((result.structuredContent as { eraseError: string }).eraseError).toMatch(/call forget with erase again/);
    expect(await store.getMemory(id)).toBeUndefined();
  });
});
