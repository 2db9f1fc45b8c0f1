import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS, verifyStore, type AgentState } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { appendThenKill, checkAfterKill, newLedger, record } from './support/kill-harness.js';
import { holdWriterLock } from './support/hold-writer.js';
import { useTempStore } from './support/temp-store.js';

const worker = fileURLToPath(new URL('./support/store-worker.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const tempStore = useTempStore('multi');
let dir: string;
let root: string;
beforeEach(() => {
  ({ dir, root } = tempStore());
});

/** A worker process with its stdout read as JSON lines. */
function startWorker(...args: string[]): { child: ChildProcessWithoutNullStreams; next: () => Promise<Record<string, unknown>>; exited: Promise<number | null> } {
  return startWorkerWith({}, ...args);
}

function startWorkerWith(env: Record<string, string>, ...args: string[]): { child: ChildProcessWithoutNullStreams; next: () => Promise<Record<string, unknown>>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, worker, ...args], { stdio: 'pipe', env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    next: async () => {
      const { value, done } = await lines.next();
      if (done) throw new Error(`worker ${args.join(' ')} ended early: ${stderr}`);
      return JSON.parse(value as string) as Record<string, unknown>;
    },
  };
}

const open = () => MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });

describe('many processes, one folder', () => {
  it('four processes setting the same keys only if absent, at once: each key is set by exactly one of them, and holds its value', async () => {
    const setup = await open();
    await setup.close();
    const names = ['p', 'q', 'r', 's'];
    const workers = names.map((name) => startWorker('claim', root, name, '150'));
    for (const worker of workers) expect(await worker.next()).toEqual({ ready: true });
    for (const worker of workers) worker.child.stdin.write('go\n');
    const won = await Promise.all(workers.map(async (worker) => (await worker.next()).won as number[]));
    for (const worker of workers) worker.child.stdin.end();
    expect(await Promise.all(workers.map((worker) => worker.exited))).toEqual([0, 0, 0, 0]);
    const fs = await open();
    for (let i = 0; i < 150; i++) {
      const winners = names.filter((_, w) => won[w]!.includes(i));
      expect(winners, `claim/${i}`).toEqual([fs.getKv(`claim/${i}`)]);
    }
    await fs.close();
  });

  it.each([
    ['keeping the whole log', {}],
    ['each checkpoint dropping the log segments before it', { MEMMAPFS_TEST_RETENTION: '0' }],
  ])('three processes appending, updating, deleting and writing checkpoints at once, opened meanwhile (%s): every open reads what was acknowledged, and the end agrees with the log', async (_, env: Record<string, string>) => {
    const setup = await open();
    await setup.close();
    const workers = ['a', 'b', 'c'].map((tag) => startWorkerWith(env, 'churn', root, tag, '240', '20'));
    let opens = 0;
    let done = false;
    const results = Promise.all(workers.map((w) => w.next())).finally(() => (done = true));
    // Meanwhile, fresh opens (from whatever checkpoint is current, and the log after it) never see less
    // than an earlier open saw.
    let seen = 0;
    while (!done) {
      const reader = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), readOnly: true });
      const { lastLsn } = reader.stats();
      expect(lastLsn).toBeGreaterThanOrEqual(seen);
      seen = lastLsn;
      await reader.close();
      opens++;
    }
    const outcomes = (await results) as Array<{ kept: Record<string, string>; deleted: number[]; updated: number[] }>;
    for (const w of workers) expect(await w.exited).toBe(0);
    expect(opens).toBeGreaterThan(0);
    const fs = await open();
    for (const [i, { kept, deleted, updated }] of outcomes.entries()) {
      for (const [id, text] of Object.entries(kept)) expect((await fs.getMemory(Number(id)))?.text).toBe(text);
      for (const id of deleted) expect(await fs.getMemory(id)).toBeUndefined();
      for (const id of updated) expect((await fs.getMemory(id))?.meta).toEqual({ by: ['a', 'b', 'c'][i] });
    }
    expect(fs.stats().memories).toBe(outcomes.reduce((sum, o) => sum + Object.keys(o.kept).length, 0));
    await fs.close();
    expect((await readdir(join(root, 'checkpoints'))).some((name) => name.endsWith('.bin'))).toBe(true);
    const report = await verifyStore(root);
    expect(report.problems).toEqual([]);
    // Dropping the log behind checkpoints did happen (and only then).
    expect(report.firstLsn > 1).toBe(env.MEMMAPFS_TEST_RETENTION === '0');
  }, 120_000);

  it('a search index saved while another process cuts the log behind newer checkpoints is not left older than the log', async () => {
    // This process's save is held after it took its snapshot of the index (at the last record it
    // applied); meanwhile another process appends, writes checkpoints and cuts the log past that record.
    const provider = flexsearch();
    let exporting!: () => void;
    const exported = new Promise<void>((resolve) => (exporting = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const held = Object.assign(Object.create(provider) as typeof provider, {
      async exportSnapshot(): Promise<Uint8Array> {
        const bytes = await provider.exportSnapshot!();
        exporting();
        await released;
        return bytes;
      },
    });
    // (Its checkpoint ends a log segment: the segment after it, which this process reads, is all the
    // other's cuts must keep.)
    const fs = await MemMapFS.init(root, { search: held, codec: msgpack(), historyRetentionMs: 0 });
    for (let i = 0; i < 4; i++) await fs.appendMemory(`saver note ${i}`);
    expect(await fs.queryMemory('saver')).toHaveLength(4);
    await fs.checkpoint();
    const { lastLsn } = fs.stats();
    const closing = fs.close();
    await exported;
    const other = startWorkerWith({ MEMMAPFS_TEST_RETENTION: '0' }, 'churn', root, 'cutter', '40', '10');
    await other.next();
    expect(await other.exited).toBe(0);
    release();
    await closing;
    const report = await verifyStore(root);
    expect(report.firstLsn).toBeGreaterThan(lastLsn);
    expect(report.problems).toEqual([]);
  }, 60_000);

  it('a search index saved at the last record a cut keeps out stays while a process that opened from its checkpoint reads on, and goes at the next cut after', async () => {
    // Saved on close at the checkpoint the manifest names; a reader opened from that checkpoint keeps
    // the log segment after it, and another process's checkpoints and cuts then leave the log beginning
    // right after the saved record, with a newer checkpoint in the manifest.
    const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), historyRetentionMs: 0 });
    for (let i = 0; i < 4; i++) await fs.appendMemory(`saver note ${i}`);
    expect(await fs.queryMemory('saver')).toHaveLength(4);
    await fs.checkpoint();
    const { lastLsn } = fs.stats();
    await fs.close();
    expect((await verifyStore(root)).problems).toEqual([]);
    const reader = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), readOnly: true });
    const other = startWorkerWith({ MEMMAPFS_TEST_RETENTION: '0' }, 'churn', root, 'cutter', '40', '10');
    await other.next();
    expect(await other.exited).toBe(0);
    expect((await verifyStore(root)).firstLsn).toBe(lastLsn + 1);
    // (The reader, whose own checkpoint ends with that record, may still load it: it is kept.)
    expect(await stat(join(root, 'index', 'search.snapshot')).then(() => true, () => false)).toBe(true);
    expect(await reader.queryMemory('saver')).toHaveLength(4);
    await reader.close();
    const cutter = startWorkerWith({ MEMMAPFS_TEST_RETENTION: '0' }, 'churn', root, 'later', '20', '10');
    await cutter.next();
    expect(await cutter.exited).toBe(0);
    const report = await verifyStore(root);
    expect(report.firstLsn).toBeGreaterThan(lastLsn + 1);
    expect(report.problems).toEqual([]);
    const again = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
    expect(await again.queryMemory('saver')).toHaveLength(4);
    await again.close();
  }, 60_000);

  it('N processes × M concurrent appends give N×M distinct memories, searchable from every process', async () => {
    const setup = await open();
    await setup.close();
    const tags = ['alpha', 'beta', 'gamma', 'delta'];
    const perProcess = 60;
    const workers = tags.map((tag) => startWorker('append', root, tag, String(perProcess)));
    const ids = (await Promise.all(workers.map((w) => w.next()))).flatMap((out) => out.ids as number[]);
    expect(ids).toHaveLength(tags.length * perProcess);
    expect(new Set(ids).size).toBe(ids.length);
    for (const w of workers) w.child.stdin.write(`count ${tags.join(' ')}\n`);
    const views = await Promise.all(workers.map((w) => w.next()));
    for (const view of views) {
      expect(view.total).toBe(tags.length * perProcess);
      expect(view.counts).toEqual(Object.fromEntries(tags.map((t) => [t, perProcess])));
    }
    for (const w of workers) w.child.stdin.end();
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual(tags.map(() => 0));
    const fs = await open();
    expect(fs.stats().memories).toBe(tags.length * perProcess);
    for (const id of ids) expect((await fs.getMemory(id))?.text).toMatch(/^(alpha|beta|gamma|delta) memory \d+ shared folder$/);
    await fs.close();
  }, 60_000);

  it('a read in one process sees an append another process has had acknowledged', async () => {
    const reader = await open();
    const before = reader.stats().memories;
    const writer = startWorker('append', root, 'late', '5');
    const { ids } = (await writer.next()) as { ids: number[] };
    for (const id of ids) expect((await reader.getMemory(id))?.text).toMatch(/^late memory/);
    expect(reader.stats().memories).toBe(before + 5);
    expect(await reader.queryMemory('shared', { tags: ['late'] })).toHaveLength(5);
    writer.child.stdin.end();
    await writer.exited;
    await reader.close();
  }, 30_000);

  it('keeps the other writers going, and loses nothing acknowledged, when one writer is killed -9', async () => {
    const ledger = newLedger();
    const survivors = startWorker('append', root, 'survivor', '400');
    const killed = await appendThenKill(root, 150);
    record(ledger, killed);
    expect(killed.acknowledged.size).toBeGreaterThan(0);
    const { ids } = (await survivors.next()) as { ids: number[] };
    expect(ids).toHaveLength(400);
    survivors.child.stdin.end();
    expect(await survivors.exited).toBe(0);
    for (let i = 0; i < 400; i++) ledger.attempted.add(`survivor memory ${i} shared folder`);
    await checkAfterKill(root, ledger);
    const fs = await open();
    for (const id of ids) expect(await fs.getMemory(id)).toBeDefined();
    await fs.close();
  }, 60_000);

  it('tells state subscribers in other processes of each change', async () => {
    const fs = await open();
    const seen: Array<{ state: AgentState; at: number }> = [];
    const off = fs.subscribeState((state) => seen.push({ state, at: Date.now() }));
    const watched: string[] = [];
    const watching = (async () => {
      for await (const state of fs.watchState()) {
        watched.push(state.status);
        if (state.status === 'step-3') break;
      }
    })();
    const writer = startWorker('state', root, '3', '150');
    const writes: Array<{ wrote: number; at: number }> = [];
    for (let i = 0; i < 3; i++) writes.push((await writer.next()) as { wrote: number; at: number });
    expect(await writer.exited).toBe(0);
    await watching;
    await new Promise((resolve) => setTimeout(resolve, 300));
    off();
    expect(seen.map((s) => s.state.status)).toEqual(['step-1', 'step-2', 'step-3']);
    expect(watched).toEqual(['step-1', 'step-2', 'step-3']);
    const delays = writes.map((w, i) => seen[i]!.at - w.at);
    console.log(`cross-process state delays (ms): ${delays.join(', ')}`);
    for (const delay of delays) expect(delay).toBeLessThan(1000);
    expect(fs.getState().status).toBe('step-3');
    await fs.close();
  }, 30_000);

  it('shows other processes nothing that is not yet durable', async () => {
    const writer = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), durability: 'none' });
    const reader = await open();
    const id = await writer.appendMemory('written, not yet flushed');
    expect(await reader.getMemory(id)).toBeUndefined();
    expect(reader.stats().memories).toBe(0);
    await writer.flush();
    expect((await reader.getMemory(id))?.text).toBe('written, not yet flushed');
    await writer.close();
    await reader.close();
  });

  it('keeps both of two processes\' updates of different fields of one memory, and tells exactly one delete it deleted', async () => {
    const setup = await open();
    const id = await setup.appendMemory('updated from two processes', ['round-0'], { meta: { round: 0 } });
    const doomed = await setup.appendMemories(Array.from({ length: 30 }, (_, i) => ({ text: `doomed ${i}` })));
    await setup.close();
    const tagger = startWorker('update', root, String(id), 'tags', '40');
    const annotator = startWorker('update', root, String(id), 'meta', '40');
    const deleters = [startWorker('delete', root, ...doomed.map(String)), startWorker('delete', root, ...doomed.map(String))];
    expect(await tagger.next()).toEqual({ done: 40 });
    expect(await annotator.next()).toEqual({ done: 40 });
    const [first, second] = (await Promise.all(deleters.map((d) => d.next()))).map((r) => r.deleted as boolean[]);
    doomed.forEach((_, i) => expect([first![i], second![i]].filter(Boolean), `memory ${doomed[i]}`).toHaveLength(1));
    await Promise.all([tagger, annotator, ...deleters].map((w) => w.exited));
    const fs = await open();
    expect(await fs.getMemory(id)).toMatchObject({ tags: ['round-40'], meta: { round: 40 } });
    expect(fs.stats().memories).toBe(1);
    await fs.close();
  });

  it('gives up on a writer lock held by a stopped process after lockTimeoutMs, while reads keep working', async () => {
    const setup = await open();
    const id = await setup.appendMemory('readable while the lock is held');
    await setup.close();
    const reader = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), lockTimeoutMs: 300 });
    const holder = await holdWriterLock(root);
    try {
      holder.child.kill('SIGSTOP');
      await expect(reader.appendMemory('blocked')).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
      await expect(MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), lockTimeoutMs: 200 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
      expect((await reader.getMemory(id))?.text).toBe('readable while the lock is held');
      expect((await reader.queryMemory('readable')).map((h) => h.id)).toEqual([id]);
      expect(reader.getState().status).toBe('idle');
    } finally {
      await holder.kill();
    }
    const after = await reader.appendMemory('written once the holder is gone');
    expect((await reader.getMemory(after))?.text).toBe('written once the holder is gone');
    await reader.close();
  });
});
