// A child process that writes checkpoints on request, each one held at its temporary file's fsync:
//   on "checkpoint": sets a KV key (a change to checkpoint, no block), starts fs.checkpoint(), prints
//   {"at":"held"} once its file is written and about to be fsynced (its tables taken, the shared lock on
//   checkpoints.lock held), and waits there; on "go": lets it go on, and prints {"at":"done"} once it is published.
//   checkpoint-relay.ts ROOT
import * as nodeFileSystem from 'node:fs/promises';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';

const root = process.argv[2]!;
const say = (at: string, extra: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ at, ...extra })}\n`);
let armed = false;
let letGo: (() => void) | undefined;
const files = {
  ...nodeFileSystem,
  open: (async (path: string, ...rest: [string?, number?]) => {
    const handle = await nodeFileSystem.open(path, ...rest);
    if (!armed || !/^\.checkpoint-\d{16}\.bin\..*\.tmp$/.test(basename(String(path)))) return handle;
    armed = false;
    const sync = handle.sync.bind(handle);
    handle.sync = async () => {
      await new Promise<void>((resolve) => {
        letGo = resolve;
        say('held');
      });
      return sync();
    };
    return handle;
  }) as typeof nodeFileSystem.open,
};
const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), fileSystem: files, autoCompaction: false });
say('open');
let n = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'checkpoint') {
    await fs.setKv(`relay-${process.pid}`, n++);
    armed = true;
    fs.checkpoint().then(() => say('done'), (error: Error) => say('failed', { message: error.message }));
  } else if (line === 'go') {
    letGo?.();
  }
}
