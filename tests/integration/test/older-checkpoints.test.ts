// A store whose checkpoint an earlier release wrote (format 3: the KV pairs decoded into the heap at
// open, no KV section) opens with every pair, takes changes over them, and its next checkpoint is
// written in the current format. The fixture was made by that release:
//   for i in 0..149: setKv(`key/${i, 3 digits}`, { n: i, text: `value ${i}` })
//   appendMemory('a memory written by format 3', ['old']); appendMemory('another memory', ['old'])
//   deleteKv('key/007'); checkpoint()
//   setKv('key/after', 'set after the checkpoint'); deleteKv('key/008')   (in the log only)
import { cp, open as openFile, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, verifyStore } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { useTempStore } from './support/temp-store.js';

const fixture = fileURLToPath(new URL('../fixtures/store-checkpoint-format-3', import.meta.url));
const tempStore = useTempStore('older-checkpoints');
let root: string;
beforeEach(async () => {
  ({ root } = tempStore());
  await cp(fixture, root, { recursive: true });
});
const open = () => MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });

/** The format version in the header of the checkpoint `state.manifest` names. */
async function checkpointFormat(): Promise<number> {
  const manifest = JSON.parse((await readFile(join(root, 'state.manifest'), 'utf8')).split('\n')[1]!) as { checkpoint: { file: string } };
  const handle = await openFile(join(root, 'checkpoints', manifest.checkpoint.file), 'r');
  try {
    const header = Buffer.alloc(12);
    await handle.read(header, 0, 12, 0);
    return header.readUInt32LE(8);
  } finally {
    await handle.close();
  }
}

const key = (i: number) => `key/${String(i).padStart(3, '0')}`;

describe('a store checkpointed by an earlier release', () => {
  it('opens with every KV pair and memory, takes changes over them, and writes its next checkpoint in the current format', async () => {
    expect(await checkpointFormat()).toBe(3);
    let fs = await open();
    const expected = new Map<string, unknown>();
    for (let i = 0; i < 150; i++) if (i !== 7 && i !== 8) expected.set(key(i), { n: i, text: `value ${i}` });
    expected.set('key/after', 'set after the checkpoint');
    const check = () => {
      expect(fs.listKv({ prefix: 'key/' })).toEqual([...expected.keys()].sort());
      for (const [name, value] of expected) expect(fs.getKv(name), name).toEqual(value);
      expect(fs.getKv(key(7))).toBeUndefined();
      expect(fs.stats().kvKeys).toBe(expected.size);
    };
    check();
    expect((await fs.queryMemory('memory', { limit: 5 })).map((hit) => hit.text).sort()).toEqual(['a memory written by format 3', 'another memory']);
    // Over the older checkpoint's pairs: a key of it deleted, one changed, one new.
    await fs.deleteKv(key(10));
    expected.delete(key(10));
    await fs.setKv(key(11), 'changed');
    expected.set(key(11), 'changed');
    await fs.setKv('key/new', 1);
    expected.set('key/new', 1);
    check();
    await fs.checkpoint();
    expect(await checkpointFormat()).toBe(5);
    check();
    await fs.close();
    fs = await open();
    try {
      check();
      expect((await fs.listMemories({ limit: 10 })).memories.map((memory) => memory.text).sort()).toEqual(['a memory written by format 3', 'another memory']);
    } finally {
      await fs.close();
    }
    expect((await verifyStore(root)).problems.filter((problem) => problem.severity === 'error')).toEqual([]);
  });
});
