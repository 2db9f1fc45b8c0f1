// Run inside a project that installed the packed packages with npm: lets a MemMapFS error go uncaught,
// as a script's mistake would, so that what Node prints of it (the message, and the line of the
// library's code it was thrown from) can be checked.
import { MemMapFS } from '@memmapfs/core';

const root = process.argv[2];
if (!root) throw new Error('usage: node uncaught.mjs ROOT');

const fs = await MemMapFS.init(root);
await fs.listMemories({ limit: 100_000 });
