// The search figures: bulk load until searchable, open until the first query answered, query latency
// with and without a tag filter, agreement with FTS5's top ten, private and shared memory, durable
// appends, updates and deletes with the index kept up to date; each against SQLite (better-sqlite3,
// FTS5, bm25) holding the same synthetic memories, measured in the same run, for each search provider.
// Sizes: BENCH_SEARCH_SIZES (default 100000,1000000); providers: BENCH_SEARCH_PROVIDERS (default
// segments,flexsearch,orama; the in-heap ones only up to BENCH_SEARCH_HEAP_MAX memories, default
// 100000: at 1,000,000 their bulk load runs for tens of minutes); bulk loads of each size, each into a
// new store (a new SQLite file) by a fresh process, SQLite's and the segments provider's in turn:
// BENCH_LOAD_ROUNDS (default 3; one for the in-heap providers). Writes bench-results/search.{json,md}.
import { spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MemMapFS } from '@memmapfs/core';
import { collectGarbage } from './collect-garbage.js';
import { inTurn } from './in-turn.js';
import { loadSqlite, peerFolder, type SqliteDatabase } from './sqlite-peer.js';
import { syntheticMemories, type SyntheticMemory } from './synthetic-memories.js';
import { seconds } from './timing.js';

const SIZES = (process.env.BENCH_SEARCH_SIZES ?? '100000,1000000').split(',').map(Number);
const PROVIDERS = (process.env.BENCH_SEARCH_PROVIDERS ?? 'segments,flexsearch,orama').split(',') as Array<'segments' | 'flexsearch' | 'orama'>;
const HEAP_MAX = Number(process.env.BENCH_SEARCH_HEAP_MAX ?? 100_000);
/** Queries timed for the in-heap providers: the first of the 200 (all by default; fewer makes a quick run). */
const HEAP_QUERIES = Number(process.env.BENCH_SEARCH_HEAP_QUERIES ?? 200);
const ROUNDS = Number(process.env.BENCH_OPEN_ROUNDS ?? 5);
/**
 * Bulk loads of each size, each into a new store (SQLite: a new file) by a fresh process, as an import
 * script would run: the last one is measured on. Not for the in-heap providers, whose one load takes a
 * minute. (Loads run one after another in one process get faster, the JIT and the heap warmed up: 3.9,
 * 2.7 and 2.4 s at 100,000.)
 */
const LOAD_ROUNDS = Number(process.env.BENCH_LOAD_ROUNDS ?? 3);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 1000);
/** Blocks the `CHANGES` durable changes of a kind are measured in, each side's in turn. */
const CHANGE_BLOCKS = 5;
const PROCESSES = 8;
const child = fileURLToPath(new URL('./search-child.mjs', import.meta.url));
const benchFolder = fileURLToPath(new URL('..', import.meta.url));

interface Query {
  readonly text: string;
  /** The same query for FTS5: each word quoted, the last one as a prefix, any of them. */
  readonly match: string;
  readonly tag?: string;
}

interface Spread {
  median: number;
  min: number;
  max: number;
}

const spread = (values: number[]): Spread => {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted.at(-1)! };
};
const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

/** 200 queries of one or two words, drawn from the memories' own text (so with their skew), half with a tag. */
function benchQueries(memories: SyntheticMemory[]): Query[] {
  let state = 7;
  const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const tags = ['preference', 'fact', 'task', 'person', 'project', 'meeting', 'error', 'plan'];
  return Array.from({ length: 200 }, (_, i) => {
    const words = Array.from({ length: 1 + (i % 2) }, () => {
      const text = memories[Math.floor(random() * memories.length)]!.text.split(' ');
      return text[Math.floor(random() * text.length)]!;
    });
    const match = words.map((word, w) => `"${word}"${w === words.length - 1 ? '*' : ''}`).join(' OR ');
    return { text: words.join(' '), match, ...(i % 4 >= 2 ? { tag: tags[Math.floor(random() * tags.length)] } : {}) };
  });
}


/** Runs the child in `mode`; `memory` children stay until `release` is called. */
function startChild(args: string[]): { result: Promise<Record<string, number>>; release: () => Promise<void> } {
  // (The packages' code cache of this run: written by the first children, the bulk loads, so that every open measured uses it.)
  const env = { ...process.env, MEMMAPFS_COMPILE_CACHE: join(dir, 'compile-cache') };
  const process_ = spawn(process.execPath, [child, ...args], { stdio: ['pipe', 'pipe', 'inherit'], cwd: benchFolder, env });
  const exited = new Promise<number | null>((resolve) => process_.on('exit', resolve));
  const result = createInterface({ input: process_.stdout })[Symbol.asyncIterator]().next().then(({ value, done }) => {
    if (done) throw new Error(`search-child ${args.join(' ')} ended without a result`);
    return JSON.parse(value as string) as Record<string, number>;
  });
  return {
    result,
    release: async () => {
      process_.stdin.end();
      if ((await exited) !== 0) throw new Error(`search-child ${args.join(' ')} failed`);
    },
  };
}

async function runChild(args: string[]): Promise<Record<string, number>> {
  const started = startChild(args);
  const result = await started.result;
  await started.release();
  return result;
}

/** PSS of Node alone (no store loaded), one process and `PROCESSES` side by side: the floor of the ratio for any Node.js process. */
async function nodeAlonePss(): Promise<{ one: number; sum: number; ratio: number }> {
  const one = (await runChild(['memory', 'node'])).pssKiB!;
  const many = Array.from({ length: PROCESSES }, () => startChild(['memory', 'node']));
  const sum = (await Promise.all(many.map((c) => c.result))).reduce((total, r) => total + r.pssKiB!, 0);
  await Promise.all(many.map((c) => c.release()));
  return { one, sum, ratio: sum / one };
}

const Database = await loadSqlite();
const dir = await mkdtemp(join(tmpdir(), 'memmapfs-search-'));
const nodeAlone = await nodeAlonePss();
const results: Array<Record<string, unknown>> = [];
try {
  for (const size of SIZES) {
    const memories = [...syntheticMemories(size)];
    const queries = benchQueries(memories);
    const queriesFile = join(dir, `queries-${size}.json`);
    await writeFile(queriesFile, JSON.stringify(queries));
    const plainQueries = queries.filter((q) => !q.tag);
    const taggedQueries = queries.filter((q) => q.tag);

    // The memories for the bulk loads, each in a fresh process (as an import script would run), a line each.
    const memoriesFile = join(dir, `memories-${size}.ndjson`);
    await writeFile(memoriesFile, '');
    for (let at = 0; at < size; at += 10_000) await appendFile(memoriesFile, `${memories.slice(at, at + 10_000).map((m) => JSON.stringify(m)).join('\n')}\n`);

    // SQLite: the rows and their FTS5 index in one durable transaction, into a new file each round; in
    // turn with the segments provider's loads (see `loadMemMapFS`), so that both meet the machine in the
    // same minutes. (Taken apart, ours ran after SQLite's queries and memory children, and came out
    // slower in the bench's children than the same child run by hand: 3.5–3.8 s at 100,000 against
    // 2.4–2.6 s, SQLite's alike either way.)
    const sqliteFile = join(dir, `sqlite-${size}.db`);
    const sqliteLoads: number[] = [];
    const rootOf = (provider: string) => join(dir, `memmapfs-${provider}-${size}`);
    const idsFileOf = (provider: string) => join(dir, `ids-${size}-${provider}.json`);
    /** A bulk load of the memories, until a query has every one in the index: into a new store, by a fresh process (as an import script would run). */
    const loadMemMapFS = async (provider: string): Promise<number> => {
      await rm(rootOf(provider), { recursive: true, force: true });
      return (await runChild(['load', 'memmapfs', rootOf(provider), provider, memoriesFile, queries[0]!.text, idsFileOf(provider)])).seconds!;
    };
    const segmentsLoads: number[] = [];
    for (let round = 0; round < LOAD_ROUNDS; round++) {
      for (const suffix of ['', '-wal', '-shm']) await rm(`${sqliteFile}${suffix}`, { force: true });
      sqliteLoads.push((await runChild(['load', 'sqlite', sqliteFile, peerFolder, memoriesFile])).seconds!);
      if (PROVIDERS.includes('segments')) segmentsLoads.push(await loadMemMapFS('segments'));
    }
    const sqliteLoad = spread(sqliteLoads);
    const db = new Database(sqliteFile);
    const plain = db.prepare('SELECT m.id, m.text FROM memories_fts f JOIN memories m ON m.id = f.rowid WHERE memories_fts MATCH ? ORDER BY bm25(memories_fts) LIMIT 10');
    const tagged = db.prepare('SELECT m.id, m.text FROM memories_fts f JOIN memories m ON m.id = f.rowid WHERE memories_fts MATCH ? AND m.tag = ? ORDER BY bm25(memories_fts) LIMIT 10');
    const sqliteQuery = (q: Query) => (q.tag ? tagged.all(q.match, q.tag) : plain.all(q.match)) as Array<{ id: number; text: string }>;
    for (const q of queries) sqliteQuery(q);
    const sqliteLatency = { plain: plainQueries.map((q) => timed(() => sqliteQuery(q))), tagged: taggedQueries.map((q) => timed(() => sqliteQuery(q))) };
    const sqliteTop = new Map(plainQueries.map((q) => [q.text, sqliteQuery(q).map((row) => row.id)]));
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();

    const sqliteOpen: number[] = [];
    const sqliteArgs = ['sqlite', sqliteFile, peerFolder, queriesFile];
    for (let round = 0; round < ROUNDS; round++) sqliteOpen.push((await runChild(['open', ...sqliteArgs])).ms!);
    const sqliteMemory = await runChild(['memory', ...sqliteArgs]);
    // The same eight processes of SQLite, for what sharing costs it (reported beside ours; not at the
    // larger sizes, where 8,000 FTS5 queries on two cores take a quarter of an hour).
    let sqlitePssSum = Number.NaN;
    if (size <= HEAP_MAX) {
      const sqliteMany = Array.from({ length: PROCESSES }, () => startChild(['memory', ...sqliteArgs]));
      sqlitePssSum = (await Promise.all(sqliteMany.map((c) => c.result))).reduce((sum, r) => sum + r.pssKiB!, 0);
      await Promise.all(sqliteMany.map((c) => c.release()));
    }

    // SQLite's durable changes, in seconds, measured beside the first provider's (see `inTurn`).
    let sqliteChanges: Record<ChangeKind, number> | undefined;
    for (const provider of PROVIDERS) {
      if (provider !== 'segments' && size > HEAP_MAX) continue;
      const root = rootOf(provider);
      // The bulk loads (the segments provider's: above, in turn with SQLite's); the rest from a handle
      // opened afterwards on the last one, as an agent process would.
      const loads = provider === 'segments' ? segmentsLoads : [await loadMemMapFS(provider)];
      const ids = JSON.parse(await readFile(idsFileOf(provider), 'utf8')) as number[];
      const load = spread(loads);
      process.stderr.write(`${size} ${provider}: bulk load ${loads.map((t) => t.toFixed(1)).join(', ')} s (SQLite ${sqliteLoads.map((t) => t.toFixed(1)).join(', ')} s)\n`);
      const fs = await MemMapFS.init(root, { search: provider });
      const query = (q: Query) => fs.queryMemory(q.text, { limit: 10, ...(q.tag ? { tags: [q.tag] } : {}) });
      const timedQueries = provider === 'segments' ? queries : queries.slice(0, HEAP_QUERIES);
      for (const q of timedQueries) await query(q);
      const latency = { plain: [] as number[], tagged: [] as number[] };
      for (const q of timedQueries) (q.tag ? latency.tagged : latency.plain).push(await timedAsync(() => query(q)));
      // MemMapFS numbers a memory by its log position, SQLite by insertion order: the same memory either way.
      const rowOf = new Map(ids.map((id, i) => [id, i + 1]));
      let overlap = 0;
      const compared = timedQueries.filter((q) => !q.tag);
      for (const q of compared) {
        const ours = new Set((await query(q)).map((hit) => rowOf.get(hit.id)));
        overlap += sqliteTop.get(q.text)!.filter((id) => ours.has(id)).length;
      }
      overlap /= compared.length;
      // Durable changes, one at a time, each followed by nothing: the last is followed by a query, so
      // that indexing is counted. SQLite's (one transaction each) run with the first provider's, block by
      // block in turn, who goes first alternating: the disk's commits take longer at some minutes than
      // at others on a shared machine, and both sides wait on them.
      const sqliteSide = sqliteChanges === undefined ? new Database(sqliteFile) : undefined;
      sqliteSide?.pragma('synchronous = FULL');
      const sqliteChange = sqliteSide && sqliteChanger(sqliteSide, size, memories);
      const changesOf = (kind: ChangeKind) => inTurn(
        CHANGES,
        CHANGE_BLOCKS,
        (from, to) => {
          for (let i = from; i < to; i++) sqliteChange!(kind, i);
        },
        async (from, to) => {
          for (let i = from; i < to; i++) {
            if (kind === 'append') await fs.appendMemory(memories[i]!.text, memories[i]!.tags, { namespace: memories[i]!.namespace });
            else if (kind === 'update') await fs.updateMemory(ids[i * 7]!, { text: memories[i + 1]!.text });
            else await fs.deleteMemory(ids[3 + i * 7]!);
          }
          if (to === CHANGES) await fs.queryMemory('zzz', { limit: 1 });
        },
        sqliteSide !== undefined,
      );
      const appendTimes = await changesOf('append');
      const inFlight = await seconds(async () => {
        for (let at = 0; at < CHANGES * 8; at += 64) await Promise.all(memories.slice(at % size, (at % size) + 64).map((m) => fs.appendMemory(m.text, m.tags, { namespace: m.namespace })));
        await fs.queryMemory('zzz', { limit: 1 });
      });
      const updateTimes = await changesOf('update');
      const deleteTimes = await changesOf('delete');
      if (sqliteSide) {
        sqliteSide.pragma('wal_checkpoint(TRUNCATE)');
        sqliteSide.close();
        sqliteChanges = { append: appendTimes.sqlite, update: updateTimes.sqlite, delete: deleteTimes.sqlite };
      }
      const [appends, updates, deletes] = [appendTimes.ours, updateTimes.ours, deleteTimes.ours];
      const { append: sqliteAppends, update: sqliteUpdates, delete: sqliteDeletes } = sqliteChanges!;
      await fs.close();
      // The mappings of this process's closed store go only when it collects them: until then they
      // share the store's pages with the processes measured below, and one process alone would seem to
      // hold half of them (PSS divides a page among the processes that map it).
      collectGarbage();

      // (The in-heap providers run the first HEAP_QUERIES queries in each memory child, not 1,000: each
      // child loads its own copy of the index first.)
      const memoryQueries = provider === 'segments' ? 1000 : HEAP_QUERIES;
      const args = ['memmapfs', root, provider, queriesFile];
      const open: number[] = [];
      for (let round = 0; round < ROUNDS; round++) open.push((await runChild(['open', ...args])).ms!);
      const alone = await runChild(['memory', ...args, String(memoryQueries)]);
      const many = Array.from({ length: PROCESSES }, () => startChild(['memory', ...args, String(memoryQueries)]));
      const side = await Promise.all(many.map((c) => c.result));
      await Promise.all(many.map((c) => c.release()));
      const pssSum = side.reduce((sum, r) => sum + r.pssKiB!, 0);

      results.push({
        size,
        provider,
        bulkLoadPerSecond: { memmapfs: size / load.median, sqlite: size / sqliteLoad.median, ratio: sqliteLoad.median / load.median },
        bulkLoadSeconds: { memmapfs: load, sqlite: sqliteLoad },
        openAndFirstQueryMs: { memmapfs: spread(open), sqlite: spread(sqliteOpen), ratio: spread(open).median / spread(sqliteOpen).median },
        queryMs: {
          // (SQLite's over the same queries.)
          plain: { p50: quantile(latency.plain, 0.5), p99: quantile(latency.plain, 0.99), sqliteP50: quantile(sqliteLatency.plain.slice(0, latency.plain.length), 0.5), sqliteP99: quantile(sqliteLatency.plain.slice(0, latency.plain.length), 0.99), count: latency.plain.length },
          tagged: { p50: quantile(latency.tagged, 0.5), p99: quantile(latency.tagged, 0.99), sqliteP50: quantile(sqliteLatency.tagged.slice(0, latency.tagged.length), 0.5), sqliteP99: quantile(sqliteLatency.tagged.slice(0, latency.tagged.length), 0.99), count: latency.tagged.length },
        },
        top10Overlap: overlap,
        memoryQueries,
        rssAnonKiB: { memmapfs: alone.rssAnonKiB, sqlite: sqliteMemory.rssAnonKiB, ratio: alone.rssAnonKiB! / sqliteMemory.rssAnonKiB! },
        pssKiB: { one: alone.pssKiB, [`sumOf${PROCESSES}`]: pssSum, ratio: pssSum / alone.pssKiB!, sqliteOne: sqliteMemory.pssKiB, sqliteSum: sqlitePssSum, sqliteRatio: sqlitePssSum / sqliteMemory.pssKiB! },
        appendsPerSecond: { memmapfs: CHANGES / appends, sqlite: CHANGES / sqliteAppends, ratio: sqliteAppends / appends },
        appends64InFlightPerSecond: { memmapfs: (CHANGES * 8) / inFlight, ratio: (CHANGES * 8) / inFlight / (CHANGES / sqliteAppends) },
        updatesPerSecond: { memmapfs: CHANGES / updates, sqlite: CHANGES / sqliteUpdates, ratio: sqliteUpdates / updates },
        deletesPerSecond: { memmapfs: CHANGES / deletes, sqlite: CHANGES / sqliteDeletes, ratio: sqliteDeletes / deletes },
      });
      process.stderr.write(`${JSON.stringify(results.at(-1))}\n`);
      await rm(root, { recursive: true, force: true });
    }
    await rm(sqliteFile, { force: true });
    await rm(memoriesFile, { force: true });
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

type ChangeKind = 'append' | 'update' | 'delete';

/**
 * SQLite's durable changes on `db` (one transaction each), each the same as ours: change `i` of a kind
 * is memory `i` appended (as row `size + 1 + i`), row `1 + 7i` updated to memory `i + 1`'s text, or row
 * `4 + 7i` deleted, its FTS5 entry with it.
 */
function sqliteChanger(db: SqliteDatabase, size: number, memories: SyntheticMemory[]): (kind: ChangeKind, i: number) => void {
  const insert = db.prepare('INSERT INTO memories (id, text, tag, namespace, meta, created) VALUES (?, ?, ?, ?, ?, ?)');
  const index = db.prepare('INSERT INTO memories_fts (rowid, text) VALUES (?, ?)');
  const read = db.prepare('SELECT text FROM memories WHERE id = ?');
  const unindex = db.prepare("INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', ?, ?)");
  const update = db.prepare('UPDATE memories SET text = ? WHERE id = ?');
  const remove = db.prepare('DELETE FROM memories WHERE id = ?');
  return (kind, i) => db.transaction(() => {
    if (kind === 'append') {
      insert.run(size + 1 + i, memories[i]!.text, memories[i]!.tags[0], memories[i]!.namespace, '{}', Date.now());
      index.run(size + 1 + i, memories[i]!.text);
      return;
    }
    const id = kind === 'update' ? 1 + i * 7 : 4 + i * 7;
    unindex.run(id, (read.get(id) as { text: string }).text);
    if (kind === 'update') {
      update.run(memories[i + 1]!.text, id);
      index.run(id, memories[i + 1]!.text);
    } else remove.run(id);
  })();
}

function timed(body: () => unknown): number {
  const started = performance.now();
  body();
  return performance.now() - started;
}

async function timedAsync(body: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await body();
  return performance.now() - started;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
/** A spread of seconds, as `3.6 s, 3.4–3.9`. */
const seconds3 = (x: Spread) => `${fmt(x.median, 1)} s, ${fmt(x.min, 1)}–${fmt(x.max, 1)}`;
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${fmt(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.versions.node}`;
type Row = {
  size: number;
  provider: string;
  bulkLoadPerSecond: { memmapfs: number; sqlite: number; ratio: number };
  bulkLoadSeconds: { memmapfs: Spread; sqlite: Spread };
  openAndFirstQueryMs: { memmapfs: Spread; sqlite: Spread; ratio: number };
  queryMs: Record<'plain' | 'tagged', { p50: number; p99: number; sqliteP50: number; sqliteP99: number; count: number }>;
  top10Overlap: number;
  memoryQueries: number;
  rssAnonKiB: { memmapfs: number; sqlite: number; ratio: number };
  pssKiB: { one: number; ratio: number; sqliteOne: number; sqliteSum: number; sqliteRatio: number } & Record<string, number>;
  appendsPerSecond: { memmapfs: number; sqlite: number; ratio: number };
  appends64InFlightPerSecond: { memmapfs: number; ratio: number };
  updatesPerSecond: { memmapfs: number; sqlite: number; ratio: number };
  deletesPerSecond: { memmapfs: number; sqlite: number; ratio: number };
};
const sp = (x: Spread, digits = 1) => `${fmt(x.median, digits)} (${fmt(x.min, digits)}–${fmt(x.max, digits)})`;
const rows = (results as Row[]).flatMap((x) => {
  const head = `| ${fmt(x.size)} | ${x.provider} |`;
  return [
    `${head} bulk load until searchable (/s; median of the loads' seconds, min–max) | ${fmt(x.bulkLoadPerSecond.memmapfs)} (${seconds3(x.bulkLoadSeconds.memmapfs)}) | ${fmt(x.bulkLoadPerSecond.sqlite)} (${seconds3(x.bulkLoadSeconds.sqlite)}) | ${fmt(x.bulkLoadPerSecond.ratio, 2)} | ≥ 1 |`,
    `${head} open + first query, fresh process (ms) | ${sp(x.openAndFirstQueryMs.memmapfs)} | ${sp(x.openAndFirstQueryMs.sqlite)} | ${fmt(x.openAndFirstQueryMs.ratio, 2)} | ≤ 1 |`,
    `${head} query, limit 10, p50 / p99 (ms; ${x.queryMs.plain.count} queries) | ${fmt(x.queryMs.plain.p50, 2)} / ${fmt(x.queryMs.plain.p99, 2)} | ${fmt(x.queryMs.plain.sqliteP50, 2)} / ${fmt(x.queryMs.plain.sqliteP99, 2)} | ${fmt(x.queryMs.plain.p50 / x.queryMs.plain.sqliteP50, 2)} / ${fmt(x.queryMs.plain.p99 / x.queryMs.plain.sqliteP99, 2)} | ≤ 0.3 / ≤ 0.5 |`,
    `${head} query with a tag, p50 / p99 (ms; ${x.queryMs.tagged.count} queries) | ${fmt(x.queryMs.tagged.p50, 2)} / ${fmt(x.queryMs.tagged.p99, 2)} | ${fmt(x.queryMs.tagged.sqliteP50, 2)} / ${fmt(x.queryMs.tagged.sqliteP99, 2)} | ${fmt(x.queryMs.tagged.p50 / x.queryMs.tagged.sqliteP50, 2)} / ${fmt(x.queryMs.tagged.p99 / x.queryMs.tagged.sqliteP99, 2)} | ≤ 0.3 / ≤ 0.5 |`,
    `${head} of FTS5's top 10, in ours (mean) | ${fmt(x.top10Overlap, 1)} | 10 | | ≥ 8 |`,
    `${head} RssAnon after open + ${fmt(x.memoryQueries)} queries (MiB) | ${fmt(x.rssAnonKiB.memmapfs / 1024, 1)} | ${fmt(x.rssAnonKiB.sqlite / 1024, 1)} | ${fmt(x.rssAnonKiB.ratio, 2)} | ≤ 2 |`,
    `${head} PSS of ${PROCESSES} processes ÷ one's | ${fmt(x.pssKiB[`sumOf${PROCESSES}`]! / 1024, 1)} MiB ÷ ${fmt(x.pssKiB.one / 1024, 1)} MiB = ${fmt(x.pssKiB.ratio, 2)} | ${Number.isNaN(x.pssKiB.sqliteSum) ? 'not run at this size (8,000 FTS5 queries take a quarter of an hour)' : `${fmt(x.pssKiB.sqliteSum / 1024, 1)} MiB ÷ ${fmt(x.pssKiB.sqliteOne / 1024, 1)} MiB = ${fmt(x.pssKiB.sqliteRatio, 2)}`} | | ≤ 3 (ours) |`,
    `${head} durable appends, one at a time (/s) | ${fmt(x.appendsPerSecond.memmapfs)} | ${fmt(x.appendsPerSecond.sqlite)} | ${fmt(x.appendsPerSecond.ratio, 2)} | ≥ 1 |`,
    `${head} durable appends, 64 in flight (/s) | ${fmt(x.appends64InFlightPerSecond.memmapfs)} | ${fmt(x.appendsPerSecond.sqlite)} | ${fmt(x.appends64InFlightPerSecond.ratio, 2)} | ≥ 8 |`,
    `${head} durable updates, one at a time (/s) | ${fmt(x.updatesPerSecond.memmapfs)} | ${fmt(x.updatesPerSecond.sqlite)} | ${fmt(x.updatesPerSecond.ratio, 2)} | ≥ 1 |`,
    `${head} durable deletes, one at a time (/s) | ${fmt(x.deletesPerSecond.memmapfs)} | ${fmt(x.deletesPerSecond.sqlite)} | ${fmt(x.deletesPerSecond.ratio, 2)} | ≥ 1 |`,
  ];
});
const table = [
  `Machine: ${machine}. ${ROUNDS} opens of each; median (min–max). ${LOAD_ROUNDS} bulk loads of each (the in-heap providers: one), each into a new store by a fresh process, SQLite's and the segments provider's in turn; ${fmt(CHANGES)} durable changes of each kind, SQLite's and the first provider's taken in turn in ${CHANGE_BLOCKS} blocks; 200 queries (one or two words, the last as a prefix; half with a tag).`,
  `Node.js alone (no store, no query), for the floor of the PSS ratio: ${PROCESSES} processes ${fmt(nodeAlone.sum / 1024, 1)} MiB ÷ one ${fmt(nodeAlone.one / 1024, 1)} MiB = ${fmt(nodeAlone.ratio, 2)}.`,
  '',
  '| memories | provider | figure | MemMapFS | SQLite FTS5 | × SQLite | target |',
  '|---:|---|---|---:|---:|---:|---|',
  ...rows,
].join('\n');
process.stdout.write(`${table}\n`);
await mkdir('bench-results', { recursive: true });
await writeFile('bench-results/search.json', `${JSON.stringify({ machine, nodeAlonePssKiB: nodeAlone, results }, null, 2)}\n`);
await writeFile('bench-results/search.md', `${table}\n`);
