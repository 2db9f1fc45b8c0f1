import type { Memory, MemoryHit } from '@memmapfs/core';
import { z } from 'zod';
import { toJsonObject } from '../json-value.js';
import { pageLimits } from '../limits.js';

/**
 * A JSON object, handed on as the client sent it. (A zod object or record schema would copy it, and
 * the copy silently loses an own key named `__proto__`, which core refuses with a message instead.)
 */
export function jsonObject(description: string) {
  return z.unknown()
    .refine((value) => typeof value === 'object' && value !== null && !Array.isArray(value), { message: 'expected a JSON object' })
    .transform((value) => value as Record<string, unknown>)
    .meta({ type: 'object' })
    .describe(description);
}

/** Input fields the tools share, with the descriptions clients show to the model. */
export const inputFields = {
  id: z.number().int().positive().describe('The id of a memory, as remember, recall or list_memories returned it'),
  text: z.string().min(1).describe('The text of the memory: one fact, preference, decision or note, written to be understood later on its own'),
  tags: z.array(z.string().min(1)).max(64).describe('Exact labels (not searched as words), e.g. ["preference", "project:alpha"]'),
  tagFilter: z.array(z.string().min(1)).max(64).describe('Only memories that carry every one of these tags'),
  namespace: z.string().min(1).describe('Separates agents, users or projects sharing the store; default "default"'),
  namespaceFilter: z.string().min(1).describe('Only memories in this namespace'),
  meta: jsonObject('A JSON object kept with the memory and returned with it; not searched'),
  limit: z.number().int().min(1).max(pageLimits.maxLimit).describe(`Items per page, 1 to ${pageLimits.maxLimit}; default ${pageLimits.defaultLimit}`),
  filter: jsonObject('Conditions on meta: {"field": value} (equal), {"field": {"$op": value}} with $eq $ne $gt $gte $lt $lte $in $nin, a dotted path such as "author.name" for a nested field; several fields must all hold; $and/$or take arrays of filters'),
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

/** Tags as a listing is identified by them: distinct and sorted, or absent. */
export function tagSet(tags: readonly string[] | undefined): string[] | undefined {
  return tags === undefined || tags.length === 0 ? undefined : [...new Set(tags)].sort();
}
