import type { MetaFilter } from '@memmapfs/core';
import { describeValue, invalidArgument } from './adapter-errors.js';

/**
 * The core meta filter that asks of an item's memory what a LangGraph `filter` asks of its value:
 * each field `f` becomes `value.f` (a dotted field reaches into nested objects), with its condition
 * as given: a value it must equal (objects and arrays by content) or operators `$eq $ne $gt $gte $lt
 * $lte $in $nin`, plus `$exists` (true: the field is present). `$and` and `$or` take lists of filters.
 * `undefined` when there is nothing to filter.
 */
export function valueFilter(filter: unknown, method: string): MetaFilter | undefined {
  if (filter === undefined || filter === null) return undefined;
  const translated = translate(filter, method, 'filter', 0);
  return Object.keys(translated).length === 0 ? undefined : translated;
}

function translate(filter: unknown, method: string, where: string, depth: number): MetaFilter {
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    throw invalidArgument(method, `${where} must be an object of fields and conditions, e.g. { kind: 'note', score: { $gte: 3 } }.`, 'MemMapStore');
  }
  // (The store's own limit, with room for the $and a field's $exists beside other operators adds.)
  if (depth > MAX_DEPTH) throw invalidArgument(method, `${where} nests $and/$or more than ${MAX_DEPTH} deep.`, 'MemMapStore');
  const result: MetaFilter = {};
  for (const [field, condition] of Object.entries(filter)) {
    if (field === '$and' || field === '$or') {
      if (!Array.isArray(condition) || condition.length === 0) throw invalidArgument(method, `${where}.${field} must be a non-empty array of filters, got ${describeValue(condition)}.`, 'MemMapStore');
      const parts = condition.map((part, i) => translate(part, method, `${where}.${field}[${i}]`, depth + 1));
      result[field] = field === '$and' ? [...(result.$and ?? []), ...parts] : parts;
    } else if (field.startsWith('$')) {
      throw invalidArgument(method, `${where}: ${field} is not an operator at the top of a filter; use $and or $or there, and $eq $ne $gt $gte $lt $lte $in $nin $exists on a field.`, 'MemMapStore');
    } else {
      const [others, exists] = splitExists(condition, method, `${where}.${field}`);
      const path = `value.${field}`;
      if (exists === undefined) result[path] = others;
      else if (others === undefined) result[path] = exists;
      else (result.$and ??= []).push({ [path]: others }, { [path]: exists });
    }
  }
  return result;
}

/**
 * A field's condition without `$exists`, and `$exists` as operators core knows (a missing field reads
 * as `undefined`): `[condition, undefined]` when there is no `$exists`, `[undefined, exists]` when it
 * is alone.
 */
function splitExists(condition: unknown, method: string, where: string): [unknown, { $ne: undefined } | { $eq: undefined } | undefined] {
  // (Operators are checked here, with the call, not when the search runs: a batch checks every operation first.)
  if (typeof condition === 'object' && condition !== null && !Array.isArray(condition)) {
    const unknown = Object.keys(condition).find((key) => key.startsWith('$') && !OPERATORS.has(key));
    if (unknown !== undefined) throw invalidArgument(method, `${where}: ${unknown} is not an operator; use $eq $ne $gt $gte $lt $lte $in $nin or $exists.`, 'MemMapStore');
    for (const [operator, operand] of Object.entries(condition)) {
      if ((operator === '$in' || operator === '$nin') && !Array.isArray(operand)) {
        throw invalidArgument(method, `${where}: ${operator} takes an array of values, got ${describeValue(operand)}.`, 'MemMapStore');
      }
      if (RANGE_OPERATORS.has(operator) && ((typeof operand !== 'number' && typeof operand !== 'string') || Number.isNaN(operand))) {
        throw invalidArgument(method, `${where}: ${operator} takes a number or a string, got ${describeValue(operand)}.`, 'MemMapStore');
      }
    }
  }
  if (typeof condition !== 'object' || condition === null || Array.isArray(condition) || !('$exists' in condition)) return [condition, undefined];
  const { $exists: exists, ...rest } = condition as Record<string, unknown>;
  if (typeof exists !== 'boolean') throw invalidArgument(method, `${where}: $exists takes true or false.`, 'MemMapStore');
  return [Object.keys(rest).length === 0 ? undefined : rest, exists ? { $ne: undefined } : { $eq: undefined }];
}

/** How deep `$and`/`$or` may nest (the store allows 16, and a field's `$exists` beside other operators adds one). */
const MAX_DEPTH = 15;

/** The operators that compare by order, whose operand is a number or a string. */
const RANGE_OPERATORS = new Set(['$gt', '$gte', '$lt', '$lte']);

/** The operators a field's condition may hold. */
const OPERATORS = new Set(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists']);
