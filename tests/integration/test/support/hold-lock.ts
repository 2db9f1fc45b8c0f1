// Takes the writer lock of the store at ROOT (argv[2]), prints "locked", and keeps it until killed:
// stands in for a writer that was stopped (SIGSTOP) in the middle of a commit.
import * as fileSystem from 'node:fs/promises';
import { join } from 'node:path';
import { HeadFile } from '@memmapfs/wal';

const head = await HeadFile.open(join(process.argv[2]!, 'state.head'), fileSystem);
await head.lock();
process.stdout.write('locked\n');
setInterval(() => undefined, 60_000);
