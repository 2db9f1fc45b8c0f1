// Under 'sync' where the system has no O_DSYNC (Windows: Node's fs.constants holds none), a commit is a
// write, then an fdatasync. One whose fdatasync fails is refused: its records must not stay in the log,
// where the next writer takes whole records past the commit marker as a dead writer's.
import * as fileSystem from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const constants = { ...real.constants, O_DSYNC: undefined };
  return { ...real, constants, default: { ...real, constants } };
});

const { openFileWal } = await import('../src/file-wal.js');

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-wal-fsync-'));
  path = join(dir, 'state.wal');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const entry = (text: string) => ({ type: 1, payload: Buffer.from(text) });

/**
 * The log's file system, through which, once `state.failSync`, every fdatasync of the log fails (EIO),
 * the first after `state.beforeFailing` has resolved; with `state.failUndo`, its truncates and writes
 * too once one has.
 */
function failingSyncs() {
  const state: { failSync: boolean; failUndo: boolean; syncFailed: boolean; beforeFailing?: (() => Promise<void>) | undefined } = { failSync: false, failUndo: false, syncFailed: false };
  const eio = (call: string) => Object.assign(new Error(`EIO: i/o error, ${call}`), { code: 'EIO' });
  const files = {
    ...fileSystem,
    open: (async (...args: Parameters<typeof fileSystem.open>) => {
      const handle = await fileSystem.open(...args);
      if (String(args[0]) !== path) return handle;
      const datasync = handle.datasync.bind(handle);
      handle.datasync = async () => {
        if (state.failSync) {
          const before = state.beforeFailing;
          state.beforeFailing = undefined;
          await before?.();
          state.syncFailed = true;
          throw eio('fdatasync');
        }
        return datasync();
      };
      const truncate = handle.truncate.bind(handle);
      handle.truncate = async (length?: number) => {
        if (state.failUndo && state.syncFailed) throw eio('ftruncate');
        return truncate(length);
      };
      const write = handle.write.bind(handle) as (...args: unknown[]) => Promise<unknown>;
      (handle as unknown as { write: (...args: unknown[]) => Promise<unknown> }).write = async (...writeArgs: unknown[]) => {
        if (state.failUndo && state.syncFailed) throw eio('write');
        return write(...writeArgs);
      };
      return handle;
    }) as typeof fileSystem.open,
  };
  return { state, files };
}

async function recordsInLog(): Promise<string[]> {
  const texts: string[] = [];
  const { wal } = await openFileWal({
    path,
    codec: 'msgpack',
    recover: async (records) => {
      for await (const record of records) texts.push(Buffer.from(record.payload).toString());
    },
  });
  await wal.close();
  return texts;
}

it('a commit whose fdatasync failed is refused, and its records are not in the log for the next writer to take', async () => {
  const { state, files } = failingSyncs();
  const { wal } = await openFileWal({ path, codec: 'msgpack', fileSystem: files });
  await wal.append([entry('before')]);
  state.failSync = true;
  await expect(wal.append([entry('refused by the disk')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
  await wal.close().catch(() => undefined);
  expect(await recordsInLog()).toEqual(['before']);
});

it('a commit whose fdatasync failed, and whose records could not be taken out again, is refused saying that they may have been written', async () => {
  const { state, files } = failingSyncs();
  const { wal } = await openFileWal({ path, codec: 'msgpack', fileSystem: files });
  await wal.append([entry('before')]);
  state.failSync = true;
  state.failUndo = true;
  await expect(wal.append([entry('refused by the disk')])).rejects.toMatchObject({ code: 'WAL_FAILED', message: expect.stringMatching(/may have been written.*check whether/) });
  await wal.close().catch(() => undefined);
});

it('the records of a commit whose fdatasync is under way are not reported as committed before it returns (lastLsn, readFrom)', async () => {
  const { state, files } = failingSyncs();
  let syncStarted!: () => void;
  const started = new Promise<void>((resolve) => (syncStarted = resolve));
  let failSync!: () => void;
  const { wal } = await openFileWal({ path, codec: 'msgpack', fileSystem: files });
  await wal.append([entry('before')]);
  state.failSync = true;
  state.beforeFailing = async () => {
    syncStarted();
    await new Promise<void>((resolve) => (failSync = resolve));
  };
  const refused = wal.append([entry('refused by the disk')]);
  refused.catch(() => undefined);
  await started;
  const seenLsn = wal.lastLsn;
  const seen: string[] = [];
  for await (const record of wal.readFrom(1)) seen.push(Buffer.from(record.payload).toString());
  failSync();
  await expect(refused).rejects.toMatchObject({ code: 'WAL_FAILED' });
  await wal.close().catch(() => undefined);
  expect({ seenLsn, seen }).toEqual({ seenLsn: 1, seen: ['before'] });
});
