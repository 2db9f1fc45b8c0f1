import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemMapFS, verifyStore } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { PowerLossFileSystem, seededRandom, type CrashState } from './support/power-loss-file-system.js';

/** What the workload had been told was done, as of some operation. */
interface Acknowledged {
  memories: Map<number, string>;
  deleted: Set<number>;
  /** Changes under way (not acknowledged): they may or may not have reached the disk. */
  maybe: Map<number, Set<string | undefined>>;
  kv: Map<string, unknown>;
  state: string | undefined;
}

/** A crash: what the disk would hold, and what had been acknowledged by then. */
interface Crash {
  label: string;
  state: CrashState;
  acked: Acknowledged;
}

/** Where a run is: a hang is reported with it (which crash image, which step), not as a bare timeout. */
interface Progress {
  step: string;
}

/** `work`, or a rejection naming `progress.step` when it has not settled within `ms`. */
async function within<T>(work: Promise<T>, ms: number, progress: Progress): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    // (With what the process was waiting for: timers, file system requests, handles.)
    timer = setTimeout(() => reject(new Error(`not done after ${ms / 1000} s, at: ${progress.step}; waiting on: ${process.getActiveResourcesInfo().join(', ')}`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

const copy = (acked: Acknowledged): Acknowledged => ({ memories: new Map(acked.memories), deleted: new Set(acked.deleted), maybe: new Map([...acked.maybe].map(([id, values]) => [id, new Set(values)])), kv: new Map(acked.kv), state: acked.state });

/**
 * Runs a workload touching every kind of write (small and large blocks, a batch, updates, deletes, KV,
 * state, streams, a checkpoint, a reopen, checkpoints that seal log segments and remove the old ones,
 * and a compaction with erase) on a file system that models a disk, and takes, before
 * every operation that changes a file, what a power loss at that moment would leave: once between
 * operations, and once more in the middle of each write (torn page by page).
 */
async function runWorkload(root: string, seed: number, progress: Progress): Promise<{ crashes: Crash[]; attempted: Set<string> }> {
  const files = new PowerLossFileSystem(root);
  const acked: Acknowledged = { memories: new Map(), deleted: new Set(), maybe: new Map(), kv: new Map(), state: undefined };
  const attempted = new Set<string>();
  const crashes: Crash[] = [];
  const random = seededRandom(seed);
  files.onOperation = (tearing) => {
    const at = files.operations;
    crashes.push({ label: `seed ${seed}, before operation ${at}`, state: files.crashState(random), acked: copy(acked) });
    if (tearing) crashes.push({ label: `seed ${seed}, during operation ${at} (a torn write)`, state: files.crashState(random, tearing), acked: copy(acked) });
  };
  const open = (historyRetentionMs?: number) => MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), fileSystem: files, ...(historyRetentionMs !== undefined ? { historyRetentionMs } : {}) });
  const append = async (fs: MemMapFS, text: string) => {
    progress.step = `seed ${seed}, the workload, appending "${text.slice(0, 20)}"`;
    attempted.add(text);
    acked.memories.set(await fs.appendMemory(text, ['w']), text);
  };
  let fs = await open();
  for (let i = 0; i < 4; i++) await append(fs, `small memory ${i}`);
  const batch = Array.from({ length: 5 }, (_, i) => `batch memory ${i}`);
  batch.forEach((text) => attempted.add(text));
  (await fs.appendMemories(batch.map((text) => ({ text })))).forEach((id, i) => acked.memories.set(id, batch[i]!));
  await append(fs, `large memory ${'L'.repeat(70_000)}`);
  const [first] = acked.memories.keys();
  const updated = 'small memory 0, updated';
  attempted.add(updated);
  acked.maybe.set(first!, new Set([updated]));
  await fs.updateMemory(first!, { text: updated });
  acked.memories.set(first!, updated);
  const victim = [...acked.memories.keys()][2]!;
  acked.maybe.set(victim, new Set([undefined]));
  if (await fs.deleteMemory(victim)) acked.deleted.add(victim);
  await fs.setKv('config', { retries: 3 });
  acked.kv.set('config', { retries: 3 });
  await fs.updateState({ status: 'working', activeMemoryCount: 9, lastUpdatedId: victim, extra: {} });
  acked.state = 'working';
  await fs.appendStream('transcript', 'a short piece;');
  progress.step = `seed ${seed}, the workload, closing`;
  await fs.close();
  // Reopened letting each checkpoint drop the log before it: the log is sealed into segments and the old ones removed.
  fs = await open(0);
  await append(fs, 'after the reopen');
  progress.step = `seed ${seed}, the workload, a checkpoint`;
  await fs.checkpoint();
  // A compaction with erase: live blocks copied out of the chunk files, which are removed, a checkpoint,
  // the log cut before it, the index purged.
  const forgotten = [...acked.memories.keys()].find((id) => id !== first && !acked.deleted.has(id))!;
  acked.maybe.set(forgotten, new Set([undefined]));
  if (await fs.deleteMemory(forgotten)) acked.deleted.add(forgotten);
  const crashesBefore = crashes.length;
  progress.step = `seed ${seed}, the workload, a compaction with erase`;
  const compaction = await fs.compact({ erase: true });
  expect([compaction.chunksRewritten, compaction.blocksMoved > 0]).toEqual([1, true]);
  expect(crashes.length - crashesBefore).toBeGreaterThan(20);
  await fs.setKv('config', { retries: 4 });
  acked.kv.set('config', { retries: 4 });
  await append(fs, 'the last memory');
  progress.step = `seed ${seed}, the workload, the last checkpoint`;
  await fs.checkpoint();
  await append(fs, 'after the last checkpoint');
  progress.step = `seed ${seed}, the workload, the last close`;
  await fs.close();
  return { crashes, attempted };
}

async function materialize(into: string, state: CrashState): Promise<void> {
  for (const folder of state.folders) await mkdir(join(into, folder), { recursive: true });
  for (const [name, bytes] of state.files) await writeFile(join(into, name), bytes);
}

/** Opens the crash image: it must open, and hold every acknowledged write. */
async function checkCrash(root: string, crash: Crash, attempted: Set<string>, progress: Progress): Promise<void> {
  const { label, acked } = crash;
  progress.step = `${label}: opening`;
  if (!crash.state.files.has('state.wal')) {
    // The store was not created yet (or its creation not made durable): nothing can have been acknowledged,
    // and what is there opens as a new, empty store (never as a store whose log was lost).
    expect(acked.memories.size, label).toBe(0);
    const fresh = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() }).catch((error: unknown) => {
      throw new Error(`${label}: no state.wal, and the folder does not open as a new store: ${(error as Error).message}`);
    });
    expect(fresh.stats().memories, label).toBe(0);
    await fresh.close();
    return;
  }
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() }).catch((error: unknown) => {
    throw new Error(`${label}: the store does not open after the crash: ${(error as Error).message}`);
  });
  try {
    progress.step = `${label}: reading`;
    for (const [id, text] of acked.memories) {
      const memory = await fs.getMemory(id);
      if (acked.deleted.has(id)) expect(memory, `${label}: memory ${id} was deleted`).toBeUndefined();
      else if (memory?.text !== text) expect([...(acked.maybe.get(id) ?? [])], `${label}: memory ${id} should be "${text.slice(0, 40)}"`).toContain(memory?.text);
    }
    for (let id = 1; id <= fs.stats().lastLsn; id++) {
      const memory = await fs.getMemory(id);
      if (memory) expect(attempted.has(memory.text), `${label}: memory ${id} holds a text nobody wrote`).toBe(true);
    }
    // Later writes may have reached the disk before their acknowledgement; earlier ones may not be lost.
    if (acked.kv.has('config')) expect([{ retries: 3 }, { retries: 4 }], `${label}: KV`).toContainEqual(fs.getKv('config'));
    if (acked.kv.get('config') && (acked.kv.get('config') as { retries: number }).retries === 4) expect(fs.getKv('config'), label).toEqual({ retries: 4 });
    if (acked.state) expect(fs.getState().status, `${label}: state`).toBe(acked.state);
  } finally {
    progress.step = `${label}: closing`;
    await fs.close();
  }
  progress.step = `${label}: verifying`;
  const report = await verifyStore(root);
  expect(report.problems.filter((p) => p.severity === 'error'), `${label}: verify after reopening`).toEqual([]);
}

describe('power loss, simulated', () => {
  it('at every operation of a workload, and in the middle of every write, the store opens with every acknowledged write', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-power-'));
    try {
      let checked = 0;
      const progress: Progress = { step: 'starting' };
      for (const seed of [1, 2]) {
        // (Each step takes well under a second: the limits only turn a hang into a failure that says where.)
        const { crashes, attempted } = await within(runWorkload(join(dir, `live-${seed}`), seed, progress), 90_000, progress);
        expect(crashes.length).toBeGreaterThan(60);
        // The workload did seal segments and drop the log before its checkpoints.
        expect((await verifyStore(join(dir, `live-${seed}`))).firstLsn).toBeGreaterThan(1);
        for (const [i, crash] of crashes.entries()) {
          const root = join(dir, `crash-${seed}-${i}`);
          await materialize(root, crash.state);
          await within(checkCrash(root, crash, attempted, progress), 30_000, progress);
          await rm(root, { recursive: true, force: true });
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(120);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 240_000);

  it('a large block acknowledged in a chunk file another writer made, and stopped before making its name durable, outlives a power loss', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-power-'));
    const live = join(dir, 'live');
    const blocks = join(live, 'blocks');
    try {
      const files = new PowerLossFileSystem(live);
      const armed = { on: false, stuck: false };
      // Writer A: once armed, its fsync of the blocks folder never returns (a process killed right there).
      const stopping = {
        ...files,
        open: (async (path: string, flags?: string | number, mode?: number) => {
          const handle = await files.open(path, flags, mode);
          if (!armed.on || String(path) !== blocks) return handle;
          return new Proxy(handle, {
            get: (target, property) => {
              if (property === 'sync' || property === 'datasync') {
                return () => {
                  armed.stuck = true;
                  return new Promise(() => undefined);
                };
              }
              const value = Reflect.get(target, property) as unknown;
              return typeof value === 'function' ? value.bind(target) : value;
            },
          });
        }) as PowerLossFileSystem['open'],
      } as unknown as PowerLossFileSystem;
      const b = await MemMapFS.init(live, { codec: msgpack(), fileSystem: files, autoCompaction: false });
      const a = await MemMapFS.init(live, { codec: msgpack(), fileSystem: stopping, autoCompaction: false });
      armed.on = true;
      void a.appendMemory('A makes the first chunk').catch(() => undefined);
      while (!armed.stuck) await new Promise((resolve) => setTimeout(resolve, 5));
      // B takes up A's chunk, the only one, empty and unlocked, and writes a block with no copy in its record there.
      const text = `large ${'L'.repeat(70_000)}`;
      const id = await b.appendMemory(text);
      const root = join(dir, 'crash');
      await materialize(root, files.crashState(() => 0.99));
      const fs = await MemMapFS.init(root, { codec: msgpack() });
      try {
        expect((await fs.getMemory(id))?.text).toBe(text);
      } finally {
        await fs.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
