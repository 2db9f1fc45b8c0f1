import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { MemMapFS } from '@memmapfs/core';
import { maxRequestBytes } from './limits.js';
import { createMcpServer } from './server.js';

/** Options of `serveStdio`. */
export interface StdioServeOptions {
  /** Ends the session when aborted (the binaries abort it on SIGINT and SIGTERM). */
  readonly signal?: AbortSignal;
  /** Where requests come from. Default `process.stdin`. */
  readonly stdin?: Readable;
  /** Where responses go: nothing else may be written to it. Default `process.stdout`. */
  readonly stdout?: Writable;
}

/**
 * Serves `store` to one MCP client over stdio, and resolves once the session ends: stdin ends or
 * closes (the client went away), stdout fails, the connection closes, or `signal` aborts. The store
 * stays open (close it afterwards); the session's server is closed, requests in flight answered or
 * dropped with it.
 */
export async function serveStdio(store: MemMapFS, options: StdioServeOptions = {}): Promise<void> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const { signal } = options;
  if (signal?.aborted) return;
  const mcp = createMcpServer(store);
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  const onStdoutError = (): void => end();
  stdin.once('end', end);
  stdin.once('close', end);
  stdout.on('error', onStdoutError);
  signal?.addEventListener('abort', end, { once: true });
  mcp.server.server.onclose = end;
  // (A request the transport cannot read, one over `maxRequestBytes` or not JSON-RPC, is answered by
  // nothing: said on stderr, where a client's log shows it.)
  mcp.server.server.onerror = (error) => process.stderr.write(`memmapfs-mcp: ${error.message}\n`);
  try {
    await mcp.server.connect(new StdioServerTransport(stdin, stdout, { maxBufferSize: maxRequestBytes }));
    await ended;
  } finally {
    stdin.off('end', end);
    stdin.off('close', end);
    stdout.off('error', onStdoutError);
    signal?.removeEventListener('abort', end);
    await mcp.close();
  }
}
