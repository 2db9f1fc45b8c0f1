import * as nodeFiles from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockLogForMaintenance, openFileWal } from '@memmapfs/wal';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-maintenance-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('lockLogForMaintenance', () => {
  it('closes every handle it opened when it fails part way (a stat that fails)', async () => {
    const path = join(dir, 'state.wal');
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    await wal.append([{ type: 1, payload: Buffer.from('one') }]);
    await wal.close();
    const open = new Set<nodeFiles.FileHandle>();
    const failing = {
      ...nodeFiles,
      open: async (...args: Parameters<typeof nodeFiles.open>) => {
        const handle = await nodeFiles.open(...args);
        open.add(handle);
        const close = handle.close.bind(handle);
        return Object.assign(handle, {
          close: async () => {
            open.delete(handle);
            return close();
          },
          stat: async () => {
            throw Object.assign(new Error('EIO: i/o error, fstat'), { code: 'EIO' });
          },
        });
      },
    };
    await expect(lockLogForMaintenance(path, failing as never)).rejects.toMatchObject({ code: 'IO_ERROR' });
    expect(open.size).toBe(0);
  });
});
