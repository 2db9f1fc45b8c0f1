import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { binaryCommand, binaryEnvironment } from './binary.js';
import { inStore, paths, useTempStore } from './harness.js';

useTempStore();

describe('memmapfs mcp', () => {
  it('serves the store to an MCP client over stdio, creating it, until the client goes', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [...binaryCommand(), '--root', paths.root, 'mcp'],
      env: binaryEnvironment(),
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const client = new Client({ name: 'cli-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      expect((await client.listTools()).tools.map((tool) => tool.name)).toContain('recall');
      const remembered = (await client.callTool({ name: 'remember', arguments: { text: 'Standup moved to 10:30', tags: ['team'] } })) as CallToolResult;
      expect(remembered.isError).toBeFalsy();
      const { id } = remembered.structuredContent as { id: number };
      const recalled = (await client.callTool({ name: 'recall', arguments: { query: 'standup' } })) as CallToolResult;
      expect((recalled.structuredContent as { hits: Array<{ id: number }> }).hits.map((hit) => hit.id)).toEqual([id]);
    } finally {
      await client.close();
    }
    expect(stderr).toMatch(/memmapfs mcp: serving the store at .* over stdio/);
    // The server closed the store: another command opens it and finds the memory.
    const query = await inStore(['query', 'standup', '--json']);
    expect(query.code).toBe(0);
    expect((JSON.parse(query.stdout) as Array<{ text: string }>).map((hit) => hit.text)).toEqual(['Standup moved to 10:30']);
  });

  it('has help', async () => {
    const help = await inStore(['mcp', '--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/Usage: memmapfs mcp/);
    expect((await inStore(['--help'])).stdout).toMatch(/mcp +Serve the store to an MCP client over stdio until stdin ends/);
  });
});
