import { MemMapError } from './errors.js';

/**
 * A value the store keeps exactly, through any conforming codec, in every process and after a reopen:
 * what memory `meta`, the agent state and KV values may hold.
 *
 * - `null`, booleans, `undefined` (as an array item or an object property; the key is kept);
 * - numbers, `NaN` and the infinities included, but not `-0` (codecs write it as `0`);
 * - well-formed strings (no lone UTF-16 surrogate: UTF-8 cannot carry one);
 * - `Uint8Array` (a `Buffer` too); it reads back as a plain `Uint8Array`, never a `Buffer`;
 * - arrays without holes, and plain objects (prototype `Object.prototype` or `null`) whose own
 *   enumerable keys are strings other than `__proto__`; they read back as arrays and plain objects;
 * - nested at most `maxStorableDepth` levels deep, without cycles.
 */
export type StorableValue =
  | null
  | undefined
  | boolean
  | number
  | string
  | Uint8Array
  | StorableValue[]
  | { [key: string]: StorableValue };

/** How deeply arrays and objects may nest in a stored value: the value itself is level 1. */
export const maxStorableDepth = 64;

const plainData = 'store plain data: null, booleans, numbers, strings, Uint8Array, arrays and plain objects';

/** Why values of built-in types are refused, and what to store instead. */
const builtInAdvice: ReadonlyMap<unknown, string> = new Map<unknown, string>([
  [Map, 'a Map; store a plain object instead (Object.fromEntries(map), when its keys are strings)'],
  [Set, 'a Set; store an array'],
  [Date, 'a Date; store date.getTime() or date.toISOString()'],
  [RegExp, 'a RegExp; store its source and flags as strings'],
  [ArrayBuffer, 'an ArrayBuffer; wrap it in a Uint8Array'],
  [SharedArrayBuffer, 'a SharedArrayBuffer; copy it into a Uint8Array'],
  [DataView, 'a DataView; store a Uint8Array of its bytes'],
  [Promise, 'a Promise; store what it resolves to'],
  [WeakMap, `a WeakMap; ${plainData}`],
  [WeakSet, `a WeakSet; ${plainData}`],
  [String, 'a String object; store the string itself'],
  [Number, 'a Number object; store the number itself'],
  [Boolean, 'a Boolean object; store the boolean itself'],
]);

/**
 * Checks a caller value that the store will encode with its codec (memory `meta`, the agent state, a
 * KV value) and returns the copy to store: plain objects, arrays, and `Uint8Array`s of their own.
 * Anything that would not read back exactly (see `StorableValue`) is `INVALID_ARGUMENT`, with the path
 * of the offending part: `setKv: the value at .a.b[2] is a function; store plain data ...`.
 *
 * @param value The caller's value; never changed, never kept.
 * @param method What the caller called, for the message: `'setKv'`, `'appendMemories: item 3'`.
 * @param name What the value is, for the message: `''` for a KV value, `'meta'`, `'state'`.
 */
export function toStorableValue(value: unknown, method: string, name: string): StorableValue {
  return new StorableCopy(method, name).copy(value, undefined, 0);
}

/**
 * Where a part lies within the value being copied (`undefined`: the value itself), from the part up:
 * made into text (`.a.b[2]`) only for a message.
 */
type ValuePath = { readonly parent: ValuePath; readonly part: string | number } | undefined;

/** `path` as it reads in a message: `.a.b[2]`, `["a key"]`; `''` for the value itself. */
function pathText(path: ValuePath): string {
  const parts: string[] = [];
  for (let at = path; at !== undefined; at = at.parent) parts.push(typeof at.part === 'number' ? `[${at.part}]` : memberPathText(at.part));
  return parts.reverse().join('');
}

/** Whether `value` is stored as it is, with nothing to check further: copied without a path made for it. */
function isPlainLeaf(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
      return isWellFormedText(value);
    case 'number':
      return !Object.is(value, -0);
    case 'boolean':
    case 'undefined':
      return true;
    default:
      return false;
  }
}

/** Whether a string is well-formed UTF-16 (no lone surrogate), so that UTF-8 carries it unchanged. */
export function isWellFormedText(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/** One walk over a caller value: checks every part and copies it. */
class StorableCopy {
  /**
   * The objects and arrays between the value itself (`root`) and the part being copied, to find
   * cycles. An array, not a Set, and the value apart: most values are an object of plain fields, and
   * one walk is made for every meta appended.
   */
  private readonly ancestors: object[] = [];
  private root: object | undefined;

  constructor(private readonly method: string, private readonly name: string) {}

  copy(value: unknown, path: ValuePath, depth: number): StorableValue {
    switch (typeof value) {
      case 'string':
        if (!isWellFormedText(value)) throw this.refuse(path, 'is a string with a lone UTF-16 surrogate, which UTF-8 cannot carry; remove it (String.prototype.toWellFormed() replaces it with U+FFFD)');
        return value;
      case 'number':
        if (Object.is(value, -0)) throw this.refuse(path, 'is -0, which codecs store as 0; store 0');
        return value;
      case 'boolean':
      case 'undefined':
        return value;
      case 'bigint':
        throw this.refuse(path, 'is a bigint, which codecs do not all store; store it as a string, or as a number when it is a safe integer');
      case 'symbol':
        throw this.refuse(path, `is a symbol; ${plainData}`);
      case 'function':
        throw this.refuse(path, `is a function; ${plainData}`);
    }
    if (value === null) return null;
    const object = value as object;
    if (object instanceof Uint8Array) return new Uint8Array(object);
    if (depth >= maxStorableDepth) throw this.refuse(path, `is nested more than ${maxStorableDepth} levels deep; store a flatter value`);
    if (object === this.root || this.ancestors.includes(object)) throw this.refuse(path, 'refers back to a value that contains it (a cycle); store a tree');
    if (depth === 0) this.root = object;
    else this.ancestors.push(object);
    const copied = Array.isArray(object) ? this.copyArray(object, path, depth) : this.copyObject(object, path, depth);
    if (depth === 0) this.root = undefined;
    else this.ancestors.pop();
    return copied;
  }

  private copyArray(array: unknown[], path: ValuePath, depth: number): StorableValue[] {
    const prototype = Object.getPrototypeOf(array) as object | null;
    if (prototype !== Array.prototype) throw this.refuse(path, `${describeInstance(prototype)}; store a plain array`);
    const copy: StorableValue[] = new Array(array.length);
    for (let index = 0; index < array.length; index++) {
      if (!(index in array)) throw this.refuse(path, `is an array with a hole at index ${index}, which reads back as undefined; fill it (with null or undefined)`);
      const item = array[index];
      copy[index] = isPlainLeaf(item) ? (item as StorableValue) : this.copy(item, { parent: path, part: index }, depth + 1);
    }
    return copy;
  }

  private copyObject(object: object, path: ValuePath, depth: number): { [key: string]: StorableValue } {
    const prototype = Object.getPrototypeOf(object) as object | null;
    if (prototype !== Object.prototype && prototype !== null) {
      const advice = builtInAdvice.get(prototype.constructor);
      if (advice) throw this.refuse(path, `is ${advice}`);
      if (ArrayBuffer.isView(object)) throw this.refuse(path, `is a ${className(prototype) ?? 'typed array'}; only a Uint8Array is stored as bytes`);
      throw this.refuse(path, `${describeInstance(prototype)}; ${plainData}`);
    }
    if (Object.getOwnPropertySymbols(object).some((symbol) => Object.prototype.propertyIsEnumerable.call(object, symbol))) {
      throw this.refuse(path, 'has a symbol key, which codecs do not store; use a string key');
    }
    const copy: { [key: string]: StorableValue } = {};
    for (const key of Object.keys(object)) {
      if (key === '__proto__') throw this.refuse(path, 'has a key named __proto__, which codecs do not read back as an own property; rename it');
      if (!isWellFormedText(key)) throw this.refuse(path, `has a key ${JSON.stringify(key)} with a lone UTF-16 surrogate, which UTF-8 cannot carry; rename it`);
      const value = (object as Record<string, unknown>)[key];
      copy[key] = isPlainLeaf(value) ? (value as StorableValue) : this.copy(value, { parent: path, part: key }, depth + 1);
    }
    return copy;
  }

  /** `why` says what the part is or has, and what to store instead. */
  private refuse(path: ValuePath, why: string): MemMapError {
    const text = pathText(path);
    const subject = text === '' ? this.name || 'the value' : `the value at ${this.name}${shortened(text)}`;
    return new MemMapError('INVALID_ARGUMENT', `${this.method}: ${subject} ${why}.`);
  }
}

const identifier = /^[A-Za-z_$][\w$]*$/;

/**
 * Member `key` of an object as one step of a value's path in a message: `.key` when the key is an
 * identifier, `["a key"]` otherwise (an array's index is `[2]`).
 */
export function memberPathText(key: string): string {
  return identifier.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** A path short enough for a message; a deep one keeps its start and its end. */
function shortened(path: string): string {
  return path.length <= 160 ? path : `${path.slice(0, 80)}…${path.slice(-60)}`;
}

/** The name of the class of objects with this prototype, if it has one. */
function className(prototype: object | null): string | undefined {
  const name = (prototype?.constructor as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' && name.length > 0 ? name : undefined;
}

/** What an object with this prototype is, by the name of its class. */
function describeInstance(prototype: object | null): string {
  const name = className(prototype);
  return name ? `is an instance of ${name}` : 'is an object with a prototype of its own';
}
