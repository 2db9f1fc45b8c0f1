import type { Memory, MemoryHit } from '@memmapfs/core';
import { maxStorableDepth, memberPathText, toStorableValue } from '@memmapfs/core';
import { z } from 'zod';
import { toJsonObject } from '../json-value.js';
import { maxToolTextBytes, pageLimits } from '../limits.js';
import { mebibytes, ToolFailure } from '../tool-errors.js';

/**
 * A tool's arguments: `shape`'s fields and no others. A misspelt or unknown argument (`metadata` for
 * `meta`, `ttl` for `ttlMs`) is refused, naming the arguments the tool takes, rather than dropped while
 * the call goes on without it.
 */
export function toolInput<Shape extends z.ZodRawShape>(shape: Shape) {
  const names = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `${issue.keys.map((key) => JSON.stringify(key)).join(', ')} ${issue.keys.length === 1 ? 'is not an argument' : 'are not arguments'} of this tool; it takes ${names}` : undefined),
  });
}

/**
 * Where in `value` (a parsed JSON value) the first number JSON cannot carry back is: `1e400` parses as
 * `Infinity`, which would be stored and then read back as `null`. `''` for `value` itself, `.a[2]` for a
 * part; `undefined` when there is none.
 */
export function nonFiniteNumberAt(value: unknown, depth = 1): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : '';
  // (Deeper than a stored value may nest: the store refuses it, saying so.)
  if (typeof value !== 'object' || value === null || depth > maxStorableDepth) return undefined;
  const entries: Array<[string, unknown]> = Array.isArray(value) ? value.map((item, i) => [`[${i}]`, item]) : Object.entries(value).map(([key, item]) => [memberPathText(key), item]);
  for (const [step, item] of entries) {
    const rest = nonFiniteNumberAt(item, depth + 1);
    if (rest !== undefined) return step + rest;
  }
  return undefined;
}

/** The message for a number JSON cannot carry back at `path` of the argument `name`. */
function nonFiniteMessage(name: string, path: string): string {
  return `${name}${path} is a number beyond what JSON carries (such as 1e400): it would be stored as Infinity and read back as null; send a finite number, or a string`;
}

/**
 * A JSON value of the argument `name`: any JSON but a number beyond what JSON carries back (see
 * `nonFiniteNumberAt`), handed on as the client sent it.
 */
export function jsonValue(name: string) {
  return z.unknown().superRefine((value, context) => {
    const path = nonFiniteNumberAt(value);
    if (path !== undefined) context.addIssue({ code: 'custom', message: nonFiniteMessage(name, path) });
  });
}

/**
 * A JSON object, the argument `name`, handed on as the client sent it. (A zod object or record schema
 * would copy it, and the copy silently loses an own key named `__proto__`, which core refuses with a
 * message instead.)
 */
export function jsonObject(name: string, description: string) {
  return z.unknown()
    .superRefine((value, context) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) context.addIssue({ code: 'custom', message: 'expected a JSON object' });
      else {
        const path = nonFiniteNumberAt(value);
        if (path !== undefined) context.addIssue({ code: 'custom', message: nonFiniteMessage(name, path) });
      }
    })
    .transform((value) => value as Record<string, unknown>)
    .meta({ type: 'object' })
    .describe(description);
}

/** Input fields the tools share, with the descriptions clients show to the model. */
export const inputFields = {
  id: z.number().int().positive().describe('The id of a memory, as remember, recall or list_memories returned it'),
  text: z.string().min(1).describe(`The text of the memory: one fact, preference, decision or note, written to be understood later on its own; at most ${maxToolTextBytes / 1024 / 1024} MiB`),
  tags: z.array(z.string().min(1)).max(64).describe('Exact labels (not searched as words), e.g. ["preference", "project:alpha"]'),
  tagFilter: z.array(z.string().min(1)).max(64).describe('Only memories that carry every one of these tags'),
  namespace: z.string().min(1).describe('Separates agents, users or projects sharing the store; default "default". "/" makes levels: "user-42/work" is within "user-42"'),
  namespaceFilter: z.string().min(1).describe('Only memories in this namespace or beneath it ("user-42" takes in "user-42/work", not "user-420")'),
  meta: jsonObject('meta', 'A JSON object kept with the memory and returned with it; not searched'),
  limit: z.number().int().min(1).max(pageLimits.maxLimit).describe(`Items per page, 1 to ${pageLimits.maxLimit}; default ${pageLimits.defaultLimit}`),
  filter: jsonObject('filter', 'Conditions on meta: {"field": value} (equal), {"field": {"$op": value}} with $eq $ne $gt $gte $lt $lte $in $nin, a dotted path such as "author.name" for a nested field; several fields must all hold; $and/$or take arrays of filters'),
  cursor: z.string().min(1).describe('nextCursor of the previous page, to get the next one; repeat the other arguments unchanged'),
  key: z.string().min(1).max(1024).describe('A KV key'),
};

/** A memory as the tools return it: `meta` as JSON, times as ISO 8601 strings. */
export const memoryOutput = z.object({
  id: z.number().int(),
  text: z.string(),
  tags: z.array(z.string()),
  namespace: z.string(),
  meta: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  updatedAt: z.string(),
  expiresAt: z.string().optional(),
  textTruncated: z.literal(true).optional().describe('The text is cut short: the whole of it is longer than one tool result carries (read it with the library or the memmapfs CLI)'),
  textBytes: z.number().int().optional().describe('With textTruncated: the length of the whole text, in UTF-8 bytes'),
  metaOmitted: z.literal(true).optional().describe('meta is left out (shown as {}): it alone is longer than one tool result carries'),
});

/** A memory found by `recall`, with its relevance (higher is better; 0 for an empty query). */
export const hitOutput = memoryOutput.extend({ score: z.number() });

/** The JSON form of a memory (see `memoryOutput`). */
export type MemoryOutput = z.infer<typeof memoryOutput>;

/** A memory in its JSON form. */
export function toMemoryOutput(memory: Memory): MemoryOutput {
  return {
    id: memory.id,
    text: memory.text,
    tags: memory.tags,
    namespace: memory.namespace,
    meta: toJsonObject(memory.meta),
    createdAt: new Date(memory.createdAt).toISOString(),
    updatedAt: new Date(memory.updatedAt).toISOString(),
    // (An expiry past what a Date holds, which an older release took, as the last time it holds.)
    ...(memory.expiresAt !== undefined ? { expiresAt: new Date(Math.min(memory.expiresAt, 8.64e15)).toISOString() } : {}),
  };
}

/** A hit in its JSON form. */
export function toHitOutput(hit: MemoryHit): z.infer<typeof hitOutput> {
  return { ...toMemoryOutput(hit), score: hit.score };
}

/** Refuses a memory text longer than a tool call takes (`maxToolTextBytes`), with `TEXT_TOO_LARGE`. */
export function checkToolText(text: string, tool: string): void {
  const bytes = Buffer.byteLength(text);
  if (bytes > maxToolTextBytes) {
    throw new ToolFailure('TEXT_TOO_LARGE', `${tool}: text is ${mebibytes(bytes)}; a tool call takes texts up to ${mebibytes(maxToolTextBytes)} (get_memory must return it whole in one message). Split it into several memories, or store it with the library or the memmapfs CLI.`);
  }
}

/**
 * Refuses a JSON value (a KV value, the state's changes) longer as JSON than a tool call takes
 * (`maxToolTextBytes`), with `INVALID_ARGUMENT`: `kv_get` and `get_state` must return it in one message.
 */
export function checkToolValue(value: unknown, tool: string, name: string, limit = maxToolTextBytes): void {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    // Nested too deeply for JSON.stringify, and so for the store: its own check says so, with the path.
    if (error instanceof RangeError) toStorableValue(value, tool, name);
    throw error;
  }
  const bytes = Buffer.byteLength(json ?? '');
  if (bytes > limit) {
    throw new ToolFailure('INVALID_ARGUMENT', `${tool}: ${name} is ${mebibytes(bytes)} as JSON; a tool call takes values up to ${mebibytes(limit)} (reading it back must fit in one message). Store larger data with the library or the memmapfs CLI, or as several keys.`);
  }
}

/** Tags as a listing is identified by them: distinct and sorted, or absent. */
export function tagSet(tags: readonly string[] | undefined): string[] | undefined {
  return tags === undefined || tags.length === 0 ? undefined : [...new Set(tags)].sort();
}
