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
