import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { PowerLossFileSystem, seededRandom, type CrashState } from './support/power-loss-file-system.js';

const KEYS = Array.from({ length: 8 }, (_, i) => `thread/t/writes/${i}`);
/** A value of about 700 bytes: the eight of one call span two pages of the log, which a power loss can tear apart. */
const valueOf = (generation: number, i: number) => ({ generation, i, pad: 'x'.repeat(700) });

interface Crash {
  label: string;
  state: CrashState;
  /** The last generation whose `setKvs` had resolved (0: none). */
  acknowledged: number;
}

async function materialize(into: string, state: CrashState): Promise<void> {
  for (const folder of state.folders) await mkdir(join(into, folder), { recursive: true });
  for (const [name, bytes] of state.files) await writeFile(join(into, name), bytes);
}

/** Opens each image of `crashes` that holds a log, in a folder of `dir` made for it and removed after, and runs `check` on the store. */
async function openEachImage(dir: string, crashes: readonly Crash[], check: (store: MemMapFS, crash: Crash) => void): Promise<void> {
  for (const [n, crash] of crashes.entries()) {
    if (!crash.state.files.has('state.wal')) continue;
    const root = join(dir, `crash-${n}`);
    await materialize(root, crash.state);
    const store = await MemMapFS.init(root, { codec: msgpack() });
    try {
      check(store, crash);
    } finally {
      await store.close();
      await rm(root, { recursive: true, force: true });
    }
  }
}

describe('setKvs and deleteKvs under power loss, simulated', () => {
  it('leaves every crash image with all the values of one call or none of them, and none older than the last acknowledged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-power-kv-'));
    try {
      const live = join(dir, 'live');
      const files = new PowerLossFileSystem(live);
      const random = seededRandom(7);
      const crashes: Crash[] = [];
      let acknowledged = 0;
      files.onOperation = (tearing) => {
        const at = files.operations;
        crashes.push({ label: `before operation ${at}`, state: files.crashState(random), acknowledged });
        if (tearing) for (let tries = 0; tries < 4; tries++) crashes.push({ label: `during operation ${at} (a torn write, ${tries})`, state: files.crashState(random, tearing), acknowledged });
      };
      const fs = await MemMapFS.init(live, { codec: msgpack(), fileSystem: files });
      for (let generation = 1; generation <= 4; generation++) {
        await fs.setKvs(KEYS.map((key, i) => [key, valueOf(generation, i)] as const));
        acknowledged = generation;
      }
      await fs.close();
      expect(crashes.filter((crash) => crash.label.includes('torn')).length).toBeGreaterThan(8);

      let torn = 0;
      await openEachImage(dir, crashes, (store, crash) => {
        const generations = KEYS.map((key) => (store.getKv(key) as { generation: number } | undefined)?.generation ?? 0);
        expect(new Set(generations).size, `${crash.label}: the keys hold generations ${generations.join(', ')}`).toBe(1);
        expect(generations[0], `${crash.label}: generation ${crash.acknowledged} was acknowledged`).toBeGreaterThanOrEqual(crash.acknowledged);
        if (crash.label.includes('torn') && generations[0]! <= crash.acknowledged) torn++;
      });
      // (Some torn images did cut a call's write: the check above had something to find.)
      expect(torn).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('leaves every crash image with all the keys of a deleteKvs call or none of them, once it was acknowledged none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-power-kv-'));
    try {
      const live = join(dir, 'live');
      const files = new PowerLossFileSystem(live);
      const random = seededRandom(11);
      // (Keys of about 600 bytes: the eight deletes of the call span two pages of the log.)
      const keys = Array.from({ length: 8 }, (_, i) => `thread/t/${i}/${'k'.repeat(600)}`);
      const crashes: Crash[] = [];
      let phase: 'setting' | 'deleting' | 'deleted' = 'setting';
      files.onOperation = (tearing) => {
        if (phase === 'setting') return;
        const at = files.operations;
        const acknowledged = phase === 'deleted' ? 1 : 0;
        crashes.push({ label: `before operation ${at}`, state: files.crashState(random), acknowledged });
        if (tearing) for (let tries = 0; tries < 6; tries++) crashes.push({ label: `during operation ${at} (a torn write, ${tries})`, state: files.crashState(random, tearing), acknowledged });
      };
      const fs = await MemMapFS.init(live, { codec: msgpack(), fileSystem: files });
      await fs.setKvs(keys.map((key, i) => [key, i] as const));
      await fs.flush();
      phase = 'deleting';
      expect(await fs.deleteKvs(keys)).toEqual(keys);
      phase = 'deleted';
      await fs.close();
      expect(crashes.filter((crash) => crash.label.includes('torn')).length).toBeGreaterThan(4);
      const seen = new Set<number>();
      await openEachImage(dir, crashes, (store, crash) => {
        const present = keys.filter((key) => store.getKv(key) !== undefined).length;
        expect([0, keys.length], `${crash.label}: ${present} of the keys are there`).toContain(present);
        if (crash.acknowledged === 1) expect(present, `${crash.label}: the delete was acknowledged`).toBe(0);
        seen.add(present);
      });
      // (Images from before the delete and after it: the check above had both to tell apart.)
      expect([...seen].sort()).toEqual([0, keys.length]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
