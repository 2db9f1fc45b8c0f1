// Run inside a project that installed the packed packages with npm, on a store the smoke program made:
// imports core, opens the store and reads one memory, then prints one JSON line naming which of Node's
// own modules that an open has no use for were loaded by then (each costs every open its load).
const root = process.argv[2];
if (!root) throw new Error('usage: node open-modules.mjs ROOT');

const unused = ['stream', 'internal/fs/streams', 'perf_hooks', 'internal/util/parse_args/parse_args', 'internal/mime'];
const { MemMapFS } = await import('@memmapfs/core');
const store = await MemMapFS.init(root, { create: false });
const memory = await store.getMemory(1);
// (Taken before anything is printed: the first write to stdout loads streams of its own.)
const loaded = new Set(process.moduleLoadList);
await store.close();
console.log(JSON.stringify({ read: memory?.text, loaded: unused.filter((name) => loaded.has(`NativeModule ${name}`)) }));
