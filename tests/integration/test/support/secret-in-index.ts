import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { segmentSearch } from '@memmapfs/search-segments';
import { expect } from 'vitest';

/** The files of the store at `root`'s search index (`index/`, its folders included) holding `text`, by their names there. */
export async function indexFilesHolding(root: string, text: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir(join(root, 'index'), { recursive: true })) {
    const bytes = await readFile(join(root, 'index', name)).catch(() => Buffer.alloc(0));
    if (bytes.includes(Buffer.from(text))) found.push(name);
  }
  return found;
}

/** A store at `root` (segments as store-worker's) of twenty notes and a secret, its index saved holding the secret. */
export async function secretInSavedIndex(root: string): Promise<{ fs: MemMapFS; secret: number }> {
  const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 16, mergeFactor: 3 }), codec: msgpack() });
  for (let i = 0; i < 20; i++) await fs.appendMemory(`ordinary note ${i}`);
  const secret = await fs.appendMemory('my password is hunter2walrus');
  expect(await fs.queryMemory('hunter2walrus')).toHaveLength(1);
  await fs.checkpoint();
  expect(await indexFilesHolding(root, 'hunter2walrus')).not.toEqual([]);
  return { fs, secret };
}
