import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MemMapFS } from '@memmapfs/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemMapStore } from '../src/index.js';
import { openStore, tempFolder } from './support/open-store.js';
import { runScript, scriptArgs } from './support/run-script.js';

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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
  it('a get of a key another process puts again and again never finds it missing', async () => {
    const fs = await openStore(root);
    const store = new MemMapStore(fs);
    await store.put(['hot'], 'k', { i: -1 });
    let done = false;
    const putting = runScript(worker, ['repeat', root, 'k', '600']).finally(() => (done = true));
    let gets = 0;
    const missing: number[] = [];
    while (!done) {
      // (A turn of the event loop each time: the worker's end is heard.)
      await new Promise((resolve) => setImmediate(resolve));
      if ((await store.get(['hot'], 'k')) === null) missing.push(gets);
      gets++;
    }
    await putting;
    expect(gets).toBeGreaterThan(50);
    expect(missing).toEqual([]);
    expect((await store.get(['hot'], 'k'))?.value).toEqual({ i: 599 });
    await fs.close();
  });

  /**
   * Runs `body` while another process's put of ['user'] 'profile' is stopped between its two writes
   * (its memory appended, its pointer not written), `performance` faked; `resume` lets it go on and
   * resolves what it read back once acknowledged.
   */
  async function whileAPutStops(fs: MemMapFS, body: (resume: () => Promise<unknown>) => Promise<void>): Promise<void> {
    const gate = await mkdtemp(join(tmpdir(), 'memmapfs-langgraph-gate-'));
    const putting = runScript(worker, ['stall', root, gate]);
    try {
      for (const deadline = Date.now() + 60_000; !existsSync(join(gate, 'appended')); await sleep(20)) {
        if (Date.now() > deadline) throw new Error('the put did not reach its pointer');
      }
      vi.useFakeTimers({ toFake: ['performance'] });
      await body(async () => {
        writeFileSync(join(gate, 'go'), '');
        return JSON.parse(await putting) as unknown;
      });
    } finally {
      vi.useRealTimers();
      writeFileSync(join(gate, 'go'), '');
      await putting.catch(() => undefined);
      await fs.close();
      await rm(gate, { recursive: true, force: true });
    }
  }

  it('a put stopped between its two writes for longer than a sweep waits still ends with its item there, created when it was first put', async () => {
    const fs = await openStore(root);
    const sweeper = new MemMapStore(fs);
    await sweeper.put(['user'], 'profile', { text: 'first value' });
    const createdAt = (await sweeper.get(['user'], 'profile'))!.createdAt;
    await sleep(5);
    await whileAPutStops(fs, async (resume) => {
      expect(await sweeper.sweep()).toBe(0);
      // The other process stays stopped for 11 minutes: the next sweep takes its memory for a leftover.
      vi.advanceTimersByTime(11 * 60_000);
      expect(await sweeper.sweep()).toBe(1);
      expect(await resume()).toEqual({ readBack: { text: 'acknowledged value' } });
      const item = await sweeper.get(['user'], 'profile');
      expect(item?.value).toEqual({ text: 'acknowledged value' });
      expect(item?.createdAt).toEqual(createdAt);
      expect(item!.updatedAt.getTime()).toBeGreaterThan(createdAt.getTime());
    });
  });

  it('a put stopped between its two writes, resumed while a sweep is between its look at the pointer and its delete of the memory as left over, keeps its item', async () => {
    const fs = await openStore(root);
    const sweeper = new MemMapStore(fs);
    await whileAPutStops(fs, async (resume) => {
      expect(await sweeper.sweep()).toBe(0);
      vi.advanceTimersByTime(11 * 60_000);
      // The sweep has looked at the pointer (none yet) and takes the memory for a left over: right then
      // the other process resumes, writes its pointer, finds its memory there and reads its item back.
      const deleteMemory = fs.deleteMemory.bind(fs);
      let readBack: unknown;
      fs.deleteMemory = (async (...args: Parameters<typeof fs.deleteMemory>) => {
        readBack ??= await resume();
        return deleteMemory(...args);
      }) as typeof fs.deleteMemory;
      try {
        expect(await sweeper.sweep()).toBe(0);
      } finally {
        fs.deleteMemory = deleteMemory;
      }
      expect(readBack).toEqual({ readBack: { text: 'acknowledged value' } });
      expect((await sweeper.get(['user'], 'profile'))?.value).toEqual({ text: 'acknowledged value' });
    });
  });

  it('a put whose key another process puts between its two writes deletes that put\'s memory: a delete then leaves no memory and no namespace', async () => {
    const fs = await openStore(root);
    const store = new MemMapStore(fs);
    // This put has read the (absent) pointer and appends its memory; the other process's put runs to its end right then.
    const appendMemory = fs.appendMemory.bind(fs);
    let raced = false;
    fs.appendMemory = (async (...args: Parameters<typeof appendMemory>) => {
      if (!raced) {
        raced = true;
        const run = spawnSync(process.execPath, [...scriptArgs(worker), 'put', root, 'k', 'from the other process'], { encoding: 'utf8' });
        if (run.status !== 0) throw new Error(run.stderr);
      }
      return appendMemory(...args);
    }) as typeof fs.appendMemory;
    await store.put(['ns'], 'k', { text: 'from this process' });
    expect(raced).toBe(true);
    expect((await store.get(['ns'], 'k'))?.value).toEqual({ text: 'from this process' });
    expect((await fs.listMemories({ namespace: 'langgraph-store' })).memories).toHaveLength(1);
    await store.delete(['ns'], 'k');
    expect(await store.listNamespaces({})).toEqual([]);
    expect((await fs.listMemories({ namespace: 'langgraph-store' })).memories).toEqual([]);
    await fs.close();
  });

  it('a delete killed between its two writes leaves no item; its memory, left over, goes with a sweep ten minutes after another', async () => {
    const fs = await openStore(root);
    const store = new MemMapStore(fs);
    await store.put(['only', 'ns'], 'k', { text: 'x' });
    expect(await store.listNamespaces({})).toEqual([['only', 'ns']]);
    const run = spawnSync(process.execPath, [...scriptArgs(worker), 'kill-delete', root], { encoding: 'utf8' });
    expect(run.signal).toBe('SIGKILL');
    expect(await store.get(['only', 'ns'], 'k')).toBeNull();
    expect(await store.search(['only'])).toEqual([]);
    // (Its namespace is listed while the memory is there.)
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      expect(await store.sweep()).toBe(0);
      vi.advanceTimersByTime(11 * 60_000);
      expect(await store.sweep()).toBe(1);
    } finally {
      vi.useRealTimers();
    }
    expect(await store.listNamespaces({})).toEqual([]);
    await store.put(['only', 'ns'], 'k', { text: 'again' });
    expect((await store.get(['only', 'ns'], 'k'))?.value).toEqual({ text: 'again' });
    await fs.close();
  });
});
