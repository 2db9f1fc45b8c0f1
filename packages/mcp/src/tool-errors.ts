import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { MemMapError } from '@memmapfs/core';

/** Codes of the failures the server itself detects in a tool call, besides core's `MemMapError` codes. */
export type ToolFailureCode =
  /** Arguments that are well-formed but ask for nothing, or for something the tool does not do. */
  | 'INVALID_ARGUMENT'
  /** A `cursor` that is not one the tool returned, or that belongs to a call with other arguments. */
  | 'INVALID_CURSOR'
  /** A page past the deepest one a search reaches. */
  | 'PAGE_TOO_DEEP';

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

/** A successful tool call: `structuredContent`, and the same as JSON text for clients that read only `content`. */
export function toolResult(structured: Record<string, unknown>): CallToolResult {
  return { structuredContent: structured, content: [{ type: 'text', text: JSON.stringify(structured) }] };
}

/** Runs a tool's work and turns what it returns or throws into the tool's result. */
export async function runTool(work: () => Promise<Record<string, unknown>> | Record<string, unknown>): Promise<CallToolResult> {
  try {
    return toolResult(await work());
  } catch (error) {
    return toolError(error);
  }
}
