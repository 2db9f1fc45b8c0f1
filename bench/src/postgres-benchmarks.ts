// pnpm bench:postgres: the PostgreSQL log (@memmapfs/wal-postgres) against PostgreSQL alone. For 1, 4
// and 16 writing processes: durable single-record appends per second, next to the same processes doing
// one autocommit INSERT per transaction with `pg`; and the lag of a follower process, from an append
// resolving in its writer to the record reaching the follower's onCommit. Starts a throwaway PostgreSQL
// (initdb + pg_ctl on a Unix socket in a temporary folder, fsync on), as the package's tests do.
// Then a new host: a store of BENCH_PG_NEW_HOST memories (the lifecycle's synthetic ones, default
// 100,000) written by one host, and a host with an empty root opening it until its first getMemory
// answers, replaying the log from its first record, then installing a snapshot (publishSnapshot).
// Writes bench-results/postgres.{json,md}. BENCH_PG_SECONDS, BENCH_PG_ROUNDS, BENCH_PG_WRITERS.
import { spawn, execFileSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import pg from 'pg';
import { MemMapFS } from '@memmapfs/core';
import { postgresWal } from '@memmapfs/wal-postgres';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { syntheticMemories, type SyntheticMemory } from './synthetic-memories.js';
import type { WorkerResult, WorkerTask } from './postgres-worker.js';
// The server the package's own tests start (it imports only Node's modules).
import { findPostgresBin, initTemplate, startServer } from '../../packages/wal-postgres/test/support/postgres-server.js';

const SECONDS = Number(process.env.BENCH_PG_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_PG_ROUNDS ?? 3);
const WRITERS = (process.env.BENCH_PG_WRITERS ?? '1,4,16').split(',').map(Number);
const PAYLOAD_BYTES = 200;

const workerScript = fileURLToPath(new URL('./postgres-worker.ts', import.meta.url));

/** A worker process, with its stdout read line by line. */
class Worker {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly lines: AsyncIterator<string>;
  private readonly exit: Promise<unknown>;

  constructor(task: WorkerTask) {
    const conditions = process.execArgv.filter((arg) => arg.startsWith('--conditions'));
    this.child = spawn(process.execPath, [...conditions, '--import', 'tsx', workerScript, JSON.stringify(task)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
    this.exit = new Promise((resolve) => this.child.on('exit', resolve));
  }

  async line(): Promise<string> {
    const next = await this.lines.next();
    if (next.done) throw new Error(`A ${workerScript} process ended early.`);
    return next.value;
  }

  signal(): void {
    this.child.stdin.write('go\n');
  }

  async result(): Promise<WorkerResult> {
    return JSON.parse(await this.line()) as WorkerResult;
  }

  async ended(): Promise<void> {
    this.child.stdin.end();
    await this.exit;
  }
}

interface Run {
  readonly perSecond: number;
  readonly operations: number;
  /** Log runs: follower lag, p50 and p99 (ms), over `lagged` records. */
  readonly lag?: { p50: number; p99: number; lagged: number; missing: number };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Starts `count` writers, waits until all are ready, starts them together, collects their results. */
async function writers(count: number, task: (writer: number) => WorkerTask): Promise<WorkerResult[]> {
  const workers = Array.from({ length: count }, (_, writer) => new Worker(task(writer)));
  for (const worker of workers) if ((await worker.line()) !== 'ready') throw new Error('A writer did not start.');
  for (const worker of workers) worker.signal();
  const results = await Promise.all(workers.map((worker) => worker.result()));
  await Promise.all(workers.map((worker) => worker.ended()));
  return results;
}

const perSecond = (results: WorkerResult[]) => results.reduce((sum, r) => sum + r.operations / (r.ms / 1000), 0);

async function logRun(connectionString: string, count: number, round: number): Promise<Run> {
  const store = `bench-${count}-${round}`;
  // Created here, so that the follower (read-only) can open it before the writers start.
  const created = await postgresWal({ connectionString, store })({ codec: 'raw' });
  await created.close();
  const base = { connectionString, store, seconds: SECONDS, payloadBytes: PAYLOAD_BYTES };
  const follower = new Worker({ ...base, mode: 'follow', writer: -1 });
  if ((await follower.line()) !== 'ready') throw new Error('The follower did not start.');
  follower.signal();
  const results = await writers(count, (writer) => ({ ...base, mode: 'wal', writer }));
  // Let the follower take the last records as it would any other, then stop it.
  await new Promise((resolve) => setTimeout(resolve, 500));
  follower.signal();
  const followed = await follower.result();
  await follower.ended();
  const committed = new Map<string, number>();
  for (const [writer, sequence, at] of followed.committedAt!) committed.set(`${writer} ${sequence}`, at);
  const lags: number[] = [];
  let missing = 0;
  results.forEach((result, writer) =>
    result.resolvedAt!.forEach((resolved, sequence) => {
      const at = committed.get(`${writer} ${sequence}`);
      if (at === undefined) missing++;
      else lags.push(at - resolved);
    }));
  lags.sort((a, b) => a - b);
  return {
    perSecond: perSecond(results),
    operations: results.reduce((sum, r) => sum + r.operations, 0),
    lag: { p50: percentile(lags, 50), p99: percentile(lags, 99), lagged: lags.length, missing },
  };
}

async function insertRun(connectionString: string, count: number): Promise<Run> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  await client.query('DROP TABLE IF EXISTS t; CREATE TABLE t (id bigserial PRIMARY KEY, payload bytea NOT NULL)');
  await client.end();
  const results = await writers(count, (writer) => ({ connectionString, store: '', mode: 'insert', writer, seconds: SECONDS, payloadBytes: PAYLOAD_BYTES }));
  return { perSecond: perSecond(results), operations: results.reduce((sum, r) => sum + r.operations, 0) };
}

const NEW_HOST_MEMORIES = Number(process.env.BENCH_PG_NEW_HOST ?? 100_000);

/** Opens a store on `store` in an empty root until the first getMemory answers: ms. */
async function newHostOpen(connectionString: string, store: string, id: number): Promise<number> {
  const root = await mkdtemp(join(tmpdir(), 'memmapfs-bench-host-'));
  try {
    const started = performance.now();
    const fs = await MemMapFS.init(root, { wal: postgresWal({ connectionString: `${connectionString}&application_name=new-host`, store }), autoSnapshot: false });
    if (!(await fs.getMemory(id))) throw new Error(`memory ${id} was not found`);
    const ms = performance.now() - started;
    await fs.close();
    return ms;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** A new host's open of a store of `count` memories, replaying the whole log, then from a snapshot. */
async function newHostRuns(connectionString: string, count: number) {
  const store = `bench-new-host-${count}`;
  const root = await mkdtemp(join(tmpdir(), 'memmapfs-bench-writer-'));
  try {
    const writer = await MemMapFS.init(root, { wal: postgresWal({ connectionString, store }), autoSnapshot: false });
    const batch: SyntheticMemory[] = [];
    let last = 0;
    for (const memory of syntheticMemories(count)) {
      batch.push(memory);
      if (batch.length === 2_000) last = (await writer.appendMemories(batch.splice(0))).at(-1)!;
    }
    if (batch.length > 0) last = (await writer.appendMemories(batch.splice(0))).at(-1)!;
    const replay: number[] = [];
    for (let round = 0; round < ROUNDS; round++) replay.push(await newHostOpen(connectionString, store, last));
    const started = performance.now();
    const published = await writer.publishSnapshot();
    const publishMs = performance.now() - started;
    const fromSnapshot: number[] = [];
    for (let round = 0; round < ROUNDS; round++) fromSnapshot.push(await newHostOpen(connectionString, store, last));
    await writer.close();
    process.stderr.write(`new host, ${count} memories: replay ${median(replay).toFixed(0)} ms, from the snapshot ${median(fromSnapshot).toFixed(0)} ms (${((published?.bytes ?? 0) / 1024 / 1024).toFixed(1)} MiB, published in ${publishMs.toFixed(0)} ms)\n`);
    return { count, replay, fromSnapshot, snapshotBytes: published?.bytes ?? 0, publishMs };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const spread = (values: number[], digits: number) => `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;

const bin = findPostgresBin();
if (!bin) {
  // Skipped, as the package's tests are, where PostgreSQL is not installed: the rest of `pnpm bench` runs on.
  console.error('[memmapfs] [bench] PostgreSQL\'s server programs (initdb, pg_ctl) were not found, so the PostgreSQL benchmark is skipped: `apt-get install postgresql`, or set POSTGRES_BIN to the folder that holds them.');
  process.exit(0);
}
const version = execFileSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
const template = await initTemplate(bin);
const server = await startServer(bin, template);
try {
  const rows: Array<{ writers: number; log: Run[]; peer: Run[] }> = [];
  for (const count of WRITERS) rows.push({ writers: count, log: [], peer: [] });
  // Warm-up, not counted: the server's caches and the tables' first pages.
  await logRun(server.connectionString, 1, -1);
  await insertRun(server.connectionString, 1);
  for (let round = 0; round < ROUNDS; round++) {
    for (const row of rows) {
      // Alternating, so that both sides meet the disk in the same mood.
      row.log.push(await logRun(server.connectionString, row.writers, round));
      row.peer.push(await insertRun(server.connectionString, row.writers));
      const log = row.log.at(-1)!;
      process.stderr.write(`round ${round + 1}/${ROUNDS}, ${row.writers} writers: log ${log.perSecond.toFixed(0)}/s (lag p50 ${log.lag!.p50.toFixed(2)} ms, p99 ${log.lag!.p99.toFixed(2)} ms, ${log.lag!.missing} missing), INSERT ${row.peer.at(-1)!.perSecond.toFixed(0)}/s\n`);
    }
  }
  const table = [
    `${version}; ${SECONDS} s per run, ${ROUNDS} runs of each, median (min–max); ${PAYLOAD_BYTES}-byte payloads.`,
    '',
    '| writing processes | log appends/s | INSERT transactions/s | × INSERT | follower lag p50 (ms) | follower lag p99 (ms) |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows.map((row) => {
      const ratios = row.log.map((run, i) => run.perSecond / row.peer[i]!.perSecond);
      return `| ${row.writers} | ${spread(row.log.map((r) => r.perSecond), 0)} | ${spread(row.peer.map((r) => r.perSecond), 0)} | ${spread(ratios, 2)} | ${spread(row.log.map((r) => r.lag!.p50), 2)} | ${spread(row.log.map((r) => r.lag!.p99), 2)} |`;
    }),
  ].join('\n');
  // (BENCH_PG_NEW_HOST=0 leaves the new host out.)
  const newHost = NEW_HOST_MEMORIES > 0 ? await newHostRuns(server.connectionString, NEW_HOST_MEMORIES) : undefined;
  const newHostTable = !newHost ? '' : [
    '',
    `A new host (an empty root) opening a store of ${newHost.count.toLocaleString('en')} memories until its first getMemory answers, ${ROUNDS} opens each, median (min–max):`,
    '',
    '| new host | open + first getMemory (ms) |',
    '|---|---:|',
    `| replaying the log from its first record | ${spread(newHost.replay, 0)} |`,
    `| from the snapshot (${(newHost.snapshotBytes / 1024 / 1024).toFixed(1)} MiB, published in ${newHost.publishMs.toFixed(0)} ms) | ${spread(newHost.fromSnapshot, 0)} |`,
  ].join('\n');
  await mkdir('bench-results', { recursive: true });
  await writeFile('bench-results/postgres.json', `${JSON.stringify({ benchmark: 'postgres log', date: new Date().toISOString(), node: process.version, postgres: version, seconds: SECONDS, rows, newHost }, null, 2)}\n`);
  await writeFile('bench-results/postgres.md', `${table}\n${newHostTable}\n`);
  console.log(`${table}\n${newHostTable}`);
} finally {
  await server.remove();
  await rm(template, { recursive: true, force: true });
}
