import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { segmentSearch } from '@memmapfs/search-segments';
import { CosineSearch } from './cosine-search.js';

/** Opens the store at `root` with the default adapters, as the tests' worker process does too. */
export function openStore(root: string, options: { readOnly?: boolean } = {}): Promise<MemMapFS> {
  return MemMapFS.init(root, { codec: msgpack(), search: segmentSearch(), ...options });
}

/** Opens the store at `root` with a search provider that has vector search of `dims` dimensions. */
export function openVectorStore(root: string, dims: number, options: { readOnly?: boolean } = {}): Promise<MemMapFS> {
  return MemMapFS.init(root, { codec: msgpack(), search: new CosineSearch(dims), ...options });
}

/** A new temporary folder for a store; `remove` deletes it. */
export async function tempFolder(name: string): Promise<{ root: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `memmapfs-langgraph-${name}-`));
  return { root: join(dir, 'store'), remove: () => rm(dir, { recursive: true, force: true }) };
}
