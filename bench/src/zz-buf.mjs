const sizes = [];
for (const name of ['allocUnsafe', 'allocUnsafeSlow', 'alloc']) {
  const orig = Buffer[name];
  Buffer[name] = function (n, ...rest) { if (n >= 16384) sizes.push([name, n, new Error().stack.split('\n').slice(2, 5).map((s) => s.trim().replace(/file:\/\/\/work\/main\/packages\//, '')).join(' < ')]); return orig.call(this, n, ...rest); };
}
const OrigAB = globalThis.ArrayBuffer;
const { MemMapFS } = await import('@memmapfs/core');
const f0 = process.resourceUsage().minorPageFault;
const fs = await MemMapFS.init(process.argv[2], { create: false });
await fs.getMemory(Number(process.argv[3]));
console.log('faults', process.resourceUsage().minorPageFault - f0);
for (const s of sizes) console.log(s.join(' | ').slice(0, 300));
await fs.close();
