const t0 = performance.now();
const { createRequire } = await import('node:module');
const t1 = performance.now();
const r = createRequire(import.meta.url);
r.resolve('crc-32/crc32c.js');
const t2 = performance.now();
await import('crc-32/crc32c.js');
const t3 = performance.now();
console.log((t1-t0).toFixed(1), (t2-t1).toFixed(1), (t3-t2).toFixed(1));
