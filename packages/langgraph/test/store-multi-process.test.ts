import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemMapStore } from '../src/index.js';
import { openStore, tempFolder } from './support/open-store.js';
import { runScript } from './support/run-script.js';

const worker = fileURLToPath(new URL('./support/store-worker.ts', import.meta.url));

/** Runs the worker to its end and returns the JSON line it printed. */
async function runWorker(...args: string[]): Promise<{ kept: string[]; searches: number }> {
  return JSON.parse(await runScript(worker, args)) as { kept: string[]; searches: number };
}

let root: string;
let remove: () => Promise<void>;
beforeEach(async () => {
  ({ root, remove } = await tempFolder('store-processes'));
});
afterEach(() => remove());

describe('MemMapStore on a folder shared by processes', { timeout: 120_000 }, () => {
  it('two processes putting, deleting and searching at once lose nothing, and one key stays one item (the last write)', async () => {
    const count = 40;
    const fs = await openStore(root);
    const store = new MemMapStore(fs);
    // This process takes part too: it reads while the workers write.
    const reading = (async () => {
      let reads = 0;
      for (let i = 0; i < 20; i++) reads += (await store.search(['shared'], { limit: 100 })).length;
      return reads;
    })();
    const [a, b] = await Promise.all([runWorker('work', root, 'a', String(count)), runWorker('work', root, 'b', String(count)), reading]);

    const evens = Array.from({ length: count / 2 }, (_, i) => `item-${2 * i}`);
    for (const [writer, report] of [['a', a!], ['b', b!]] as const) {
      // Each worker saw its own writes...
      expect(report.kept.sort()).toEqual([...evens].sort());
      expect(report.searches).toBeGreaterThan(0);
      // ...and so does this process, with their values: every put kept, every delete done.
      const items = await store.search(['shared', writer], { limit: 1000 });
      expect(items.map((item) => item.key).sort()).toEqual([...evens].sort());
      for (const item of items) expect(item.value).toEqual({ writer, i: Number(item.key.slice(5)), text: `note ${item.key.slice(5)} from ${writer}` });
      expect(await store.get(['shared', writer], 'item-1')).toBeNull();
    }
    expect((await store.search(['shared'], { query: 'note', limit: 1000 })).length).toBe(count);

    // Each contested key is one item, holding the last value one of the writers gave it.
    const contested = await store.search(['shared', 'contested'], { limit: 100 });
    expect(contested.map((item) => item.key).sort()).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    for (const item of contested) {
      const k = Number(item.key.slice(1));
      const last = count - 5 + k;
      expect([{ writer: 'a', i: last }, { writer: 'b', i: last }]).toContainEqual(item.value);
      expect((await store.get(['shared', 'contested'], item.key))?.value).toEqual(item.value);
    }
    expect(await store.listNamespaces({ prefix: ['shared'] })).toEqual([['shared', 'a'], ['shared', 'b'], ['shared', 'contested']]);
    await fs.close();

    // After a reopen, the same.
    const reopened = await openStore(root);
    const again = new MemMapStore(reopened);
    expect((await again.search(['shared'], { limit: 1000 })).length).toBe(count + 5);
    await reopened.close();
  });
});
