// A fresh process that opens a store (or the SQLite peer) and queries it, for the search figures.
// Plain JavaScript, so that both sides are measured without a transpiler in the process.
//   node search-child.mjs MODE memmapfs ROOT PROVIDER QUERIES_JSON [COUNT]
//   node search-child.mjs MODE sqlite FILE PEER_FOLDER QUERIES_JSON [COUNT]
//   node search-child.mjs memory node       (Node alone, no store and no query: the runtime's own floor)
//   node search-child.mjs load memmapfs ROOT PROVIDER MEMORIES_NDJSON QUERY IDS_OUT
//   node search-child.mjs load sqlite FILE PEER_FOLDER MEMORIES_NDJSON
// MODE `open`: prints {"ms":…} for the open and the first query (limit 10, texts read).
// MODE `memory`: the open, then COUNT queries (1,000); prints {"rssAnonKiB":…,"pssKiB":…}, then waits for
// stdin to end (so that several such processes are measured side by side).
// MODE `load`: the bulk load of MEMORIES_NDJSON (a memory a line) into a new store (2,000 memories a
// call, then QUERY, so that every memory is searchable) or a new SQLite file (one transaction, FTS5
// included); prints {"seconds":…} for that alone (the open and the schema before it are not counted,
// nor the parsing of the lines: {"parseSeconds":…}); ours writes the memories' ids to IDS_OUT. The file
// is held as bytes, and 2,000 lines are parsed at a time, as they are loaded: a million memories held
// as objects would be half a gigabyte of heap that the collector marks again and again in our process
// (not in SQLite's, whose rows are not JavaScript objects), which measured the input, not the store.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const [mode, kind, path, extra, queriesJson, countText = '1000'] = process.argv.slice(2);
const status = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
const pss = () => Number(/Pss:\s+(\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? NaN);

if (mode === 'load') {
  // Where each line starts and ends (a million lines are longer than a string may be).
  const bytes = readFileSync(queriesJson);
  const bounds = [];
  for (let at = 0; at < bytes.length; ) {
    const end = bytes.indexOf(10, at);
    const lineEnd = end < 0 ? bytes.length : end;
    if (lineEnd > at) bounds.push(at, lineEnd);
    at = lineEnd + 1;
  }
  const lines = Float64Array.from(bounds);
  const count = lines.length / 2;
  bounds.length = 0;
  let parsing = 0n;
  /** Memories `from` to `to` (exclusive), parsed now; the time it takes is kept apart. */
  const parse = (from, to) => {
    const started = process.hrtime.bigint();
    const memories = [];
    for (let i = from; i < to; i++) memories.push(JSON.parse(bytes.toString('utf8', lines[2 * i], lines[2 * i + 1])));
    parsing += process.hrtime.bigint() - started;
    return memories;
  };
  let elapsed;
  if (kind === 'memmapfs') {
    const { MemMapFS } = await import('@memmapfs/core');
    const fs = await MemMapFS.init(path, { search: extra });
    const ids = [];
    const started = process.hrtime.bigint();
    for (let at = 0; at < count; at += 2000) ids.push(...(await fs.appendMemories(parse(at, Math.min(count, at + 2000)))));
    await fs.queryMemory(process.argv[7], { limit: 10 });
    elapsed = process.hrtime.bigint() - started;
    await fs.close();
    writeFileSync(process.argv[8], JSON.stringify(ids));
  } else {
    const Database = createRequire(`${extra}package.json`)('better-sqlite3');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`CREATE TABLE memories (id INTEGER PRIMARY KEY, text TEXT NOT NULL, tag TEXT NOT NULL, namespace TEXT NOT NULL, meta TEXT NOT NULL, created INTEGER NOT NULL);
      CREATE INDEX memories_tag ON memories(tag);
      CREATE VIRTUAL TABLE memories_fts USING fts5(text, content='memories', content_rowid='id');`);
    const insert = db.prepare('INSERT INTO memories (id, text, tag, namespace, meta, created) VALUES (?, ?, ?, ?, ?, ?)');
    const index = db.prepare('INSERT INTO memories_fts (rowid, text) VALUES (?, ?)');
    const started = process.hrtime.bigint();
    const now = Date.now();
    db.transaction(() => {
      for (let at = 0; at < count; at += 2000) {
        parse(at, Math.min(count, at + 2000)).forEach((m, i) => {
          insert.run(at + i + 1, m.text, m.tags[0], m.namespace, JSON.stringify(m.meta), now);
          index.run(at + i + 1, m.text);
        });
      }
    })();
    elapsed = process.hrtime.bigint() - started;
    db.close();
  }
  const parseSeconds = Number(parsing) / 1e9;
  process.stdout.write(`${JSON.stringify({ seconds: Number(elapsed) / 1e9 - parseSeconds, parseSeconds })}\n`);
  process.exit(0);
}

if (kind === 'node') {
  process.stdout.write(`${JSON.stringify({ rssAnonKiB: status('RssAnon'), pssKiB: pss() })}\n`);
  for await (const _ of process.stdin);
  process.exit(0);
}
const queries = JSON.parse(readFileSync(queriesJson, 'utf8'));
let query;
let close;
const started = process.hrtime.bigint();
if (kind === 'memmapfs') {
  const { MemMapFS } = await import('@memmapfs/core');
  const fs = await MemMapFS.init(path, { create: false, search: extra });
  query = async (q) => (await fs.queryMemory(q.text, { limit: 10, ...(q.tag ? { tags: [q.tag] } : {}) })).map((hit) => hit.text);
  close = () => fs.close();
} else {
  const Database = createRequire(`${extra}package.json`)('better-sqlite3');
  const db = new Database(path, { fileMustExist: true, readonly: true });
  const plain = db.prepare('SELECT m.id, m.text FROM memories_fts f JOIN memories m ON m.id = f.rowid WHERE memories_fts MATCH ? ORDER BY bm25(memories_fts) LIMIT 10');
  const tagged = db.prepare('SELECT m.id, m.text FROM memories_fts f JOIN memories m ON m.id = f.rowid WHERE memories_fts MATCH ? AND m.tag = ? ORDER BY bm25(memories_fts) LIMIT 10');
  query = async (q) => (q.tag ? tagged.all(q.match, q.tag) : plain.all(q.match)).map((row) => row.text);
  close = () => db.close();
}
const first = await query(queries[0]);
const ms = Number(process.hrtime.bigint() - started) / 1e6;
if (first.length === 0) throw new Error(`${kind}: the first query found nothing`);
if (mode === 'open') {
  process.stdout.write(`${JSON.stringify({ ms })}\n`);
} else {
  for (let i = 0; i < Number(countText); i++) await query(queries[i % queries.length]);
  process.stdout.write(`${JSON.stringify({ rssAnonKiB: status('RssAnon'), pssKiB: pss() })}\n`);
  for await (const _ of process.stdin);
}
await close();
