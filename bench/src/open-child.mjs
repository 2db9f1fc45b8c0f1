// Opens a store in this fresh process, reads one memory (or, with the `-kv` kinds, one KV value), and
// prints how long that took and the process's private memory (RssAnon) then, as {"ms":…,"rssAnonKiB":…}.
// Plain JavaScript, so that both sides are measured without a transpiler in the process.
//   node open-child.mjs memmapfs ROOT ID        or  node open-child.mjs sqlite FILE ID PEER_FOLDER
//   node open-child.mjs memmapfs-kv ROOT KEY    or  node open-child.mjs sqlite-kv FILE KEY PEER_FOLDER
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const [kind, path, idText, peer] = process.argv.slice(2);
const id = kind.endsWith('-kv') ? idText : Number(idText);
const rssAnon = () => Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);

let text;
let close;
const started = process.hrtime.bigint();
if (kind === 'memmapfs') {
  const { MemMapFS } = await import('@memmapfs/core');
  const fs = await MemMapFS.init(path, { create: false });
  text = (await fs.getMemory(id))?.text;
  close = () => fs.close();
} else if (kind === 'memmapfs-kv') {
  const { MemMapFS } = await import('@memmapfs/core');
  const fs = await MemMapFS.init(path, { create: false });
  text = fs.getKv(id)?.note;
  close = () => fs.close();
} else if (kind === 'sqlite-kv') {
  const Database = createRequire(`${peer}package.json`)('better-sqlite3');
  const db = new Database(path, { fileMustExist: true });
  const row = db.prepare('SELECT value FROM kv WHERE key = ?').get(id);
  text = row === undefined ? undefined : JSON.parse(row.value).note;
  close = () => db.close();
} else {
  const Database = createRequire(`${peer}package.json`)('better-sqlite3');
  const db = new Database(path, { fileMustExist: true });
  text = db.prepare('SELECT text FROM memories WHERE id = ?').get(id)?.text;
  close = () => db.close();
}
const ms = Number(process.hrtime.bigint() - started) / 1e6;
if (typeof text !== 'string' || text.length === 0) throw new Error(`${kind}: ${kind.endsWith('-kv') ? 'KV key' : 'memory'} ${id} was not found`);
process.stdout.write(`${JSON.stringify({ ms, rssAnonKiB: rssAnon() })}\n`);
await close();
