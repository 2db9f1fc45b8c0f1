/** How much one tool call returns and how deep a search reaches; the README documents them. */
export const pageLimits = {
  /** Items on a page when `limit` is left out. */
  defaultLimit: 10,
  /** The largest `limit`. */
  maxLimit: 50,
  /** `recall` pages reach the best this many hits of a query. */
  recallDepth: 500,
} as const;

/** The largest number of array items and object members in one tool call's arguments. */
export const maxToolInputElements = 10_000;

/**
 * The most a tool result's JSON may take, in UTF-8 bytes. A client reads a response as one message (the
 * SDK's clients refuse one over 10 MiB, and drop the connection), and a result goes out twice, as
 * `structuredContent` and as JSON text, escaped once more: 2 MiB keeps the whole message under 7 MiB.
 */
export const maxResultBytes = 2 * 1024 * 1024;

/** The longest memory `text` a tool call takes, in UTF-8 bytes: one that `get_memory` can return whole. */
export const maxToolTextBytes = 1024 * 1024;

/**
 * The longest request line the server reads (its transport drops the session beyond it): room for the
 * longest text a call takes, however its JSON escapes it. (The SDK's reader joins the buffer again at
 * every chunk, which costs in the square of the line's length.)
 */
export const maxRequestBytes = 16 * 1024 * 1024;
