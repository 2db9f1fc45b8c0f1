import { MemMapError } from './errors.js';
import { checkRestoreGaps, type MemoryToRestore } from './engine/memory-restore.js';
import { checkEmbedding } from './memory-embedding.js';
import { checkNamespace } from './namespace-path.js';
import type { RestoredMemory } from './types.js';
import { checkId, checkMeta, checkOptionNames, checkPlainObject, checkTags, checkText, describeValue, MAX_TIME_MS } from './validation.js';

const METHOD = 'restoreMemories';
const DEFAULT_NAMESPACE = 'default';

/**
 * The items of a `restoreMemories` call, checked before anything is written: each memory's fields;
 * ids on every item or on none, increasing, and not so far apart that the padding between them would
 * not fit one commit. Anything wrong is `INVALID_ARGUMENT` (`RESTORE_GAP_TOO_LARGE` for the gaps).
 */
export function checkRestoredMemories(items: unknown, maxTextBytes: number, provider: string): MemoryToRestore[] {
  if (!Array.isArray(items)) {
    throw invalid(`${METHOD}: memories must be an array of { id?, text, tags?, namespace?, meta?, createdAt, updatedAt?, expiresAt?, embedding? }, got ${items === null ? 'null' : typeof items}.`);
  }
  // (Every index, empty slots of a sparse array included: `map` would pass over them.)
  const checked = Array.from(items as unknown[], (item, index) => checkRestoredMemory(item, `${METHOD}: item ${index}`, maxTextBytes, provider));
  const withIds = checked.filter((item) => item.id !== undefined).length;
  if (withIds > 0 && withIds < checked.length) {
    throw invalid(`${METHOD}: give every item an id (to keep the ids) or none (new ids); ${withIds} of ${checked.length} have one.`);
  }
  if (withIds === 0) return checked;
  for (let i = 1; i < checked.length; i++) {
    const [previous, id] = [checked[i - 1]!.id!, checked[i]!.id!];
    if (id <= previous) throw invalid(`${METHOD}: item ${i}: id ${id} is not above the id before it (${previous}): ids must increase.`);
  }
  checkRestoreGaps(checked, METHOD);
  return checked;
}

/** The fields a restored memory takes: a `Memory`'s (a query hit's `score` too, which is not kept). */
const RESTORED_FIELDS: ReadonlySet<string> = new Set(['id', 'text', 'tags', 'namespace', 'meta', 'createdAt', 'updatedAt', 'expiresAt', 'embedding', 'score']);
const TTL_HINT = { for: new Set(['ttlMs']), say: 'A restored memory keeps its expiry as expiresAt (ms since the epoch).' };

function checkRestoredMemory(item: unknown, method: string, maxTextBytes: number, provider: string): MemoryToRestore {
  const fields = checkPlainObject(item, 'the item', method);
  // (A misspelt field would be dropped without a word: a namespace, say, and the memory in another tenant's.)
  checkOptionNames(fields, RESTORED_FIELDS, method, 'fields', TTL_HINT);
  const { id, text, tags, namespace, meta, createdAt, updatedAt, expiresAt, embedding } = fields;
  const created = checkTime(createdAt, 'createdAt', method);
  return {
    id: id === undefined ? undefined : checkId(id, method),
    bytes: checkText(text, method, maxTextBytes),
    tags: checkTags(tags, method),
    namespace: namespace === undefined ? DEFAULT_NAMESPACE : checkNamespace(namespace, method),
    meta: meta === undefined ? {} : checkMeta(meta, method),
    createdAt: created,
    updatedAt: updatedAt === undefined ? created : checkTime(updatedAt, 'updatedAt', method),
    expiresAt: expiresAt === undefined ? undefined : checkTime(expiresAt, 'expiresAt', method),
    embedding: embedding === undefined ? undefined : checkRestoredEmbedding(embedding, method, provider),
  };
}

/** A time in ms since the epoch that a `Date` can hold (within ±8.64e15: every reader can show it). */
function checkTime(value: unknown, what: string, method: string): number {
  if (typeof value !== 'number' || !(Math.abs(value) <= MAX_TIME_MS)) throw invalid(`${method}: ${what} must be a number of milliseconds since the epoch that a Date can hold (at most ±8.64e15), got ${describeValue(value)}.`);
  return value;
}

/** An embedding as it was stored: finite numbers, however many (the provider's dimensions are not asked for). */
function checkRestoredEmbedding(value: unknown, method: string, provider: string): Uint8Array {
  const length = value instanceof Float32Array || Array.isArray(value) ? value.length : undefined;
  if (length === 0) throw invalid(`${method}: embedding must hold at least one number.`);
  return checkEmbedding(value, method, length ?? 1, provider);
}

function invalid(message: string): MemMapError {
  return new MemMapError('INVALID_ARGUMENT', message);
}
