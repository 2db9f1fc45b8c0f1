import { spawn, spawnSync } from 'node:child_process';
import { readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import * as nodeFileSystem from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, registerSearchProvider, repairStore, verifyStore, type SearchDocument, type SearchProvider } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { segmentSearch, SegmentReader, SegmentSearchProvider } from '@memmapfs/search-segments';
import { tryLeaseFile } from '@memmapfs/blocks';
import { printedLines, storeWorkerArgs, supportScriptArgs } from './support/hold-writer.js';
import { recordingFileSystem, removalMadeDurable } from './support/recording-file-system.js';
import { indexFilesHolding as filesOfIndexHolding, secretInSavedIndex as savedWithSecret } from './support/secret-in-index.js';
import { useTempStore } from './support/temp-store.js';

const tempStore = useTempStore('segments');
let root: string;
beforeEach(() => {
  ({ root } = tempStore());
});

/** A segments provider that counts the documents it is given: an index opened from its files takes none. */
class CountingSegments extends SegmentSearchProvider {
  added = 0;
  constructor() {
    super(8, 3);
  }
  override add(doc: SearchDocument): void {
    this.added++;
    super.add(doc);
  }
}

/** The files under `index/` whose bytes hold `text`. */
const indexFilesHolding = (text: string) => filesOfIndexHolding(root, text);

/** The warnings (`code: message`) the process emits while `body` runs, and a turn after (warnings are emitted on the next tick). */
async function warningsOf(body: () => Promise<void>): Promise<string[]> {
  const warnings: string[] = [];
  const onWarning = (warning: Error & { code?: string }) => warnings.push(`${warning.code}: ${warning.message}`);
  process.on('warning', onWarning);
  try {
    await body();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  return warnings;
}

/**
 * A handle (`a`) that wrote ten notes and a secret and saved its index, and a second one (`b`) that then
 * loaded that index: it reads (and leases) the files that hold the secret.
 */
async function secretSeenByTwo(openA: () => Promise<MemMapFS>, openB = openA): Promise<{ a: MemMapFS; b: MemMapFS; secret: number }> {
  const a = await openA();
  for (let i = 0; i < 10; i++) await a.appendMemory(`ordinary note ${i}`);
  const secret = await a.appendMemory('my password is hunter2walrus');
  await a.queryMemory('note');
  await a.checkpoint();
  const b = await openB();
  expect(await b.queryMemory('hunter2walrus')).toHaveLength(1);
  return { a, b, secret };
}

/** A store (segments as store-worker's) of twenty notes and a secret, its index saved holding the secret. */
const secretInSavedIndex = () => savedWithSecret(root);

/** Opens the store anew (its own provider) and queries it: the saved index is opened from its files, not rebuilt. */
async function expectOpenedNotRebuilt(query: string, hits: number): Promise<void> {
  let rebuilt = 0;
  const later = await MemMapFS.init(root, { codec: msgpack(), onIndexRebuild: (done) => (rebuilt = Math.max(rebuilt, done)) });
  expect(await later.queryMemory(query, { limit: 400 })).toHaveLength(hits);
  expect(rebuilt).toBe(0);
  await later.close();
}

/** Node's file system, except that reads of the files named `name` fail with `code` while `failing.on`. */
function failingReadsOf(name: string, code: string): { files: typeof nodeFileSystem; failing: { on: boolean } } {
  const failing = { on: false };
  const readFile = (async (path: string, ...rest: unknown[]) => {
    if (failing.on && basename(String(path)) === name) throw Object.assign(new Error(`${code}: failed reading '${path}'`), { code });
    return (nodeFileSystem.readFile as (...args: unknown[]) => Promise<Buffer>)(path, ...rest);
  }) as typeof nodeFileSystem.readFile;
  return { files: { ...nodeFileSystem, readFile }, failing };
}

/**
 * Flips a bit of the postings of `term` in the `nth` segment file holding it (in name order), in place (a
 * process may have the file mapped): damage a query reading that term finds. Returns the file's name.
 */
async function damagePostingsOf(term: string, nth = 0): Promise<string> {
  const holding: Array<{ name: string; at: number }> = [];
  for (const name of await segmentFiles()) {
    const bytes = await readFile(join(root, 'index', 'segments', name));
    const index = new SegmentReader(bytes).termId(term);
    if (index >= 0) holding.push({ name, at: bytes.readUInt32LE(bytes.readUInt32LE(36) + index * 16 + 8) });
  }
  const { name, at } = holding[nth]!;
  await flipBit(name, at);
  return name;
}

/** Flips a bit of the segment file `name` at `at`, in place. */
async function flipBit(name: string, at: number): Promise<void> {
  const handle = await nodeFileSystem.open(join(root, 'index', 'segments', name), 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0]! ^= 0x40;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

/**
 * A store of eight memories in two segments of four (`flushAfter: 4, mergeFactor: 3`, as the handles
 * opened on it), the second one's postings of `walrus` damaged: four more memories make a third segment
 * of the tier, and the merge of the three meets the damage.
 */
async function storeWithDamagedMergeInput(): Promise<void> {
  const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4, mergeFactor: 3 }), codec: msgpack() });
  for (let i = 0; i < 8; i++) await fs.appendMemory(`entry ${i} walrus`);
  expect(await fs.queryMemory('walrus', { limit: 100 })).toHaveLength(8);
  await fs.close();
  expect(await segmentFiles()).toHaveLength(2);
  await damagePostingsOf('walrus', 1);
}

/** The warnings (`code: message`) the process emits from now until `stop()`. */
function warningsFromNow(): { warnings: string[]; stop: () => void } {
  const warnings: string[] = [];
  const onWarning = (warning: Error & { code?: string }) => warnings.push(`${warning.code}: ${warning.message}`);
  process.on('warning', onWarning);
  return { warnings, stop: () => process.off('warning', onWarning) };
}

/** Waits, 10 s at most, until `warnings` holds one with `code`. */
async function untilWarned(warnings: readonly string[], code: string): Promise<void> {
  for (let waited = 0; waited < 10_000 && !warnings.some((warning) => warning.startsWith(`${code}:`)); waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** The count of purges `index/purges` holds. */
const purgesCounted = async () => (await readFile(join(root, 'index', 'purges')).catch(() => undefined))?.readUInt32LE(32);

/** A gate a seam waits at while `on`: `hit` resolves when it is reached, and `open()` lets it through (and turns it off). */
function gate(): { on: boolean; hit: Promise<void>; reached: () => Promise<void>; open: () => void } {
  let reachedNow!: () => void;
  let openNow!: () => void;
  const opened = new Promise<void>((resolve) => (openNow = resolve));
  const hit = new Promise<void>((resolve) => (reachedNow = resolve));
  const gate = {
    on: false,
    hit,
    reached: () => {
      reachedNow();
      return opened;
    },
    open: () => {
      gate.on = false;
      openNow();
    },
  };
  return gate;
}

const segmentFiles = async () => (await readdir(join(root, 'index', 'segments'))).filter((name) => name.endsWith('.seg')).sort();

/** Segments whose indexing, once held, waits until released. */
class HeldIndexing extends SegmentSearchProvider {
  held: Promise<void> | undefined;
  release = () => {};
  constructor() {
    super(16, 3);
  }
  hold(): void {
    this.held = new Promise((resolve) => (this.release = resolve));
  }
  override add(doc: SearchDocument): void | Promise<void> {
    if (!this.held) return super.add(doc);
    return this.held.then(() => super.add(doc));
  }
}

describe('the segments search index in a store', () => {
  it('is opened from its files on the next open, not rebuilt; only the changes after it are replayed', async () => {
    const first = new CountingSegments();
    const fs = await MemMapFS.init(root, { search: first, codec: msgpack() });
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) ids.push(await fs.appendMemory(`note ${i} about the ${i % 2 ? 'harbour' : 'mountain'} trip`, [i % 3 ? 'travel' : 'work']));
    expect((await fs.queryMemory('harbour', { limit: 100 })).length).toBe(20);
    await fs.close();
    expect((await segmentFiles()).length).toBeGreaterThan(0);

    const second = new CountingSegments();
    const again = await MemMapFS.init(root, { search: second, codec: msgpack() });
    expect((await again.queryMemory('harbour', { limit: 100 })).map((hit) => hit.id).sort((a, b) => a - b)).toEqual(ids.filter((_, i) => i % 2));
    expect(second.added).toBe(0);
    await again.updateMemory(ids[1]!, { text: 'the harbour trip became a lake trip', tags: ['lake'] });
    await again.deleteMemory(ids[3]!);
    await again.close();

    // Closed without a save (killed, say): the next open replays the two changes after the saved index.
    const third = new CountingSegments();
    const last = await MemMapFS.init(root, { search: third, codec: msgpack() });
    const harbour = (await last.queryMemory('harbour', { limit: 100 })).map((hit) => hit.id);
    expect(harbour).toHaveLength(19);
    expect(harbour).not.toContain(ids[3]);
    expect((await last.queryMemory('lake', { tags: ['lake'] })).map((hit) => hit.id)).toEqual([ids[1]]);
    expect(third.added).toBe(0);
    await last.close();
  });

  it('saves one at a time: checkpoints asked for at once, with changes and merges between them, leave a description whose files all open', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 3, mergeFactor: 2 }), codec: msgpack() });
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) ids.push(await fs.appendMemory(`walrus ${i}`));
    await fs.queryMemory('walrus');
    const saves: Array<Promise<void>> = [];
    for (let round = 0; round < 12; round++) {
      saves.push(fs.checkpoint());
      await fs.updateMemory(ids[round]!, { text: `walrus changed ${round}` });
      if (round % 3 === 0) await fs.deleteMemory(ids[29 - round]!);
      await fs.queryMemory('walrus');
    }
    await Promise.all(saves);
    await fs.close();
    const counting = new CountingSegments();
    const again = await MemMapFS.init(root, { search: counting, codec: msgpack() });
    expect(await again.queryMemory('walrus', { limit: 100 })).toHaveLength(26);
    expect(await again.queryMemory('changed', { limit: 100 })).toHaveLength(12);
    expect(counting.added).toBe(0);
    await again.close();
  });

  it('pages a query over a namespace and the ones under it as it pages one over all: equal scores in the order of a single search, no hit skipped or repeated', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch(), codec: msgpack() });
    for (const namespace of ['team', 'team', 'team', 'team/sub', 'team/sub', 'team/sub']) await fs.appendMemory('same words here', [], { namespace });
    const pages: number[][] = [];
    for (let offset = 0; offset < 6; offset += 2) pages.push((await fs.queryMemory('same', { namespace: 'team', limit: 2, offset })).map((hit) => hit.id));
    const whole = (await fs.queryMemory('same', { limit: 6 })).map((hit) => hit.id);
    expect(pages.flat()).toEqual(whole);
    expect(new Set(pages.flat()).size).toBe(6);
    await fs.close();
  });

  it('rebuilds from the memories when its files are gone, and finds the same', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 8 }), codec: msgpack() });
    for (let i = 0; i < 30; i++) await fs.appendMemory(`entry ${i} zebra`, ['z']);
    expect(await fs.queryMemory('zebra', { limit: 100 })).toHaveLength(30);
    await fs.close();
    for (const name of await segmentFiles()) await rm(join(root, 'index', 'segments', name));
    const counting = new CountingSegments();
    const again = await MemMapFS.init(root, { search: counting, codec: msgpack() });
    expect(await again.queryMemory('zebra', { limit: 100, tags: ['z'] })).toHaveLength(30);
    expect(counting.added).toBe(30);
    await again.close();
  });

  it('a saved index whose file is gone is rebuilt once: the open that finds it so replaces its description, though it only queries', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 8 }), codec: msgpack() });
    for (let i = 0; i < 30; i++) await fs.appendMemory(`entry ${i} zebra`, ['z']);
    expect(await fs.queryMemory('zebra', { limit: 100 })).toHaveLength(30);
    await fs.close();
    await rm(join(root, 'index', 'segments', (await segmentFiles())[0]!));
    const added: number[] = [];
    for (let round = 0; round < 2; round++) {
      const counting = new CountingSegments();
      const reader = await MemMapFS.init(root, { search: counting, codec: msgpack() });
      expect(await reader.queryMemory('zebra', { limit: 100, tags: ['z'] })).toHaveLength(30);
      await reader.close();
      added.push(counting.added);
    }
    expect(added).toEqual([30, 0]);
    expect((await verifyStore(root)).problems).toEqual([]);
  });

  it('a saved index whose files are gone because other processes saved twice while it was opened is not dropped: the newest stays, no purge is counted', async () => {
    // A process writes, queries (its index saved at close) and compacts (the next one's files rewritten).
    const writeAndCompact = async () => {
      const w = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4, mergeFactor: 2 }), codec: msgpack() });
      for (let i = 0; i < 12; i++) await w.appendMemory(`entry ${i} zebra`, ['z']);
      await w.queryMemory('zebra', { limit: 1000 });
      await w.compact();
      await w.close();
    };
    await writeAndCompact();
    // Each time it opens a saved index, this one lets another process save a newer one first, which
    // removes the files of the one it is about to open.
    class Overtaken extends SegmentSearchProvider {
      overtakes = 2;
      constructor() {
        super(4, 2);
      }
      override async openIndex(folder: string, saved: Uint8Array | undefined, options?: { readonly reader?: 'auto' | 'mmap' | 'read' }): Promise<void> {
        if (saved && this.overtakes-- > 0) {
          await writeAndCompact();
          // (Caught up with it: the newer saved index, read next, is one this process can bring up to date.)
          await a!.catchUp();
        }
        return super.openIndex(folder, saved, options);
      }
    }
    const overtaken = new Overtaken();
    let a: MemMapFS | undefined;
    const warnings = await warningsOf(async () => {
      a = await MemMapFS.init(root, { search: overtaken, codec: msgpack() });
      expect((await a.queryMemory('zebra', { limit: 1000 })).length).toBeGreaterThanOrEqual(12);
      expect(await a.queryMemory('zebra', { limit: 1000 })).toHaveLength(36);
    });
    expect(overtaken.overtakes).toBe(0);
    expect(warnings.filter((warning) => warning.startsWith('MEMMAPFS_INDEX_DAMAGED'))).toEqual([]);
    expect((await verifyStore(root)).problems).toEqual([]);
    expect(await readFile(join(root, 'index', 'search.snapshot')).then(() => true, () => false)).toBe(true);
    await a!.close();
  });

  it('verify finds a segment file damaged or gone; repair drops the saved index and the next open rebuilds it', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 8 }), codec: msgpack() });
    for (let i = 0; i < 30; i++) await fs.appendMemory(`entry ${i} walrus`, ['w']);
    expect(await fs.queryMemory('walrus', { limit: 100 })).toHaveLength(30);
    await fs.close();
    const indexProblems = async () => (await verifyStore(root)).problems.filter((problem) => problem.kind === 'search-index-damaged');
    expect(await indexProblems()).toEqual([]);

    const [damaged, gone] = await segmentFiles();
    const path = join(root, 'index', 'segments', damaged!);
    const bytes = await readFile(path);
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0xff;
    await writeFile(path, bytes);
    await rm(join(root, 'index', 'segments', gone!));
    const report = await verifyStore(root);
    expect(report.ok).toBe(true);
    const found = report.problems.filter((problem) => problem.kind === 'search-index-damaged');
    expect(found.map((problem) => [problem.severity, problem.repairable])).toEqual([['warning', true], ['warning', true]]);
    expect(found.filter((problem) => problem.message.includes(`${damaged} fails its checksum`))).toHaveLength(1);
    expect(found.filter((problem) => problem.message.includes(`${gone} cannot be read (ENOENT)`))).toHaveLength(1);

    const repaired = await repairStore(root);
    expect(repaired.actions.join(' ')).toMatch(/Removed the saved search index/);
    expect(repaired.after.problems).toEqual([]);
    const counting = new CountingSegments();
    const again = await MemMapFS.init(root, { search: counting, codec: msgpack() });
    expect(await again.queryMemory('walrus', { limit: 100, tags: ['w'] })).toHaveLength(30);
    expect(counting.added).toBe(30);
    await again.close();
    expect(await indexProblems()).toEqual([]);
  });

  it('a query that finds a segment damaged has the index rebuilt from the memories and answers from it; another process that loaded the damaged files lets go of them, and no description names them again', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 16, mergeFactor: 3 }), codec: msgpack() });
    for (let i = 0; i < 20; i++) await fs.appendMemory(`ordinary note ${i}`);
    for (let i = 0; i < 10; i++) await fs.appendMemory(`walrus entry ${i}`);
    expect(await fs.queryMemory('walrus', { limit: 100 })).toHaveLength(10);
    await fs.close();
    // Another process loads the saved index from its files (a query that reads no damaged part).
    const other = spawn(process.execPath, storeWorkerArgs('query', root, 'note'), { stdio: 'pipe', env: { ...process.env, MEMMAPFS_TEST_SEARCH: 'segments' } });
    const next = printedLines(other, 'the other process');
    try {
      expect(await next()).toEqual({ hits: 20 });
      const damaged = await damagePostingsOf('walrus');
      let rebuilt = 0;
      const a = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 16, mergeFactor: 3 }), codec: msgpack(), onIndexRebuild: (done) => (rebuilt = Math.max(rebuilt, done)) });
      let hits: unknown[] = [];
      const warnings = await warningsOf(async () => {
        hits = await a.queryMemory('walrus', { limit: 100 });
      });
      expect(hits).toHaveLength(10);
      expect(rebuilt).toBe(30);
      expect(warnings.filter((warning) => warning.startsWith('MEMMAPFS_INDEX_DAMAGED: ') && warning.includes('postings of its term'))).toHaveLength(1);
      // The other process's save (of the index it loaded before) is refused; it loads the rebuilt one when it next queries.
      other.stdin.write('checkpoint\n');
      expect(await next()).toEqual({ checkpointed: true });
      await a.checkpoint();
      other.stdin.write('query walrus\n');
      expect(await next()).toEqual({ hits: 10 });
      other.stdin.write('checkpoint\n');
      expect(await next()).toEqual({ checkpointed: true });
      expect(await a.queryMemory('entry', { limit: 100 })).toHaveLength(10);
      await a.close();
      expect(await readFile(join(root, 'index', 'search.snapshot'))).not.toContain(Buffer.from(damaged));
    } finally {
      other.stdin.end();
      await new Promise((resolve) => other.once('exit', resolve));
    }
    // Once both closed: nothing names the damaged file, and the next open loads the index saved, not rebuilt.
    expect((await verifyStore(root)).problems.filter((problem) => problem.kind === 'search-index-damaged')).toEqual([]);
    await expectOpenedNotRebuilt('walrus', 10);
  }, 60_000);

  it('a read-only process that finds a segment damaged rebuilds its own index and answers from it; the damage stays for verify and repair', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 8 }), codec: msgpack() });
    for (let i = 0; i < 30; i++) await fs.appendMemory(`entry ${i} walrus`, ['w']);
    await fs.close();
    const damaged = await damagePostingsOf('walrus');
    let rebuilt = 0;
    const reader = await MemMapFS.init(root, { readOnly: true, codec: msgpack(), onIndexRebuild: (done) => (rebuilt = Math.max(rebuilt, done)) });
    const warnings = await warningsOf(async () => {
      expect(await reader.queryMemory('walrus', { limit: 100, tags: ['w'] })).toHaveLength(30);
      expect(await reader.queryMemory('walrus', { limit: 100 })).toHaveLength(30);
    });
    expect(rebuilt).toBe(30);
    expect(warnings.filter((warning) => warning.startsWith('MEMMAPFS_INDEX_DAMAGED: '))).toHaveLength(1);
    await reader.close();
    const found = (await verifyStore(root)).problems.filter((problem) => problem.kind === 'search-index-damaged');
    expect(found.map((problem) => problem.message.includes(`${damaged} fails its checksum`))).toEqual([true]);
  });

  it('a merge that finds an input damaged has the next query rebuild the index from the memories', async () => {
    await storeWithDamagedMergeInput();
    let rebuilt = 0;
    const a = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4, mergeFactor: 3 }), codec: msgpack(), onIndexRebuild: (done) => (rebuilt = Math.max(rebuilt, done)) });
    const { warnings, stop } = warningsFromNow();
    try {
      // Loaded by a query that reads no damaged part; a third segment of its tier has the three merged.
      expect(await a.queryMemory('missing')).toEqual([]);
      for (let i = 8; i < 12; i++) await a.appendMemory(`entry ${i} otter`);
      await a.checkpoint();
      await untilWarned(warnings, 'MEMMAPFS_MERGE_FAILED');
      expect(await a.queryMemory('entry', { limit: 100 })).toHaveLength(12);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      stop();
    }
    expect(warnings.filter((warning) => warning.startsWith('MEMMAPFS_MERGE_FAILED: ') && warning.includes('fails its checksum'))).toHaveLength(1);
    expect(warnings.filter((warning) => warning.startsWith('MEMMAPFS_INDEX_DAMAGED: '))).toHaveLength(1);
    expect(rebuilt).toBe(12);
    await a.close();
    expect((await verifyStore(root)).problems.filter((problem) => problem.kind === 'search-index-damaged')).toEqual([]);
  });

  it('an open that finds a segment damaged (the last row, read to open it) drops the description, says so and rebuilds; the damaged files go', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 16, mergeFactor: 8 }), codec: msgpack() });
    for (let i = 0; i < 40; i++) await fs.appendMemory(`walrus entry ${i}`);
    expect(await fs.queryMemory('walrus', { limit: 100 })).toHaveLength(40);
    await fs.close();
    const files = await segmentFiles();
    const bytes = await readFile(join(root, 'index', 'segments', files[0]!));
    // The last row's id.
    await flipBit(files[0]!, 64 + 16 * (new SegmentReader(bytes).docCount - 1) + 6);
    let rebuilt = 0;
    const a = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 16, mergeFactor: 8 }), codec: msgpack(), onIndexRebuild: (done) => (rebuilt = Math.max(rebuilt, done)) });
    const warnings = await warningsOf(async () => {
      expect(await a.queryMemory('walrus', { limit: 100 })).toHaveLength(40);
    });
    expect(rebuilt).toBe(40);
    expect(warnings.filter((warning) => warning.startsWith('MEMMAPFS_INDEX_DAMAGED: ') && warning.includes('document row '))).toHaveLength(1);
    await a.appendMemory('another walrus');
    await a.checkpoint();
    // None of the old files is leased any more: the save removed them.
    expect((await segmentFiles()).filter((name) => files.includes(name))).toEqual([]);
    await a.close();
    await expectOpenedNotRebuilt('walrus', 41);
  });

  it('a query that finds damage after its process loaded another process\'s rebuilt index (its replacement held behind a save) leaves that index be: one purge, one rebuild', async () => {
    const search = () => segmentSearch({ flushAfter: 16, mergeFactor: 8 });
    const first = await MemMapFS.init(root, { search: search(), codec: msgpack() });
    for (let i = 0; i < 20; i++) await first.appendMemory(`ordinary note ${i}`);
    for (let i = 0; i < 10; i++) await first.appendMemory(`walrus entry ${i}`);
    expect(await first.queryMemory('walrus', { limit: 100 })).toHaveLength(10);
    await first.close();
    await damagePostingsOf('walrus');
    // B's reads of `search.snapshot` and its fsync of `index/`, each held at a gate when asked.
    const snapshotRead = gate();
    const folderSync = gate();
    const indexFolder = join(root, 'index');
    const open = (async (path: string, ...rest: unknown[]) => {
      if (snapshotRead.on && basename(String(path)) === 'search.snapshot') await snapshotRead.reached();
      if (folderSync.on && String(path) === indexFolder) await folderSync.reached();
      return (nodeFileSystem.open as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
    }) as typeof nodeFileSystem.open;
    let rebuildsOfA = 0;
    const a = await MemMapFS.init(root, { search: search(), codec: msgpack(), onIndexRebuild: (done, total) => (rebuildsOfA += done === total ? 1 : 0) });
    const b = await MemMapFS.init(root, { search: search(), codec: msgpack(), fileSystem: { ...nodeFileSystem, open } });
    expect(await a.queryMemory('note', { limit: 100 })).toHaveLength(20);
    expect(await b.queryMemory('note', { limit: 100 })).toHaveLength(20);
    // B: a save under way, held where it reads the saved description; B's query meets the damage, and its replacement waits for that save.
    await b.appendMemory('another note from b');
    await b.queryMemory('note');
    snapshotRead.on = true;
    const bIndex = (b as unknown as { engine: { index: { savePersistent(): Promise<void> } } }).engine.index;
    const bSave = bIndex.savePersistent();
    await snapshotRead.hit;
    const bQuery = b.queryMemory('walrus', { limit: 100 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    // A meets it too: counts a purge, removes the description, rebuilds, and saves its rebuilt index.
    expect(await a.queryMemory('walrus', { limit: 100 })).toHaveLength(10);
    await a.appendMemory('another note from a');
    await a.checkpoint();
    expect(await purgesCounted()).toBe(1);
    // B's save goes on, refused by the count, and lets go of its index; held at its folder's fsync, B loads A's rebuilt index for another query.
    folderSync.on = true;
    snapshotRead.open();
    await folderSync.hit;
    expect(await b.queryMemory('note', { limit: 100 })).toHaveLength(22);
    folderSync.open();
    await bSave;
    // B's replacement finds another index loaded than the damaged one: it leaves it be.
    expect(await bQuery).toHaveLength(10);
    expect(await purgesCounted()).toBe(1);
    await a.appendMemory('yet another note from a');
    await a.checkpoint();
    expect(await a.queryMemory('note', { limit: 100 })).toHaveLength(23);
    expect(rebuildsOfA).toBe(1);
    await a.close();
    await b.close();
    expect(await purgesCounted()).toBe(1);
  }, 60_000);

  it('damage met while the changes after a saved index are applied to it (not by a query) is dropped and rebuilt as a query\'s', async () => {
    const search = () => segmentSearch({ flushAfter: 16, mergeFactor: 8 });
    const first = await MemMapFS.init(root, { search: search(), codec: msgpack() });
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) ids.push(await first.appendMemory(`walrus entry ${i}`));
    expect(await first.queryMemory('walrus', { limit: 100 })).toHaveLength(30);
    await first.close();
    const [file] = await segmentFiles();
    const reader = new SegmentReader(await readFile(join(root, 'index', 'segments', file!)));
    await flipBit(file!, 64 + 16 * Math.floor((reader.docCount - 1) / 2) + 6);
    // Another handle changes a memory of that segment, never loading the index: the load applies it, reading rows.
    const other = await MemMapFS.init(root, { search: search(), codec: msgpack() });
    await other.updateMemory(ids[2]!, { text: 'walrus changed' });
    await other.close();
    let rebuilt = 0;
    const a = await MemMapFS.init(root, { search: search(), codec: msgpack(), onIndexRebuild: (done) => (rebuilt = Math.max(rebuilt, done)) });
    const warnings = await warningsOf(async () => {
      expect(await a.queryMemory('walrus', { limit: 100 })).toHaveLength(30);
    });
    expect(rebuilt).toBe(30);
    expect(warnings.filter((warning) => warning.startsWith('MEMMAPFS_INDEX_DAMAGED: '))).toHaveLength(1);
    expect(await purgesCounted()).toBe(1);
    await a.close();
  });

  it('a load that reads the count of purges while a replacement counts one rebuilds once: the rebuilt index is not taken for one that went through fewer', async () => {
    const search = () => segmentSearch({ flushAfter: 16, mergeFactor: 8 });
    const first = await MemMapFS.init(root, { search: search(), codec: msgpack() });
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) ids.push(await first.appendMemory(`ordinary note ${i}`));
    for (let i = 0; i < 10; i++) await first.appendMemory(`walrus entry ${i}`);
    await first.deleteMemory(ids[0]!);
    await first.compact({ erase: true });
    expect(await purgesCounted()).toBe(1);
    await first.close();
    await damagePostingsOf('walrus');
    // The index lock's opening, and a read of the count of purges, each held at a gate when asked.
    const lockOpen = gate();
    const purgesRead = gate();
    const open = (async (path: string, ...rest: unknown[]) => {
      if (lockOpen.on && String(path) === join(root, 'index', 'save.lock')) await lockOpen.reached();
      return (nodeFileSystem.open as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
    }) as typeof nodeFileSystem.open;
    const readFileHeld = (async (path: string, ...rest: unknown[]) => {
      const read = await (nodeFileSystem.readFile as (...args: unknown[]) => Promise<Buffer>)(path, ...rest);
      if (purgesRead.on && String(path) === join(root, 'index', 'purges')) {
        // (The first read only: the replacement's own, under the lock, goes through.)
        purgesRead.on = false;
        await purgesRead.reached();
      }
      return read;
    }) as typeof nodeFileSystem.readFile;
    let rebuilds = 0;
    const a = await MemMapFS.init(root, { search: search(), codec: msgpack(), fileSystem: { ...nodeFileSystem, open, readFile: readFileHeld }, onIndexRebuild: (done, total) => (rebuilds += done === total ? 1 : 0) });
    expect(await a.queryMemory('note', { limit: 100 })).toHaveLength(19);
    // A query meets the damage; its replacement waits for the lock. Another query's load reads the count (1) meanwhile.
    lockOpen.on = true;
    const damaged = a.queryMemory('walrus', { limit: 100 });
    await lockOpen.hit;
    purgesRead.on = true;
    const another = a.queryMemory('note', { limit: 100 });
    await purgesRead.hit;
    lockOpen.open();
    for (let i = 0; i < 300 && (await purgesCounted()) !== 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 50));
    purgesRead.open();
    expect(await damaged).toHaveLength(10);
    expect(await another).toHaveLength(19);
    // The rebuilt index's save is taken: no second rebuild.
    await a.appendMemory('another note');
    await a.checkpoint();
    expect(await a.queryMemory('note', { limit: 100 })).toHaveLength(20);
    expect(rebuilds).toBe(1);
    await a.close();
    await expectOpenedNotRebuilt('note', 20);
  });

  it('a store closed while its index is known damaged (a merge found it) drops the description: the next open rebuilds rather than meet the damage', async () => {
    await storeWithDamagedMergeInput();
    const a = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4, mergeFactor: 3 }), codec: msgpack() });
    const { warnings, stop } = warningsFromNow();
    try {
      expect(await a.queryMemory('missing')).toEqual([]);
      // (No checkpoint: its save would meet the damage first. The segment is written out as it fills.)
      for (let i = 8; i < 12; i++) await a.appendMemory(`entry ${i} otter`);
      expect(await a.queryMemory('missing')).toEqual([]);
      await untilWarned(warnings, 'MEMMAPFS_MERGE_FAILED');
      expect(warnings.filter((warning) => warning.startsWith('MEMMAPFS_INDEX_DAMAGED: '))).toEqual([]);
      await a.close();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      stop();
    }
    expect(warnings.filter((warning) => warning.startsWith('MEMMAPFS_INDEX_DAMAGED: '))).toHaveLength(1);
    expect((await verifyStore(root)).problems.filter((problem) => problem.kind === 'search-index-damaged')).toEqual([]);
    let rebuilt = 0;
    const later = await MemMapFS.init(root, { codec: msgpack(), onIndexRebuild: (done) => (rebuilt = Math.max(rebuilt, done)) });
    expect(await later.queryMemory('entry', { limit: 100 })).toHaveLength(12);
    expect(rebuilt).toBe(12);
    await later.close();
  });

  it('compact({ erase: true }) with a damaged segment no query has read rebuilds the index and erases', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 16, mergeFactor: 8 }), codec: msgpack() });
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) ids.push(await fs.appendMemory(`walrus entry ${i} ${i === 0 ? 'hunter2walrus' : ''}`));
    await fs.close();
    await damagePostingsOf('entry');
    const a = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 16, mergeFactor: 8 }), codec: msgpack() });
    expect(await a.queryMemory('walrus', { limit: 100 })).toHaveLength(30);
    await a.deleteMemory(ids[0]!);
    const warnings = await warningsOf(async () => {
      expect(await a.compact({ erase: true })).toMatchObject({ erased: true, indexFilesLeft: 0 });
    });
    expect(warnings.filter((warning) => warning.startsWith('MEMMAPFS_INDEX_DAMAGED: '))).toHaveLength(1);
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    expect(await a.queryMemory('entry', { limit: 100 })).toHaveLength(29);
    await a.close();
    expect((await verifyStore(root)).problems.filter((problem) => problem.kind === 'search-index-damaged')).toEqual([]);
  });

  it('forgets for good: after a delete and compact({ erase: true }) no file of the index holds what the memory said', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4, mergeFactor: 2 }), codec: msgpack() });
    for (let i = 0; i < 20; i++) await fs.appendMemory(`ordinary note ${i}`);
    const secret = await fs.appendMemory('my password is hunter2walrus', ['secret']);
    await fs.queryMemory('note');
    await fs.checkpoint();
    for (let i = 0; i < 10; i++) await fs.appendMemory(`later note ${i}`);
    await fs.queryMemory('note');
    await fs.checkpoint();
    await fs.deleteMemory(secret);
    await fs.compact({ erase: true });
    expect(await fs.queryMemory('hunter2walrus')).toEqual([]);
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    expect(await fs.queryMemory('note', { limit: 100 })).toHaveLength(30);
    await fs.close();
  });

  it('compact() gives back the index space of deleted and updated memories too: segments a tenth or more dead are rewritten without them', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 100 }), codec: msgpack() });
    for (let start = 0; start < 400; start += 100) await fs.appendMemories(Array.from({ length: 100 }, (_, k) => ({ text: `ordinary note ${start + k} word${start + k}q` })));
    await fs.queryMemory('note');
    await fs.checkpoint();
    const indexBytes = async () => {
      let total = 0;
      for (const name of await segmentFiles()) total += (await readFile(join(root, 'index', 'segments', name))).length;
      return total;
    };
    const before = await indexBytes();
    const ids = (await fs.queryMemory('note', { limit: 400 })).map((hit) => hit.id).sort((a, b) => a - b);
    // 15 of every 100: fewer than a segment rewrites by itself.
    for (const [i, id] of ids.entries()) {
      if (i % 100 < 10) await fs.deleteMemory(id);
      else if (i % 100 < 15) await fs.updateMemory(id, { text: `changed note ${i}` });
    }
    await fs.checkpoint();
    expect(await indexFilesHolding('word3q')).not.toEqual([]);
    const report = await fs.compact();
    expect(report.indexBytesBefore).toBeGreaterThanOrEqual(before);
    expect(report.indexBytesAfter).toBeLessThan(report.indexBytesBefore * 0.92);
    expect(await indexFilesHolding('word3q')).toEqual([]);
    expect(await indexFilesHolding('word13q')).toEqual([]);
    expect(await indexBytes()).toBeLessThan(before * 0.92);
    expect(await fs.queryMemory('word3q')).toEqual([]);
    expect(await fs.queryMemory('note', { limit: 400 })).toHaveLength(360);
    await fs.close();
    const again = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 100 }), codec: msgpack() });
    expect(await again.queryMemory('ordinary', { limit: 400 })).toHaveLength(340);
    expect(await again.queryMemory('changed', { limit: 400 })).toHaveLength(20);
    await again.close();
  });

  it('compact() in a process that has not searched yet (as `memmapfs compact`) loads the index to give back its space', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 100 }), codec: msgpack() });
    const ids = await fs.appendMemories(Array.from({ length: 200 }, (_, k) => ({ text: `ordinary note ${k} word${k}q` })));
    // Indexed and written out before the deletions (else a deletion may reach the index with the memory, which it then never takes).
    await fs.queryMemory('note');
    await fs.checkpoint();
    // 15 of the first segment's 100: fewer than a segment rewrites by itself.
    for (const id of ids.slice(0, 15)) await fs.deleteMemory(id);
    await fs.close();
    expect(await indexFilesHolding('word7q')).not.toEqual([]);
    const later = await MemMapFS.init(root, { codec: msgpack() });
    await later.compact();
    await later.close();
    expect(await indexFilesHolding('word7q')).toEqual([]);
    const again = await MemMapFS.init(root, { codec: msgpack() });
    expect(await again.queryMemory('ordinary', { limit: 400 })).toHaveLength(185);
    await again.close();
  });

  it('compact() resolves with its report when the index cannot be compacted: the chunks and the log are compacted, the index is said in a warning', async () => {
    class FullDisk extends SegmentSearchProvider {
      constructor() {
        super(4096, 8);
      }
      override saveIndex(options: { purge?: boolean; compact?: boolean } = {}): Promise<Uint8Array> {
        if (options.compact) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
        return super.saveIndex(options);
      }
    }
    const fs = await MemMapFS.init(root, { search: new FullDisk(), codec: msgpack(), autoCompaction: false });
    const ids = await fs.appendMemories(Array.from({ length: 300 }, (_, k) => ({ text: `ordinary note ${k} ${'padding '.repeat(40)}` })));
    await fs.queryMemory('note');
    await fs.checkpoint();
    for (const id of ids.slice(0, 200)) await fs.deleteMemory(id);
    const warnings = await warningsOf(async () => expect((await fs.compact()).blocksMoved).toBe(100));
    expect(warnings.some((warning) => warning.includes('ENOSPC'))).toBe(true);
    expect(await fs.queryMemory('ordinary', { limit: 400 })).toHaveLength(100);
    await fs.close();
  });

  it('compact() in a process that has not searched loads the index from its files and the log, not from every memory', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 100 }), codec: msgpack() });
    const ids = await fs.appendMemories(Array.from({ length: 400 }, (_, k) => ({ text: `ordinary note ${k}` })));
    await fs.queryMemory('note');
    await fs.close();
    // Changes after the saved index, by a process that never searched (its index is never loaded, nor saved):
    // the compaction's checkpoint and the log it drops come after them.
    const writer = await MemMapFS.init(root, { codec: msgpack() });
    for (const id of ids.slice(0, 50)) await writer.deleteMemory(id);
    await writer.close();
    let rebuilt = 0;
    const later = await MemMapFS.init(root, { codec: msgpack(), onIndexRebuild: (done) => (rebuilt = Math.max(rebuilt, done)) });
    await later.compact();
    expect(rebuilt).toBe(0);
    expect(await later.queryMemory('ordinary', { limit: 400 })).toHaveLength(350);
    await later.close();
  });

  it('a process that loads the index while another compacts, after the log was cut and before the index is compacted, opens it from its files, not from every memory', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 16, mergeFactor: 3 }), codec: msgpack(), autoCompaction: false });
    const ids = await fs.appendMemories(Array.from({ length: 300 }, (_, k) => ({ text: `ordinary note ${k} ${'padding '.repeat(40)}` })));
    await fs.queryMemory('note');
    await fs.close();
    // Opened before the compaction, it changes what the saved index covers without loading it (as a
    // process that writes and has not searched yet), then only follows: its position pins no old log.
    let rebuilt = 0;
    const reader = await MemMapFS.init(root, { codec: msgpack(), autoCompaction: false, onIndexRebuild: (done) => (rebuilt = Math.max(rebuilt, done)) });
    for (const id of ids.slice(0, 200)) await reader.deleteMemory(id);
    const compactor = spawn(process.execPath, storeWorkerArgs('compact', root), { stdio: 'pipe', env: { ...process.env, MEMMAPFS_TEST_SEARCH: 'segments', MEMMAPFS_TEST_HOLD_INDEX_COMPACTION: '1' } });
    const next = printedLines(compactor, 'the compacting process');
    try {
      expect(await next()).toEqual({ ready: true });
      compactor.stdin.write('go\n');
      let line = await next();
      while (!('compactingIndex' in line)) line = await next();
      // The log is cut after the compaction's checkpoint; the index it compacts is not saved yet.
      expect(await reader.queryMemory('ordinary', { limit: 400 })).toHaveLength(100);
      expect(rebuilt).toBe(0);
      compactor.stdin.write('go on\n');
      while (!('report' in line)) line = await next();
      expect((line.report as { blocksMoved: number }).blocksMoved).toBe(100);
    } finally {
      compactor.stdin.end();
      await new Promise((resolve) => (compactor.exitCode === null ? compactor.on('exit', resolve) : resolve(undefined)));
    }
    expect(await reader.queryMemory('ordinary', { limit: 400 })).toHaveLength(100);
    await reader.close();
  });

  it('a saved index its process\'s checkpoint vouches for is not taken as whole once the log dropped the records after it: the memories they made are found', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 16 }), codec: msgpack(), autoCompaction: false });
    await fs.appendMemories(Array.from({ length: 50 }, (_, k) => ({ text: `ordinary note ${k}` })));
    await fs.queryMemory('note');
    // The checkpoint and the saved index end with the same record.
    await fs.checkpoint();
    await fs.close();
    // Memories after both, from a process that neither searches nor writes a checkpoint.
    const writer = await MemMapFS.init(root, { codec: msgpack(), autoCompaction: false });
    await writer.appendMemories(Array.from({ length: 5 }, (_, k) => ({ text: `later entry ${k}` })));
    await writer.close();
    // Opened from that checkpoint, it replays the five records at open.
    const reader = await MemMapFS.init(root, { codec: msgpack(), autoCompaction: false });
    // Another process checkpoints them and drops the log before its checkpoint, without saving the
    // index (it never loaded it): once the reader has moved on to the new segment, the old one goes.
    type Engine = { engine: { checkpointTables(): Promise<void>; wal: { lastLsn: number; truncateBefore(lsn: number): Promise<number> } } };
    const cutter = await MemMapFS.init(root, { codec: msgpack(), autoCompaction: false });
    const { engine } = cutter as unknown as Engine;
    await engine.checkpointTables();
    const after = engine.wal.lastLsn + 1;
    await engine.wal.truncateBefore(after);
    expect(reader.stats().memories).toBe(55);
    expect(await engine.wal.truncateBefore(after)).toBe(after);
    expect((await reader.queryMemory('later', { limit: 10 })).map((m) => m.text).sort()).toEqual(Array.from({ length: 5 }, (_, k) => `later entry ${k}`));
    await cutter.close();
    await reader.close();
  });

  it('the save before a compaction cuts the log waits a while at most for the index to take the changes waiting, then goes without it', async () => {
    const search = new HeldIndexing();
    const fs = await MemMapFS.init(root, { search, codec: msgpack(), autoCompaction: false });
    await fs.appendMemories(Array.from({ length: 20 }, (_, k) => ({ text: `ordinary note ${k}` })));
    await fs.queryMemory('note');
    await fs.checkpoint();
    const savedLsn = async () => (await readFile(join(root, 'index', 'search.snapshot'))).readDoubleLE(16);
    const before = await savedLsn();
    search.hold();
    await fs.appendMemory('a memory the index has not taken yet');
    const { engine } = fs as unknown as { engine: { index: { savePersistent(options: { upToDate: boolean }): Promise<void> } } };
    await engine.index.savePersistent({ upToDate: true });
    expect(await savedLsn()).toBe(before);
    search.release();
    expect(await fs.queryMemory('taken')).toHaveLength(1);
    await fs.close();
    expect(await savedLsn()).toBeGreaterThan(before);
  }, 20_000);

  it('compact() resolves while the index cannot take the changes waiting (other processes write faster than this one indexes): the index is compacted by a later compaction, and a warning says so', async () => {
    const search = new HeldIndexing();
    const fs = await MemMapFS.init(root, { search, codec: msgpack(), autoCompaction: false });
    const ids = await fs.appendMemories(Array.from({ length: 20 }, (_, k) => ({ text: `ordinary note ${k}` })));
    await fs.queryMemory('note');
    await fs.checkpoint();
    for (const id of ids.slice(0, 10)) await fs.deleteMemory(id);
    search.hold();
    await fs.appendMemory('a memory the index has not taken yet');
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(`${warning.code}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const outcome = await Promise.race([fs.compact().then(() => 'resolved'), new Promise((resolve) => setTimeout(() => resolve('still running'), 30_000))]);
      expect(outcome).toBe('resolved');
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.some((w) => w.startsWith('MEMMAPFS_SNAPSHOT_FAILED') && /not compacted/.test(w))).toBe(true);
    } finally {
      process.off('warning', onWarning);
      search.release();
    }
    expect(await fs.queryMemory('note', { limit: 100 })).toHaveLength(10);
    expect(await fs.queryMemory('taken')).toHaveLength(1);
    await fs.close();
  }, 60_000);

  it('with historyRetentionMs 0, a checkpoint in the background lets the log drop what it covers while the index is far behind (a bulk load), not once the index has taken every change', async () => {
    const search = new HeldIndexing();
    const fs = await MemMapFS.init(root, { search, codec: msgpack(), autoCompaction: false, historyRetentionMs: 0 });
    await fs.appendMemory('indexed before the hold');
    await fs.queryMemory('indexed');
    search.hold();
    // Another writer (keeping its history), faster than this handle indexes: more changes than a
    // checkpoint in the background waits for, none of them indexed here.
    const writer = await MemMapFS.init(root, { codec: msgpack(), autoCompaction: false });
    try {
      for (let at = 0; at < 17_000; at += 1000) await writer.appendMemories(Array.from({ length: 1000 }, (_, k) => ({ text: `bulk note ${at + k}` })));
      // (The cut seals state.wal as a segment, which goes once a later cut is past it and no process
      // reads it: here the writer still does.)
      const sealed = async () => (await readdir(join(root, 'wal')).catch(() => [] as string[])).filter((name) => name.endsWith('.seg'));
      for (const until = performance.now() + 20_000; (await sealed()).length === 0 && performance.now() < until; ) await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await sealed()).not.toEqual([]);
    } finally {
      search.release();
      await writer.close();
    }
    expect(await fs.queryMemory('bulk', { limit: 1 })).toHaveLength(1);
    await fs.close();
  }, 60_000);

  it('a compaction by policy in a process that has not loaded the index carries the saved index forward when nothing it indexes changed since: a later process opens it, not rebuilds it', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 16 }), codec: msgpack(), autoCompaction: false });
    const ids = await fs.appendMemories(Array.from({ length: 300 }, (_, k) => ({ text: `ordinary note ${k} ${'padding '.repeat(60)}` })));
    await fs.queryMemory('note');
    await fs.checkpoint();
    for (const id of ids.slice(0, 200)) await fs.deleteMemory(id);
    // Saved on close, after the deletions.
    await fs.close();
    // A process that writes only KV (its index never loaded) compacts by policy: the log is cut.
    const writer = await MemMapFS.init(root, { codec: msgpack(), autoCompaction: false });
    await writer.setKv('progress', { step: 1 });
    const { engine } = writer as unknown as { engine: { compact(options: { background: boolean }): Promise<{ blocksMoved: number; logFirstLsn: number }> } };
    const report = await engine.compact({ background: true });
    expect(report.blocksMoved).toBe(100);
    expect(report.logFirstLsn).toBeGreaterThan(ids.at(-1)!);
    await writer.close();
    await expectOpenedNotRebuilt('ordinary', 100);
  });

  it('with historyRetentionMs 0, checkpoint() saves the loaded index before the log drops the records before the checkpoint, so that no process loads it in between and rebuilds it', async () => {
    // (The order of the two on disk: a process loading the index between them finds it older than the log.)
    const events: string[] = [];
    const files = {
      ...nodeFileSystem,
      rename: (async (from: string, to: string) => {
        await nodeFileSystem.rename(from, to);
        events.push(`rename:${basename(to)}`);
      }) as typeof nodeFileSystem.rename,
      unlink: (async (path: string) => {
        await nodeFileSystem.unlink(path);
        events.push(`unlink:${basename(path)}`);
      }) as typeof nodeFileSystem.unlink,
    };
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4 }), codec: msgpack(), historyRetentionMs: 0, fileSystem: files });
    await fs.appendMemories(Array.from({ length: 10 }, (_, k) => ({ text: `kept note ${k}` })));
    await fs.queryMemory('note');
    await fs.checkpoint();
    await fs.appendMemories(Array.from({ length: 10 }, (_, k) => ({ text: `later note ${k}` })));
    // (A reader of this process that holds the segment at that moment, its idle catch-up say, makes the
    // cut leave it to the next checkpoint: a few more, each after one record, until one removes it.)
    let cut = -1;
    events.length = 0;
    for (let attempt = 0; attempt < 5 && cut < 0; attempt++) {
      if (attempt > 0) await fs.setKv('attempt', attempt);
      await fs.checkpoint();
      cut = events.findIndex((event) => /^unlink:.*\.seg$/.test(event));
    }
    expect(cut).toBeGreaterThan(-1);
    expect(events.slice(0, cut)).toContain('rename:search.snapshot');
    await fs.close();
    await expectOpenedNotRebuilt('note', 20);
  });

  it('a compacting save does not put an older index back over a newer one another process saved', async () => {
    const a = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 100 }), codec: msgpack() });
    await a.appendMemories(Array.from({ length: 50 }, (_, k) => ({ text: `first note ${k}` })));
    await a.queryMemory('note');
    const b = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 100 }), codec: msgpack() });
    await b.appendMemories(Array.from({ length: 50 }, (_, k) => ({ text: `second note ${k}` })));
    await b.queryMemory('note');
    await b.checkpoint();
    // The LSN the saved index covers (docs/FORMAT.md, `index/search.snapshot`: bytes 16–24).
    const savedLsn = async () => (await readFile(join(root, 'index', 'search.snapshot'))).readDoubleLE(16);
    const before = await savedLsn();
    // `a` has not caught up with b's records: its compacting save covers less than the saved one.
    const engine = (a as unknown as { engine: { index: { savePersistent(options: { compact: boolean }): Promise<void> } } }).engine;
    await engine.index.savePersistent({ compact: true });
    expect(await savedLsn()).toEqual(before);
    await b.close();
    await a.close();
  });

  it('a progress callback that throws does not stop the compaction: an erase still leaves nothing of the memory in the index, and a warning says so', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4, mergeFactor: 2 }), codec: msgpack() });
    for (let i = 0; i < 20; i++) await fs.appendMemory(`ordinary note ${i}`);
    const secret = await fs.appendMemory('my password is hunter2walrus', ['secret']);
    await fs.queryMemory('note');
    await fs.checkpoint();
    await fs.deleteMemory(secret);
    const warnings = await warningsOf(async () => {
      const report = await fs.compact({ erase: true, onProgress: () => {
        throw new Error('the progress display broke');
      } });
      expect(report.logFirstLsn).toBeGreaterThan(1);
    });
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    expect(warnings.some((warning) => warning.includes('the progress display broke'))).toBe(true);
    await fs.close();
  });

  it('forgets for good while another handle still reads the old index: that one neither saves it back nor keeps its files once closed', async () => {
    const open = () => MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4, mergeFactor: 2 }), codec: msgpack() });
    const holding = () => indexFilesHolding('hunter2walrus');
    const { a, b, secret } = await secretSeenByTwo(open);
    await a.deleteMemory(secret);
    await a.compact({ erase: true });
    expect(await b.queryMemory('hunter2walrus')).toEqual([]);
    await b.appendMemory('a note from b after the erase');
    await b.close();
    expect(await holding()).toEqual([]);
    await a.close();
    expect(await holding()).toEqual([]);
    const c = await open();
    expect((await c.queryMemory('note', { limit: 100 })).length).toBe(11);
    await c.close();
    expect(await holding()).toEqual([]);
  });

  describe('a process whose index predates an erase, writing a segment out as it runs', () => {
    /** A store of a memory holding `secret` and five others, and a child process holding the write of the segment holding it (see stale-index-writes.ts). */
    async function staleWriter(secret: string, letGo: 'busy' | 'idle', where: 'before-guard' | 'after-create' = 'before-guard', search: SearchProvider = segmentSearch({ flushAfter: 4 })) {
      const fs = await MemMapFS.init(root, { search, codec: msgpack(), autoCompaction: false });
      const id = await fs.appendMemory(`my password is ${secret}`);
      for (let i = 0; i < 5; i++) await fs.appendMemory(`an ordinary memory ${i}`);
      const child = spawn(process.execPath, supportScriptArgs('stale-index-writes.ts', root, secret, where, letGo), { stdio: ['pipe', 'pipe', 'pipe'] });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const next = printedLines(child, 'the process with a stale index');
      const kill = async () => {
        child.kill('SIGKILL');
        await exited;
      };
      try {
        // (The segment of the memory sealed: about to be written out.)
        expect(await next()).toEqual({ at: 'writing' });
      } catch (error) {
        await kill();
        throw error;
      }
      const write = () => child.stdin!.write('write\n');
      /** Has that process write the segment when the next erase of `fs` has listed the index's files, before it purges the saved index. */
      const writesBeforePurge = () =>
        beforePurge(fs, async () => {
          write();
          expect(await next()).toEqual({ at: 'written' });
        });
      return { fs, id, next, write, writesBeforePurge, kill };
    }

    /** Runs `first` when the next erase of `fs` has listed the index's files, before it purges the saved index. */
    function beforePurge(fs: MemMapFS, first: () => Promise<void>): void {
      const index = (fs as unknown as { engine: { index: { eraseSavedIndex(): Promise<boolean> } } }).engine.index;
      const eraseSavedIndex = index.eraseSavedIndex.bind(index);
      index.eraseSavedIndex = async () => {
        index.eraseSavedIndex = eraseSavedIndex;
        await first();
        return eraseSavedIndex();
      };
    }

    it("writes no file once the erase counted its purge: the deleted memory's words are in no file, though that process is killed before it lets go of its index", async () => {
      const { fs, id, next, write, kill } = await staleWriter('hunter2stalewriter', 'busy');
      try {
        await fs.deleteMemory(id);
        expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
        write();
        expect(await next()).toEqual({ at: 'written' });
      } finally {
        await kill();
      }
      expect(await indexFilesHolding('hunter2stalewriter')).toEqual([]);
      await fs.close();
    });

    it('the files it wrote while the erase purged are waited for: erased is false while that process holds them, and a later erase removes them once they are let go of', async () => {
      const { fs, id, writesBeforePurge, kill } = await staleWriter('hunter2staleguard', 'busy');
      try {
        await fs.deleteMemory(id);
        // (Written after the erase listed the files, before its purge is counted.)
        writesBeforePurge();
        const report = await fs.compact({ erase: true });
        expect(report).toMatchObject({ erased: false });
        expect(report.indexFilesLeft).toBeGreaterThan(0);
      } finally {
        await kill();
      }
      expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
      expect(await indexFilesHolding('hunter2staleguard')).toEqual([]);
      await fs.close();
    });

    it('a file it made before the purge was counted and wrote after is removed by it, refused, and the erase, waiting for it, says erased though that process never lets go of its index', async () => {
      const { fs, id, next, write, kill } = await staleWriter('hunter2madebefore', 'busy', 'after-create');
      try {
        await fs.deleteMemory(id);
        // (Its file made, and empty, the erase counts its purge, then waits for the file: the write goes on.)
        const index = (fs as unknown as { engine: { index: { waitForFilesGone(files: unknown): Promise<number> } } }).engine.index;
        const waitForFilesGone = index.waitForFilesGone.bind(index);
        index.waitForFilesGone = async (files) => {
          index.waitForFilesGone = waitForFilesGone;
          write();
          expect(await next()).toEqual({ at: 'written' });
          return waitForFilesGone(files);
        };
        expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
        expect(await indexFilesHolding('hunter2madebefore')).toEqual([]);
      } finally {
        await kill();
      }
      await fs.close();
    });

    it('an erase by a store whose provider keeps no files waits for the segment files written after it listed the folder, as for those there before', async () => {
      const { fs, id, writesBeforePurge, kill } = await staleWriter('hunter2flexeraser', 'busy', 'before-guard', flexsearch());
      try {
        await fs.deleteMemory(id);
        writesBeforePurge();
        const report = await fs.compact({ erase: true });
        // (That process may drop the file itself, its index made again after the compaction: then erased.)
        if (report.erased) expect(await indexFilesHolding('hunter2flexeraser')).toEqual([]);
        else expect(report.indexFilesLeft).toBeGreaterThan(0);
      } finally {
        await kill();
      }
      expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
      expect(await indexFilesHolding('hunter2flexeraser')).toEqual([]);
      await fs.close();
    });

    it('an erase by a persistent provider that cannot name the files of a description (no indexFiles) waits for them too', async () => {
      /** The segments provider, without the optional `indexFiles`. */
      class WithoutIndexFiles extends SegmentSearchProvider {
        constructor() {
          super(4, 10);
          (this as unknown as { indexFiles: undefined }).indexFiles = undefined;
        }
      }
      const { fs, id, writesBeforePurge, kill } = await staleWriter('hunter2noindexfiles', 'busy', 'before-guard', new WithoutIndexFiles());
      try {
        await fs.deleteMemory(id);
        writesBeforePurge();
        const report = await fs.compact({ erase: true });
        expect(report).toMatchObject({ erased: false });
        expect(await indexFilesHolding('hunter2noindexfiles')).not.toEqual([]);
      } finally {
        await kill();
      }
      expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
      expect(await indexFilesHolding('hunter2noindexfiles')).toEqual([]);
      await fs.close();
    });

    it('writes no file after the erase though the count of purges kept apart is damaged after it: the saved description counts the purge too', async () => {
      const { fs, id, next, write, kill } = await staleWriter('hunter2damagedafter', 'busy');
      try {
        await fs.deleteMemory(id);
        expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
        await writeFile(join(root, 'index', 'purges'), Buffer.alloc(36, 7));
        write();
        expect(await next()).toEqual({ at: 'written' });
      } finally {
        await kill();
      }
      expect(await indexFilesHolding('hunter2damagedafter')).toEqual([]);
      await fs.close();
    });

    it('a file it wrote while the erase purged is gone when the erase says erased, that process letting go of its index at its idle catch-up', async () => {
      const { fs, id, writesBeforePurge, kill } = await staleWriter('hunter2idleguard', 'idle');
      try {
        await fs.deleteMemory(id);
        writesBeforePurge();
        expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
        expect(await indexFilesHolding('hunter2idleguard')).toEqual([]);
      } finally {
        await kill();
      }
      await fs.close();
    });
  });

  it('an erase whose own index writes segments out while it saves the purged description says erased, without waiting for them', async () => {
    const provider = segmentSearch({ flushAfter: 4 }) as SegmentSearchProvider;
    const fs = await MemMapFS.init(root, { search: provider, codec: msgpack(), autoCompaction: false });
    const id = await fs.appendMemory('my password is hunter2ownwrites');
    for (let i = 0; i < 5; i++) await fs.appendMemory(`an ordinary memory ${i}`);
    await fs.queryMemory('memory');
    await fs.deleteMemory(id);
    // Memories written while the purge merges are sealed for its description (its second seal), and
    // those written while it writes that segment out go to segments after it, written out before its
    // save returns.
    const inside = provider as unknown as { seal(): void; writeNext(): Promise<void>; merge(...args: unknown[]): Promise<unknown>; sealed: unknown[] };
    let purging = false;
    let seals = 0;
    let meanwhile: Promise<void> | undefined;
    const saveIndex = provider.saveIndex.bind(provider);
    provider.saveIndex = async (options) => {
      purging = options?.purge === true;
      seals = 0;
      try {
        return await saveIndex(options);
      } finally {
        purging = false;
      }
    };
    const seal = inside.seal.bind(provider);
    inside.seal = () => {
      seal();
      if (purging) seals++;
    };
    const merge = inside.merge.bind(provider);
    let amid = false;
    inside.merge = async (...args) => {
      if (purging && !amid) {
        amid = true;
        for (let i = 0; i < 2; i++) await fs.appendMemory(`written amid the merge ${i}`);
        await fs.queryMemory('amid');
      }
      return merge(...args);
    };
    const writeNext = inside.writeNext.bind(provider);
    inside.writeNext = async () => {
      if (purging && seals === 2 && !meanwhile) {
        meanwhile = (async () => {
          for (let i = 0; i < 8; i++) await fs.appendMemory(`written meanwhile ${i}`);
          await fs.queryMemory('meanwhile');
          while (inside.sealed.length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
        })();
        await meanwhile;
      }
      return writeNext();
    };
    const before = new Set(await segmentFiles());
    expect(await fs.compact({ erase: true })).toMatchObject({ erased: true, indexFilesLeft: 0 });
    expect(meanwhile).toBeDefined();
    expect(await indexFilesHolding('hunter2ownwrites')).toEqual([]);
    // (Files of the memories written meanwhile are there, and they are found.)
    expect((await segmentFiles()).filter((name) => !before.has(name)).length).toBeGreaterThan(1);
    expect(await fs.queryMemory('meanwhile')).toHaveLength(8);
    expect(await fs.queryMemory('amid')).toHaveLength(2);
    await fs.close();
  });

  it('an erase whose purge writes out a sealed segment holding a deleted memory waits for that file to be removed, though its first removal meets the save lock held for seconds', async () => {
    // Once armed (the purge's description saved), the next fsync of the index folder finds save.lock held
    // for 6 s, as by another process (a slow fsync of its description, say).
    const lockPath = join(root, 'index', 'save.lock');
    let armed = false;
    let held: Promise<void> | undefined;
    const open = (async (path: string, ...rest: unknown[]) => {
      if (armed && String(path) === join(root, 'index') && rest[0] === 'r') {
        const lease = await tryLeaseFile(lockPath, 'exclusive');
        if (typeof lease !== 'string') {
          armed = false;
          held = new Promise((resolve) => setTimeout(resolve, 6_000)).then(() => lease.release());
        }
      }
      return (nodeFileSystem.open as (...args: unknown[]) => Promise<nodeFileSystem.FileHandle>)(path, ...rest);
    }) as typeof nodeFileSystem.open;
    const provider = segmentSearch({ flushAfter: 4 }) as SegmentSearchProvider;
    const fs = await MemMapFS.init(root, { search: provider, codec: msgpack(), autoCompaction: false, fileSystem: { ...nodeFileSystem, open } });
    // The background write-out of a sealed segment has not got to its file yet (a slow disk): the purge writes it.
    (provider as unknown as { writeOut(): Promise<void> }).writeOut = () => Promise.resolve();
    const id = await fs.appendMemory('my password is hunter2sealed');
    for (let i = 0; i < 3; i++) await fs.appendMemory(`an ordinary memory ${i}`);
    expect(await fs.queryMemory('hunter2sealed')).toHaveLength(1);
    await fs.deleteMemory(id);
    expect(await indexFilesHolding('hunter2sealed')).toEqual([]);
    const saveIndex = provider.saveIndex.bind(provider);
    provider.saveIndex = async (options) => {
      const saved = await saveIndex(options);
      if (options?.purge) armed = true;
      return saved;
    };
    const report = await fs.compact({ erase: true });
    const holding = await indexFilesHolding('hunter2sealed');
    await held;
    await fs.close();
    expect(held).toBeDefined();
    // Either the erase says it is not done, or no file holds the deleted memory's words.
    if (report.erased) expect(holding).toEqual([]);
    else expect(report.indexFilesLeft).toBeGreaterThan(0);
  }, 30_000);

  it("erases, and saves, when the saved description's count of purges reads above 2^31 (its header's checksum does not cover it)", async () => {
    const open = () => MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4 }), codec: msgpack(), autoCompaction: false });
    let fs = await open();
    const id = await fs.appendMemory('my password is hunter2flipped');
    for (let i = 0; i < 5; i++) await fs.appendMemory(`an ordinary memory ${i}`);
    await fs.queryMemory('memory');
    await fs.close();
    const path = join(root, 'index', 'search.snapshot');
    const bytes = await readFile(path);
    // (The count, a u32 at offset 52, at its highest.)
    bytes.writeUInt32LE(0xffffffff, 52);
    await writeFile(path, bytes);
    fs = await open();
    await fs.deleteMemory(id);
    const warnings = await warningsOf(async () => {
      expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
      await fs.appendMemory('another memory');
      expect(await fs.compact({ erase: true })).toMatchObject({ erased: true });
    });
    expect(warnings).toEqual([]);
    expect(await indexFilesHolding('hunter2flipped')).toEqual([]);
    await fs.close();
  });

  it("saves the index when the saved description's count of purges reads above 2^31, no erase asked for", async () => {
    const open = () => MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4 }), codec: msgpack(), autoCompaction: false });
    let fs = await open();
    for (let i = 0; i < 6; i++) await fs.appendMemory(`an ordinary memory ${i}`);
    await fs.queryMemory('memory');
    await fs.close();
    const path = join(root, 'index', 'search.snapshot');
    const bytes = await readFile(path);
    bytes[55]! |= 0x80;
    await writeFile(path, bytes);
    const savedAt = bytes.readDoubleLE(16);
    fs = await open();
    await fs.queryMemory('memory');
    await fs.appendMemory('a later memory');
    await fs.close();
    expect((await readFile(path)).readDoubleLE(16)).toBeGreaterThan(savedAt);
  });

  it('writes its segments out and saves them while another process holds the save lock for seconds (a slow fsync of its description, say)', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4 }), codec: msgpack(), autoCompaction: false });
    for (let i = 0; i < 6; i++) await fs.appendMemory(`an ordinary memory ${i}`);
    await fs.queryMemory('memory');
    await fs.checkpoint();
    for (let i = 0; i < 3; i++) await fs.appendMemory(`a later memory ${i}`);
    const lease = await tryLeaseFile(join(root, 'index', 'save.lock'), 'exclusive');
    if (typeof lease === 'string') throw new Error(`the save lock was ${lease}`);
    setTimeout(() => void lease.release(), 6_000);
    expect(await warningsOf(() => fs.checkpoint().then(() => undefined))).toEqual([]);
    await fs.close();
    const reopened = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4 }), codec: msgpack(), autoCompaction: false });
    expect((await reopened.queryMemory('later')).length).toBe(3);
    await reopened.close();
  }, 30_000);

  it('a handle whose index went stale by another\'s purge lets go of it: it neither keeps the old files once closed, nor loses expired memories\' absence on reload', async () => {
    const open = () => MemMapFS.init(root, { search: segmentSearch(), codec: msgpack() });
    const p = await open();
    await p.appendMemory('apple banana cherry date elderberry fig grape');
    const other = await p.appendMemory('my password is hunter2walrus');
    await p.appendMemory('apple apple apple', [], { ttlMs: 800 });
    await p.queryMemory('apple');
    await p.checkpoint();
    const a = await open();
    expect((await a.queryMemory('apple', { limit: 1 })).map((hit) => hit.text)).toEqual(['apple apple apple']);
    await p.deleteMemory(other);
    await p.compact({ erase: true });
    await p.close();
    await new Promise((resolve) => setTimeout(resolve, 900));
    // Expired: out of A's index.
    expect((await a.queryMemory('apple', { limit: 1 })).map((hit) => hit.text)).toEqual(['apple banana cherry date elderberry fig grape']);
    await a.appendMemory('a note from a');
    // A's save meets the purge: A loads the purged index afresh, the expired memory still out of it.
    await a.checkpoint();
    expect((await a.queryMemory('apple', { limit: 1 })).map((hit) => hit.text)).toEqual(['apple banana cherry date elderberry fig grape']);
    expect((await a.queryMemory('note')).map((hit) => hit.text)).toEqual(['a note from a']);
    await a.appendMemory('another from a');
    await a.checkpoint();
    await a.close();
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
  });

  it.each([
    ['', false],
    [', nor when the count of purges cannot be read (EIO)', true],
  ])('a handle that loaded the index before an erase does not save it back when the saved description went missing since%s', async (_, failPurgesRead) => {
    const { files, failing } = failingReadsOf('purges', 'EIO');
    const open = (fileSystem?: typeof files) => MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4, mergeFactor: 2 }), codec: msgpack(), ...(fileSystem ? { fileSystem } : {}) });
    const { a, b, secret } = await secretSeenByTwo(open, () => open(files));
    await a.deleteMemory(secret);
    await a.compact({ erase: true });
    await a.close();
    // The description deleted (by hand, by a repair): the count of purges it carried goes with it.
    await rm(join(root, 'index', 'search.snapshot'));
    failing.on = failPurgesRead;
    await b.appendMemory('a note from b after the erase');
    await warningsOf(async () => {
      await b.checkpoint();
      await b.close();
    });
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    const c = await open();
    expect((await c.queryMemory('note', { limit: 100 })).length).toBe(11);
    expect(await c.queryMemory('hunter2walrus')).toEqual([]);
    await c.close();
  });

  it('saves its index over one another provider saved after an erase: a store erased under flexsearch opens its segments index next time, not rebuilds it', async () => {
    const before = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
    const secret = await before.appendMemory('my password is hunter2walrus');
    for (let i = 0; i < 10; i++) await before.appendMemory(`ordinary note ${i}`);
    await before.queryMemory('note');
    await before.deleteMemory(secret);
    await before.compact({ erase: true });
    await before.close();
    const switched = await MemMapFS.init(root, { search: segmentSearch(), codec: msgpack() });
    expect(await switched.queryMemory('note', { limit: 100 })).toHaveLength(10);
    await switched.close();
    await expectOpenedNotRebuilt('note', 10);
  });

  it("removes the temporary files of saves whose process died over an hour ago, and no other process's", async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4 }), codec: msgpack() });
    await fs.appendMemory('my password is hunter2walrus');
    await fs.queryMemory('password');
    await fs.checkpoint();
    // A process that has exited: its id names no process now.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    const temp = (name: string) => join(root, 'index', name);
    const left = { snapshot: `.search.snapshot.${dead}-0a1b2c3d4e5f.tmp`, purges: `.purges.${dead}-5f4e3d2c1b0a.tmp` };
    const kept = { recent: `.search.snapshot.${dead}-aaaaaaaaaaaa.tmp`, alive: `.search.snapshot.${process.pid}-bbbbbbbbbbbb.tmp` };
    for (const name of [...Object.values(left), ...Object.values(kept)]) await writeFile(temp(name), 'my password is hunter2walrus');
    for (const name of [...Object.values(left), kept.alive]) await utimes(temp(name), twoHoursAgo, twoHoursAgo);
    await fs.appendMemory('a later note');
    await fs.checkpoint();
    const names = await readdir(join(root, 'index'));
    for (const name of Object.values(left)) expect(names).not.toContain(name);
    for (const name of Object.values(kept)) expect(names).toContain(name);
    await fs.close();
  });

  it('with erase, removes every temporary file of a save, however recent and whoever wrote it: one left by a saver that died may hold what was deleted', async () => {
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4 }), codec: msgpack() });
    const secret = await fs.appendMemory('my password is hunter2otter');
    await fs.appendMemory('a note kept');
    await fs.queryMemory('password');
    await fs.checkpoint();
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const left = [`.search.snapshot.${dead}-0a1b2c3d4e5f.tmp`, `.purges.${dead}-5f4e3d2c1b0a.tmp`, `.search.snapshot.${process.pid}-bbbbbbbbbbbb.tmp`];
    for (const name of left) await writeFile(join(root, 'index', name), 'my password is hunter2otter');
    await fs.deleteMemory(secret);
    await fs.compact({ erase: true });
    const names = await readdir(join(root, 'index'));
    for (const name of left) expect(names).not.toContain(name);
    expect(await fs.queryMemory('note')).toHaveLength(1);
    await fs.close();
  });

  it('removes no segment file when the saved description cannot be read (EMFILE): the next open loads the index, not rebuilds it', async () => {
    const { files, failing } = failingReadsOf('search.snapshot', 'EMFILE');
    const fs = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4 }), codec: msgpack(), fileSystem: files });
    await fs.appendMemories(Array.from({ length: 20 }, (_, k) => ({ text: `kept note ${k}` })));
    await fs.queryMemory('note');
    await fs.checkpoint();
    const saved = await segmentFiles();
    expect(saved.length).toBeGreaterThan(0);
    failing.on = true;
    await fs.close();
    expect(await segmentFiles()).toEqual(expect.arrayContaining(saved));
    await expectOpenedNotRebuilt('note', 20);
  });

  it('a process that loaded the index and reads nothing lets go of its files after another\'s erase, which waits for it: no file holds the words once compact resolves', async () => {
    const { fs, secret } = await secretInSavedIndex();
    const reader = spawn(process.execPath, storeWorkerArgs('query', root, 'note'), { stdio: 'pipe', env: { ...process.env, MEMMAPFS_TEST_SEARCH: 'segments' } });
    const next = printedLines(reader, 'reader');
    try {
      expect(await next()).toEqual({ hits: 20 });
      await fs.deleteMemory(secret);
      const report = await fs.compact({ erase: true });
      expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
      expect(report).toMatchObject({ erased: true, indexFilesLeft: 0, chunksSkipped: 0 });
      // The reader loads the index again when it next queries: the one the erase saved.
      reader.stdin.write('query hunter2walrus\n');
      expect(await next()).toEqual({ hits: 0 });
      reader.stdin.write('query note\n');
      expect(await next()).toEqual({ hits: 20 });
      expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    } finally {
      reader.stdin.end();
      await new Promise((resolve) => reader.once('exit', resolve));
      await fs.close();
    }
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
  });

  it('an erase says so when a process that holds the index\'s files did not let go of them in time, and a later erase removes them', async () => {
    const { fs, secret } = await secretInSavedIndex();
    const reader = spawn(process.execPath, storeWorkerArgs('query', root, 'note'), { stdio: 'pipe', env: { ...process.env, MEMMAPFS_TEST_SEARCH: 'segments' } });
    const next = printedLines(reader, 'reader');
    try {
      expect(await next()).toEqual({ hits: 20 });
      // Busy for longer than the erase waits (for the log's segment it reads too): its idle catch-up does not run meanwhile.
      reader.stdin.write('busy 25000\n');
      await fs.deleteMemory(secret);
      const report = await fs.compact({ erase: true });
      expect(report.erased).toBe(false);
      expect(report.indexFilesLeft).toBeGreaterThan(0);
      expect(await indexFilesHolding('hunter2walrus')).not.toEqual([]);
      expect(await next()).toEqual({ busy: 25000 });
      // Once it has let go (its next idle catch-up), another erase leaves nothing.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect(await fs.compact({ erase: true })).toMatchObject({ erased: true, indexFilesLeft: 0 });
      expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    } finally {
      reader.stdin.end();
      await new Promise((resolve) => reader.once('exit', resolve));
      await fs.close();
    }
  }, 90_000);

  it('a query under way when another handle erases is answered from the index it began with (a provider whose search awaits)', async () => {
    const { fs: a, secret } = await secretInSavedIndex();
    /** Segments whose searches wait 2.5 s (longer than an idle catch-up's second) before they answer. */
    class SlowSearch extends SegmentSearchProvider {
      constructor() {
        super(16, 3, { provider: 'segments', options: { flushAfter: 16, mergeFactor: 3 } });
      }
      override search(request: Parameters<SegmentSearchProvider['search']>[0]): ReturnType<SegmentSearchProvider['search']> {
        return new Promise((resolve) => setTimeout(resolve, 2_500)).then(() => super.search(request)) as never;
      }
    }
    const b = await MemMapFS.init(root, { search: new SlowSearch(), codec: msgpack() });
    try {
      expect(await b.queryMemory('note', { limit: 100 })).toHaveLength(20);
      const during = b.queryMemory('note', { limit: 100 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await a.deleteMemory(secret);
      await a.compact({ erase: true });
      expect(await during).toHaveLength(20);
      expect(await b.queryMemory('note', { limit: 100 })).toHaveLength(20);
    } finally {
      await b.close();
      await a.close();
    }
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
  }, 30_000);

  it('an erase with another provider removes the files of a segments index saved before, which no one reads, and makes their removal durable', async () => {
    const { fs: before } = await secretInSavedIndex();
    await before.close();
    const segmentsFolder = join(root, 'index', 'segments');
    const segmentFiles = (await readdir(segmentsFolder)).filter((name) => name.endsWith('.seg'));
    const ops: string[] = [];
    const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), fileSystem: recordingFileSystem(ops) });
    const [hit] = await fs.queryMemory('hunter2walrus');
    await fs.deleteMemory(hit!.id);
    const report = await fs.compact({ erase: true });
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    expect(report).toMatchObject({ erased: true, indexFilesLeft: 0 });
    // (A power loss must not bring back a file holding what the erase removed.)
    expect(segmentFiles.filter((name) => !removalMadeDurable(ops, join(segmentsFolder, name), segmentsFolder))).toEqual([]);
    await fs.close();
  });

  it('a handle whose save meets a purge lets go at once of the files that hold what the purge erased, not at its next query', async () => {
    const open = () => MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4, mergeFactor: 2 }), codec: msgpack() });
    const { a, b, secret } = await secretSeenByTwo(open);
    // (B saved the index too before the erase: the files it named are its own to let go of.)
    await b.appendMemory('a note from b before the erase');
    await b.checkpoint();
    await a.deleteMemory(secret);
    await a.compact({ erase: true });
    // B writes, and saves (a checkpoint), but does not search: its save meets the purge.
    await b.appendMemory('a note from b after the erase');
    await b.checkpoint();
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    expect((await b.queryMemory('note', { limit: 100 })).length).toBe(12);
    await b.close();
    await a.close();
  });

  it('an erase by a handle with another provider counts too: a segments handle that loaded its index before it neither saves it back nor keeps its files', async () => {
    const segments = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 4, mergeFactor: 2 }), codec: msgpack() });
    for (let i = 0; i < 10; i++) await segments.appendMemory(`ordinary note ${i}`);
    const secret = await segments.appendMemory('my password is hunter2walrus');
    expect(await segments.queryMemory('hunter2walrus')).toHaveLength(1);
    await segments.checkpoint();
    for (const loaded of [true, false]) {
      const other = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
      if (loaded) expect(await other.queryMemory('note', { limit: 1 })).toHaveLength(1);
      if (loaded) await other.deleteMemory(secret);
      await other.compact({ erase: true });
      await other.close();
    }
    await segments.appendMemory('a note after the erase');
    await segments.checkpoint();
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    await segments.close();
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
  });

  it('another handle of an in-memory provider does not save back what an erase removed; a handle that loads the index afresh saves again', async () => {
    const open = () => MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
    const { a, b, secret } = await secretSeenByTwo(open);
    await a.deleteMemory(secret);
    await a.compact({ erase: true });
    await a.close();
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    // B took the deletion, but its index in memory may still hold the secret's words: its save is refused.
    await b.appendMemory('a note from b after the erase');
    await b.close();
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    const c = await open();
    expect(await c.queryMemory('hunter2walrus')).toEqual([]);
    await c.appendMemory('a zebrafinch from c');
    await c.close();
    const saved = await readFile(join(root, 'index', 'search.snapshot'));
    expect(saved.includes(Buffer.from('zebrafinch'))).toBe(true);
    expect(saved.includes(Buffer.from('hunter2walrus'))).toBe(false);
  });

  it('a handle whose save meets a purge without a query between lets go of its files on close', async () => {
    const open = () => MemMapFS.init(root, { search: segmentSearch(), codec: msgpack() });
    const p = await open();
    for (let i = 0; i < 10; i++) await p.appendMemory(`ordinary note ${i}`);
    const secret = await p.appendMemory('my password is hunter2walrus');
    await p.queryMemory('note');
    await p.checkpoint();
    const a = await open();
    await a.queryMemory('note');
    await p.deleteMemory(secret);
    await p.compact({ erase: true });
    await p.close();
    await a.appendMemory('a note from a');
    await a.queryMemory('note');
    await a.checkpoint();
    await a.close();
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
  });

  it('a plain save written out while a purge runs never lands over it', async () => {
    let gate: (() => Promise<void>) | undefined;
    class Gated extends SegmentSearchProvider {
      override async saveIndex(options?: { purge?: boolean }): Promise<Uint8Array> {
        const bytes = await super.saveIndex(options);
        const waiting = gate;
        gate = undefined;
        await waiting?.();
        return bytes;
      }
    }
    const p = await MemMapFS.init(root, { search: new Gated(4096, 8), codec: msgpack() });
    for (let i = 0; i < 10; i++) await p.appendMemory(`ordinary note ${i}`);
    const secret = await p.appendMemory('my password is hunter2walrus');
    await p.queryMemory('note');
    await p.checkpoint();
    const s = await MemMapFS.init(root, { search: new Gated(4096, 8), codec: msgpack() });
    await s.queryMemory('note');
    await s.appendMemory('a note from s');
    // S writes its index out, and waits there while P deletes the secret and purges; then renames.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reached!: () => void;
    const atGate = new Promise<void>((resolve) => (reached = resolve));
    gate = () => {
      reached();
      return held;
    };
    const saving = s.checkpoint();
    await atGate;
    await p.deleteMemory(secret);
    await p.compact({ erase: true });
    release();
    await saving;
    await p.close();
    await s.close();
    expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    const c = await MemMapFS.init(root, { search: segmentSearch(), codec: msgpack() });
    expect((await c.queryMemory('note', { limit: 100 })).length).toBe(11);
    await c.close();
  });

  it('an erase while another process is writing out an index that holds the erased memory leaves it in no file once that save is done', async () => {
    const eraser = await MemMapFS.init(root, { search: segmentSearch({ flushAfter: 16, mergeFactor: 3 }), codec: msgpack() });
    for (let i = 0; i < 10; i++) await eraser.appendMemory(`ordinary note ${i}`);
    await eraser.queryMemory('note');
    await eraser.checkpoint();
    // The saver wrote the secret itself: its index holds it, and so do the files its save writes out.
    const saver = spawn(process.execPath, storeWorkerArgs('save-held', root, 'my password is hunter2walrus'), { stdio: 'pipe', env: { ...process.env, MEMMAPFS_TEST_SEARCH: 'segments', MEMMAPFS_TEST_HOLD_INDEX_SAVE: '1' } });
    const next = printedLines(saver, 'the saving process');
    try {
      const { id } = (await next()) as { id: number };
      saver.stdin.write('save\n');
      expect(await next()).toEqual({ savedIndexFiles: true });
      expect(await indexFilesHolding('hunter2walrus')).not.toEqual([]);
      expect(await eraser.deleteMemory(id)).toBe(true);
      await eraser.compact({ erase: true });
      saver.stdin.write('go on\n');
      expect(await next()).toEqual({ checkpointed: true });
      // The saver is still open: its save, refused, let go of the files it wrote, and they went.
      expect(await indexFilesHolding('hunter2walrus')).toEqual([]);
    } finally {
      saver.stdin.end();
      await new Promise((resolve) => (saver.exitCode === null ? saver.on('exit', resolve) : resolve(undefined)));
    }
    expect(saver.exitCode).toBe(0);
    await eraser.close();
    const holding: string[] = [];
    for (const name of await readdir(root, { recursive: true })) {
      const bytes = await readFile(join(root, name)).catch(() => Buffer.alloc(0));
      if (bytes.includes(Buffer.from('hunter2walrus'))) holding.push(name);
    }
    expect(holding).toEqual([]);
    const later = await MemMapFS.init(root, { codec: msgpack() });
    expect(await later.queryMemory('hunter2walrus')).toEqual([]);
    expect(await later.queryMemory('note', { limit: 100 })).toHaveLength(13);
    await later.close();
  });

  it('several processes append to one store and search it, each finding every memory, and the folder keeps only the files in use', async () => {
    const tags = ['alpha', 'beta', 'gamma'];
    const setup = await MemMapFS.init(root, { search: segmentSearch(), codec: msgpack() });
    await setup.close();
    const workers = tags.map((tag) => {
      const child = spawn(process.execPath, storeWorkerArgs('append', root, tag, '80'), { stdio: 'pipe', env: { ...process.env, MEMMAPFS_TEST_SEARCH: 'segments' } });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const next = async () => {
        const { value, done } = await lines.next();
        if (done) throw new Error(`worker ended early: ${stderr}`);
        return JSON.parse(value as string) as Record<string, unknown>;
      };
      return { child, next, exited };
    });
    const ids = (await Promise.all(workers.map((w) => w.next()))).flatMap((out) => out.ids as number[]);
    expect(new Set(ids).size).toBe(tags.length * 80);
    // Twice: the first query loads each process's index, with every other process's memories in it.
    for (let round = 0; round < 2; round++) {
      for (const w of workers) w.child.stdin.write(`count ${tags.join(' ')}\n`);
      for (const view of await Promise.all(workers.map((w) => w.next()))) expect(view.counts).toEqual(Object.fromEntries(tags.map((t) => [t, 80])));
    }
    for (const w of workers) w.child.stdin.end();
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual(tags.map(() => 0));

    const counting = new CountingSegments();
    registerSearchProvider('segments', () => counting);
    const fs = await MemMapFS.init(root, { search: 'segments', codec: msgpack() });
    for (const tag of tags) expect(await fs.queryMemory('shared folder', { tags: [tag], limit: 1000 })).toHaveLength(80);
    expect(counting.added).toBe(0);
    await fs.appendMemory('one more shared folder note', ['alpha']);
    await fs.close();
    // Every file left is one the saved index names.
    const snapshot = await readFile(join(root, 'index', 'search.snapshot'));
    const files = await segmentFiles();
    expect(files.length).toBeGreaterThan(0);
    for (const name of files) expect(snapshot.includes(Buffer.from(name)), name).toBe(true);
  }, 60_000);
});

describe('the segments provider and the store reader', () => {
  const mappedSegments = async () => (await readFile('/proc/self/maps', 'utf8')).split('\n').filter((line) => line.includes(join(root, 'index', 'segments')));

  it("reads its segment files as the store reads its own: with reader 'read', none is mapped", async () => {
    const open = (reader: 'read' | 'auto') => MemMapFS.init(root, { codec: msgpack(), search: segmentSearch(), reader });
    let fs = await open('read');
    for (let i = 0; i < 50; i++) await fs.appendMemory(`note ${i} about kestrels`);
    await fs.queryMemory('kestrels');
    await fs.close();
    fs = await open('read');
    expect(await fs.queryMemory('kestrels', { limit: 3 })).toHaveLength(3);
    expect(await mappedSegments()).toEqual([]);
    await fs.close();
  });
});
