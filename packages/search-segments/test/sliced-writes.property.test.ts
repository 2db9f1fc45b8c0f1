import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { segmentSearch } from '../src/index.js';

/** A small deterministic generator: the same steps on every run. */
function rng(seed: number) {
  return () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0) >>> 0) / 2 ** 32;
}
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('segments built, laid out and merged a slice at a time, while documents are added, replaced and removed, and the index is saved and cleared', () => {
  for (const seed of [1, 2]) {
    it(`every live document found exactly once, no removed one, saves complete (seed ${seed})`, async () => {
      const folder = await mkdtemp(join(tmpdir(), 'memmapfs-segments-'));
      try {
        const random = rng(seed);
        const provider = segmentSearch({ flushAfter: 6, mergeFactor: 2 });
        await provider.openIndex(folder, undefined);
        const live = new Map<number, number>(); // id -> version
        let version = 0;
        const saves: Promise<void>[] = [];
        const doc = (id: number, v: number, big: boolean) => ({
          id,
          text: `common u${id}v${v} ` + (big ? Array.from({ length: 40_000 }, (_, k) => `b${v}z${k}`).join(' ') : `small${v}`),
          tags: [],
          namespace: 'default',
        });
        const check = async () => {
          const hits = (await provider.search({ text: 'common', limit: 100_000 })).map((h) => h.id).sort((a, b) => a - b);
          expect(hits).toEqual([...live.keys()].sort((a, b) => a - b));
          for (const [id, v] of live) expect((await provider.search({ text: `u${id}v${v}`, limit: 5 })).map((h) => h.id)).toEqual([id]);
        };
        for (let step = 0; step < 500; step++) {
          const r = random();
          const id = 1 + Math.floor(random() * 40);
          if (r < 0.55) {
            version++;
            provider.add(doc(id, version, random() < 0.04));
            live.set(id, version);
          } else if (r < 0.75) {
            provider.remove(id);
            live.delete(id);
          } else if (r < 0.85) {
            // A save started now describes (at least) what is live now.
            const expected = new Map(live);
            const purge = random() < 0.3;
            // The store saves one at a time: chained after the last one.
            const previous = saves.at(-1) ?? Promise.resolve();
            const saving = previous.then(() => provider.saveIndex({ purge }));
            saves.push(
              saving.then(async (saved) => {
                const reopened = segmentSearch();
                await reopened.openIndex(folder, saved);
                const hits = (await reopened.search({ text: 'common', limit: 100_000 })).map((h) => h.id);
                expect(new Set(hits).size).toBe(hits.length);
                for (const [eid, v] of expected) {
                  const found = (await reopened.search({ text: `u${eid}v${v}`, limit: 5 })).map((h) => h.id);
                  // Live then: found, unless changed since (then a later version may be saved instead).
                  if (live.get(eid) === v) expect(found).toEqual([eid]);
                }
                await reopened.close();
              }),
            );
          } else if (r < 0.87 && saves.length === 0) {
            provider.clear();
            live.clear();
          } else {
            const turns = 1 + Math.floor(random() * 5);
            for (let t = 0; t < turns; t++) await turn();
          }
          await check();
          if (saves.length > 3) {
            await Promise.all(saves.splice(0));
          }
        }
        await Promise.all(saves.splice(0));
        const saved = await provider.saveIndex();
        await provider.removeUnusedFiles(async () => saved);
        await provider.close();
        const reopened = segmentSearch();
        await reopened.openIndex(folder, saved);
        const hits = (await reopened.search({ text: 'common', limit: 100_000 })).map((h) => h.id).sort((a, b) => a - b);
        expect(hits).toEqual([...live.keys()].sort((a, b) => a - b));
        await reopened.close();
        // Files: only those the description names (a clear/close mid-build left none behind).
        const files = (await readdir(folder)).filter((f) => f.endsWith('.seg'));
        const p2 = segmentSearch();
        await p2.openIndex(folder, saved);
        await p2.removeUnusedFiles(async () => saved);
        await p2.close();
        expect((await readdir(folder)).filter((f) => f.endsWith('.seg')).length).toBeLessThanOrEqual(files.length);
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    }, 120_000);
  }
});
