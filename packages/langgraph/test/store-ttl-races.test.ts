// MemMapStore puts, deletes, reads that refresh an expiry, and sweeps, racing in several processes:
// an acknowledged write is never undone by another process's older one.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { MemMapFS } from '@memmapfs/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemMapStore } from '../src/index.js';
import { laggingStore } from './support/lagging-store.js';
import { openStore, tempFolder } from './support/open-store.js';
import { scriptArgs } from './support/run-script.js';

const worker = fileURLToPath(new URL('./support/ttl-worker.ts', import.meta.url));
/** Runs the worker to its end and returns the JSON line it printed. */
const inChild = (...args: string[]) => {
  const run = spawnSync(process.execPath, [...scriptArgs(worker), ...args], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return JSON.parse(run.stdout.trim()) as Record<string, unknown>;
};

let root: string;
let remove: () => Promise<void>;
let fs: MemMapFS;
/** How far this process's clock is moved (ms). */
let offset = 0;
const realNow = Date.now.bind(Date);
beforeEach(async () => {
  ({ root, remove } = await tempFolder('ttl-races'));
  fs = await openStore(root);
  offset = 0;
  vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await fs.close();
  await remove();
});
const ttl = { ttl: { defaultTtl: 1, refreshOnRead: true } };

describe('MemMapStore writes racing other processes', { timeout: 60_000 }, () => {
  for (const [other, expected] of [['get-put-get', { v: 2 }], ['get-delete-get', undefined]] as const) {
    it(`a put that finds its memory gone once its pointer is written does not put again over another process's ${other.includes('put') ? 'put' : 'delete'} acknowledged after it`, async () => {
      const store = new MemMapStore(fs, ttl);
      const setKv = fs.setKv.bind(fs);
      const hasMemory = fs.hasMemory.bind(fs);
      let armed = false;
      let seen: Record<string, unknown> | undefined;
      fs.setKv = (async (key: string, value: unknown, options?: Parameters<typeof fs.setKv>[2]) => {
        const result = await setKv(key, value, options);
        if (key === 'langgraph-store/item/ns/k' && options?.when && result && seen === undefined) armed = true;
        return result;
      }) as typeof fs.setKv;
      fs.hasMemory = (async (id: number) => {
        if (armed) {
          armed = false;
          // Between the put's pointer and its look at its memory: another process reads this put's item,
          // then puts (or deletes) the key, and reads its own write back.
          seen = inChild(other, root, 'k', '2');
        }
        return hasMemory(id);
      }) as typeof fs.hasMemory;
      await store.put(['ns'], 'k', { v: 1 });
      fs.setKv = setKv;
      fs.hasMemory = hasMemory;
      expect(seen).toEqual({ before: { v: 1 }, after: other.includes('put') ? { v: 2 } : null });
      expect((await store.get(['ns'], 'k'))?.value).toEqual(expected);
      expect((await fs.listMemories({ namespace: 'langgraph-store' })).memories).toHaveLength(other.includes('put') ? 1 : 0);
    });
  }

  it('a delete half done in another process when a put there looks at its memory is not undone by the put: the item stays deleted', async () => {
    const store = new MemMapStore(fs, ttl);
    const child = spawn(process.execPath, [...scriptArgs(worker), 'delete-paused', root, 'k'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async () => JSON.parse((await lines.next()).value as string) as unknown;
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const setKv = fs.setKv.bind(fs);
    const hasMemory = fs.hasMemory.bind(fs);
    let armed = false;
    let before: unknown;
    fs.setKv = (async (key: string, value: unknown, options?: Parameters<typeof fs.setKv>[2]) => {
      const result = await setKv(key, value, options);
      if (key === 'langgraph-store/item/ns/k' && options?.when && result && before === undefined) armed = true;
      return result;
    }) as typeof fs.setKv;
    fs.hasMemory = (async (id: number) => {
      if (armed) {
        armed = false;
        // The put's pointer is written: the other process reads the item and begins to delete it.
        child.stdin.write('start\n');
        before = await next();
        expect(await next()).toBe('paused');
      }
      return hasMemory(id);
    }) as typeof fs.hasMemory;
    await store.put(['ns'], 'k', { v: 1 });
    fs.setKv = setKv;
    fs.hasMemory = hasMemory;
    expect(before).toEqual({ before: { v: 1 } });
    // The delete, which read this put's item, ends after the put was acknowledged.
    child.stdin.end('go\n');
    expect(await next()).toEqual({ after: null });
    expect(await exited).toBe(0);
    expect(await store.get(['ns'], 'k')).toBeNull();
    expect((await fs.listMemories({ namespace: 'langgraph-store' })).memories).toEqual([]);
  });

  it("a delete leaves the refreshed expiry another process's put and read wrote after the delete read the item", async () => {
    const store = new MemMapStore(fs, ttl);
    await store.put(['ns'], 'k', { v: 1 });
    await store.get(['ns'], 'k');
    const deleteKv = fs.deleteKv.bind(fs);
    let raced = false;
    fs.deleteKv = (async (key: string, options?: Parameters<typeof fs.deleteKv>[1]) => {
      if (!raced && key === 'langgraph-store/ttl/ns/k') {
        raced = true;
        // Put at 0 s, read (its expiry pushed to 90 s) at 30 s.
        expect(inChild('put-get', root, 'k', '2', String(offset))).toEqual({ got: { v: 2 } });
      }
      return deleteKv(key, options);
    }) as typeof fs.deleteKv;
    await store.delete(['ns'], 'k');
    fs.deleteKv = deleteKv;
    expect(raced).toBe(true);
    offset = 75_000;
    expect((await store.get(['ns'], 'k'))?.value).toEqual({ v: 2 });
  });

  it("a sweep leaves an item another process read, pushing its expiry back, after the sweep found it expired", async () => {
    const store = new MemMapStore(fs, ttl);
    await store.put(['ns'], 'k', { v: 1 });
    const getKv = fs.getKv.bind(fs);
    const deleteMemory = fs.deleteMemory.bind(fs);
    const deleteKv = fs.deleteKv.bind(fs);
    let looked = false;
    let read: Record<string, unknown> | undefined;
    // Once the sweep has looked at the item's pointer, before it deletes anything: another process, its
    // clock 10 s before the expiry, reads the item.
    const before = () => {
      if (looked && read === undefined) read = inChild('get', root, 'k', '50000');
    };
    fs.getKv = ((key: string) => {
      if (key === 'langgraph-store/item/ns/k') looked = true;
      return getKv(key);
    }) as typeof fs.getKv;
    fs.deleteMemory = (async (id: number) => {
      before();
      return deleteMemory(id);
    }) as typeof fs.deleteMemory;
    fs.deleteKv = (async (key: string, options?: Parameters<typeof fs.deleteKv>[1]) => {
      before();
      return deleteKv(key, options);
    }) as typeof fs.deleteKv;
    offset = 70_000;
    expect(await store.sweep()).toBe(0);
    fs.getKv = getKv;
    fs.deleteMemory = deleteMemory;
    fs.deleteKv = deleteKv;
    expect(read).toEqual({ got: { v: 1 } });
    // Pushed back to 110 s by that read.
    offset = 100_000;
    expect((await store.get(['ns'], 'k'))?.value).toEqual({ v: 1 });
  });

  it('a read pushes an expiry back, never nearer: a read whose clock is behind leaves the later one', async () => {
    const store = new MemMapStore(fs, ttl);
    await store.put(['ns'], 'k', { v: 1 });
    offset = 50_000;
    expect((await store.get(['ns'], 'k'))?.value).toEqual({ v: 1 });
    // Up to 70 s by this read alone: 110 s stays.
    offset = 10_000;
    expect((await store.get(['ns'], 'k'))?.value).toEqual({ v: 1 });
    offset = 100_000;
    expect((await store.get(['ns'], 'k', { refreshTtl: false }))?.value).toEqual({ v: 1 });
    offset = 111_000;
    expect(await store.get(['ns'], 'k')).toBeNull();
  });

  it('a read does not push back the expiry of an item that expired while the read went on (whether a sweep removed it yet or not)', async () => {
    const store = new MemMapStore(fs, ttl);
    await store.put(['ns'], 'k', { v: 1 });
    const setKv = fs.setKv.bind(fs);
    fs.setKv = (async (key: string, value: unknown, options?: Parameters<typeof fs.setKv>[2]) => {
      // The read found the item at 50 s; its refresh is committed at 70 s, past the expiry at 60 s.
      if (key === 'langgraph-store/item/ns/k' && options?.when) offset = 70_000;
      return setKv(key, value, options);
    }) as typeof fs.setKv;
    offset = 50_000;
    expect((await store.get(['ns'], 'k'))?.value).toEqual({ v: 1 });
    fs.setKv = setKv;
    expect(offset).toBe(70_000);
    expect(await store.get(['ns'], 'k')).toBeNull();
  });

  it('a get on a store whose reads lag, of an item another process replaces as it reads, finds the item', async () => {
    const here = new MemMapStore(fs, ttl);
    await here.put(['ns'], 'k', { v: 1 });
    const lagging = new MemMapStore(laggingStore(fs), ttl);
    const getMemory = fs.getMemory.bind(fs);
    let other: Record<string, unknown> | undefined;
    fs.getMemory = (async (id: number) => {
      // The get has read the pointer: the other process replaces the item now.
      other ??= inChild('get-put-get', root, 'k', '2');
      return getMemory(id);
    }) as typeof fs.getMemory;
    const got = await lagging.get(['ns'], 'k');
    fs.getMemory = getMemory;
    expect(other).toEqual({ before: { v: 1 }, after: { v: 2 } });
    expect(got?.value).toEqual({ v: 2 });
  });

  it('a sweep on a store whose reads lag catches up first: it leaves an item whose expiry another handle pushed back before it began', async () => {
    const here = new MemMapStore(fs, ttl);
    const lagging = laggingStore(fs);
    const sweeper = new MemMapStore(lagging, ttl);
    await here.put(['ns'], 'k', { v: 1 });
    await lagging.catchUp();
    offset = 50_000;
    expect((await here.get(['ns'], 'k'))?.value).toEqual({ v: 1 });
    offset = 70_000;
    await sweeper.sweep();
    expect((await here.get(['ns'], 'k'))?.value).toEqual({ v: 1 });
  });
});
