import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { afterEach, beforeEach } from 'vitest';
import type { Codec, SearchDocument, SearchHit, SearchProvider, SearchRequest } from '@memmapfs/core';

/** A codec over Node's structured-clone serializer: enough for core's own tests, no adapter needed. */
export function v8Codec(name = 'v8-test'): Codec {
  return {
    name,
    encode: (value) => serialize(value),
    decode: (bytes) => {
      const value = deserialize(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as unknown;
      return reviveBytes(value);
    },
  };
}

/**
 * A `v8Codec` that, as msgpackr does, writes a function as `undefined` instead of refusing it: what a
 * store does with values a codec would silently change must not depend on the codec.
 */
export function functionDroppingCodec(name = 'v8-test'): Codec {
  const codec = v8Codec(name);
  return { ...codec, encode: (value) => codec.encode(dropFunctions(value)) };
}

function dropFunctions(value: unknown): unknown {
  if (typeof value === 'function') return undefined;
  if (value instanceof Uint8Array || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(dropFunctions);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, dropFunctions(v)]));
}

function reviveBytes(value: unknown): unknown {
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(reviveBytes);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reviveBytes(v)]));
  return value;
}

/** A search provider that matches documents containing every query word; records each call. */
export class WordSearch implements SearchProvider {
  readonly name: string = 'word-test';
  readonly supports = { snapshot: true, prefix: false };
  readonly docs = new Map<number, SearchDocument>();
  adds = 0;
  imports = 0;

  add(doc: SearchDocument): void {
    this.adds++;
    this.docs.set(doc.id, { ...doc, tags: [...doc.tags] });
  }
  remove(id: number): void {
    this.docs.delete(id);
  }
  clear(): void {
    this.docs.clear();
  }
  search(request: SearchRequest): SearchHit[] {
    const words = request.text.toLowerCase().split(/\W+/u).filter(Boolean);
    const hits: SearchHit[] = [];
    for (const doc of this.docs.values()) {
      if (request.namespace !== undefined && doc.namespace !== request.namespace) continue;
      if (!(request.tags ?? []).every((t) => doc.tags.includes(t))) continue;
      const text = doc.text.toLowerCase();
      const found = words.filter((w) => text.includes(w)).length;
      if (words.length > 0 && found === words.length) hits.push({ id: doc.id, score: found / (1 + text.length / 1000) });
    }
    return hits.sort((a, b) => b.score - a.score).slice(0, request.limit);
  }
  async exportSnapshot(): Promise<Uint8Array> {
    return Buffer.from(JSON.stringify([...this.docs.values()]));
  }
  async importSnapshot(snapshot: Uint8Array): Promise<void> {
    this.imports++;
    this.docs.clear();
    for (const doc of JSON.parse(Buffer.from(snapshot).toString()) as SearchDocument[]) this.docs.set(doc.id, doc);
  }
}

/** `WordSearch` with vector search over embeddings of `dimensions` numbers, by brute-force cosine. */
export class VectorWordSearch extends WordSearch {
  override readonly supports: SearchProvider['supports'];
  readonly requests: SearchRequest[] = [];

  constructor(dimensions = 3) {
    super();
    this.supports = { snapshot: false, prefix: false, vectors: { dimensions } };
  }

  override search(request: SearchRequest): SearchHit[] {
    this.requests.push(request);
    if (!request.embedding) return super.search(request);
    const cosine = (a: Float32Array, b: Float32Array) => {
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let i = 0; i < a.length; i++) {
        dot += a[i]! * b[i]!;
        na += a[i]! * a[i]!;
        nb += b[i]! * b[i]!;
      }
      return dot / Math.sqrt(na * nb);
    };
    const text = request.textWeight === undefined ? [] : super.search({ ...request, limit: Number.MAX_SAFE_INTEGER });
    const textScore = new Map(text.map((hit) => [hit.id, hit.score]));
    const hits: SearchHit[] = [];
    for (const doc of this.docs.values()) {
      if (request.namespace !== undefined && doc.namespace !== request.namespace) continue;
      if (!(request.tags ?? []).every((t) => doc.tags.includes(t))) continue;
      const similarity = doc.embedding?.length === request.embedding.length ? cosine(doc.embedding, request.embedding) : undefined;
      const weight = request.textWeight ?? 0;
      if (similarity === undefined && !textScore.has(doc.id)) continue;
      hits.push({ id: doc.id, score: weight * (textScore.get(doc.id) ?? 0) + (1 - weight) * (similarity ?? 0) });
    }
    return hits.sort((a, b) => b.score - a.score || a.id - b.id).slice(0, request.limit);
  }
}

/**
 * A fresh store folder for every test of the calling file: `root()` is the current test's path; the
 * folder is removed after each test.
 */
export function useTempRoot(): () => string {
  let current: { root: string; cleanup: () => Promise<void> } | undefined;
  beforeEach(async () => {
    current = await tempRoot();
  });
  afterEach(async () => {
    await current?.cleanup();
  });
  return () => current!.root;
}

/** A fresh temporary folder; removed by `cleanup`. */
export async function tempRoot(): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'memmapfs-core-'));
  return { root: join(dir, 'store'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Polls `holds` every 10 ms for up to `ms`; whether it came true. */
export async function eventually(holds: () => boolean, ms = 20_000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 10))) if (holds()) return true;
  return holds();
}
