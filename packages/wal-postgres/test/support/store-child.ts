// A host of its own: a MemMapFS store with a root folder of its own over the PostgreSQL log (or, with no
// `connectionString`, a process with a local store folder that other such processes open too), appending
// (one at a time and in batches), updating and deleting its own memories from a few concurrent loops.
// Run as `node --conditions=dev-source --import tsx store-child.ts '<json task>'`; prints JSON lines:
//
//   { ready: true }                                 the store is open
//   { attempt: 'append', texts }                    before each try of an append (each try has texts of its own)
//   { ack: 'append', ids, texts, tries }            an append resolved: acknowledged
//   { attempt: 'update', id, text }                 before each try of an update (each try has a text of its own)
//   { ack: 'update', id, text, tries }
//   { attempt: 'delete', id }
//   { ack: 'delete', id, result, tries }            result: what deleteMemory resolved
//   { failed: op, code, message, attempt }          a try rejected: not acknowledged; it is tried again
//   { mismatch: … }                                 this host did not read back what it had just written
//   { lost: id }                                    updateMemory said MEMORY_NOT_FOUND for a live memory of this host
//   { gaveUp: op }                                  tries kept failing for too long
//   { reopened: n }                                 the store was closed and opened again (after WAL_FAILED, …)
//   { compacting: true }, { compacted, moved, removed }  a compaction starts, and what it did (with compactEveryMs; removed: chunk files gone)
//   { compactFailed: { code, message } }            a compaction rejected
//   { queried: n }, { queryFailed: { code, message } }  a query (with `queries`) found n memories, or rejected
//   { slow: [{ op, phase, forMs }], pending? }      operations under way for more than 10 s, and what each awaits (looked at every 10 s;
//                                                   pending: the engine's calls under way, with MEMMAPFS_TEST_PROFILE_DIR set)
//
// Commands on stdin: `stop` (finish the operations under way, then print { stopped: true }), `view`
// (print { view: [[id, text], …] }: every live memory, as this host reads it), `mappings` (collect
// garbage where run with --expose-gc, then print { mappings: […] }: the files under the root this process
// maps, a removed one as "PATH (deleted)"; Linux only), `close` (close the store, print { closed: true },
// and end).
import { readFileSync, writeSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { segmentSearch } from '@memmapfs/search-segments';
import { seededRandom } from '@memmapfs/testkit';
import { longText, memoryTexts, openHost } from './stores.js';

interface Task {
  /** The PostgreSQL log's server and store; without them, the store is the local folder `root`. */
  readonly connectionString?: string;
  readonly store?: string;
  readonly root: string;
  readonly name: string;
  /** Concurrent loops of operations. Default 3. */
  readonly workers?: number;
  /** Every this many memories, a text of 70 KiB (more than a block of 64 KiB). Default 12. */
  readonly bigEvery?: number;
  /** Most milliseconds a loop rests between operations. Default 15. */
  readonly pauseMs?: number;
  readonly seed?: number;
  /** Chunk files of this size (bytes), so that compaction finds some mostly dead. */
  readonly chunkSizeBytes?: number;
  /** Opens the store read-only (with `workers: 0`: a process that only reads, for `view`). */
  readonly readOnly?: boolean;
  /** The search provider: FlexSearch (the default) or `segments` (whose indexing costs a fraction of FlexSearch's for long texts). */
  readonly search?: 'flexsearch' | 'segments';
  /** Compacts the store every this many milliseconds (none by default), printing { compacting: true } and { compacted, moved } or { compactFailed }. */
  readonly compactEveryMs?: number;
  /** Every other compaction erases (`compact({ erase: true })`). */
  readonly erase?: boolean;
  /** Each loop queries the store every few operations (`queryMemory`), printing { queried } or { queryFailed }. */
  readonly queries?: boolean;
}

const task = JSON.parse(process.argv[2]!) as Task;
/** Prints a JSON line, whole (a pipe may take a long line a part at a time, or ask to wait: EAGAIN). */
function say(value: unknown): void {
  const bytes = Buffer.from(`${JSON.stringify(value)}\n`);
  for (let offset = 0; offset < bytes.length;) {
    try {
      offset += writeSync(1, bytes, offset);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const place = task.connectionString === undefined ? undefined : { connectionString: task.connectionString, store: task.store! };
const errorOf = (error: unknown) => ({ code: (error as { code?: string })?.code, message: String((error as Error)?.message ?? error).slice(0, 400) });

// Errors after which this host closes its store and opens it again (as an application would).
const REOPEN = new Set(['WAL_FAILED', 'STORE_CLOSED', 'STORE_REPLACED']);
const RETRY_FOR_MS = 40_000;

const next = seededRandom(task.seed ?? 1);

async function openWithRetry(): Promise<MemMapFS> {
  const deadline = Date.now() + RETRY_FOR_MS;
  for (;;) {
    try {
      const options = {
        ...(task.chunkSizeBytes ? { chunkSizeBytes: task.chunkSizeBytes } : {}),
        ...(task.readOnly ? { readOnly: true } : {}),
        ...(task.search === 'segments' ? { search: segmentSearch() } : {}),
      };
      return place ? await openHost(task.root, place, task.name, options) : await MemMapFS.init(task.root, { codec: msgpack(), search: flexsearch(), ...options });
    } catch (error) {
      say({ openFailed: errorOf(error) });
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

/** (Looking into a slow run: the engine's async calls under way, by name, when `MEMMAPFS_TEST_PROFILE_DIR` is set.) */
const pendingCalls = new Map<string, number>();
let callSeq = 0;
function watchCalls(target: Record<string, unknown> | undefined, prefix: string): void {
  if (!target || !process.env.MEMMAPFS_TEST_PROFILE_DIR) return;
  let proto = Object.getPrototypeOf(target);
  const names = new Set<string>();
  while (proto && proto !== Object.prototype) {
    for (const name of Object.getOwnPropertyNames(proto)) if (name !== 'constructor' && typeof Object.getOwnPropertyDescriptor(proto, name)?.value === 'function') names.add(name);
    proto = Object.getPrototypeOf(proto);
  }
  for (const name of names) {
    const original = target[name] as (...args: unknown[]) => unknown;
    target[name] = function (this: unknown, ...args: unknown[]) {
      const result = original.apply(this, args);
      if (result instanceof Promise) {
        const key = `${prefix}.${name}#${callSeq++}`;
        pendingCalls.set(key, performance.now());
        void result.finally(() => pendingCalls.delete(key)).catch(() => undefined);
      }
      return result;
    };
  }
}
function watchStore(store: MemMapFS): void {
  const engine = (store as unknown as { engine: Record<string, unknown> }).engine;
  watchCalls(engine, 'engine');
  for (const part of ['retiredChunks', 'snapshots', 'index', 'wal', 'blocks', 'hostBlocks', 'checkpoints']) watchCalls(engine[part] as Record<string, unknown>, part);
}

let fs = await openWithRetry();
watchStore(fs);
let generation = 0;
let reopening: Promise<void> | undefined;

async function current(): Promise<{ fs: MemMapFS; generation: number }> {
  while (reopening) await reopening;
  return { fs, generation };
}

function reopen(from: number): Promise<void> {
  if (reopening) return reopening;
  if (from !== generation) return Promise.resolve();
  reopening = (async () => {
    await fs.close().catch((error: unknown) => say({ closeFailed: errorOf(error) }));
    fs = await openWithRetry();
    watchStore(fs);
    generation++;
    say({ reopened: generation });
  })().finally(() => {
    reopening = undefined;
  });
  return reopening;
}

class GaveUp extends Error {}

/** The operations under way and what each is doing (printed when one is slow). */
const underWay = new Map<number, { op: string; phase: string; since: number }>();
let operationSeq = 0;
async function tracked<T>(op: string, body: (phase: (name: string) => void) => Promise<T>): Promise<T> {
  const key = operationSeq++;
  const entry = { op, phase: 'start', since: performance.now() };
  underWay.set(key, entry);
  try {
    return await body((name) => {
      entry.phase = name;
      entry.since = performance.now();
    });
  } finally {
    underWay.delete(key);
  }
}

/** Runs `run` until it resolves: a rejected try is not acknowledged, and is tried again (`try` counts from 0). */
async function tryUntilDone<T>(op: string, run: (fs: MemMapFS, attempt: number) => Promise<T>, giveUpOn: (code: string | undefined) => boolean = () => false): Promise<{ value: T; tries: number }> {
  const deadline = Date.now() + RETRY_FOR_MS;
  return tracked(op, async (phase) => {
    for (let attempt = 0; ; attempt++) {
      phase('waiting for a reopen');
      const now = await current();
      try {
        phase(`try ${attempt}`);
        return { value: await run(now.fs, attempt), tries: attempt + 1 };
      } catch (error) {
        const { code, message } = errorOf(error);
        say({ failed: op, code, message, attempt });
        if (giveUpOn(code)) throw new GaveUp(op);
        if (Date.now() > deadline) {
          say({ gaveUp: op });
          throw new GaveUp(op);
        }
        phase(`after try ${attempt} (${code})`);
        if (code !== undefined && REOPEN.has(code)) await reopen(now.generation);
        else await sleep(100);
      }
    }
  });
}

/** Reads a memory back right after this host's own write resolved (errors while the server is away are only reported). */
async function readBack(id: number, expected: string | undefined): Promise<void> {
  await tracked('readBack', () => readBackNow(id, expected));
}

async function readBackNow(id: number, expected: string | undefined): Promise<void> {
  try {
    const { fs: store } = await current();
    const memory = await store.getMemory(id);
    if (memory?.text !== expected) say({ mismatch: { id, expected: expected?.slice(0, 80) ?? null, got: memory === undefined ? null : memory.text.slice(0, 80) } });
  } catch (error) {
    say({ readFailed: errorOf(error) });
  }
}

const bigEvery = task.bigEvery ?? 12;
let seq = 0;
const textOf = (n: number, attempt: number) => {
  const base = `${task.name}:${n}.${attempt}`;
  return n % bigEvery === bigEvery - 1 ? `${base} ${longText(70 * 1024, n * 31 + attempt + 7)}` : `${base} memory of host ${task.name}`;
};

/** Live memories of this host that no loop is working on. */
const free: number[] = [];
let stopping = false;

async function appendOne(): Promise<void> {
  const n = seq++;
  const { value } = await tryUntilDone('append', async (store, attempt) => {
    const text = textOf(n, attempt);
    say({ attempt: 'append', texts: [text] });
    return [await store.appendMemory(text, [task.name]), text] as const;
  });
  const [id, text] = value;
  say({ ack: 'append', ids: [id], texts: [text] });
  await readBack(id, text);
  free.push(id);
}

async function appendBatch(): Promise<void> {
  const count = 2 + Math.floor(next() * 3);
  const first = seq;
  seq += count;
  const { value, tries } = await tryUntilDone('appendBatch', async (store, attempt) => {
    const texts = Array.from({ length: count }, (_, k) => textOf(first + k, attempt));
    say({ attempt: 'append', texts });
    return [await store.appendMemories(texts.map((text) => ({ text, tags: [task.name, 'batch'] }))), texts] as const;
  });
  const [ids, texts] = value;
  say({ ack: 'append', ids, texts, tries });
  for (const [k, id] of ids.entries()) await readBack(id, texts[k]);
  free.push(...ids);
}

async function update(id: number): Promise<void> {
  const n = seq++;
  try {
    const { value: text, tries } = await tryUntilDone('update', async (store, attempt) => {
      const text = `${task.name}:u${n}.${attempt} updated memory of host ${task.name}`;
      say({ attempt: 'update', id, text });
      await store.updateMemory(id, { text });
      return text;
    }, (code) => code === 'MEMORY_NOT_FOUND');
    say({ ack: 'update', id, text, tries });
    await readBack(id, text);
    free.push(id);
  } catch (error) {
    if (!(error instanceof GaveUp)) throw error;
    say({ lost: id });
  }
}

async function remove(id: number): Promise<void> {
  const { value: result, tries } = await tryUntilDone('delete', async (store) => {
    say({ attempt: 'delete', id });
    return store.deleteMemory(id);
  });
  say({ ack: 'delete', id, result, tries });
  await readBack(id, undefined);
}

/** A query for this host's memories: it must answer (what it finds changes under the other loops). */
async function query(): Promise<void> {
  await tracked('query', async () => {
    try {
      const { fs: store } = await current();
      say({ queried: (await store.queryMemory(`host ${task.name}`, { limit: 5 })).length });
    } catch (error) {
      say({ queryFailed: errorOf(error) });
    }
  });
}

async function loop(): Promise<void> {
  for (let step = 0; !stopping; step++) {
    if (task.queries && step % 4 === 3) await query();
    const dice = next();
    const pick = () => (free.length === 0 ? undefined : free.splice(Math.floor(next() * free.length), 1)[0]);
    if (dice < 0.35) await appendOne();
    else if (dice < 0.55) await appendBatch();
    else if (dice < 0.82) {
      const id = pick();
      if (id === undefined) await appendOne();
      else await update(id);
    } else {
      // Deletes only while the host has a few memories left: the view keeps plenty of live ones.
      const id = free.length > 3 ? pick() : undefined;
      if (id === undefined) await appendOne();
      else await remove(id);
    }
    await sleep(Math.floor(next() * (task.pauseMs ?? 15)));
  }
}

const chunkFiles = async () => (await readdir(join(task.root, 'blocks'))).filter((name) => name.startsWith('chunk_'));

/** Compacts now and then (`compactEveryMs`), while the loops write. */
async function compactLoop(everyMs: number): Promise<void> {
  for (let round = 0; !stopping; round++) {
    await sleep(everyMs);
    const { fs: store } = await current();
    try {
      say({ compacting: true });
      const before = await chunkFiles();
      const report = await tracked('compact', () => store.compact({ erase: task.erase === true && round % 2 === 1 }));
      const after = new Set(await chunkFiles());
      say({ compacted: report.chunksRewritten, moved: report.blocksMoved, removed: before.filter((name) => !after.has(name)) });
    } catch (error) {
      say({ compactFailed: errorOf(error) });
    }
  }
}

say({ ready: true });
setInterval(() => {
  const now = performance.now();
  const slow = [...underWay.values()].filter(({ since }) => now - since > 10_000);
  if (slow.length > 0) say({ slow: slow.map(({ op, phase, since }) => ({ op, phase, forMs: Math.round(now - since) })), ...(pendingCalls.size > 0 ? { pending: [...pendingCalls].map(([name, at]) => `${name}:${Math.round(now - at)}`) } : {}) });
  if (slow.length > 0 && process.env.MEMMAPFS_TEST_PROFILE_DIR) {
    profileOnce();
    void import('node:fs').then(({ appendFileSync }) => appendFileSync(join(process.env.MEMMAPFS_TEST_PROFILE_DIR!, 'slow.log'), `${task.name} ${new Date().toISOString()} ${JSON.stringify(slow.map(({ op, phase, since }) => ({ op, phase, forMs: Math.round(now - since) })))} pending ${JSON.stringify([...pendingCalls].map(([name, at]) => `${name}:${Math.round(now - at)}`))}\n`));
  }
}, 10_000).unref();

/** (Looking into a slow run: `MEMMAPFS_TEST_PROFILE_DIR` set, a CPU profile of 8 s is written there the first time an operation is slow.) */
let profiled = false;
function profileOnce(): void {
  if (profiled) return;
  profiled = true;
  void import('node:inspector').then(({ Session }) => {
    const session = new Session();
    session.connect();
    session.post('Profiler.enable', () => session.post('Profiler.start', () => setTimeout(() => session.post('Profiler.stop', (error, result) => {
      if (!error) void import('node:fs').then(({ writeFileSync }) => writeFileSync(join(process.env.MEMMAPFS_TEST_PROFILE_DIR!, `${task.name}-${process.pid}.cpuprofile`), JSON.stringify(result.profile)));
      session.disconnect();
    }), 8_000)));
  });
}
const loops = Promise.all([...Array.from({ length: task.workers ?? 3 }, loop), ...(task.compactEveryMs ? [compactLoop(task.compactEveryMs)] : [])]);
loops.catch((error: unknown) => say({ loopFailed: errorOf(error) }));

const commands = createInterface({ input: process.stdin });
for await (const command of commands) {
  if (command === 'stop') {
    stopping = true;
    await loops.catch(() => undefined);
    say({ stopped: true });
  } else if (command === 'view') {
    const { value } = await tryUntilDone('view', (store) => memoryTexts(store));
    say({ view: value });
  } else if (command === 'mappings') {
    (globalThis as { gc?: () => void }).gc?.();
    const paths = readFileSync('/proc/self/maps', 'utf8').split('\n').map((line) => line.split(/\s+/).slice(5).join(' '));
    say({ mappings: [...new Set(paths.filter((path) => path.startsWith(`${task.root}/`)))].sort() });
  } else if (command === 'close') {
    await tracked('close', () => fs.close());
    say({ closed: true });
    break;
  }
}
commands.close();
process.stdin.destroy();
