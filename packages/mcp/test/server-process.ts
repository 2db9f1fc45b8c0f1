import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'vitest';
import type { MemMapMcpServer } from '../src/index.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const builtBin = join(packageDir, 'dist', 'bin.js');
const sourceBin = join(packageDir, 'src', 'bin.ts');

function newestSourceChange(folder: string): number {
  let newest = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceChange(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Which server the tests spawn: the built `dist/bin.js` when it is there and newer than every source
 * file (after `pnpm --filter @memmapfs/mcp... build`), else `src/bin.ts` through tsx, so that the suite
 * also runs on a fresh clone without a build. `MEMMAPFS_MCP_SERVER=dist|source` forces one.
 */
export const serverKind: 'dist' | 'source' = (() => {
  const forced = process.env.MEMMAPFS_MCP_SERVER;
  if (forced === 'dist' || forced === 'source') return forced;
  return existsSync(builtBin) && statSync(builtBin).mtimeMs >= newestSourceChange(join(packageDir, 'src')) ? 'dist' : 'source';
})();

/** The node arguments and environment that run the server on `root`. */
export function serverCommand(root: string, extraArgs: readonly string[] = []): { args: string[]; env: Record<string, string> } {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && name !== 'MEMMAPFS_ROOT' && name !== 'NODE_PATH' && name !== 'NODE_OPTIONS') env[name] = value;
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const entry = serverKind === 'dist' ? [builtBin] : ['--conditions=dev-source', '--import', tsx, sourceBin];
  return { args: [...entry, '--root', root, ...extraArgs], env };
}

/** A server process with a connected client. */
export interface ServerSession {
  readonly client: Client;
  readonly transport: StdioClientTransport;
  /** What the server wrote to stderr so far. */
  stderr(): string;
  /** Closes the client: the server sees stdin end and exits. */
  close(): Promise<void>;
}

/** Spawns a server on `root` and connects the SDK's client to it over stdio. */
export async function startServer(root: string, name = 'test-client', extraArgs: readonly string[] = []): Promise<ServerSession> {
  const { args, env } = serverCommand(root, extraArgs);
  const transport = new StdioClientTransport({ command: process.execPath, args, env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const client = new Client({ name, version: '1.0.0' });
  try {
    await client.connect(transport);
  } catch (error) {
    throw new Error(`the server did not start: ${(error as Error).message}\nstderr: ${stderr}`, { cause: error });
  }
  return { client, transport, stderr: () => stderr, close: () => client.close() };
}

/** A client connected to `mcp` in this process, over the SDK's in-memory transport. */
export async function connectInProcess(mcp: MemMapMcpServer): Promise<Client> {
  const client = new Client({ name: 'in-process', version: '1.0.0' });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await mcp.server.connect(serverSide);
  await client.connect(clientSide);
  return client;
}

/** The structured result of a tool call, which must have succeeded. */
export async function call<T = Record<string, unknown>>(session: ServerSession, name: string, args: Record<string, unknown> = {}): Promise<T> {
  const result = (await session.client.callTool({ name, arguments: args })) as CallToolResult;
  expect(result.isError, `${name} failed: ${JSON.stringify(result.content)}`).toBeFalsy();
  expect(JSON.parse((result.content[0] as { text: string }).text)).toEqual(result.structuredContent);
  return result.structuredContent as T;
}

/** The message of a tool call that must have failed as a tool error. */
export async function callError(session: ServerSession, name: string, args: Record<string, unknown>): Promise<string> {
  const result = (await session.client.callTool({ name, arguments: args })) as CallToolResult;
  expect(result.isError, `${name} should have failed, returned ${JSON.stringify(result.structuredContent)}`).toBe(true);
  expect(result.structuredContent).toBeUndefined();
  return (result.content[0] as { text: string }).text;
}

/** A fresh temporary folder; `remove` deletes it. */
export async function tempFolder(): Promise<{ root: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'memmapfs-mcp-'));
  return { root: join(dir, 'store'), remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Spawns the server without a client, for tests of how it starts and stops. */
export function spawnServer(root: string, extraArgs: readonly string[] = []): ChildProcess {
  const { args, env } = serverCommand(root, extraArgs);
  return spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * Runs a server on `root` and sends it `requests`, JSON-RPC lines written as they are (after the
 * handshake), each with an `"id"`; resolves each one's response by id. Rejects when the server ends
 * before it has answered them all, or after `timeoutMs`.
 */
export async function rawExchange(root: string, requests: readonly string[], timeoutMs = 30_000): Promise<Map<number, { result?: Record<string, unknown>; error?: { message: string } }>> {
  const child = spawnServer(root);
  // (A server that ended leaves writes to its stdin failing with EPIPE: the exit below says why.)
  child.stdin!.on('error', () => undefined);
  const answers = new Map<number, { result?: Record<string, unknown>; error?: { message: string } }>();
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const wanted = requests.length + 1;
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to every request after ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
      let pending = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        pending += chunk;
        for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
          const message = JSON.parse(pending.slice(0, end)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
          pending = pending.slice(end + 1);
          if (typeof message.id !== 'number') continue;
          answers.set(message.id, message);
          if (message.id === 0) {
            child.stdin!.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
            for (const request of requests) child.stdin!.write(`${request}\n`);
          }
          if (answers.size === wanted) {
            clearTimeout(timer);
            resolve(answers);
          }
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the server exited (code ${code}) having answered ${answers.size} of ${wanted} requests; stderr: ${stderr}`));
      });
      child.stdin!.write(`${JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } })}\n`);
    });
  } finally {
    child.stdin!.end();
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
  }
}

/** A `tools/call` request line with raw JSON `args` (written as given: `1e400` stays `1e400`). */
export function rawToolCall(id: number, name: string, args: string): string {
  return `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":${JSON.stringify(name)},"arguments":${args}}}`;
}
