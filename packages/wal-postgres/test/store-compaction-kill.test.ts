import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { segmentSearch } from '@memmapfs/search-segments';
import { seededRandom } from '@memmapfs/testkit';
import { describe, expect, inject, it } from 'vitest';
import { acks, expectRunMatchesModel } from './support/host-expectations.js';
import { freshStore } from './support/places.js';
import { INSTALL_ADVICE, lockWaits, serverActivity } from './support/postgres-server.js';
import { startStoreChild, type Line, type StoreChild } from './support/store-process.js';
import { memoryTexts, openHost, tempRoots } from './support/stores.js';

const postgres = inject('postgres');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const CHUNK_SIZE = 256 * 1024;
// (Every process indexes every memory once thousands wait, a quarter of them 70 KiB texts here: the
// segments index costs a fraction of FlexSearch's CPU for them, which two cores share with the suite.)
const SEARCH = 'segments';

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  describe('compaction on a shared log, processes killed', () => {
    it('a host compacting again and again while two others write, killed with -9 at random moments and started again: nothing acknowledged is lost or changed, and every host, a read-only process reading all along, and a fresh host read the same', async ({ onTestFailed }) => {
      const place = { connectionString: postgres.connectionString, store: freshStore('compactkill') };
      const roots = tempRoots();
      const children: StoreChild[] = [];
      onTestFailed(() => {
        for (const child of children) {
          const other = child.lines.filter((line) => !('ack' in line || ('attempt' in line && !('failed' in line)) || 'view' in line || 'compacting' in line));
          console.error(`--- host ${child.name}: ${child.lines.length} lines, ${acks(child)} acknowledged; other lines:\n${other.slice(-20).map((line) => JSON.stringify(line).slice(0, 300)).join('\n')}\nstderr:\n${child.stderr()}`);
        }
        console.error(`--- the server's lock waits and slow statements:\n${lockWaits(postgres.connectionString)}`);
      });
      const start = (name: string, root: string, seed: number, compactEveryMs?: number) => {
        const child = startStoreChild({ ...place, root, name, seed, workers: 3, bigEvery: 4, chunkSizeBytes: CHUNK_SIZE, search: SEARCH, ...(compactEveryMs ? { compactEveryMs } : {}) });
        children.push(child);
        return child;
      };
      const random = seededRandom(7);
      let stopReading = false;
      try {
        const rootC = await roots.make('c');
        const writerRoots = [await roots.make('a'), await roots.make('b')];
        const writers = [start('a', writerRoots[0]!, 11), start('b', writerRoots[1]!, 22)];
        let compactor = start('c', rootC, 33, 150);
        await Promise.all([...writers, compactor].map((child) => child.line((line) => line.ready === true, 'ready', 30_000)));
        // A read-only process on host a's folder, reading all along while its sibling and the others write and compact.
        const reader = startStoreChild({ ...place, root: writerRoots[0]!, name: 'a-reader', workers: 0, readOnly: true, search: SEARCH });
        children.push(reader);
        await reader.line((line) => line.ready === true, 'ready', 30_000);
        let readerViews = 0;
        const readWhileWriting = (async () => {
          while (!stopReading) {
            reader.send('view');
            await reader.until(() => reader.lines.filter((line) => 'view' in line).length > readerViews, 'a view', 30_000);
            readerViews++;
            // (Not back to back: on two cores, a reader that never rests slows every commit's turn at the writer lock.)
            await sleep(300);
          }
        })();
        // (Awaited below; a test failing before that leaves it to reject unheard when the reader is killed.)
        readWhileWriting.catch(() => undefined);
        const compactions = (child: StoreChild) => child.lines.filter((line) => 'compacted' in line && (line.compacted as number) > 0).length;
        // Killed three times: at a random moment after a compaction started, each time.
        for (let round = 0; round < 3; round++) {
          const startedBefore = compactor.lines.filter((line) => 'compacting' in line).length;
          await compactor.until(() => acks(compactor) >= 10 && compactor.lines.filter((line) => 'compacting' in line).length > startedBefore, 'compacting', 30_000);
          await sleep(Math.floor(random() * 1_800));
          compactor.process.kill('SIGKILL');
          expect(await compactor.exited).toBe('SIGKILL');
          compactor = start(`c${round + 1}`, rootC, 44 + round, 150);
          await compactor.line((line) => line.ready === true, 'ready after a kill', 30_000);
        }
        // The last one runs until it has rewritten chunks, and the writers go on meanwhile.
        await compactor.until(() => compactions(compactor) >= 2, 'two compactions that rewrote chunks', 60_000);

        stopReading = true;
        await readWhileWriting;
        const survivors = [...writers, compactor];
        for (const child of survivors) child.send('stop');
        await Promise.all(survivors.map((child) => child.line((line) => line.stopped === true, 'stopped', 45_000))).catch(async (error: unknown) => {
          console.error(`--- the server's connections when a host did not stop:\n${await serverActivity(postgres.connectionString)}`);
          throw error;
        });
        for (const child of survivors) child.send('view');
        const views = await Promise.all(survivors.map(async (child) => (await child.line<{ view: Array<[number, string]> }>((line) => 'view' in line, 'view')).view));
        const rootFresh = await roots.make('fresh');
        const fresh = await openHost(rootFresh, place, 'fresh', { chunkSizeBytes: CHUNK_SIZE, search: segmentSearch() });
        const freshView = await memoryTexts(fresh);
        await fresh.close();
        // The reader, after the writers stopped, reads what the fresh host reads; it read many times meanwhile, without a failure.
        reader.send('view');
        await reader.until(() => reader.lines.filter((line) => 'view' in line).length > readerViews, 'the last view', 30_000);
        expect((reader.lines.filter((line) => 'view' in line).at(-1) as { view: Array<[number, string]> }).view).toEqual(freshView);
        expect(readerViews).toBeGreaterThan(3);
        expect(reader.lines.filter((line) => 'failed' in line || 'readFailed' in line)).toEqual([]);
        reader.send('close');
        await reader.line((line) => line.closed === true, 'closed');
        for (const child of survivors) child.send('close');
        await Promise.all(survivors.map((child) => child.line((line) => line.closed === true, 'closed', 45_000)));
        for (const child of survivors) expect(await child.exited, `host ${child.name} ends after closing its store`).toBe(0);

        const all = children.flatMap((child) => child.lines);
        // Not vacuous: compactions moved blocks, and writes of every kind were acknowledged.
        expect(all.filter((line) => 'compacted' in line && (line.compacted as number) > 0).length).toBeGreaterThanOrEqual(2);
        for (const kind of ['append', 'update', 'delete']) expect(all.filter((line) => line.ack === kind).length).toBeGreaterThan(5);
        expectRunMatchesModel(children, survivors, views, freshView);
        const chunksOf = async (root: string) => (await readdir(join(root, 'blocks'))).filter((name) => name.startsWith('chunk_')).sort();
        // The chunk files a compaction removed are gone from every host's cache (and a fresh one's).
        const removed = all.flatMap((line) => (line.removed as string[] | undefined) ?? []);
        expect(removed.length).toBeGreaterThan(0);
        for (const root of [...writerRoots, rootC, rootFresh]) {
          const present = new Set(await chunksOf(root));
          expect(removed.filter((name) => present.has(name)), `retired chunk files left in ${root}`).toEqual([]);
        }
        // Every host's cache holds the same chunk files otherwise.
        // (The compacting host's may hold more: chunks it placed blocks in whose records a kill cut short.)
        const onFresh = await chunksOf(rootFresh);
        for (const root of writerRoots) expect(await chunksOf(root)).toEqual(onFresh);
        expect(await chunksOf(rootC)).toEqual(expect.arrayContaining(onFresh));
      } finally {
        for (const child of children) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
        await Promise.all(children.map((child) => child.exited));
        await roots.removeAll();
      }
    }, 180_000);
  });
}
