import { isDeepStrictEqual } from 'node:util';
import { MemMapError } from './errors.js';
import { describeValue as describe } from './validation.js';
import type { MemoryRecord } from './engine/log-records.js';

/** Comparisons a field of `meta` may be put to; several in one object must all hold. */
export interface FieldOperators {
  $eq?: unknown;
  $ne?: unknown;
  $gt?: number | string;
  $gte?: number | string;
  $lt?: number | string;
  $lte?: number | string;
  $in?: unknown[];
  $nin?: unknown[];
}

/**
 * A filter on a memory's `meta`: each key is a field (a dotted path reaches into nested objects:
 * `'source.kind'`) and its value either the value the field must equal or `FieldOperators`; every key
 * must hold. `$and` and `$or` take lists of filters.
 *
 * @example
 * { source: 'chat', turn: { $gte: 10, $lt: 20 }, $or: [{ lang: 'en' }, { lang: { $in: ['de', 'fr'] } }] }
 */
export type MetaFilter = { $and?: MetaFilter[]; $or?: MetaFilter[] } & { [field: string]: unknown };

/** A range of times (ms since the epoch) for `createdAt` or `updatedAt`. */
export interface TimeRange {
  $gt?: number;
  $gte?: number;
  $lt?: number;
  $lte?: number;
}

/** What a memory must satisfy beyond the text query, tags and namespace. */
export interface MemoryConditions {
  filter?: MetaFilter;
  createdAt?: TimeRange;
  updatedAt?: TimeRange;
}

type Test = (memory: MemoryRecord) => boolean;

const fieldOperators = new Set(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin']);
const rangeOperators = new Set(['$gt', '$gte', '$lt', '$lte']);
/** Nesting of `$and`/`$or` a filter may have: enough for any hand-written one, and no stack to exhaust. */
const MAX_FILTER_DEPTH = 16;

/**
 * Checks `filter`, `createdAt` and `updatedAt` of `method`'s options and returns the test a memory must
 * pass, or `undefined` when there is nothing to test. Bad input is `INVALID_ARGUMENT`, saying what to pass.
 */
export function checkMemoryConditions(conditions: MemoryConditions, method: string): Test | undefined {
  const tests: Test[] = [];
  if (conditions.filter !== undefined) tests.push(compileFilter(conditions.filter, `${method}: filter`, 0));
  for (const field of ['createdAt', 'updatedAt'] as const) {
    const range = conditions[field];
    if (range === undefined) continue;
    const check = compileRange(range, `${method}: ${field}`);
    tests.push((memory) => check(memory[field]));
  }
  if (tests.length === 0) return undefined;
  return tests.length === 1 ? tests[0] : (memory) => tests.every((test) => test(memory));
}

function compileFilter(filter: unknown, where: string, depth: number): Test {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) throw invalid(`${where} must be an object of fields and conditions, got ${describe(filter)}.`);
  if (depth > MAX_FILTER_DEPTH) throw invalid(`${where} nests $and/$or more than ${MAX_FILTER_DEPTH} deep.`);
  const tests: Test[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value) || value.length === 0) throw invalid(`${where}: ${key} must be a non-empty array of filters, got ${describe(value)}.`);
      const parts = value.map((part, i) => compileFilter(part, `${where}.${key}[${i}]`, depth + 1));
      tests.push(key === '$and' ? (m) => parts.every((part) => part(m)) : (m) => parts.some((part) => part(m)));
    } else if (key.startsWith('$')) {
      throw invalid(`${where}: ${key} is not a filter operator here; at the top of a filter use $and or $or, on a field ${[...fieldOperators].join(' ')}.`);
    } else if (key.length === 0 || key.split('.').some((part) => part.length === 0)) {
      throw invalid(`${where}: ${JSON.stringify(key)} is not a field name (a dotted path reaches into nested objects: 'source.kind').`);
    } else {
      const path = key.split('.');
      const check = compileField(value, `${where}.${key}`);
      tests.push((m) => check(fieldAt(m.meta, path)));
    }
  }
  return (m) => tests.every((test) => test(m));
}

/** The test of one field's value (`undefined` when the memory has no such field). */
function compileField(condition: unknown, where: string): (value: unknown) => boolean {
  const isOperators = condition !== null && typeof condition === 'object' && !Array.isArray(condition) && !(condition instanceof Uint8Array) && Object.keys(condition).some((key) => key.startsWith('$'));
  if (!isOperators) return (value) => equals(value, condition);
  const tests: Array<(value: unknown) => boolean> = [];
  for (const [op, operand] of Object.entries(condition as Record<string, unknown>)) {
    if (!fieldOperators.has(op)) throw invalid(`${where}: ${op} is not a field operator; use ${[...fieldOperators].join(' ')}.`);
    switch (op) {
      case '$eq':
        tests.push((value) => equals(value, operand));
        break;
      case '$ne':
        tests.push((value) => !equals(value, operand));
        break;
      case '$in':
      case '$nin': {
        if (!Array.isArray(operand)) throw invalid(`${where}: ${op} takes an array of values, got ${describe(operand)}.`);
        const list = operand as unknown[];
        tests.push(op === '$in' ? (value) => list.some((item) => equals(value, item)) : (value) => !list.some((item) => equals(value, item)));
        break;
      }
      default: {
        if ((typeof operand !== 'number' && typeof operand !== 'string') || Number.isNaN(operand)) throw invalid(`${where}: ${op} takes a number or a string, got ${describe(operand)}.`);
        tests.push(comparison(op, operand));
      }
    }
  }
  return (value) => tests.every((test) => test(value));
}

function compileRange(range: unknown, where: string): (time: number) => boolean {
  if (range === null || typeof range !== 'object' || Array.isArray(range) || Object.keys(range).length === 0) throw invalid(`${where} must be an object of ${[...rangeOperators].join(' ')} with times in ms, got ${describe(range)}.`);
  const tests: Array<(value: unknown) => boolean> = [];
  for (const [op, operand] of Object.entries(range)) {
    if (!rangeOperators.has(op)) throw invalid(`${where}: ${op} is not a range operator; use ${[...rangeOperators].join(' ')}.`);
    if (typeof operand !== 'number' || !Number.isFinite(operand)) throw invalid(`${where}: ${op} takes a time in ms since the epoch (a number), got ${describe(operand)}.`);
    tests.push(comparison(op, operand));
  }
  return (time) => tests.every((test) => test(time));
}

/** `$gt` and the like: true only when the value is of the operand's type (a number, or a string compared by code units). */
function comparison(op: string, operand: number | string): (value: unknown) => boolean {
  return (value) => {
    if (typeof value !== typeof operand || (typeof value === 'number' && Number.isNaN(value))) return false;
    const v = value as number | string;
    return op === '$gt' ? v > operand : op === '$gte' ? v >= operand : op === '$lt' ? v < operand : v <= operand;
  };
}

/** Equality of stored values: primitives by value, arrays, objects and bytes by content. */
function equals(value: unknown, expected: unknown): boolean {
  if (value === expected) return true;
  if (value === null || expected === null || typeof value !== 'object' || typeof expected !== 'object') return false;
  return isDeepStrictEqual(value, expected);
}

function fieldAt(meta: unknown, path: readonly string[]): unknown {
  let value = meta;
  for (const part of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) return undefined;
    if (!Object.prototype.hasOwnProperty.call(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function invalid(message: string): MemMapError {
  return new MemMapError('INVALID_ARGUMENT', message);
}

