import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownersAsPairs, runMergeJob, type MergeJob } from '../src/merge-job.js';
import { MergeThread, MergeThreadLost } from '../src/merge-thread.js';
import { SegmentBuilder } from '../src/segment-builder.js';
import { mergeSegments } from '../src/segment-merge.js';
import { SegmentReader } from '../src/segment-reader.js';
import { runToEnd } from '../src/segment-writer.js';

const packageFolder = fileURLToPath(new URL('..', import.meta.url));
/** The thread's script as the package ships it (a worker on Node 20 runs no TypeScript). */
const workerScript = new URL('../dist/merge-worker.js', import.meta.url);

let folder: string;
beforeAll(async () => {
  if (!existsSync(fileURLToPath(workerScript))) execFileSync('npm', ['run', 'build'], { cwd: packageFolder, stdio: 'ignore' });
  folder = await mkdtemp(join(tmpdir(), 'memmapfs-merge-thread-'));
}, 120_000);
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

const words = ['alpha', 'beta', 'gamma', 'deploy', 'deployment', 'meeting', 'memo', 'café', 'ω', 'tea'];

/** Documents `first`…`last`, every `step`th id, of a few words each; written as one segment file. */
async function segmentFile(name: string, ids: number[]): Promise<{ path: string; bytes: Buffer }> {
  const builder = new SegmentBuilder();
  for (const id of ids) builder.add({ id, text: `${words[id % words.length]} ${words[(id * 7) % words.length]} note ${id}`, tags: id % 3 === 0 ? ['red'] : [], namespace: 'default' });
  const bytes = builder.build();
  const path = join(folder, name);
  await writeFile(path, bytes);
  return { path, bytes };
}

const range = (from: number, to: number, step = 1) => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);

describe('the merge thread', () => {
  it('merges files as the main thread merges their readers: rows of deleted memories and of versions another segment holds are left out', async () => {
    const a = await segmentFile('a.seg', range(1, 3_000));
    const b = await segmentFile('b.seg', range(2, 6_000, 2));
    // 10–19 deleted; the even ids up to 3,000 live in b (updated there), the rest of a's in a.
    const owners = new Map<number, number>([...range(10, 19).map((id) => [id, -1] as [number, number]), ...range(20, 3_000, 2).map((id) => [id, 8] as [number, number])]);
    const job: MergeJob = { paths: [a.path, b.path], keys: [7, 8], owners: ownersAsPairs(owners), reader: 'auto' };
    const expected = runToEnd(
      mergeSegments([new SegmentReader(a.bytes), new SegmentReader(b.bytes)], (input, _row, id) => {
        const owner = owners.get(id);
        return owner === undefined || owner === job.keys[input];
      }),
    );
    const thread = new MergeThread(workerScript);
    try {
      expect(thread.available).toBe(true);
      const merged = await thread.run(job);
      expect(merged.equals(expected)).toBe(true);
      expect(runMergeJob(job).equals(expected)).toBe(true);
      const reader = new SegmentReader(merged);
      // a: 3,000 less 10 deleted and 1,491 even ids from 20 on; b: 3,000 less the 5 deleted even ids.
      expect(reader.docCount).toBe(3_000 - 10 - 1_491 + (3_000 - 5));
      expect(reader.rowOf(15)).toBe(-1);
      expect(reader.rowOf(2_001)).toBeGreaterThanOrEqual(0);
      // The same thread takes the next job.
      expect((await thread.run({ ...job, owners: new Float64Array(0), reader: 'read' })).length).toBeGreaterThan(merged.length);
    } finally {
      await thread.close();
    }
  });

  it("rejects with the merge's error for a damaged input, and takes the next job", async () => {
    const good = await segmentFile('good.seg', range(1, 500));
    const damaged = Buffer.from(good.bytes);
    damaged[20] = damaged[20]! ^ 0xff;
    const damagedPath = join(folder, 'damaged.seg');
    await writeFile(damagedPath, damaged);
    const thread = new MergeThread(workerScript);
    try {
      const failed = thread.run({ paths: [good.path, damagedPath], keys: [1, 2], owners: new Float64Array(0), reader: 'auto' });
      await expect(failed).rejects.toThrow(/SegmentCorrupt: .*header fails its checksum/);
      await expect(failed).rejects.not.toBeInstanceOf(MergeThreadLost);
      expect((await thread.run({ paths: [good.path], keys: [1], owners: new Float64Array(0), reader: 'auto' })).equals(good.bytes)).toBe(true);
    } finally {
      await thread.close();
    }
  });

  it('gives a job under way back as lost when it closes, and takes none after', async () => {
    const big = await segmentFile('big.seg', range(1, 200_000));
    const thread = new MergeThread(workerScript);
    const job = { paths: [big.path, big.path, big.path], keys: [1, 2, 3], owners: new Float64Array(0), reader: 'auto' as const };
    const running = thread.run(job).catch((error: unknown) => error);
    await thread.close();
    expect(await running).toBeInstanceOf(MergeThreadLost);
    expect(thread.available).toBe(false);
    await expect(thread.run(job)).rejects.toBeInstanceOf(MergeThreadLost);
  });

  it("answers each job with its own merge when a job starts while the last thread is still ending (idle): the old thread's end is no answer to it", async () => {
    const one = await segmentFile('one.seg', range(1, 2_000));
    const two = await segmentFile('two.seg', range(3_001, 5_000));
    const three = await segmentFile('three.seg', range(6_001, 8_000));
    const job = (file: { path: string }) => ({ paths: [file.path], keys: [1], owners: new Float64Array(0), reader: 'auto' as const });
    const thread = new MergeThread(workerScript, { idleMs: 1 });
    try {
      for (let round = 0; round < 5; round++) {
        expect((await thread.run(job(one))).equals(one.bytes)).toBe(true);
        // The idle thread is told to end; its 'exit' comes while the next job runs on a new thread.
        await new Promise((resolve) => setTimeout(resolve, 5));
        expect((await thread.run(job(two))).equals(two.bytes), `round ${round}`).toBe(true);
        expect((await thread.run(job(three))).equals(three.bytes), `round ${round}`).toBe(true);
      }
    } finally {
      await thread.close();
    }
  });

  it('is not available where its script is missing (the package run from its sources), and says so without starting', async () => {
    const thread = new MergeThread(new URL('./no-such-worker.js', import.meta.url));
    expect(thread.available).toBe(false);
    expect(new MergeThread('https://example.com/merge-worker.js').available).toBe(false);
    await expect(thread.run({ paths: [], keys: [], owners: new Float64Array(0), reader: 'auto' })).rejects.toBeInstanceOf(MergeThreadLost);
    await thread.close();
  });
});

/** Runs `body` (a module's code, `segmentSearch` imported from the built package) in a fresh Node process: its last line of output, parsed. */
async function inBuiltProvider<T>(name: string, body: string): Promise<T> {
  const script = join(folder, `${name}.mjs`);
  const index = pathToFileURL(join(packageFolder, 'dist', 'index.js')).href;
  await writeFile(
    script,
    `import { subscribe } from 'node:diagnostics_channel';
    import { segmentSearch } from ${JSON.stringify(index)};
    const merges = [];
    subscribe('memmapfs:segments:merge', (message) => merges.push(message));
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    // (Until no merge has ended for half a second, or 20 s.)
    const quiet = async () => { for (let i = 0, seen = -1; i < 40 && seen !== merges.length; i++) { seen = merges.length; await sleep(500); } };
    ${body}`,
  );
  const run = spawnSync(process.execPath, [script, join(folder, name)], { encoding: 'utf8', timeout: 60_000 });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as T;
}

interface MergeMessage {
  segments: number;
  documents: number;
  thread: boolean;
}

describe('the built provider', () => {
  it('leaves out what is removed or replaced while the thread merges, and loses nothing else', async () => {
    const { merges, odd, changed, notes, distinct } = await inBuiltProvider<{ merges: MergeMessage[]; odd: number; changed: number; notes: number; distinct: number }>(
      'changes-during-merges',
      `const provider = segmentSearch({ flushAfter: 500, mergeFactor: 2 });
      await provider.openIndex(process.argv[2], undefined);
      for (let id = 1; id <= 4_000; id++) provider.add({ id, text: 'note ' + id + (id % 2 ? ' odd' : ''), tags: [], namespace: 'default' });
      await provider.saveIndex();
      // While the first merges run: 500 odd memories removed, 500 even ones replaced.
      for (let id = 1; id <= 999; id += 2) provider.remove(id);
      for (let id = 2; id <= 1_000; id += 2) provider.add({ id, text: 'note ' + id + ' changed', tags: [], namespace: 'default' });
      await quiet();
      await provider.saveIndex();
      await quiet();
      const hits = provider.search({ text: 'note', limit: 10_000 });
      const result = { merges, odd: provider.search({ text: 'odd', limit: 10_000 }).length, changed: provider.search({ text: 'changed', limit: 10_000 }).length, notes: hits.length, distinct: new Set(hits.map((hit) => hit.id)).size };
      await provider.close();
      console.log(JSON.stringify(result));`,
    );
    expect(merges.length).toBeGreaterThanOrEqual(4);
    expect(merges.every((merge) => merge.thread)).toBe(true);
    expect({ odd, changed, notes, distinct }).toEqual({ odd: 1_500, changed: 500, notes: 3_500, distinct: 3_500 });
  });

  it('merges its written segments on the thread, and finds every document after', async () => {
    const { merges, found } = await inBuiltProvider<{ merges: MergeMessage[]; found: number }>(
      'merges',
      `const provider = segmentSearch({ flushAfter: 500, mergeFactor: 2 });
      await provider.openIndex(process.argv[2], undefined);
      for (let id = 1; id <= 4_000; id++) provider.add({ id, text: 'note ' + id + (id % 2 ? ' odd' : ''), tags: [], namespace: 'default' });
      await provider.saveIndex();
      await quiet();
      const found = provider.search({ text: 'odd', limit: 10_000 }).length;
      await provider.close();
      console.log(JSON.stringify({ merges, found }));`,
    );
    expect(found).toBe(2_000);
    // Eight segments of 500, merged two at a time into one of 4,000.
    expect(merges.map((merge) => merge.documents).sort((a, b) => a - b)).toEqual([1_000, 1_000, 1_000, 1_000, 2_000, 2_000, 4_000]);
    expect(merges.every((merge) => merge.thread)).toBe(true);
  });
});
