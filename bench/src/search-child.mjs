// A fresh process that opens a store (or the SQLite peer) and queries it, for the search figures.
// Plain JavaScript, so that both sides are measured without a transpiler in the process.
//   node search-child.mjs MODE memmapfs ROOT PROVIDER QUERIES_JSON [COUNT]
//   node search-child.mjs MODE sqlite FILE PEER_FOLDER QUERIES_JSON [COUNT]
//   node search-child.mjs memory node       (Node alone, no store and no query: the runtime's own floor)
// MODE `open`: prints {"ms":…} for the open and the first query (limit 10, texts read).
// MODE `memory`: the open, then COUNT queries (1,000); prints {"rssAnonKiB":…,"pssKiB":…}, then waits for
// stdin to end (so that several such processes are measured side by side).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const [mode, kind, path, extra, queriesJson, countText = '1000'] = process.argv.slice(2);
const status = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
const pss = () => Number(/Pss:\s+(\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? NaN);

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
