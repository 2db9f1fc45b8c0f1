import * as nodeFileSystem from 'node:fs/promises';
import { beforeEach, expect, it } from 'vitest';
import { MemMapFS, type StoreFileSystem } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

/** File operations whose opens of `name` fail with `code`, as the file system would. */
function failingOpens(name: string, code: string): StoreFileSystem {
  return {
    ...nodeFileSystem,
    open: (async (...args: Parameters<typeof nodeFileSystem.open>) => {
      if (String(args[0]).endsWith(name)) throw Object.assign(new Error(`${code}: refused, open '${String(args[0])}'`), { code });
      return nodeFileSystem.open(...args);
    }) as typeof nodeFileSystem.open,
  };
}

it.each([
  ['EROFS', 'state.head', 'readOnly: true'],
  ['EACCES', 'state.wal', 'permissions'],
  ['EMFILE', 'state.wal', 'ulimit -n'],
  ['EMFILE', 'state.head', 'ulimit -n'],
])('an open refused with %s (%s) is IO_ERROR saying what to do, not WAL_FAILED', async (code, name, advice) => {
  const setup = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
  await setup.close();
  const error = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), fileSystem: failingOpens(name, code) }).catch((e: unknown) => e);
  expect(error).toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining(advice) });
  const again = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
  await again.close();
});

it('a record over the log\'s limit is TEXT_TOO_LARGE saying what to do with data that large', async () => {
  const { WalError } = await import('@memmapfs/wal');
  const { toMemMapError } = await import('../src/engine/error-mapping.js');
  const error = toMemMapError(new WalError('WAL_RECORD_TOO_LARGE', 'A record of 269484058 bytes exceeds the 268435456-byte maximum.'));
  expect(error).toMatchObject({ code: 'TEXT_TOO_LARGE', message: expect.stringContaining('appendStream') });
});

it('a KV key over the limit is refused naming its length in bytes, as the limit is', async () => {
  const fs = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
  try {
    const error = await fs.setKv('𝒳'.repeat(300), 1).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('1200 bytes') });
  } finally {
    await fs.close();
  }
});

it.skipIf(process.platform !== 'linux')('an open that cannot make its folder (under /proc, where a folder exists but none can be made) fails at once, saying where', async () => {
  // (Node's mkdir with `recursive` retries such a folder forever: the open hung, spinning.)
  const error = await MemMapFS.init('/proc/memmapfs-no-such-folder/store', { codec: v8Codec(), search: new WordSearch() }).catch((e: unknown) => e);
  expect(error).toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('/proc/memmapfs-no-such-folder') });
}, 10_000);
