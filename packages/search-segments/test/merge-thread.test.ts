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

/** (Not the test runner's options: they resolve the workspace's packages to their TypeScript sources.) */
const plainNode = { execArgv: [] };

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
    const thread = new MergeThread(workerScript, plainNode);
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
    damaged[20] ^= 0xff;
    const damagedPath = join(folder, 'damaged.seg');
    await writeFile(damagedPath, damaged);
    const thread = new MergeThread(workerScript, plainNode);
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
    const thread = new MergeThread(workerScript, plainNode);
    const job = { paths: [big.path, big.path, big.path], keys: [1, 2, 3], owners: new Float64Array(0), reader: 'auto' as const };
    const running = thread.run(job).catch((error: unknown) => error);
    await thread.close();
    expect(await running).toBeInstanceOf(MergeThreadLost);
    expect(thread.available).toBe(false);
    await expect(thread.run(job)).rejects.toBeInstanceOf(MergeThreadLost);
  });

  it('is not available where its script is missing (the package run from its sources), and says so without starting', async () => {
    const thread = new MergeThread(new URL('./no-such-worker.js', import.meta.url));
    expect(thread.available).toBe(false);
    await expect(thread.run({ paths: [], keys: [], owners: new Float64Array(0), reader: 'auto' })).rejects.toBeInstanceOf(MergeThreadLost);
    await thread.close();
  });
});

describe('the built provider', () => {
  it('merges its written segments on the thread, and finds every document after', async () => {
    const script = join(folder, 'merges.mjs');
    const index = pathToFileURL(join(packageFolder, 'dist', 'index.js')).href;
    await writeFile(
      script,
      `import { subscribe } from 'node:diagnostics_channel';
      import { segmentSearch } from ${JSON.stringify(index)};
      const merges = [];
      subscribe('memmapfs:segments:merge', (message) => merges.push(message));
      const provider = segmentSearch({ flushAfter: 500, mergeFactor: 2 });
      await provider.openIndex(process.argv[2], undefined);
      for (let id = 1; id <= 4_000; id++) provider.add({ id, text: 'note ' + id + (id % 2 ? ' odd' : ''), tags: [], namespace: 'default' });
      await provider.saveIndex();
      for (let i = 0; i < 500 && merges.length < 7; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      const found = provider.search({ text: 'odd', limit: 10_000 }).length;
      await provider.close();
      console.log(JSON.stringify({ merges, found }));`,
    );
    const run = spawnSync(process.execPath, [script, join(folder, 'index')], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const { merges, found } = JSON.parse(run.stdout.trim().split('\n').pop()!) as { merges: Array<{ segments: number; documents: number; thread: boolean }>; found: number };
    expect(found).toBe(2_000);
    // Eight segments of 500, merged two at a time into one of 4,000.
    expect(merges.map((merge) => merge.documents).sort((a, b) => a - b)).toEqual([1_000, 1_000, 1_000, 1_000, 2_000, 2_000, 4_000]);
    expect(merges.every((merge) => merge.thread)).toBe(true);
  });
});
