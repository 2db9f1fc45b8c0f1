// A child process that takes a store's writer lock and holds it until it is killed.
import { HeadFile } from '@memmapfs/wal';
import * as fileSystem from 'node:fs/promises';
import { join } from 'node:path';

const [root] = process.argv.slice(2);
const head = await HeadFile.open(join(root!, 'state.head'), fileSystem);
await head.lock();
process.stdout.write('locked\n');
setInterval(() => undefined, 60_000);
