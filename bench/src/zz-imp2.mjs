const t0 = process.hrtime.bigint();
await import(process.argv[2]);
const t1 = process.hrtime.bigint();
if (process.argv[3]) await import(process.argv[3]);
const t2 = process.hrtime.bigint();
console.log(process.argv[2], (Number(t1 - t0) / 1e6).toFixed(1), process.argv[3] ?? '', (Number(t2 - t1) / 1e6).toFixed(1));
