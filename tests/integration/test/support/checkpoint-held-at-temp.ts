// A child process whose checkpoint of the tables is held at its temporary file: it takes its tables,
// prints {"at":"temp"} as it is about to create the file, waits for a line on stdin, writes the file,
// prints {"at":"written"} as it is about to fsync it, and hangs there (to be killed).
//   checkpoint-held-at-temp.ts ROOT
import * as nodeFileSystem from 'node:fs/promises';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';

const root = process.argv[2]!;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (at: string) => process.stdout.write(`${JSON.stringify({ at })}\n`);
let armed = false;
const files = {
  ...nodeFileSystem,
  open: (async (path: string, ...rest: [string?, number?]) => {
    if (!armed || !/^\.checkpoint-\d{16}\.bin\..*\.tmp$/.test(basename(String(path)))) return nodeFileSystem.open(path, ...rest);
    armed = false;
    say('temp');
    await lines.next();
    const handle = await nodeFileSystem.open(path, ...rest);
    handle.sync = handle.datasync = async () => {
      say('written');
      await new Promise(() => undefined);
    };
    return handle;
  }) as typeof nodeFileSystem.open,
};
const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), fileSystem: files, autoCompaction: false });
say('open');
await lines.next();
armed = true;
await fs.checkpoint();
