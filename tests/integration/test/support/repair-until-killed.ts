// Runs `repairStore` on the store at argv[2] and SIGKILLs itself at its argv[3]-th file operation that
// changes something (an open for writing, a write, a sync, a truncate, a rename, an unlink, a mkdir, a
// link, or the commit marker's write). Prints `{"steps": N}` when the repair ends before that.
import { writeSync } from 'node:fs';
import * as nodeFiles from 'node:fs/promises';
import { repairStore } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';

const [root, killAtArgument] = process.argv.slice(2);
const killAt = Number(killAtArgument);
let step = 0;
const tick = (): void => {
  step += 1;
  if (step === killAt) process.kill(process.pid, 'SIGKILL');
};
const changing = new Set(['write', 'writeFile', 'sync', 'datasync', 'truncate']);
const watched = (handle: nodeFiles.FileHandle): nodeFiles.FileHandle =>
  new Proxy(handle, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (!changing.has(property as string)) return value.bind(target);
      return async (...args: unknown[]) => {
        tick();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
const fileSystem = {
  ...nodeFiles,
  open: async (path: string, flags?: string, mode?: number) => {
    if (flags !== undefined && flags !== 'r') tick();
    return watched(await nodeFiles.open(path, flags, mode));
  },
  rename: async (from: string, to: string) => (tick(), nodeFiles.rename(from, to)),
  unlink: async (path: string) => (tick(), nodeFiles.unlink(path)),
  mkdir: async (path: string, options?: Parameters<typeof nodeFiles.mkdir>[1]) => (tick(), nodeFiles.mkdir(path, options)),
  link: async (from: string, to: string) => (tick(), nodeFiles.link(from, to)),
  writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => (tick(), writeSync(fd, buffer, offset, length, position)),
};
await repairStore(root!, { codec: msgpack(), fileSystem: fileSystem as never });
process.stdout.write(JSON.stringify({ steps: step }));
