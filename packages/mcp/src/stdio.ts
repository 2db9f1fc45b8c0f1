import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { MemMapFS } from '@memmapfs/core';
import { maxRequestBytes } from './limits.js';
import { createMcpServer } from './server.js';
import { followRequests } from './request-answers.js';

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
 * closes (the client is done) and every request read from it is answered, stdout fails, the connection
 * closes, or `signal` aborts. The store stays open (close it afterwards); the session's server is
 * closed, requests still in flight (after a failure or an abort) dropped with it.
 */
export async function serveStdio(store: MemMapFS, options: StdioServeOptions = {}): Promise<void> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const { signal } = options;
  if (signal?.aborted) return;
  const mcp = createMcpServer(store);
  const transport = new StdioServerTransport(stdin, stdout, { maxBufferSize: maxRequestBytes });
  const requests = followRequests(transport);
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  const onStdoutError = (): void => end();
  // The client is done sending: what it sent is answered first.
  const onStdinDone = (): void => void requests.answered().then(end);
  stdin.once('end', onStdinDone);
  stdin.once('close', onStdinDone);
  stdout.on('error', onStdoutError);
  signal?.addEventListener('abort', end, { once: true });
  mcp.server.server.onclose = end;
  // (A request the transport cannot read, one over `maxRequestBytes` or not JSON-RPC, is answered by
  // nothing: said on stderr, where a client's log shows it.)
  mcp.server.server.onerror = (error) => process.stderr.write(`memmapfs-mcp: ${error.message}\n`);
  try {
    await mcp.server.connect(transport);
    await ended;
  } finally {
    stdin.off('end', onStdinDone);
    stdin.off('close', onStdinDone);
    stdout.off('error', onStdoutError);
    signal?.removeEventListener('abort', end);
    await mcp.close();
  }
}
