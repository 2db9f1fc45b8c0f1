import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const [kind, path, idText, peer] = process.argv.slice(2);
const f0 = process.resourceUsage().minorPageFault;
const t0 = process.hrtime.bigint();
let fA;
if (kind === 'memmapfs') {
  const { MemMapFS } = await import('@memmapfs/core');
  fA = process.resourceUsage().minorPageFault;
  const fs = await MemMapFS.init(path, { create: false });
  await fs.getMemory(Number(idText));
} else if (kind === 'sqlite') {
  const Database = createRequire(`${peer}package.json`)('better-sqlite3');
  fA = process.resourceUsage().minorPageFault;
  const db = new Database(path, { fileMustExist: true });
  db.prepare('SELECT text FROM memories WHERE id = ?').get(Number(idText));
} else fA = f0;
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
const f1 = process.resourceUsage().minorPageFault;
const rss = Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
console.log(kind, 'ms', ms.toFixed(1), 'faults before', f0, 'import', fA - f0, 'open', f1 - fA, 'rssAnon', rss);
