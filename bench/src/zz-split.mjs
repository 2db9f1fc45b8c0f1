const t0 = process.hrtime.bigint();
const { MemMapFS } = await import('@memmapfs/core');
const t1 = process.hrtime.bigint();
const fs = await MemMapFS.init(process.argv[2], { create: false });
const t2 = process.hrtime.bigint();
const m = await fs.getMemory(Number(process.argv[3]));
const t3 = process.hrtime.bigint();
console.log(JSON.stringify({ imp: Number(t1 - t0) / 1e6, init: Number(t2 - t1) / 1e6, get: Number(t3 - t2) / 1e6 }));
await fs.close();
