// A host process that starts a compaction and kills itself with SIGKILL as soon as the checkpoint the
// compaction writes after its move is published (state.manifest changes): during the grace before it
// removes the chunk files it retired. Run as `node --conditions=dev-source --import tsx
// compact-and-die.ts '<json task>'`; prints { compacting: true } first.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { openHost } from './stores.js';

const task = JSON.parse(process.argv[2]!) as { connectionString: string; store: string; root: string; name: string; chunkSizeBytes: number };
const fs = await openHost(task.root, { connectionString: task.connectionString, store: task.store }, task.name, { chunkSizeBytes: task.chunkSizeBytes, autoCompaction: false });
const manifest = join(task.root, 'state.manifest');
const stamp = () => {
  try {
    return statSync(manifest).mtimeMs;
  } catch {
    return 0;
  }
};
const before = stamp();
setInterval(() => {
  if (stamp() !== before) process.kill(process.pid, 'SIGKILL');
}, 2);
process.stdout.write(`${JSON.stringify({ compacting: true })}\n`);
await fs.compact();
process.stdout.write(`${JSON.stringify({ compacted: true })}\n`);
