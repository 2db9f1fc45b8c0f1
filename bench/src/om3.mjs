import { writeSync } from 'node:fs';
const { MemMapFS } = await import('@memmapfs/core');
writeSync(2, 'MARK-INIT\n');
const fs = await MemMapFS.init(process.argv[2], { create: false });
writeSync(2, 'MARK-GET\n');
const m = await fs.getMemory(Number(process.argv[3]));
writeSync(2, 'MARK-DONE\n');
await fs.close();
