import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { MemMapError } from '@memmapfs/core';
import { maxResultBytes } from './limits.js';

/** Codes of the failures the server itself detects in a tool call, besides core's `MemMapError` codes. */
export type ToolFailureCode =
  /** Arguments that are well-formed but ask for nothing, or for something the tool does not do. */
  | 'INVALID_ARGUMENT'
  /** A `cursor` that is not one the tool returned, or that belongs to a call with other arguments. */
  | 'INVALID_CURSOR'
  /** A page past the deepest one a search reaches. */
  | 'PAGE_TOO_DEEP'
  /** A memory text over what a tool call takes (`maxToolTextBytes`; core's code for a text over its own limit). */
  | 'TEXT_TOO_LARGE'
  /** A result over what one tool result carries (`maxResultBytes`): a KV value or a state that large. */
  | 'RESULT_TOO_LARGE';

/** A tool call the server refuses before it touches the store; its message says what to send instead. */
export class ToolFailure extends Error {
  override readonly name = 'ToolFailure';

  constructor(readonly code: ToolFailureCode, message: string) {
    super(message);
  }
}

/**
 * A failed tool call as the client sees it: `isError: true` and one text, the message (which says what
 * to do) followed by the stable code in parentheses, e.g. `… (MEMORY_NOT_FOUND)`. A failure that is not
 * the caller's (a bug, an unexpected exception) is also written to stderr with its stack.
 */
export function toolError(error: unknown): CallToolResult {
  let text: string;
  if (MemMapError.is(error) || error instanceof ToolFailure) {
    text = `${error.message} (${error.code})`;
  } else {
    process.stderr.write(`memmapfs-mcp: unexpected error in a tool call: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    text = `Unexpected error: ${error instanceof Error ? error.message : String(error)} (UNEXPECTED_ERROR)`;
  }
  return { isError: true, content: [{ type: 'text', text }] };
}

/**
 * A successful tool call: `structuredContent`, and the same as JSON text for clients that read only
 * `content`; a `RESULT_TOO_LARGE` failure instead when its JSON is over `maxResultBytes` (a client would
 * drop the connection on the message).
 */
export function toolResult(structured: Record<string, unknown>, tool: string): CallToolResult {
  const text = JSON.stringify(structured);
  const bytes = Buffer.byteLength(text);
  if (bytes > maxResultBytes) {
    return toolError(new ToolFailure('RESULT_TOO_LARGE', `${tool}: the result is ${mebibytes(bytes)} as JSON, more than one tool result carries (${mebibytes(maxResultBytes)}: MCP clients read a result as one message); read it with the library or the memmapfs CLI.`));
  }
  return { structuredContent: structured, content: [{ type: 'text', text }] };
}

/** `bytes` in MiB, for messages. */
export function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MiB`;
}

/** Runs the work of the tool `tool` and turns what it returns or throws into the tool's result. */
export async function runTool(tool: string, work: () => Promise<Record<string, unknown>> | Record<string, unknown>): Promise<CallToolResult> {
  let structured: Record<string, unknown>;
  try {
    structured = await work();
  } catch (error) {
    return toolError(error);
  }
  return toolResult(structured, tool);
}
