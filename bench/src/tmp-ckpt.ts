import { MemMapFS } from '@memmapfs/core';
import { syntheticMemories } from './synthetic-memories.js';
const size = Number(process.env.N ?? 100000);
const memories = [...syntheticMemories(size)];
const fs = await MemMapFS.init(process.argv[2]!, { search: 'segments' });
const engine = (fs as any).engine;
for (let at = 0; at < memories.length; at += 2000) {
  await fs.appendMemories(memories.slice(at, at + 2000));
  if (at % 10000 === 0) console.error(at, 'base', engine.memories.baseCount, 'ckptLsn', engine.checkpointLsn, 'changes', engine.changesSinceCheckpoint, 'bg', engine.backgroundCheckpoint);
}
await fs.close();
