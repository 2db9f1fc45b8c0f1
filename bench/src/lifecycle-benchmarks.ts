// The lifecycle figures (opening a large store, its private memory, its size on disk, durable updates
// and deletes), each against SQLite (better-sqlite3: WAL mode, FTS5, synchronous=FULL for durable
// figures) holding the same synthetic memories, measured in the same run, and the open of a store of
// as many KV pairs against a SQLite table of them. Sizes: BENCH_LIFECYCLE_SIZES
// (default 100000,1000000). Writes bench-results/lifecycle.{json,md}; RESULTS.md is written from them.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, totalmem, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemMapFS } from '@memmapfs/core';
import { collectGarbage } from './collect-garbage.js';
import { inTurn } from './in-turn.js';
import { loadSqlite, peerFolder, type SqliteDatabase } from './sqlite-peer.js';
import { syntheticMemories } from './synthetic-memories.js';
import { timed } from './timing.js';

const SIZES = (process.env.BENCH_LIFECYCLE_SIZES ?? '100000,1000000').split(',').map(Number);
const OPEN_ROUNDS = Number(process.env.BENCH_OPEN_ROUNDS ?? 5);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 1000);
/** Blocks of durable changes each side takes in turn. */
const CHANGE_BLOCKS = 5;
const openChild = fileURLToPath(new URL('./open-child.mjs', import.meta.url));

interface Percentiles {
  p50: number;
  p99: number;
  count: number;
}

/** The median and 99th percentile of `samples`, and how many there were. */
function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), count: sorted.length };
}

/**
 * The search index the store keeps: the on-disk segments, so that the disk figures hold an index of the
 * text on both sides (SQLite's file holds its FTS5 index).
 */
const SEARCH = 'segments';

interface Spread {
  median: number;
  min: number;
  max: number;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted.at(-1)! };
}

async function folderBytes(path: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const full = join(path, entry.name);
    total += entry.isDirectory() ? await folderBytes(full) : (await stat(full)).size;
  }
  return total;
}

/** Writes the memories; returns their ids (log positions: checkpoint records take some LSNs too). */
async function buildMemMapFS(root: string, size: number): Promise<number[]> {
  const fs = await MemMapFS.init(root, { durability: 'none', search: SEARCH });
  const ids: number[] = [];
  let batch = [];
  for (const memory of syntheticMemories(size)) {
    batch.push(memory);
    if (batch.length === 2000) {
      ids.push(...(await fs.appendMemories(batch)));
      batch = [];
    }
  }
  if (batch.length > 0) ids.push(...(await fs.appendMemories(batch)));
  await fs.close();
  return ids;
}

function buildSqlite(db: SqliteDatabase, size: number): void {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec(`CREATE TABLE memories (id INTEGER PRIMARY KEY, text TEXT NOT NULL, tags TEXT NOT NULL, namespace TEXT NOT NULL, meta TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL);
    CREATE INDEX memories_namespace ON memories(namespace);
    CREATE VIRTUAL TABLE memories_fts USING fts5(text, content='memories', content_rowid='id');`);
  const insert = db.prepare('INSERT INTO memories (id, text, tags, namespace, meta, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const index = db.prepare('INSERT INTO memories_fts (rowid, text) VALUES (?, ?)');
  const now = Date.now();
  const load = db.transaction((memories: Array<ReturnType<typeof syntheticMemories> extends Generator<infer M> ? M : never>, first: number) => {
    memories.forEach((m, i) => {
      insert.run(first + i, m.text, JSON.stringify(m.tags), m.namespace, JSON.stringify(m.meta), now, now);
      index.run(first + i, m.text);
    });
  });
  let batch = [];
  let next = 1;
  for (const memory of syntheticMemories(size)) {
    batch.push(memory);
    if (batch.length === 10_000) {
      load(batch as never, next);
      next += batch.length;
      batch = [];
    }
  }
  if (batch.length > 0) load(batch as never, next);
  db.pragma('wal_checkpoint(TRUNCATE)');
}

/**
 * Opens the store in a fresh process, reads one memory: milliseconds, and RssAnon in KiB. The packages'
 * code cache is kept in `compileCache`, a folder of this run: the first open compiles and writes it.
 */
function openInFreshProcess(args: string[], compileCache?: string): Promise<{ ms: number; rssAnonKiB: number }> {
  return new Promise((resolve, reject) => {
    const env = compileCache === undefined ? process.env : { ...process.env, MEMMAPFS_COMPILE_CACHE: compileCache };
    const child = spawn(process.execPath, [openChild, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!) as { ms: number; rssAnonKiB: number }) : reject(new Error(`open-child ${args[0]} exited ${code}`))));
  });
}

/** The KV pairs of the KV figures: keys under a hundred agents' prefixes, small JSON values. */
function* kvPairs(size: number): Generator<[string, { n: number; note: string }]> {
  for (let i = 0; i < size; i++) yield [kvKey(i), { n: i, note: `value ${i} of the agent's settings` }];
}
const kvKey = (i: number) => `agent-${i % 100}/key-${String(i).padStart(8, '0')}`;

/** A store and a SQLite file (a table `kv`, key the primary key, value JSON) of `size` KV pairs each. */
async function buildKv(root: string, sqliteFile: string, size: number): Promise<void> {
  const fs = await MemMapFS.init(root, { durability: 'none', search: SEARCH });
  let batch: Array<[string, unknown]> = [];
  for (const pair of kvPairs(size)) {
    batch.push(pair);
    if (batch.length === 10_000) {
      await fs.setKvs(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await fs.setKvs(batch);
  await fs.checkpoint();
  await fs.close();
  const db = new Database(sqliteFile);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec('CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
  const insert = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)');
  db.transaction(() => {
    for (const [key, value] of kvPairs(size)) insert.run(key, JSON.stringify(value));
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

const Database = await loadSqlite();
const unindexAgain = (db: SqliteDatabase) => db.prepare("INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', ?, ?)");
const reindexAgain = (db: SqliteDatabase) => db.prepare('INSERT INTO memories_fts (rowid, text) VALUES (?, ?)');
const dir = await mkdtemp(join(tmpdir(), 'memmapfs-lifecycle-'));
const results: Array<Record<string, unknown>> = [];
try {
  for (const size of SIZES) {
    const root = join(dir, `memmapfs-${size}`);
    const sqliteFile = join(dir, `sqlite-${size}.db`);
    const built = await timed(() => buildMemMapFS(root, size));
    const sqliteBuilt = await timed(() => {
      const db = new Database(sqliteFile);
      buildSqlite(db, size);
      db.close();
    });
    // MemMapFS numbers a memory by its log position, SQLite by insertion order: the same memory either way.
    const ids = built.value;
    const someId = ids[Math.floor(size / 2) - 1]!;
    const opens = { memmapfs: [] as Array<{ ms: number; rssAnonKiB: number }>, sqlite: [] as Array<{ ms: number; rssAnonKiB: number }> };
    // The build's garbage and the mappings of the store it closed, collected now: not by this process's
    // collector, on one of the cores, while the opens are timed.
    collectGarbage();
    // The first open after an install compiles the packages' code and writes its cache: reported apart.
    const compileCache = join(dir, `compile-cache-${size}`);
    const firstOpen = await openInFreshProcess(['memmapfs', root, String(someId)], compileCache);
    // Alternate the two, so both meet the machine in the same state.
    for (let round = 0; round < OPEN_ROUNDS; round++) {
      opens.memmapfs.push(await openInFreshProcess(['memmapfs', root, String(someId)], compileCache));
      opens.sqlite.push(await openInFreshProcess(['sqlite', sqliteFile, String(Math.floor(size / 2)), peerFolder]));
    }
    const diskMemMapFS = await folderBytes(root);
    const indexMemMapFS = await folderBytes(join(root, 'index'));
    const diskSqlite = (await stat(sqliteFile)).size + ((await stat(`${sqliteFile}-wal`).catch(() => undefined))?.size ?? 0);

    // Durable updates and deletes, one at a time (one transaction each for SQLite), the two sides taking
    // blocks of them in turn (see `inTurn`).
    const fs = await MemMapFS.init(root);
    const db = new Database(sqliteFile);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const read = db.prepare('SELECT text FROM memories WHERE id = ?');
    const unindex = db.prepare("INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', ?, ?)");
    const reindex = db.prepare('INSERT INTO memories_fts (rowid, text) VALUES (?, ?)');
    const update = db.prepare('UPDATE memories SET text = ?, updated = ? WHERE id = ?');
    const remove = db.prepare('DELETE FROM memories WHERE id = ?');
    const updateOne = db.transaction((id: number, text: string) => {
      const old = read.get(id) as { text: string };
      unindex.run(id, old.text);
      update.run(text, Date.now(), id);
      reindex.run(id, text);
    });
    const deleteOne = db.transaction((id: number) => {
      const old = read.get(id) as { text: string } | undefined;
      if (!old) return;
      unindex.run(id, old.text);
      remove.run(id);
    });
    const updateText = (i: number) => `updated memory ${i}: the deployment moved to Thursday`;
    const updates = await inTurn(
      CHANGES,
      CHANGE_BLOCKS,
      (from, to) => {
        for (let i = from; i < to; i++) updateOne(size - i, updateText(i));
      },
      async (from, to) => {
        for (let i = from; i < to; i++) await fs.updateMemory(ids[size - 1 - i]!, { text: updateText(i) });
      },
    );
    const deletes = await inTurn(
      CHANGES,
      CHANGE_BLOCKS,
      (from, to) => {
        for (let i = from; i < to; i++) deleteOne(size - CHANGES - i);
      },
      async (from, to) => {
        for (let i = from; i < to; i++) if (!(await fs.deleteMemory(ids[size - 1 - CHANGES - i]!))) throw new Error('a memory to delete was not there');
      },
    );
    await fs.close();
    db.close();

    // Disk after churn and one compaction: 100,000 updates and 50,000 deletes (fewer in a smaller
    // store), not durable one by one (this measures space, not speed), then MemMapFS compacts and
    // SQLite VACUUMs: both files then hold the same live data. (Compaction by policy is off: the one
    // compaction measured does all of it.)
    const churnUpdates = Math.min(size, 100_000);
    const churnDeletes = Math.min(Math.floor(size / 2), 50_000);
    const churned = await MemMapFS.init(root, { durability: 'none', search: SEARCH, autoCompaction: false });
    for (let i = 0; i < churnUpdates; i++) await churned.updateMemory(ids[i]!, { text: `churned memory ${i}: the plan changed again` }).catch(() => undefined);
    for (let i = 0; i < churnDeletes; i++) await churned.deleteMemory(ids[size - 1 - i]!);
    await churned.flush();
    // Durable appends from another handle (one at a time, each awaited): their latency alone, then while
    // the compaction runs.
    const appender = await MemMapFS.init(root, { search: SEARCH, autoCompaction: false });
    const appendLatencies = async (until: () => boolean, at: number[]): Promise<void> => {
      for (let i = 0; !until(); i++) {
        const started = performance.now();
        await appender.appendMemory(`appended meanwhile ${i}`);
        at.push(performance.now() - started);
      }
    };
    const quiet: number[] = [];
    const quietUntil = performance.now() + 3000;
    await appendLatencies(() => performance.now() > quietUntil, quiet);
    const during: number[] = [];
    let compacted = false;
    const compactionRun = timed(async () => {
      const report = await churned.compact();
      process.stderr.write(`${size}: compaction ${JSON.stringify(report)}\n`);
    }).finally(() => (compacted = true));
    await appendLatencies(() => compacted, during);
    const compaction = await compactionRun;
    await appender.close();
    await churned.close();
    const diskCompacted = await folderBytes(root);
    process.stderr.write(`${size}: bytes after the compaction, by folder: ${JSON.stringify(Object.fromEntries(await Promise.all((await readdir(root, { withFileTypes: true })).map(async (entry) => [entry.name, entry.isDirectory() ? await folderBytes(join(root, entry.name)) : (await stat(join(root, entry.name))).size]))))}\n`);
    const indexCompacted = await folderBytes(join(root, 'index'));
    const vacuumed = new Database(sqliteFile);
    vacuumed.pragma('journal_mode = WAL');
    const readAgain = vacuumed.prepare('SELECT text FROM memories WHERE id = ?');
    const unindexChurn = unindexAgain(vacuumed);
    const reindexChurn = reindexAgain(vacuumed);
    const updateChurn = vacuumed.prepare('UPDATE memories SET text = ? WHERE id = ?');
    const deleteChurn = vacuumed.prepare('DELETE FROM memories WHERE id = ?');
    const insertAppended = vacuumed.prepare('INSERT INTO memories (text, tags, namespace, meta, created, updated) VALUES (?, ?, ?, ?, ?, ?)');
    const churnSqlite = vacuumed.transaction(() => {
      for (let i = 0; i < churnUpdates; i++) {
        const id = i + 1;
        const old = readAgain.get(id) as { text: string } | undefined;
        if (!old) continue;
        unindexChurn.run(id, old.text);
        updateChurn.run(`churned memory ${i}: the plan changed again`, id);
        reindexChurn.run(id, `churned memory ${i}: the plan changed again`);
      }
      for (let i = 0; i < churnDeletes; i++) {
        const id = size - i;
        const old = readAgain.get(id) as { text: string } | undefined;
        if (!old) continue;
        unindexChurn.run(id, old.text);
        deleteChurn.run(id);
      }
      // The memories the other handle appended while the latencies were measured: both sides then hold the same live data.
      const now = Date.now();
      for (const count of [quiet.length, during.length]) {
        for (let i = 0; i < count; i++) {
          const text = `appended meanwhile ${i}`;
          const { lastInsertRowid } = insertAppended.run(text, '[]', 'default', '{}', now, now) as { lastInsertRowid: number | bigint };
          reindexChurn.run(lastInsertRowid, text);
        }
      }
    });
    churnSqlite();
    vacuumed.exec('VACUUM');
    vacuumed.pragma('wal_checkpoint(TRUNCATE)');
    vacuumed.close();
    const diskVacuumed = (await stat(sqliteFile)).size + ((await stat(`${sqliteFile}-wal`).catch(() => undefined))?.size ?? 0);

    const memOpen = spread(opens.memmapfs.map((o) => o.ms));
    const sqlOpen = spread(opens.sqlite.map((o) => o.ms));
    const memRss = spread(opens.memmapfs.map((o) => o.rssAnonKiB));
    const sqlRss = spread(opens.sqlite.map((o) => o.rssAnonKiB));
    results.push({
      size,
      buildSeconds: { memmapfs: built.seconds, sqlite: sqliteBuilt.seconds },
      openMs: { memmapfs: memOpen, sqlite: sqlOpen, ratio: memOpen.median / sqlOpen.median },
      firstOpenMs: firstOpen.ms,
      rssAnonKiB: { memmapfs: memRss, sqlite: sqlRss, ratio: memRss.median / sqlRss.median },
      diskBytes: { memmapfs: diskMemMapFS, index: indexMemMapFS, sqlite: diskSqlite, ratio: diskMemMapFS / diskSqlite },
      diskAfterCompaction: { memmapfs: diskCompacted, index: indexCompacted, sqlite: diskVacuumed, ratio: diskCompacted / diskVacuumed, updates: churnUpdates, deletes: churnDeletes, compactionSeconds: compaction.seconds },
      appendLatencyMs: { quiet: percentiles(quiet), duringCompaction: percentiles(during) },
      updatesPerSecond: { memmapfs: CHANGES / updates.ours, sqlite: CHANGES / updates.sqlite, ratio: updates.sqlite / updates.ours },
      deletesPerSecond: { memmapfs: CHANGES / deletes.ours, sqlite: CHANGES / deletes.sqlite, ratio: deletes.sqlite / deletes.ours },
    });
    await rm(root, { recursive: true, force: true });
    await rm(sqliteFile, { force: true });

    // A store of as many KV pairs (and no memories): open in a fresh process until the first getKv.
    const kvRoot = join(dir, `memmapfs-kv-${size}`);
    const kvFile = join(dir, `sqlite-kv-${size}.db`);
    await buildKv(kvRoot, kvFile, size);
    collectGarbage();
    const someKey = kvKey(Math.floor(size / 2));
    const kvOpens = { memmapfs: [] as Array<{ ms: number; rssAnonKiB: number }>, sqlite: [] as Array<{ ms: number; rssAnonKiB: number }> };
    await openInFreshProcess(['memmapfs-kv', kvRoot, someKey], compileCache);
    for (let round = 0; round < OPEN_ROUNDS; round++) {
      kvOpens.memmapfs.push(await openInFreshProcess(['memmapfs-kv', kvRoot, someKey], compileCache));
      kvOpens.sqlite.push(await openInFreshProcess(['sqlite-kv', kvFile, someKey, peerFolder]));
    }
    const kvOpen = { memmapfs: spread(kvOpens.memmapfs.map((o) => o.ms)), sqlite: spread(kvOpens.sqlite.map((o) => o.ms)) };
    const kvRss = { memmapfs: spread(kvOpens.memmapfs.map((o) => o.rssAnonKiB)), sqlite: spread(kvOpens.sqlite.map((o) => o.rssAnonKiB)) };
    results.at(-1)!.kvOpenMs = { ...kvOpen, ratio: kvOpen.memmapfs.median / kvOpen.sqlite.median };
    results.at(-1)!.kvRssAnonKiB = { ...kvRss, ratio: kvRss.memmapfs.median / kvRss.sqlite.median };
    process.stderr.write(`${size}: ${JSON.stringify(results.at(-1))}\n`);
    await rm(kvRoot, { recursive: true, force: true });
    await rm(kvFile, { force: true });
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const s = (x: Spread, digits = 0) => `${fmt(x.median, digits)} (${fmt(x.min, digits)}–${fmt(x.max, digits)})`;
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${fmt(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.versions.node}`;
const rows = results.flatMap((r) => {
  const x = r as { size: number; openMs: { memmapfs: Spread; sqlite: Spread; ratio: number }; firstOpenMs: number; rssAnonKiB: { memmapfs: Spread; sqlite: Spread; ratio: number }; diskBytes: { memmapfs: number; index: number; sqlite: number; ratio: number }; diskAfterCompaction: { memmapfs: number; index: number; sqlite: number; ratio: number; updates: number; deletes: number; compactionSeconds: number }; appendLatencyMs: { quiet: Percentiles; duringCompaction: Percentiles }; updatesPerSecond: { memmapfs: number; sqlite: number; ratio: number }; deletesPerSecond: { memmapfs: number; sqlite: number; ratio: number }; kvOpenMs: { memmapfs: Spread; sqlite: Spread; ratio: number }; kvRssAnonKiB: { memmapfs: Spread; sqlite: Spread; ratio: number } };
  const mib = (x: Spread): Spread => ({ median: x.median / 1024, min: x.min / 1024, max: x.max / 1024 });
  return [
    `| ${fmt(x.size)} | open + first getMemory, fresh process (ms) | ${s(x.openMs.memmapfs, 1)} | ${s(x.openMs.sqlite, 1)} | ${fmt(x.openMs.ratio, 2)} | ≤ 2 |`,
    `| ${fmt(x.size)} | the same, first process after an install (no code cache yet; it writes one) (ms) | ${fmt(x.firstOpenMs, 1)} | | | report |`,
    `| ${fmt(x.size)} | private memory after it, RssAnon (MiB) | ${s({ median: x.rssAnonKiB.memmapfs.median / 1024, min: x.rssAnonKiB.memmapfs.min / 1024, max: x.rssAnonKiB.memmapfs.max / 1024 }, 1)} | ${s({ median: x.rssAnonKiB.sqlite.median / 1024, min: x.rssAnonKiB.sqlite.min / 1024, max: x.rssAnonKiB.sqlite.max / 1024 }, 1)} | ${fmt(x.rssAnonKiB.ratio, 2)} | ≤ 2 |`,
    `| ${fmt(x.size)} | disk, all files with the search index, as loaded (MB; of which the index) | ${fmt(x.diskBytes.memmapfs / 1e6, 1)} (${fmt(x.diskBytes.index / 1e6, 1)}) | ${fmt(x.diskBytes.sqlite / 1e6, 1)} | ${fmt(x.diskBytes.ratio, 2)} | report |`,
    `| ${fmt(x.size)} | disk after ${fmt(x.diskAfterCompaction.updates)} updates, ${fmt(x.diskAfterCompaction.deletes)} deletes and a compaction, with the search index (SQLite: VACUUM) (MB; of which the index) | ${fmt(x.diskAfterCompaction.memmapfs / 1e6, 1)} (${fmt(x.diskAfterCompaction.index / 1e6, 1)}) | ${fmt(x.diskAfterCompaction.sqlite / 1e6, 1)} | ${fmt(x.diskAfterCompaction.ratio, 2)} | ≤ 1.5 |`,
    `| ${fmt(x.size)} | compaction after that churn (s; report) | ${fmt(x.diskAfterCompaction.compactionSeconds, 1)} | | | report |`,
    `| ${fmt(x.size)} | durable append latency, p50 / p99 (ms): alone | ${fmt(x.appendLatencyMs.quiet.p50, 2)} / ${fmt(x.appendLatencyMs.quiet.p99, 2)} (${fmt(x.appendLatencyMs.quiet.count)}) | | | report |`,
    `| ${fmt(x.size)} | durable append latency, p50 / p99 (ms): while compacting | ${fmt(x.appendLatencyMs.duringCompaction.p50, 2)} / ${fmt(x.appendLatencyMs.duringCompaction.p99, 2)} (${fmt(x.appendLatencyMs.duringCompaction.count)}) | | | report |`,
    `| ${fmt(x.size)} | durable updates, one at a time (/s) | ${fmt(x.updatesPerSecond.memmapfs)} | ${fmt(x.updatesPerSecond.sqlite)} | ${fmt(x.updatesPerSecond.ratio, 2)} | ≥ 1 |`,
    `| ${fmt(x.size)} | durable deletes, one at a time (/s) | ${fmt(x.deletesPerSecond.memmapfs)} | ${fmt(x.deletesPerSecond.sqlite)} | ${fmt(x.deletesPerSecond.ratio, 2)} | ≥ 1 |`,
    `| ${fmt(x.size)} KV keys | open + first getKv, fresh process (ms) | ${s(x.kvOpenMs.memmapfs, 1)} | ${s(x.kvOpenMs.sqlite, 1)} | ${fmt(x.kvOpenMs.ratio, 2)} | report |`,
    `| ${fmt(x.size)} KV keys | private memory after it, RssAnon (MiB) | ${s(mib(x.kvRssAnonKiB.memmapfs), 1)} | ${s(mib(x.kvRssAnonKiB.sqlite), 1)} | ${fmt(x.kvRssAnonKiB.ratio, 2)} | report |`,
  ];
});
const table = [
  `Machine: ${machine}. ${OPEN_ROUNDS} opens of each, alternating; median (min–max). ${fmt(CHANGES)} durable updates and ${fmt(CHANGES)} deletes of each, SQLite's and ours taken in turn in ${CHANGE_BLOCKS} blocks.`,
  '',
  '| memories | figure | MemMapFS | SQLite | × SQLite | target |',
  '|---:|---|---:|---:|---:|---|',
  ...rows,
].join('\n');
process.stdout.write(`${table}\n`);
await mkdir('bench-results', { recursive: true });
await writeFile('bench-results/lifecycle.json', `${JSON.stringify({ machine, results }, null, 2)}\n`);
await writeFile('bench-results/lifecycle.md', `${table}\n`);
