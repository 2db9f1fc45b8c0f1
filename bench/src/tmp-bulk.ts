import { MemMapFS } from '@memmapfs/core';
import { syntheticMemories } from './synthetic-memories.js';
const size = Number(process.env.N ?? 100000);
const root = process.argv[2]!;
const memories = [...syntheticMemories(size)];
(globalThis as any).gc?.(); const m0 = process.memoryUsage(); console.error('before', (m0.heapUsed/1048576).toFixed(0));
const t0 = performance.now();
const fs = await MemMapFS.init(root, { search: 'segments' });
for (let at = 0; at < memories.length; at += 2000) { await fs.appendMemories(memories.slice(at, at + 2000)); if (process.env.DRAIN) await fs.queryMemory('zzzq', { limit: 1 }); }
const t1 = performance.now();
const mu = (l: string) => { (globalThis as any).gc?.(); const m = process.memoryUsage(); console.error(l, 'heap', (m.heapUsed/1048576).toFixed(0), 'ext', (m.external/1048576).toFixed(0), 'ab', (m.arrayBuffers/1048576).toFixed(0), 'rss', (m.rss/1048576).toFixed(0)); };
mu('after appends');
await fs.queryMemory('kalo', { limit: 10 });
const t2 = performance.now();
mu('after query');
if (process.env.SNAP) { (memories as unknown[]).length = 0; (globalThis as any).gc?.(); mu('dropped bench'); (await import('node:v8')).writeHeapSnapshot(process.env.SNAP); }
console.error(`appends ${(t1 - t0).toFixed(0)} ms, first query ${(t2 - t1).toFixed(0)} ms`);
await fs.close();
console.error(`close ${(performance.now() - t2).toFixed(0)} ms`);
