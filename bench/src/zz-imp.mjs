const t0 = process.hrtime.bigint();
await import('@memmapfs/core');
console.log(Number(process.hrtime.bigint() - t0) / 1e6);
