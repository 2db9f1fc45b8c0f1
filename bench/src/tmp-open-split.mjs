const t0 = performance.now();
const { MemMapFS } = await import('@memmapfs/core');
const t1 = performance.now();
const fs = await MemMapFS.init(process.argv[2], { create: false });
const t2 = performance.now();
const m = await fs.getMemory(5000);
const t3 = performance.now();
console.log(`import ${(t1-t0).toFixed(1)} init ${(t2-t1).toFixed(1)} get ${(t3-t2).toFixed(1)} total ${(t3-t0).toFixed(1)}`);
await fs.close();
