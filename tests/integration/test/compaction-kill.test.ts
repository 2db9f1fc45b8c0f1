import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { segmentSearch } from '@memmapfs/search-segments';
import { seededRandom } from '@memmapfs/testkit';
import { describe, expect, it } from 'vitest';
// (The host processes of the PostgreSQL log's tests, each here a process with the one local folder open.)
import { acks, expectRunMatchesModel } from '../../../packages/wal-postgres/test/support/host-expectations.js';
import { startStoreChild, type StoreChild } from '../../../packages/wal-postgres/test/support/store-process.js';

/** Every live memory as `[id, text]`, in id order, page by page. */
async function memoryTexts(fs: MemMapFS): Promise<Array<[number, string]>> {
  const texts: Array<[number, string]> = [];
  let cursor: string | undefined;
  do {
    const page = await fs.listMemories({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    texts.push(...page.memories.map((memory): [number, string] => [memory.id, memory.text]));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return texts;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The files under the store's root that `child` maps now (its `mappings` command, asked anew). */
async function mappingsOf(child: StoreChild): Promise<string[]> {
  const answers = () => child.lines.filter((line) => 'mappings' in line) as Array<{ mappings: string[] }>;
  const before = answers().length;
  child.send('mappings');
  await child.until(() => answers().length > before, 'mappings');
  return answers().at(-1)!.mappings;
}
// (Texts of 70 KiB every fourth memory, in chunk files of 256 KiB: compactions find chunks mostly dead.)
const HOST = { workers: 3, bigEvery: 4, chunkSizeBytes: 256 * 1024, search: 'segments', queries: true } as const;
const KILLS = Number(process.env.MEMMAPFS_KILLS ?? 3);

describe('compaction in one process of a folder several have open', () => {
  it('a process compacting (and erasing) again and again, killed with -9 at random moments and started again, while two others append, update, delete and query: nothing acknowledged is lost or changed, nothing deleted comes back, and every process ends up reading the same memories from the new files only', async ({ onTestFailed }) => {
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-compaction-kill-'));
    const root = join(dir, 'store');
    const children: StoreChild[] = [];
    onTestFailed(() => {
      for (const child of children) {
        const other = child.lines.filter((line) => !('ack' in line || ('attempt' in line && !('failed' in line)) || 'view' in line || 'compacting' in line || 'queried' in line));
        console.error(`--- process ${child.name}: ${child.lines.length} lines, ${acks(child)} acknowledged; other lines:\n${other.slice(-20).map((line) => JSON.stringify(line).slice(0, 300)).join('\n')}\nstderr:\n${child.stderr()}`);
      }
    });
    const start = (name: string, seed: number, compactor = false) => {
      const child = startStoreChild({ root, name, seed, ...HOST, ...(compactor ? { compactEveryMs: 150, erase: true } : {}) });
      children.push(child);
      return child;
    };
    const random = seededRandom(5);
    try {
      // (The first process creates the store; the others open it, the second writer from the checkpoint
      // of the first compaction, which a later one removes: it must let go of it, open all along.)
      const writers = [start('a', 11)];
      await writers[0]!.line((line) => line.ready === true, 'ready', 30_000);
      let compactor = start('c', 33, true);
      await compactor.line((line) => line.ready === true, 'ready', 30_000);
      await compactor.line((line) => 'compacted' in line, 'a first compaction', 30_000);
      writers.push(start('b', 22));
      await writers[1]!.line((line) => line.ready === true, 'ready', 30_000);
      const compactions = (child: StoreChild) => child.lines.filter((line) => 'compacted' in line && (line.compacted as number) > 0).length;
      for (let round = 0; round < KILLS; round++) {
        const startedBefore = compactor.lines.filter((line) => 'compacting' in line).length;
        await compactor.until(() => acks(compactor) >= 10 && compactor.lines.filter((line) => 'compacting' in line).length > startedBefore, 'compacting', 30_000);
        await sleep(Math.floor(random() * 1_500));
        compactor.process.kill('SIGKILL');
        expect(await compactor.exited).toBe('SIGKILL');
        compactor = start(`c${round + 1}`, 44 + round, true);
        await compactor.line((line) => line.ready === true, 'ready after a kill', 30_000);
      }
      // The last one runs until it has rewritten chunks twice, the others writing meanwhile.
      await compactor.until(() => compactions(compactor) >= 2, 'two compactions that rewrote chunks', 60_000);

      const survivors = [...writers, compactor];
      for (const child of survivors) child.send('stop');
      await Promise.all(survivors.map((child) => child.line((line) => line.stopped === true, 'stopped', 45_000)));
      for (const child of survivors) child.send('view');
      const views = await Promise.all(survivors.map(async (child) => (await child.line<{ view: Array<[number, string]> }>((line) => 'view' in line, 'view')).view));
      const fresh = await MemMapFS.init(root, { codec: msgpack(), search: segmentSearch() });
      const freshView = await memoryTexts(fresh);
      await fresh.close();

      const all = children.flatMap((child) => child.lines);
      // Not vacuous: compactions moved blocks and removed chunk files, and writes and queries of every kind were acknowledged.
      expect(all.filter((line) => 'compacted' in line && (line.compacted as number) > 0).length).toBeGreaterThanOrEqual(2);
      for (const kind of ['append', 'update', 'delete']) expect(all.filter((line) => line.ack === kind).length).toBeGreaterThan(5);
      expect(freshView.length).toBeGreaterThan(20);
      expect(all.filter((line) => typeof line.queried === 'number' && line.queried > 0).length).toBeGreaterThan(5);
      expectRunMatchesModel(children, survivors, views, freshView);

      // The chunk files compactions removed are gone, and no process maps a removed file any more.
      const removed = all.flatMap((line) => (line.removed as string[] | undefined) ?? []);
      expect(removed.length).toBeGreaterThan(0);
      const present = new Set(await readdir(join(root, 'blocks')));
      expect(removed.filter((name) => present.has(name))).toEqual([]);
      // (A process takes the last checkpoint published in place of the one it read at its idle catch-up,
      // once a second: asked again for a few seconds.)
      const stale = (mappings: string[]) => mappings.filter((path) => path.endsWith('(deleted)') || removed.some((name) => path.endsWith(`/${name}`)));
      for (const child of survivors) {
        let mappings = await mappingsOf(child);
        for (const deadline = Date.now() + 5_000; stale(mappings).length > 0 && Date.now() < deadline; await sleep(250)) mappings = await mappingsOf(child);
        expect(mappings.some((path) => path.includes('/blocks/')), `process ${child.name} maps chunk files`).toBe(true);
        expect(stale(mappings), `files process ${child.name} still maps`).toEqual([]);
      }
      for (const child of survivors) child.send('close');
      await Promise.all(survivors.map((child) => child.line((line) => line.closed === true, 'closed', 45_000)));
      for (const child of survivors) expect(await child.exited, `process ${child.name} ends after closing its store`).toBe(0);
    } finally {
      for (const child of children) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
      await Promise.all(children.map((child) => child.exited));
      await rm(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
