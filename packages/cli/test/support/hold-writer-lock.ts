// A process that takes a store's writer lock and holds it until it is killed: a writer stopped or stuck
// while it holds the lock, as far as other processes can tell.
import * as fileSystem from 'node:fs/promises';
import { join } from 'node:path';
// (The log package is core's, not the CLI's: taken from the workspace by its path.)
import { HeadFile } from '../../../wal/src/index.js';

const [root] = process.argv.slice(2);
const head = await HeadFile.open(join(root!, 'state.head'), fileSystem);
await head.lock();
process.stdout.write('locked\n');
setInterval(() => undefined, 60_000);
