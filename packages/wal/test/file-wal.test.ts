import { spawnSync } from 'node:child_process';
import * as fileSystem from 'node:fs/promises';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile, appendFile } from 'node:fs/promises';
import { writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FRAME_HEADER_SIZE, WAL_HEADER_SIZE, WalError, crc32c, decodeWalHeader, encodeLogImage, frameSeed, newLogId, openFileWal, readHeadFile, scanLog, type WalRecord } from '@memmapfs/wal';
import { loadLockBinding } from '../src/lock-binding.js';
import { HeadFile } from '../src/head-file.js';
import { WAL_FORMAT_VERSION, encodeWalHeader } from '../src/wal-header.js';

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-wal-'));
  path = join(dir, 'state.wal');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const headPath = () => join(dir, 'state.head');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const entry = (text: string, type = 1) => ({ type, payload: Buffer.from(text) });

/** How a log file handle writes: what a seam below wraps. */
type LogWrite = (buffer: Buffer, offset: number, length: number, position: number) => Promise<{ bytesWritten: number; buffer: Buffer }>;

/** A file system whose handles of the log (at `path`) write through `wrap`, given the handle's own write and the handle. */
function wrappingLogWrites(wrap: (write: LogWrite, handle: fileSystem.FileHandle) => LogWrite): typeof fileSystem {
  return {
    ...fileSystem,
    open: (async (...args: Parameters<typeof fileSystem.open>) => {
      const handle = await fileSystem.open(...args);
      if (String(args[0]) !== path) return handle;
      (handle as unknown as { write: LogWrite }).write = wrap(handle.write.bind(handle) as unknown as LogWrite, handle);
      return handle;
    }) as typeof fileSystem.open,
  };
}

/**
 * Cuts the zeros a writer wrote ahead of its records off the end of the log (as sealing a segment
 * does, and as a log looks whose writer could not write ahead): the file then ends with its last record,
 * which the tests below that cut or damage it at offsets from its end expect.
 */
async function cutRoom(): Promise<void> {
  const image = await readFile(path);
  const scan = scanLog(image, WAL_HEADER_SIZE, decodeWalHeader(image, path).firstLsn, path, { seed: seedOf(image), onDamage: 'report' });
  expect(scan.tornBytes).toBe(0);
  await truncate(path, scan.end);
}

async function writeLog(texts: string[]): Promise<number[]> {
  const { wal } = await openFileWal({ path, codec: 'msgpack' });
  const lsns: number[] = [];
  for (const t of texts) lsns.push(...(await wal.append([entry(t)])));
  await wal.close();
  await cutRoom();
  return lsns;
}

/** The frame checksum seed of the log at `path`, read from its header. */
const seedOf = (image: Buffer) => frameSeed(decodeWalHeader(image, path).logId);

/** Opens the log, collecting the records recovery hands to `recover`. */
async function openCollecting(options: Partial<Parameters<typeof openFileWal>[0]> = {}) {
  const records: WalRecord[] = [];
  const { wal, recovery } = await openFileWal({
    path,
    codec: 'msgpack',
    ...options,
    recover: async (recovered) => {
      for await (const record of recovered) records.push(record);
    },
  });
  return { wal, recovery: { ...recovery, records } };
}

async function reopen() {
  const { wal, recovery } = await openCollecting();
  await wal.close();
  return recovery;
}

describe('FileWal', () => {
  it('creates a log with a header naming the codec, and reads records back in LSN order', async () => {
    const lsns = await writeLog(['one', 'two', 'three']);
    expect(lsns).toEqual([1, 2, 3]);
    const { wal, recovery } = await openCollecting({ codec: 'cbor' });
    expect(wal.header).toEqual({ formatVersion: 4, codec: 'msgpack', logId: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(recovery.created).toBe(false);
    expect(recovery.records.map((r) => [r.lsn, Buffer.from(r.payload).toString()])).toEqual([[1, 'one'], [2, 'two'], [3, 'three']]);
    expect(await wal.append([entry('four'), entry('five', 7)])).toEqual([4, 5]);
    await wal.close();
    const again = await reopen();
    expect(again.records.map((r) => r.type)).toEqual([1, 1, 1, 1, 7]);
  });

  it('shares one fsync among appends issued together (group commit)', async () => {
    let syncs = 0;
    const { wal } = await openFileWal({ path, codec: 'msgpack', beforeSync: async () => { syncs++; } });
    await wal.append([entry('warm-up')]);
    syncs = 0;
    const lsns = await Promise.all(Array.from({ length: 64 }, (_, i) => wal.append([entry(`m${i}`)])));
    expect(lsns.flat()).toEqual(Array.from({ length: 64 }, (_, i) => i + 2));
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThanOrEqual(2);
    await wal.close();
    expect((await reopen()).records).toHaveLength(65);
  });

  it('truncates a torn tail at every byte offset of a record the commit marker does not cover', async () => {
    await writeLog(['alpha', 'beta']);
    const markerBeforeCrash = await readFile(headPath());
    const lastStart = (await stat(path)).size;
    await writeLog(['a longer last record payload']);
    const full = await readFile(path);
    for (let cut = lastStart; cut < full.length; cut++) {
      // A crash while the last record was being written: its bytes cut short, the marker not yet moved.
      await writeFile(path, full.subarray(0, cut));
      await writeFile(headPath(), markerBeforeCrash);
      const recovery = await reopen();
      expect(recovery.records.map((r) => Buffer.from(r.payload).toString())).toEqual(['alpha', 'beta']);
      expect(recovery.truncatedBytes).toBe(cut - lastStart);
      expect((await stat(path)).size).toBe(lastStart);
    }
  });

  it('keeps the records of one append all or none, wherever a crash cuts them', async () => {
    await writeLog(['alpha']);
    const markerBeforeCrash = await readFile(headPath());
    const appendStart = (await stat(path)).size;
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    await wal.append([entry('one of three'), entry('two of three'), entry('three of three')]);
    await wal.close();
    await cutRoom();
    const full = await readFile(path);
    for (let cut = appendStart; cut <= full.length; cut++) {
      for (const marker of ['moved before the crash', 'lost'] as const) {
        // A crash while the append was being written: cut short, the marker not yet moved (or gone).
        await writeFile(path, full.subarray(0, cut));
        if (marker === 'lost') await rm(headPath());
        else await writeFile(headPath(), markerBeforeCrash);
        const recovery = await reopen();
        const whole = cut === full.length;
        expect(recovery.records.map((r) => Buffer.from(r.payload).toString()), `cut at ${cut}, marker ${marker}`).toEqual(whole ? ['alpha', 'one of three', 'two of three', 'three of three'] : ['alpha']);
        expect((await stat(path)).size).toBe(whole ? full.length : appendStart);
      }
    }
  });

  it('reports damage inside an append with the records before that append, for repair to keep', async () => {
    await writeLog(['alpha']);
    const appendStart = (await stat(path)).size;
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    await wal.append([entry('one of three'), entry('two of three'), entry('three of three')]);
    await wal.append([entry('omega')]);
    await wal.close();
    const image = await readFile(path);
    const committedEnd = image.length;
    const second = image.indexOf('two of three');
    image[second] = image[second]! ^ 0xff;
    for (const options of [{}, { committedEnd }]) {
      const scan = scanLog(image, WAL_HEADER_SIZE, 1, path, { seed: seedOf(image), onDamage: 'report', ...options });
      expect(scan.records.map((r) => Buffer.from(r.payload).toString())).toEqual(['alpha']);
      expect(scan.end).toBe(appendStart);
      expect(scan.lastLsn).toBe(1);
      expect(scan.damage).toMatchObject({ lsn: 3, offset: second - FRAME_HEADER_SIZE });
    }
    // Cut inside the append, short of what the commit marker says was committed.
    const cut = scanLog(image.subarray(0, second), WAL_HEADER_SIZE, 1, path, { seed: seedOf(image), onDamage: 'report', committedEnd });
    expect(cut.records).toHaveLength(1);
    expect(cut.end).toBe(appendStart);
  });

  it('refuses a log cut short inside records the commit marker says were committed', async () => {
    await writeLog(['alpha', 'beta', 'gamma']);
    const size = (await stat(path)).size;
    await truncate(path, size - 3);
    const error = await openFileWal({ path, codec: 'msgpack' }).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'WAL_CORRUPT', lsn: 3 });
    expect((await stat(path)).size).toBe(size - 3);
  });

  it('without a commit marker, tells a torn tail from damage by what follows', async () => {
    await writeLog(['alpha', 'beta', 'gamma']);
    const size = (await stat(path)).size;
    await rm(headPath());
    await truncate(path, size - 3);
    const recovery = await reopen();
    expect(recovery.records).toHaveLength(2);
  });

  it('treats zeroes or junk appended after the last record as a torn tail', async () => {
    await writeLog(['alpha', 'beta']);
    const size = (await stat(path)).size;
    await appendFile(path, Buffer.alloc(4096));
    expect((await reopen()).records).toHaveLength(2);
    await appendFile(path, Buffer.from('not a frame at all, just junk'));
    const recovery = await reopen();
    expect(recovery.records).toHaveLength(2);
    expect((await stat(path)).size).toBe(size);
  });

  it('reports a damaged record followed by valid ones as WAL_CORRUPT with its LSN and offset', async () => {
    await writeLog(['first', 'second', 'third', 'fourth']);
    const image = await readFile(path);
    const secondOffset = WAL_HEADER_SIZE + FRAME_HEADER_SIZE + 'first'.length;
    for (const target of [secondOffset + FRAME_HEADER_SIZE + 2, secondOffset + 9, secondOffset + 1, secondOffset + 16, secondOffset + 17]) {
      const damaged = Buffer.from(image);
      damaged[target]! ^= 0x40;
      await writeFile(path, damaged);
      const error = await openFileWal({ path, codec: 'msgpack' }).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(WalError);
      expect((error as WalError).code).toBe('WAL_CORRUPT');
      expect((error as WalError).lsn).toBe(2);
      expect((error as WalError).offset).toBe(secondOffset);
      expect((await readFile(path)).equals(damaged)).toBe(true);
    }
  });

  it('keeps a copy of an intact header in the head file even when an open finds damaged records', async () => {
    await writeLog(['first', 'second', 'third']);
    const image = await readFile(path);
    // No copy yet (a head file from before copies were kept, say), and record 2 damaged.
    const head = await readFile(headPath());
    head.fill(0, 64, 64 + WAL_HEADER_SIZE);
    await writeFile(headPath(), head);
    expect((await readHeadFile(headPath())).headerCopy).toBeUndefined();
    const damaged = Buffer.from(image);
    damaged[WAL_HEADER_SIZE + FRAME_HEADER_SIZE + 'first'.length + FRAME_HEADER_SIZE]! ^= 0x40;
    await writeFile(path, damaged);
    await expect(openFileWal({ path, codec: 'msgpack' })).rejects.toMatchObject({ code: 'WAL_CORRUPT', lsn: 2 });
    expect((await readHeadFile(headPath())).headerCopy).toEqual(image.subarray(0, WAL_HEADER_SIZE));
  });

  it('never returns a record whose bytes were changed', async () => {
    await writeLog(['only record']);
    const image = await readFile(path);
    for (let i = WAL_HEADER_SIZE; i < image.length; i++) {
      const damaged = Buffer.from(image);
      damaged[i]! ^= 0x01;
      await writeFile(path, damaged);
      // The marker says the record was committed: damage, not a torn write.
      await expect(openFileWal({ path, codec: 'msgpack' })).rejects.toMatchObject({ code: 'WAL_CORRUPT', lsn: 1 });
    }
    await rm(headPath());
    const damaged = Buffer.from(image);
    damaged[image.length - 1]! ^= 0x01;
    await writeFile(path, damaged);
    expect((await reopen()).records).toHaveLength(0);
  });

  it('refuses a file that is not a MemMapFS log, and a damaged header', async () => {
    await writeFile(path, Buffer.from('{"this": "is json, not a log"}'.padEnd(80)));
    await expect(openFileWal({ path, codec: 'msgpack' })).rejects.toMatchObject({ code: 'WAL_HEADER_INVALID' });
    await rm(path);
    await writeLog(['x']);
    const image = await readFile(path);
    image[20]! ^= 0xff;
    await writeFile(path, image);
    await expect(openFileWal({ path, codec: 'msgpack' })).rejects.toMatchObject({ code: 'WAL_HEADER_INVALID' });
  });

  it('refuses a future format version', async () => {
    await writeLog([]);
    const image = await readFile(path);
    image.writeUInt16LE(99, 8);
    const { crc32c } = await import('../src/crc32c.js');
    image.writeUInt32LE(crc32c(image.subarray(0, 60)), 60);
    await writeFile(path, image);
    await expect(openFileWal({ path, codec: 'msgpack' })).rejects.toMatchObject({ code: 'WAL_FORMAT_UNSUPPORTED' });
  });

  it('rejects an unknown durability and a bad batch interval before touching the disk', async () => {
    await expect(openFileWal({ path, codec: 'msgpack', durability: 'always' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(openFileWal({ path, codec: 'msgpack', durability: 'batch', batchIntervalMs: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('does not create a missing log when create is false, nor read-only: WAL_NOT_FOUND, and nothing written in the folder', async () => {
    await expect(openFileWal({ path, codec: 'msgpack', create: false })).rejects.toMatchObject({ code: 'WAL_NOT_FOUND', message: expect.stringContaining('There is no log at') });
    await expect(openFileWal({ path, codec: 'msgpack', readOnly: true })).rejects.toMatchObject({ code: 'WAL_NOT_FOUND', message: expect.stringContaining('readOnly') });
    expect(await readdir(dir)).toEqual([]);
  });

  it('a log whose current segment was lost, its sealed segments still there, is WAL_CORRUPT for every open, never not found or new', async () => {
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    await wal.append([entry('one')]);
    await wal.append([entry('two')]);
    // (Retention to record 2 seals the segment holding records 1 and 2, and keeps it.)
    await wal.truncateBefore(2);
    await wal.append([entry('three')]);
    await wal.close();
    expect((await readdir(join(dir, 'wal'))).filter((name) => name.endsWith('.seg'))).not.toEqual([]);
    await rm(path);
    for (const options of [{}, { create: false }, { readOnly: true }]) {
      await expect(openFileWal({ path, codec: 'msgpack', ...options }), JSON.stringify(options)).rejects.toMatchObject({ code: 'WAL_CORRUPT', message: expect.stringContaining('sealed segments') });
    }
  });

  it('rejects bad record types and use after close', async () => {
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    await expect(wal.append([{ type: 0, payload: Buffer.alloc(1) }])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(wal.append([{ type: 128, payload: Buffer.alloc(1) }])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(wal.append([{ type: 1, payload: 'text' as never }])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('Uint8Array') });
    // Refused appends leave the log working.
    expect(await wal.append([entry('still fine')])).toEqual([1]);
    await wal.close();
    await expect(wal.append([entry('late')])).rejects.toMatchObject({ code: 'WAL_CLOSED' });
  });

  it('under batch durability, resolves before fsync and still persists on close', async () => {
    let datasyncs = 0;
    const counting = {
      ...fileSystem,
      open: (async (...args: Parameters<typeof fileSystem.open>) => {
        const handle = await fileSystem.open(...args);
        const datasync = handle.datasync.bind(handle);
        handle.datasync = async () => {
          datasyncs++;
          return datasync();
        };
        return handle;
      }) as typeof fileSystem.open,
    };
    const { wal } = await openFileWal({ path, codec: 'msgpack', durability: 'batch', batchIntervalMs: 10_000, fileSystem: counting });
    datasyncs = 0;
    await wal.append([entry('a')]);
    await wal.append([entry('b')]);
    expect(datasyncs).toBe(0);
    await wal.close();
    expect(datasyncs).toBe(1);
    expect((await reopen()).records).toHaveLength(2);
  });

  it('refuses every append after a failed commit', async () => {
    const { wal } = await openFileWal({ path, codec: 'msgpack', beforeSync: async () => { throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }); } });
    await expect(wal.append([entry('a')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
    await expect(wal.append([entry('b')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
    await wal.close().catch(() => undefined);
  });

  it('opens a log cut inside its first record, with no commit marker, as empty', async () => {
    await writeLog(['x', 'y']);
    await rm(headPath());
    await truncate(path, WAL_HEADER_SIZE + 3);
    expect((await reopen()).records).toHaveLength(0);
  });
});

describe('FileWal: how a commit writes its records', () => {
  /** Limits under which every lone small commit qualifies (the disk's speed does not come into it). */
  const always = { maxBytes: 16 * 1024, quickMs: 60_000, firstAfter: 0, maxAfter: 0, quickStreak: 1, runMs: 60_000 };

  /** A file system that counts the writes of records into the log made through its handles and with its writeSync. */
  const watching = () => {
    const seen = { viaHandle: 0, sync: 0, logFd: -1 };
    const files = {
      ...wrappingLogWrites((write, handle) => {
        seen.logFd = handle.fd;
        return (buffer, offset, length, position) => {
          // (Records, not the zeros written ahead of them.)
          if (buffer.some((byte) => byte !== 0)) seen.viaHandle++;
          return write(buffer, offset, length, position);
        };
      }),
      writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => {
        if (fd === seen.logFd) seen.sync++;
        return writeSync(fd, buffer, offset, length, position);
      },
    };
    return { seen, files };
  };

  const readAll = async () => {
    const { wal } = await openFileWal({ path, codec: 'msgpack', recover: async () => undefined });
    const read: WalRecord[] = [];
    for await (const record of wal.readFrom(1)) read.push(record);
    await wal.close();
    return read.map((record) => Buffer.from(record.payload).toString());
  };

  it('writes a lone small commit with the file system writeSync, a batch of several and a large one through its handles', async () => {
    const { seen, files } = watching();
    const { wal } = await openFileWal({ path, codec: 'msgpack', fileSystem: files, commitWriteLimits: always });
    for (let i = 0; i < 5; i++) await wal.append([entry(`alone ${i}`)]);
    expect(seen).toMatchObject({ sync: 5, viaHandle: 0 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => wal.append([entry(`together ${i}`)])));
    expect(seen.viaHandle).toBeGreaterThan(0);
    const viaHandle = seen.viaHandle;
    await wal.append([entry('x'.repeat(20 * 1024))]);
    expect(seen).toMatchObject({ sync: 5, viaHandle: viaHandle + 1 });
    await wal.close();
    const texts = await readAll();
    expect(texts).toHaveLength(16);
    expect(texts.slice(0, 5)).toEqual(['alone 0', 'alone 1', 'alone 2', 'alone 3', 'alone 4']);
  });

  it('with node:fs itself (no seam), lone commits are written from the event loop too', async () => {
    const { wal } = await openFileWal({ path, codec: 'msgpack', commitWriteLimits: always });
    for (let i = 0; i < 4; i++) await wal.append([entry(`alone ${i}`)]);
    expect((wal as unknown as { commitWrites: { synchronous: number } }).commitWrites.synchronous).toBe(4);
    await wal.close();
    expect(await readAll()).toEqual(['alone 0', 'alone 1', 'alone 2', 'alone 3']);
  });

  it('never writes around a file system seam that has no writeSync', async () => {
    const { seen, files } = watching();
    const { writeSync: _, ...withoutWriteSync } = files;
    const { wal } = await openFileWal({ path, codec: 'msgpack', fileSystem: withoutWriteSync, commitWriteLimits: always });
    for (let i = 0; i < 3; i++) await wal.append([entry(`alone ${i}`)]);
    expect(seen).toMatchObject({ viaHandle: 3, sync: 0 });
    await wal.close();
  });

  it('a synchronous write that fails leaves no part of its commit, and the log takes the next one', async () => {
    const { seen, files } = watching();
    let fail = false;
    const failing = {
      ...files,
      writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => {
        if (fd === seen.logFd && fail) {
          // Half of it written, then the disk refuses the rest.
          writeSync(fd, buffer, offset, Math.floor(length / 2), position);
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }
        return files.writeSync(fd, buffer, offset, length, position);
      },
    };
    const { wal } = await openFileWal({ path, codec: 'msgpack', fileSystem: failing, commitWriteLimits: always });
    await wal.append([entry('before')]);
    fail = true;
    await expect(wal.append([entry('refused by the disk')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
    await wal.close().catch(() => undefined);
    expect(await readAll()).toEqual(['before']);
  });

  /**
   * A log whose commit write reports a failure after its bytes went down whole, and whose handle's
   * `truncate` fails (a disk that returns EIO); with `zeroingFails`, a write of zeros over the commit
   * fails as well.
   */
  const failingUndo = (zeroingFails: boolean) => {
    const state = { fail: false, truncates: 0 };
    const files = {
      ...fileSystem,
      open: (async (...args: Parameters<typeof fileSystem.open>) => {
        const handle = await fileSystem.open(...args);
        if (String(args[0]) !== path) return handle;
        const write = handle.write.bind(handle) as unknown as LogWrite;
        (handle as unknown as { write: LogWrite }).write = async (buffer, offset, length, position) => {
          const records = buffer.subarray(offset, offset + length).some((byte) => byte !== 0);
          if (state.fail && (records || zeroingFails)) {
            if (records) await write(buffer, offset, length, position);
            throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
          }
          return write(buffer, offset, length, position);
        };
        const truncate = handle.truncate.bind(handle);
        handle.truncate = async (length?: number) => {
          if (!state.fail) return truncate(length);
          state.truncates++;
          throw Object.assign(new Error('EIO: i/o error, ftruncate'), { code: 'EIO' });
        };
        return handle;
      }) as typeof fileSystem.open,
    };
    return { state, files };
  };

  it('a commit whose write failed is left for no other writer to take, though the truncate that removes it fails too: its bytes are overwritten with zeros', async () => {
    const { state, files } = failingUndo(false);
    const { wal } = await openFileWal({ path, codec: 'msgpack', fileSystem: files });
    await wal.append([entry('before')]);
    state.fail = true;
    await expect(wal.append([entry('refused by the disk')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
    expect(state.truncates).toBeGreaterThan(0);
    await wal.close().catch(() => undefined);
    // (The next writer takes whole records past the marker as a dead writer's: this one's append was refused.)
    expect(await readAll()).toEqual(['before']);
  });

  it('a commit whose write failed and could not be removed in any way fails saying that its records may be in the log', async () => {
    const { state, files } = failingUndo(true);
    const { wal } = await openFileWal({ path, codec: 'msgpack', fileSystem: files });
    await wal.append([entry('before')]);
    state.fail = true;
    await expect(wal.append([entry('refused by the disk')])).rejects.toMatchObject({ code: 'WAL_FAILED', message: expect.stringMatching(/may have been written.*check whether/) });
    await wal.close().catch(() => undefined);
  });
});

describe('FileWal: telling damage from a torn write', () => {
  it('refuses damage followed by later commits even when the commit marker is stale (it is only a lower bound)', async () => {
    const texts = Array.from({ length: 50 }, (_, i) => `acknowledged memory number ${i + 1}`);
    await writeLog(texts.slice(0, 12));
    const staleMarker = await readFile(headPath());
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    for (const t of texts.slice(12)) await wal.append([entry(t)]);
    await wal.close();
    // A power loss kept the log (written with O_DSYNC) but not the marker's last writes; then a bit flips.
    await writeFile(headPath(), staleMarker);
    const image = await readFile(path);
    const at = image.indexOf('acknowledged memory number 20');
    image[at + 3]! ^= 0x01;
    await writeFile(path, image);
    await expect(openFileWal({ path, codec: 'msgpack' })).rejects.toMatchObject({ code: 'WAL_CORRUPT', lsn: 20 });
    expect((await readFile(path)).equals(image)).toBe(true);
    // The same without any marker at all.
    await rm(headPath());
    await expect(openFileWal({ path, codec: 'msgpack' })).rejects.toMatchObject({ code: 'WAL_CORRUPT', lsn: 20 });
  });

  it('cuts a commit whose write was torn out of order (a later page kept, an earlier one lost) as a torn tail', async () => {
    await writeLog(['alpha']);
    const markerBefore = await readFile(headPath());
    const commitStart = (await stat(path)).size;
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    await wal.append([entry('x'.repeat(5000)), entry('y'.repeat(5000)), entry('z'.repeat(100))]);
    await wal.close();
    const image = await readFile(path);
    // The first page of the commit's write never reached the disk; the pages after it did.
    image.fill(0, commitStart, commitStart + 4096);
    await writeFile(path, image);
    await writeFile(headPath(), markerBefore);
    const recovery = await reopen();
    expect(recovery.records.map((r) => Buffer.from(r.payload).toString())).toEqual(['alpha']);
    expect(recovery.truncatedBytes).toBe(image.length - commitStart);
  });

  it('under batch durability, a later commit written before the fsync does not make a lost earlier page damage', async () => {
    await writeLog(['alpha']);
    const markerBefore = await readFile(headPath());
    const firstStart = (await stat(path)).size;
    const { wal } = await openFileWal({ path, codec: 'msgpack', durability: 'batch', batchIntervalMs: 60_000 });
    // Two commits in the page cache, neither fsynced yet.
    await wal.append([entry('c'.repeat(6000))]);
    await wal.append([entry('the second commit')]);
    await wal.close();
    const image = await readFile(path);
    // A power loss kept the second commit's page but not the first one's.
    image.fill(0, firstStart, firstStart + 4096);
    await writeFile(path, image);
    await writeFile(headPath(), markerBefore);
    const recovery = await reopen();
    expect(recovery.records.map((r) => Buffer.from(r.payload).toString())).toEqual(['alpha']);
  });

  it('never takes bytes inside a record for a frame: a frame-shaped payload in a torn record is still a torn tail', async () => {
    await writeLog(['alpha']);
    // A payload that carries a well-formed frame for LSN 3 (as a stored copy of another log would).
    const other = join(dir, 'other.wal');
    const { wal: otherWal } = await openFileWal({ path: other, codec: 'msgpack', headPath: join(dir, 'other.head') });
    await otherWal.append([entry('one'), entry('two')]);
    await otherWal.append([entry('three: looks like the next record')]);
    await otherWal.close();
    const foreign = (await readFile(other)).subarray(WAL_HEADER_SIZE);
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    await wal.append([{ type: 6, payload: Buffer.concat([Buffer.from('stream bytes: '), foreign, Buffer.from('end')]) }]);
    await wal.close();
    await cutRoom();
    // A crash cut the record short after the embedded frames; the marker is lost.
    await truncate(path, (await stat(path)).size - 2);
    await rm(headPath());
    const recovery = await reopen();
    expect(recovery.records.map((r) => Buffer.from(r.payload).toString())).toEqual(['alpha']);
  });

  it('keeps a copy of the log header in state.head', async () => {
    await writeLog(['alpha']);
    const head = await readFile(headPath());
    expect(head.subarray(64, 128).equals((await readFile(path)).subarray(0, 64))).toBe(true);
  });
});

describe('FileWal: several writers on one log', () => {
  const open = (options: Partial<Parameters<typeof openFileWal>[0]> = {}) => openFileWal({ path, codec: 'msgpack', ...options });
  const texts = (records: Array<{ payload: Uint8Array }>) => records.map((r) => Buffer.from(r.payload).toString());

  it('a writer catches up with what another committed, numbers after it, and reports it once, in order', async () => {
    const seenByB: string[] = [];
    const { wal: a } = await open();
    const { wal: b } = await open({ onCommit: (records) => seenByB.push(...texts(records)) });
    expect(await a.append([entry('a1'), entry('a2')])).toEqual([1, 2]);
    expect(await b.append([entry('b1')])).toEqual([3]);
    expect(await a.append([entry('a3')])).toEqual([4]);
    expect(b.refresh()).toBe(1);
    expect(seenByB).toEqual(['a1', 'a2', 'b1', 'a3']);
    await a.close();
    await b.close();
    expect(texts((await reopen()).records)).toEqual(['a1', 'a2', 'b1', 'a3']);
  });

  it('an onCommit that throws what is not an Error (a Symbol) fails the log with WAL_FAILED: the records are never reported again', async () => {
    let calls = 0;
    const { wal: a } = await open();
    const { wal: b } = await open({ onCommit: () => {
      calls++;
      throw Symbol('cannot apply');
    } });
    await a.append([entry('a1')]);
    expect(() => b.refresh()).toThrow();
    expect(() => b.refresh()).toThrow(expect.objectContaining({ code: 'WAL_FAILED', message: expect.stringContaining('Symbol(cannot apply)') }));
    await expect(b.append([entry('b1')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
    expect(calls).toBe(1);
    await a.close();
    await b.close().catch(() => undefined);
  });

  it('an onCommit that throws a WalError of another code, or a revoked Proxy, fails the log with WAL_FAILED after one report, as the shared log does', async () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    for (const thrown of [new WalError('WAL_CORRUPT', 'a decoder of its own said so'), revoked.proxy]) {
      let calls = 0;
      const { wal: a } = await open();
      const { wal: b } = await open({ onCommit: () => {
        calls++;
        throw thrown;
      } });
      await a.append([entry('a1')]);
      // (The first report throws what onCommit threw: caught here, as a matcher cannot look at a revoked Proxy.)
      let threw = false;
      try {
        b.refresh();
      } catch {
        threw = true;
      }
      expect(threw).toBe(true);
      expect(() => b.refresh()).toThrow(expect.objectContaining({ code: 'WAL_FAILED' }));
      await expect(b.append([entry('b1')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
      expect(calls).toBe(1);
      await a.close();
      await b.close().catch(() => undefined);
    }
  });

  it('a commit whose catch-up waits while a refresh of the same process fails in onCommit fails too: the records are not reported a second time', async () => {
    let calls = 0;
    let b: Awaited<ReturnType<typeof open>>['wal'] | undefined;
    let refreshed = false;
    // (B's commit reads another process's large write through the I/O pool: a refresh runs during that read.)
    const refreshingDuringReads = {
      ...fileSystem,
      open: (async (...args: Parameters<typeof fileSystem.open>) => {
        const handle = await fileSystem.open(...args);
        const read = handle.read.bind(handle) as (...readArgs: unknown[]) => Promise<unknown>;
        (handle as { read: unknown }).read = (...readArgs: unknown[]) => {
          const length = readArgs[2];
          if (!refreshed && typeof length === 'number' && length > 256 * 1024) {
            refreshed = true;
            try {
              b!.refresh();
            } catch {
              // (onCommit's refusal: the log has failed.)
            }
          }
          return read(...readArgs);
        };
        return handle;
      }) as typeof fileSystem.open,
    };
    const { wal: a } = await open();
    ({ wal: b } = await open({ fileSystem: refreshingDuringReads, onCommit: (records) => {
      if (records.some((record) => record.context === undefined)) {
        calls++;
        throw new Error('cannot apply');
      }
    } }));
    await a.append([entry('x'.repeat(300 * 1024))]);
    await expect(b.append([entry('b1')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
    expect(refreshed).toBe(true);
    expect(calls).toBe(1);
    await a.close();
    await b.close().catch(() => undefined);
  });

  it('an onCommit that throws an Error whose message is not text fails the log with WAL_FAILED all the same', async () => {
    let calls = 0;
    const { wal: a } = await open();
    const { wal: b } = await open({ onCommit: () => {
      calls++;
      throw Object.defineProperty(new Error(), 'message', { value: Symbol('not text') });
    } });
    await a.append([entry('a1')]);
    let thrown: unknown;
    try {
      b.refresh();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect(() => b.refresh()).toThrow(expect.objectContaining({ code: 'WAL_FAILED' }));
    expect(calls).toBe(1);
    await a.close();
    await b.close().catch(() => undefined);
  });

  it('a beforeSync that rejects with null in a flush fails the log with WAL_FAILED: no later append is acknowledged', async () => {
    let calls = 0;
    const { wal } = await open({ durability: 'batch', batchIntervalMs: 60_000, beforeSync: () => (++calls > 1 ? Promise.reject(null) : Promise.resolve()) });
    await wal.append([entry('a1')]);
    await expect(wal.flush()).rejects.toMatchObject({ code: 'WAL_FAILED' });
    await expect(wal.append([entry('a2')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
    await wal.close().catch(() => undefined);
  });

  it('a beforeSync that throws a revoked Proxy fails the commit and the log with WAL_FAILED (an append never waits for ever)', async () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const { wal } = await open({ beforeSync: () => {
      throw revoked.proxy;
    } });
    await expect(wal.append([entry('a1')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
    await expect(wal.append([entry('a2')])).rejects.toMatchObject({ code: 'WAL_FAILED' });
    await wal.close().catch(() => undefined);
  });

  it('a second writer cuts a dead writer\'s torn write before appending its own', async () => {
    const { wal: a } = await open();
    await a.append([entry('kept')]);
    const { wal: b } = await open();
    // A writer died in the middle of its write: half a frame after the last record, marker not moved.
    await appendFile(path, Buffer.from([9, 0, 0, 0, 1, 2, 3, 4, 5, 0, 0]));
    expect(await b.append([entry('after the tear')])).toEqual([2]);
    expect(a.refresh()).toBe(1);
    await a.close();
    await b.close();
    expect(texts((await reopen()).records)).toEqual(['kept', 'after the tear']);
  });

  it('under batch durability the marker moves only once the records are fsynced; another writer makes them durable and keeps them', async () => {
    const seenByB: string[] = [];
    const { wal: a } = await open({ durability: 'batch', batchIntervalMs: 60_000 });
    const { wal: b } = await open({ onCommit: (records) => seenByB.push(...texts(records)) });
    await a.append([entry('batched')]);
    // Written, not yet durable: no reader is shown it.
    expect(b.refresh()).toBe(0);
    await a.flush();
    expect(b.refresh()).toBe(1);
    await a.append([entry('batched again')]);
    expect(b.refresh()).toBe(0);
    // A commit of B's, under the lock, fsyncs A's whole records and keeps them.
    expect(await b.append([entry('synced')])).toEqual([3]);
    expect(seenByB).toEqual(['batched', 'batched again', 'synced']);
    await a.close();
    await b.close();
  });
});

describe('FileWal: preconditions and stale followers', () => {
  const texts = (records: Array<{ payload: Uint8Array }>) => records.map((r) => Buffer.from(r.payload).toString());

  it('checks a precondition under the lock after every earlier append is applied, and writes nothing when it throws', async () => {
    const applied: string[] = [];
    const { wal } = await openFileWal({ path, codec: 'msgpack', onCommit: (records) => applied.push(...texts(records)) });
    const { wal: other } = await openFileWal({ path, codec: 'msgpack' });
    await other.append([entry('from another process')]);
    const seenByCheck: string[][] = [];
    // Issued together: the plain appends before the conditional one are applied when its check runs.
    const results = await Promise.allSettled([
      wal.append([entry('first')]),
      wal.append([entry('second')]),
      wal.append([entry('refused')], { check: () => { seenByCheck.push([...applied]); throw new Error('precondition failed'); } }),
      wal.append([entry('accepted')], { check: () => { seenByCheck.push([...applied]); } }),
      wal.append([entry('last')]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ message: 'precondition failed' });
    expect(seenByCheck).toEqual([['from another process', 'first', 'second'], ['from another process', 'first', 'second']]);
    expect(await wal.append([entry('still usable')])).toEqual([6]);
    await wal.close();
    await other.close();
    expect(texts((await reopen()).records)).toEqual(['from another process', 'first', 'second', 'accepted', 'last', 'still usable']);
  });

  it('a follower whose committed records cannot be read says so instead of going stale', async () => {
    const { wal: follower } = await openFileWal({ path, codec: 'msgpack' });
    const { wal: writer } = await openFileWal({ path, codec: 'msgpack' });
    await writer.append([entry('one')]);
    expect(follower.refresh()).toBe(1);
    await writer.append([entry('two'), entry('three')]);
    // The log is cut short under the marker (a file restored from an old backup, say).
    await truncate(path, writer.size - 4);
    expect(() => follower.refresh()).toThrow(expect.objectContaining({ code: 'WAL_CORRUPT' }));
    await writer.close();
    await follower.close();
  });

  it('a follower whose log was replaced by another says so', async () => {
    const { wal: follower } = await openFileWal({ path, codec: 'msgpack' });
    expect(follower.refresh()).toBe(0);
    // A new log takes the old one's place and marks its records, as a repair or compaction would.
    await rm(path);
    await writeLog(['in a new log']);
    expect(() => follower.refresh()).toThrow(expect.objectContaining({ code: 'WAL_REPLACED' }));
    await follower.close();
  });
  it("a 'batch' process that ends without closing the log still fsyncs and marks what it acknowledged: another process reads it", async () => {
    const child = spawnSync(process.execPath, ['--import', tsx, fileURLToPath(new URL('./support/batch-append-child.ts', import.meta.url)), path], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    const { lsn } = JSON.parse(child.stdout) as { lsn: number };
    // A reader reads up to the commit marker, which moves only once the records are durable.
    const { wal: reader } = await openFileWal({ path, codec: 'msgpack', readOnly: true });
    expect(reader.lastLsn).toBe(lsn);
    await reader.close();
  });

  it('a follower whose log and head file were both replaced (a repair, files put back from a backup) says so within a tenth of a second, read-only or not', async () => {
    for (const readOnly of [false, true]) {
      await writeLog(['in the first log']);
      const { wal: follower } = await openFileWal({ path, codec: 'msgpack', readOnly });
      expect(follower.refresh()).toBe(0);
      // Both files go, and a new log with a head file of its own takes their names: the marker the
      // follower reads through its descriptor never moves again.
      await rm(path);
      await rm(headPath());
      const { wal: other } = await openFileWal({ path, codec: 'msgpack' });
      await other.append([entry('in a new log')]);
      await new Promise((resolve) => setTimeout(resolve, 120));
      expect(() => follower.refresh()).toThrow(expect.objectContaining({ code: 'WAL_REPLACED' }));
      await expect(follower.fence()).rejects.toMatchObject({ code: 'WAL_REPLACED' });
      await follower.close().catch(() => undefined);
      await other.close();
      await rm(path);
      await rm(headPath());
    }
  });

  it('a writer whose log was replaced by another refuses to append, and writes nothing into the new one', async () => {
    const { wal: writer } = await openFileWal({ path, codec: 'msgpack' });
    await writer.append([entry('one')]);
    await rm(path);
    await writeLog(['in a new log']);
    const newLog = await readFile(path);
    const newHead = await readFile(headPath());
    await expect(writer.append([entry('lost')])).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    // (The log has failed: nothing more goes anywhere.)
    await expect(writer.append([entry('lost too')])).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    expect((await readFile(path)).equals(newLog)).toBe(true);
    expect((await readFile(headPath())).equals(newHead)).toBe(true);
    await writer.close().catch(() => undefined);
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['in a new log']);
  });

  it('a writer whose log was replaced leaves the new log and its marker alone when it flushes, closes or cuts its history, and the new log takes appends', async () => {
    // (Under 'none', the stale writer's record waits for a flush: close would mark it.)
    const { wal: stale } = await openFileWal({ path, codec: 'msgpack', durability: 'none' });
    const { wal: staleToo } = await openFileWal({ path, codec: 'msgpack' });
    await stale.append([entry('one')]);
    await staleToo.append([entry('two')]);
    await stale.append([entry('unsynced')]);
    await rm(path);
    await writeLog(['in a new log']);
    const { wal: fresh } = await openFileWal({ path, codec: 'msgpack' });
    const newLog = await readFile(path);
    const newHead = await readFile(headPath());
    await expect(stale.close()).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    await expect(staleToo.truncateBefore(2)).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    await expect(staleToo.flush()).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    await staleToo.close().catch(() => undefined);
    expect((await readFile(path)).equals(newLog)).toBe(true);
    expect((await readFile(headPath())).equals(newHead)).toBe(true);
    await fresh.append([entry('after')]);
    await fresh.close();
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['in a new log', 'after']);
  });

  it("a 'sync' writer whose log was replaced fails its flush, though it has nothing left to make durable (a checkpoint waits on it)", async () => {
    const { wal: stale } = await openFileWal({ path, codec: 'msgpack' });
    await stale.append([entry('one')]);
    await rm(path);
    const { wal: fresh } = await openFileWal({ path, codec: 'msgpack' });
    await fresh.append([entry('in a new log')]);
    await expect(stale.flush()).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    await stale.close().catch(() => undefined);
    await fresh.close();
  });

  it('a writer whose log was removed, or replaced by a file that is not a log, says which when it checks the log', async () => {
    const { wal: removed } = await openFileWal({ path, codec: 'msgpack' });
    await removed.append([entry('one')]);
    await rm(path);
    await expect(removed.flush()).rejects.toMatchObject({ code: 'WAL_REPLACED', message: expect.stringContaining('found no file') });
    await removed.close().catch(() => undefined);
    await rm(headPath());

    const { wal: damaged } = await openFileWal({ path, codec: 'msgpack' });
    await damaged.append([entry('two')]);
    await rm(path);
    await writeFile(path, Buffer.alloc(4096, 0xab));
    expect(() => damaged.checkCurrent()).toThrow(expect.objectContaining({ code: 'WAL_REPLACED', message: expect.stringContaining('cannot read as a log') }));
    await damaged.close().catch(() => undefined);
  });

  it('a writer whose log was removed, with no log made in its place, refuses its appends once it has looked (at most a tenth of a second later)', async () => {
    const { wal: writer } = await openFileWal({ path, codec: 'msgpack' });
    await writer.append([entry('one')]);
    await rm(path);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await expect(writer.append([entry('into a removed file')])).rejects.toMatchObject({ code: 'WAL_REPLACED', message: expect.stringContaining('found no file') });
    await writer.close().catch(() => undefined);
  });

  it('a writer whose log was copied and the copy put in its place refuses its appends once it has looked, and its checks and flush fail too', async () => {
    const { wal: writer } = await openFileWal({ path, codec: 'msgpack' });
    await writer.append([entry('one')]);
    // (A restore from a backup, a sync tool's or an editor's write-then-rename.)
    await writeFile(`${path}.copy`, await readFile(path));
    await fileSystem.rename(`${path}.copy`, path);
    expect(() => writer.checkCurrent()).toThrow(expect.objectContaining({ code: 'WAL_REPLACED', message: expect.stringContaining('a copy put in its place') }));
    await expect(writer.append([entry('into the file the copy replaced')])).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    await expect(writer.flush()).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    await writer.close().catch(() => undefined);
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['one']);
  });

  it('a writer whose log was copied and the copy put in its place refuses its appends from its next look at the name, though it checked nothing itself', async () => {
    const { wal: writer } = await openFileWal({ path, codec: 'msgpack' });
    await writer.append([entry('one')]);
    await writeFile(`${path}.copy`, await readFile(path));
    await fileSystem.rename(`${path}.copy`, path);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await expect(writer.append([entry('into the file the copy replaced')])).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    await writer.close().catch(() => undefined);
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['one']);
  });

  it('a writer that finds at the log\'s name a later segment of its log that no commit marker names (put there by hand) refuses its appends from its next look', async () => {
    const { wal: writer } = await openFileWal({ path, codec: 'msgpack' });
    await writer.append([entry('one')]);
    const later = encodeWalHeader({ formatVersion: WAL_FORMAT_VERSION, codec: writer.header.codec, logId: writer.header.logId, firstLsn: 5 });
    await writeFile(`${path}.later`, later);
    await fileSystem.rename(`${path}.later`, path);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await expect(writer.append([entry('into the file it replaced')])).rejects.toMatchObject({ code: 'WAL_REPLACED', message: expect.stringContaining('no commit marker names') });
    await writer.close().catch(() => undefined);
  });

  it('a writer that looks at the log\'s name after another writer sealed its segment follows it, and fails nothing', async () => {
    const { wal: a } = await openFileWal({ path, codec: 'msgpack' });
    const { wal: b } = await openFileWal({ path, codec: 'msgpack' });
    await a.append([entry('a1')]);
    for (let round = 0; round < 3; round++) {
      await b.append([entry(`b${round}`)]);
      await b.truncateBefore(b.lastLsn);
      await new Promise((resolve) => setTimeout(resolve, 120));
      await a.append([entry(`a${round}`)]);
    }
    await a.close();
    await b.close();
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString()).slice(-2)).toEqual(['b2', 'a2']);
  });

  it('a log made in one process where the files of one it has open were removed gets a head file of its own, on disk, and the removed one\'s writer stops', async () => {
    const { wal: stale } = await openFileWal({ path, codec: 'msgpack' });
    await stale.append([entry('one')]);
    await rm(path);
    await rm(headPath());
    const { wal: fresh } = await openFileWal({ path, codec: 'msgpack' });
    await fresh.append([entry('in the new log')]);
    expect((await readHeadFile(headPath())).marker).toMatchObject({ logId: fresh.header.logId, lsn: 1 });
    expect(() => stale.checkCurrent()).toThrow(expect.objectContaining({ code: 'WAL_REPLACED' }));
    await expect(stale.append([entry('lost')])).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    await stale.close().catch(() => undefined);
    // (The stale handle's close lets go of its own head file, not the new log's.)
    const { wal: again } = await openFileWal({ path, codec: 'msgpack' });
    await again.append([entry('from another handle')]);
    expect((await readHeadFile(headPath())).marker).toMatchObject({ logId: fresh.header.logId, lsn: 2 });
    await again.close();
    await fresh.close();
  });

  it('a head file replaced under an open log (the log untouched) stops its writer at once when another store of the process opens it: every acknowledged append is kept', async () => {
    const { wal: a } = await openFileWal({ path, codec: 'msgpack' });
    await a.append([entry('a0')]);
    // (A sync tool's write-then-rename of state.head.)
    await writeFile(`${headPath()}.copy`, await readFile(headPath()));
    await fileSystem.rename(`${headPath()}.copy`, headPath());
    const { wal: b } = await openFileWal({ path, codec: 'msgpack' });
    const acknowledged = ['a0'];
    const refusals: unknown[] = [];
    for (let i = 1; i <= 10; i++) {
      const outcomes = await Promise.allSettled([a.append([entry(`a${i}`)]), b.append([entry(`b${i}`)])]);
      outcomes.forEach((outcome, side) => (outcome.status === 'fulfilled' ? acknowledged.push(`${side ? 'b' : 'a'}${i}`) : refusals.push((outcome.reason as WalError).code)));
    }
    expect(refusals).toEqual(Array(10).fill('WAL_REPLACED'));
    await a.close().catch(() => undefined);
    await b.close();
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(acknowledged);
  });

  it('a writer whose head file was replaced refuses to cut the log\'s history (no sealing under a lock no one else takes): the other store\'s appends are all kept', async () => {
    const { wal: a } = await openFileWal({ path, codec: 'msgpack' });
    await a.append([entry('a1')]);
    await a.append([entry('a2')]);
    await writeFile(`${headPath()}.copy`, await readFile(headPath()));
    await fileSystem.rename(`${headPath()}.copy`, headPath());
    const { wal: b } = await openFileWal({ path, codec: 'msgpack' });
    await b.append([entry('b3')]);
    await expect(a.truncateBefore(3)).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    for (let i = 4; i < 8; i++) await b.append([entry(`b${i}`)]);
    await a.close().catch(() => undefined);
    await b.close();
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['a1', 'a2', 'b3', 'b4', 'b5', 'b6', 'b7']);
  });

  it('a commit under way under a head file when another store of the process finds it replaced ends before that store writes: both are kept', async () => {
    let slow = false;
    const slowLog = wrappingLogWrites((write) => async (buffer, offset, length, position) => {
      if (slow) await new Promise((resolve) => setTimeout(resolve, 200));
      return write(buffer, offset, length, position);
    });
    const { wal: a } = await openFileWal({ path, codec: 'msgpack', fileSystem: slowLog });
    await a.append([entry('a1')]);
    await writeFile(`${headPath()}.copy`, await readFile(headPath()));
    await fileSystem.rename(`${headPath()}.copy`, headPath());
    slow = true;
    const underWay = a.append([entry('a2, under way')]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { wal: b } = await openFileWal({ path, codec: 'msgpack' });
    await b.append([entry('b')]);
    await underWay;
    await expect(a.append([entry('a3')])).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    slow = false;
    await a.close().catch(() => undefined);
    await b.close();
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['a1', 'a2, under way', 'b']);
  });

  it('a commit of a writer whose head file was replaced, started while another store of the process is half way through its write, cuts nothing of it (no catch-up under the old lock)', async () => {
    const { wal: a } = await openFileWal({ path, codec: 'msgpack' });
    await a.append([entry('a1')]);
    await writeFile(`${headPath()}.copy`, await readFile(headPath()));
    await fileSystem.rename(`${headPath()}.copy`, headPath());
    // The new store's large record is written in two halves, with a pause between them.
    let split = false;
    let halfWritten!: () => void;
    const half = new Promise<void>((resolve) => (halfWritten = resolve));
    let goOn!: () => void;
    const resumed = new Promise<void>((resolve) => (goOn = resolve));
    const halving = wrappingLogWrites((write) => async (buffer, offset, length, position) => {
      if (!split || length < 1000 || buffer.subarray(offset, offset + 16).every((byte) => byte === 0)) return write(buffer, offset, length, position);
      split = false;
      const first = Math.floor(length / 2);
      await write(buffer, offset, first, position);
      halfWritten();
      await resumed;
      const rest = await write(buffer, offset + first, length - first, position + first);
      return { bytesWritten: first + rest.bytesWritten, buffer };
    });
    const { wal: b } = await openFileWal({ path, codec: 'msgpack', fileSystem: halving });
    split = true;
    const large = `b ${'x'.repeat(4000)}`;
    const pending = b.append([entry(large)]);
    await half;
    await expect(a.append([entry('a2')])).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    goOn();
    await pending;
    await a.close().catch(() => undefined);
    await b.close();
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['a1', large]);
  });

  it('an open that waited for the writer lock while its head file was replaced takes the head file at the path: its marker is on disk', async () => {
    const holder = await HeadFile.open(headPath(), fileSystem);
    await holder.lock();
    const opening = openFileWal({ path, codec: 'msgpack' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await writeFile(`${headPath()}.copy`, await readFile(headPath()));
    await fileSystem.rename(`${headPath()}.copy`, headPath());
    holder.unlock();
    const { wal } = await opening;
    const [lsn] = await wal.append([entry('one')]);
    expect((await readHeadFile(headPath())).marker).toMatchObject({ logId: wal.header.logId, lsn });
    await wal.close();
    await holder.close();
  });

  it('a writer whose head file was removed (a lock file taken for stale) refuses its appends once it has looked, and its checks fail too', async () => {
    const { wal: writer } = await openFileWal({ path, codec: 'msgpack' });
    await writer.append([entry('one')]);
    await rm(headPath());
    expect(() => writer.checkCurrent()).toThrow(expect.objectContaining({ code: 'WAL_REPLACED', message: expect.stringContaining('state.head was removed or replaced') }));
    await writer.close().catch(() => undefined);
    const { wal: looking } = await openFileWal({ path, codec: 'msgpack' });
    await looking.append([entry('two')]);
    await rm(headPath());
    await new Promise((resolve) => setTimeout(resolve, 150));
    await expect(looking.append([entry('under a lock no one else takes')])).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    await looking.close().catch(() => undefined);
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['one', 'two']);
  });

  it('two opens of one process racing past a head file the path no longer names share one new head file', async () => {
    const { wal: stale } = await openFileWal({ path, codec: 'msgpack' });
    await rm(headPath());
    const [first, second] = await Promise.all([HeadFile.open(headPath(), fileSystem), HeadFile.open(headPath(), fileSystem)]);
    expect(first).toBe(second);
    // The removed one's last close leaves the new one shared.
    await stale.close().catch(() => undefined);
    const third = await HeadFile.open(headPath(), fileSystem);
    expect(third).toBe(first);
    for (const head of [first, second, third]) await head.close();
  });

  it('an open that makes a new log where one was removed marks it before it takes its name: a writer of the removed log refuses to append even when that open dies in between', async () => {
    const { wal: stale } = await openFileWal({ path, codec: 'msgpack' });
    await stale.append([entry('one')]);
    await rm(path);
    // The open dies as the new log would take its name (its rename fails, as a kill would leave it).
    const dying = { ...fileSystem, rename: (async () => Promise.reject(Object.assign(new Error('killed'), { code: 'EIO' }))) as typeof fileSystem.rename };
    await expect(openFileWal({ path, codec: 'msgpack', fileSystem: dying })).rejects.toThrow();
    await expect(stale.append([entry('lost')])).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    await stale.close().catch(() => undefined);
    expect((await reopen()).records).toEqual([]);
  });

  it('a writer that finds the marker damaged after another writer sealed its segment follows the log into the next one: both appends are kept, each under its own LSN', async () => {
    const { wal: a } = await openFileWal({ path, codec: 'msgpack' });
    const { wal: b } = await openFileWal({ path, codec: 'msgpack' });
    await a.append([entry('a1')]);
    await b.append([entry('b1')]);
    // b seals the segment: state.wal is now a new segment of the same log.
    await b.truncateBefore(3);
    const head = await readFile(headPath());
    head.fill(0xee, 8, 20);
    await writeFile(headPath(), head);
    const [fromA] = await a.append([entry('acknowledged to a')]);
    const [fromB] = await b.append([entry('acknowledged to b')]);
    expect(fromB).not.toBe(fromA);
    await a.close();
    await b.close();
    const texts = (await reopen()).records.map((r) => Buffer.from(r.payload).toString());
    expect(texts).toEqual(expect.arrayContaining(['acknowledged to a', 'acknowledged to b']));
  });

  it("a 'batch' writer that finds the marker damaged after another writer sealed its segment does not mark that segment when it flushes: its next append follows the log", async () => {
    const { wal: a } = await openFileWal({ path, codec: 'msgpack', durability: 'batch', batchIntervalMs: 60_000 });
    const { wal: b } = await openFileWal({ path, codec: 'msgpack' });
    await a.append([entry('a1')]);
    await b.append([entry('b1')]);
    await b.truncateBefore(3);
    const [fromB] = await b.append([entry('acknowledged to b')]);
    const head = await readFile(headPath());
    head.fill(0xee, 8, 20);
    await writeFile(headPath(), head);
    // (As the batch timer would.)
    await a.flush();
    const [fromA] = await a.append([entry('acknowledged to a')]);
    expect(fromA).not.toBe(fromB);
    await a.close();
    await b.close();
    const texts = (await reopen()).records.map((r) => Buffer.from(r.payload).toString());
    expect(texts).toEqual(expect.arrayContaining(['a1', 'b1', 'acknowledged to a', 'acknowledged to b']));
  });

  it('a writer that finds no marker it can trust and another log in its place refuses to append', async () => {
    const { wal: stale } = await openFileWal({ path, codec: 'msgpack' });
    await stale.append([entry('one')]);
    await rm(path);
    await writeLog(['in a new log']);
    // The marker is damaged (a torn write of the head file).
    const head = await readFile(headPath());
    head.fill(0xee, 8, 20);
    await writeFile(headPath(), head);
    await expect(stale.append([entry('lost')])).rejects.toMatchObject({ code: 'WAL_REPLACED' });
    await stale.close().catch(() => undefined);
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['in a new log']);
  });
});

describe('FileWal: a writer lock that is never let go', () => {
  it('gives up after lockTimeoutMs with LOCK_TIMEOUT, writes nothing, and lets go of the lock it was granted late', async () => {
    const locks = loadLockBinding();
    const { wal } = await openFileWal({ path, codec: 'msgpack', lockTimeoutMs: 150 });
    await wal.append([entry('before')]);
    // Another process takes the writer lock and stops (SIGSTOP) while holding it.
    const stranger = await fileSystem.open(headPath(), 'r+');
    expect(locks.tryLock(stranger.fd, 'exclusive')).toBe(true);
    const started = performance.now();
    await expect(wal.append([entry('blocked')])).rejects.toMatchObject({ code: 'LOCK_TIMEOUT', message: expect.stringContaining('lockTimeoutMs') });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    await expect(openFileWal({ path, codec: 'msgpack', lockTimeoutMs: 50 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    // Reads do not need the lock.
    expect(wal.refresh()).toBe(0);
    locks.unlock(stranger.fd);
    // The blocking request the timed-out append left with the kernel is granted now, and let go at once.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(locks.tryLock(stranger.fd, 'exclusive')).toBe(true);
    locks.unlock(stranger.fd);
    await stranger.close();
    expect(await wal.append([entry('after')])).toEqual([2]);
    await wal.close();
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['before', 'after']);
  });
});

describe('FileWal: found in review', () => {
  it('does not lose the lock when a blocking request given up on is granted while the next commit starts', async () => {
    const locks = loadLockBinding();
    // Log writes take a while, as on a slow disk: the next commit is still writing when it is checked.
    const slowLog = wrappingLogWrites((write) => async (buffer, offset, length, position) => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      return write(buffer, offset, length, position);
    });
    const { wal } = await openFileWal({ path, codec: 'msgpack', lockTimeoutMs: 100, fileSystem: slowLog });
    const stranger = await fileSystem.open(headPath(), 'r+');
    expect(locks.tryLock(stranger.fd, 'exclusive')).toBe(true);
    await expect(wal.append([entry('given up')])).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    locks.unlock(stranger.fd);
    // At once: the kernel grants the abandoned request to this process while this commit begins.
    const committing = wal.append([entry('mid-commit')]);
    await new Promise((resolve) => setTimeout(resolve, 80));
    // Mid-commit, this process must hold the writer lock: another may not take it.
    expect(locks.tryLock(stranger.fd, 'exclusive')).toBe(false);
    expect(await committing).toEqual([1]);
    await stranger.close();
    await wal.close();
  });

  it('a record written after reading other writers\' records says they were durable, so their loss is damage', async () => {
    const { wal: a } = await openFileWal({ path, codec: 'msgpack' });
    const { wal: b } = await openFileWal({ path, codec: 'msgpack' });
    for (let i = 1; i <= 20; i++) await a.append([entry(`record ${i} from a`)]);
    const staleMarker = await readFile(headPath());
    expect(b.refresh()).toBe(20);
    // B writes right after a read: no catch-up under the lock, as the file did not grow.
    await b.append([entry('record 21 from b')]);
    await a.close();
    await b.close();
    const image = await readFile(path);
    image[image.indexOf('record 20 from a') + 2]! ^= 0x01;
    await writeFile(path, image);
    await writeFile(headPath(), staleMarker.subarray(0, 0)); // the marker lost altogether
    await expect(openFileWal({ path, codec: 'msgpack' })).rejects.toMatchObject({ code: 'WAL_CORRUPT', lsn: 20 });
  });
});

describe('FileWal: found in the third review', () => {
  it('scans to the end of the log even when recover stops reading early', async () => {
    await writeLog(['one', 'two', 'three']);
    const reported: string[] = [];
    const { wal } = await openFileWal({
      path,
      codec: 'msgpack',
      onCommit: (records) => reported.push(...records.map((r) => Buffer.from(r.payload).toString())),
      recover: async (records) => {
        for await (const _record of records) break;
      },
    });
    expect(wal.lastLsn).toBe(3);
    expect(await wal.append([entry('four')])).toEqual([4]);
    expect(reported).toEqual(['four']);
    await wal.close();
  });

  it('readFrom reads what was committed at the call, not at the first read', async () => {
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    await wal.append([entry('one')]);
    await wal.append([entry('two')]);
    const reading = wal.readFrom(1);
    await wal.append([entry('three')]);
    const texts: string[] = [];
    for await (const record of reading) texts.push(Buffer.from(record.payload).toString());
    expect(texts).toEqual(['one', 'two']);
    const late = wal.readFrom(1);
    await wal.close();
    await expect(late.next()).rejects.toMatchObject({ code: 'WAL_CLOSED' });
  });
});

describe('FileWal: readFrom starts near the LSN asked for', () => {
  it('reads from any LSN, across the positions it keeps, after a reopen and after appends', async () => {
    const { wal } = await openFileWal({ path, codec: 'msgpack', durability: 'none' });
    for (let i = 1; i <= 3000; i += 100) await wal.append(Array.from({ length: 100 }, (_, k) => entry(`r${i + k}`)));
    await wal.close();
    const { wal: again } = await openCollecting({ durability: 'none' });
    await again.append([entry('r3001')]);
    for (const from of [1, 2, 1023, 1024, 1025, 2049, 2500, 3001, 3002]) {
      const lsns: number[] = [];
      let first = '';
      for await (const record of again.readFrom(from)) {
        if (lsns.length === 0) first = Buffer.from(record.payload).toString();
        lsns.push(record.lsn);
      }
      expect(lsns, `from ${from}`).toEqual(Array.from({ length: Math.max(0, 3001 - from + 1) }, (_, i) => from + i));
      if (from <= 3001) expect(first).toBe(`r${from}`);
    }
    await again.close();
  });
});

describe('FileWal: a log of the format before segments', () => {
  /** Writes a format-3 log (one file, from LSN 1) with `texts`, and a commit marker of that release's format. */
  async function writeFormat3Log(texts: string[]): Promise<void> {
    const logId = newLogId();
    const image = encodeLogImage({ formatVersion: 3, codec: 'msgpack', logId }, texts.map((t, i) => ({ type: 1, payload: Buffer.from(t), lsn: i + 1 })));
    await writeFile(path, image);
    const marker = Buffer.alloc(64);
    Buffer.from('MMFSHEAD', 'ascii').copy(marker, 0);
    marker.writeDoubleLE(image.length, 8);
    marker.writeDoubleLE(texts.length, 16);
    marker.write(logId, 24, 16, 'hex');
    marker.writeUInt32LE(crc32c(marker.subarray(0, 40)), 40);
    await writeFile(headPath(), marker);
  }

  it('is sealed at the first open and goes on in a segment of this format, every record kept', async () => {
    await writeFormat3Log(['one', 'two', 'three']);
    const { wal, recovery } = await openCollecting();
    expect(recovery.records.map((r) => r.payload.toString())).toEqual(['one', 'two', 'three']);
    // state.wal is now a segment of this format beginning after the old records, which a release before segments refuses to open.
    const header = decodeWalHeader(await readFile(path), path);
    expect(header).toMatchObject({ formatVersion: 4, firstLsn: 4 });
    expect((await readFile(join(dir, 'wal', '0000000000000001.seg')).then((b) => decodeWalHeader(b, 'sealed'))).formatVersion).toBe(3);
    expect(await wal.append([entry('four')])).toEqual([4]);
    await wal.close();
    expect((await reopen()).records.map((r) => r.payload.toString())).toEqual(['one', 'two', 'three', 'four']);
  });

  it('is not opened for writing while a process of the earlier release has it open', async () => {
    await writeFormat3Log(['one']);
    // The earlier release holds a shared lock on state.wal while it has the store open.
    const earlier = await fileSystem.open(path, 'r');
    expect(loadLockBinding().tryLock(earlier.fd, 'shared')).toBe(true);
    try {
      await expect(openFileWal({ path, codec: 'msgpack' })).rejects.toMatchObject({ code: 'WAL_IN_USE', message: expect.stringContaining('earlier MemMapFS release') });
    } finally {
      await earlier.close();
    }
    expect((await reopen()).records.map((r) => r.payload.toString())).toEqual(['one']);
  });
});

describe('FileWal: a refresh while a commit waits', () => {
  it('a commit that catches up while a refresh of the same log reads the same records goes on, in order', async () => {
    const { wal: a } = await openFileWal({ path, codec: 'msgpack' });
    await a.append([entry('one')]);
    let b: Awaited<ReturnType<typeof openFileWal>>['wal'] | undefined;
    let refreshes = 0;
    const seam = {
      ...fileSystem,
      // Opening state.wal to write (B reopens the segment it stepped into) gives a refresh its turn first.
      open: (async (file: string, flags?: string | number, mode?: number) => {
        const opened = await fileSystem.open(file, flags, mode);
        if (b && file === path && flags !== 'r') {
          refreshes++;
          b.refresh();
        }
        return opened;
      }) as typeof fileSystem.open,
    };
    const committed: number[] = [];
    b = (await openFileWal({ path, codec: 'msgpack', fileSystem: seam, onCommit: (records) => committed.push(...records.map((r) => r.lsn)) })).wal;
    // A seals the segment; B's refresh steps into the new one (read only), and A commits more there.
    await a.truncateBefore(2);
    b.refresh();
    await a.append([entry('two')]);
    await a.append([entry('three')]);
    // B's commit reopens the segment to write: the refresh in between reads A's records first.
    expect(await b.append([entry('four')])).toEqual([4]);
    expect(refreshes).toBeGreaterThan(0);
    expect(committed).toEqual([2, 3, 4]);
    await b.close();
    await a.close();
    // (B still read the first segment when A sealed it: it was kept.)
    expect((await reopen()).records.map((r) => r.payload.toString())).toEqual(['one', 'two', 'three', 'four']);
  });
});

describe('FileWal: found in the segments review', () => {
  it('an empty log of the format before segments is replaced by an empty segment of this one', async () => {
    const logId = newLogId();
    await writeFile(path, encodeLogImage({ formatVersion: 3, codec: 'msgpack', logId }, []));
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    expect(decodeWalHeader(await readFile(path), path)).toMatchObject({ formatVersion: 4, firstLsn: 1, logId });
    expect(wal.header.formatVersion).toBe(4);
    expect(await wal.append([entry('first')])).toEqual([1]);
    await wal.close();
    expect((await reopen()).records.map((r) => r.payload.toString())).toEqual(['first']);
  });

  it('a refresh called back from onCommit reports nothing twice', async () => {
    const { wal: a } = await openFileWal({ path, codec: 'msgpack' });
    const reported: number[] = [];
    let b: Awaited<ReturnType<typeof openFileWal>>['wal'] | undefined;
    b = (await openFileWal({ path, codec: 'msgpack', onCommit: (records) => {
      reported.push(...records.map((r) => r.lsn));
      // A listener that reads: it catches up first.
      b?.refresh();
    } })).wal;
    await a.append([entry('one')]);
    await a.append([entry('two'), entry('three')]);
    b.refresh();
    expect(reported).toEqual([1, 2, 3]);
    await b.close();
    await a.close();
  });

  it('a flush during which a refresh steps into the next segment leaves the next flush and seal their fsyncs', async () => {
    let a: Awaited<ReturnType<typeof openFileWal>>['wal'] | undefined;
    let armed = false;
    let syncs = 0;
    const seam = {
      ...fileSystem,
      open: (async (file: string, flags?: string | number, mode?: number) => {
        const handle = await fileSystem.open(file, flags, mode);
        if (file === path) {
          const datasync = handle.datasync.bind(handle);
          handle.datasync = async () => {
            syncs++;
            const done = datasync();
            if (armed) {
              armed = false;
              a!.refresh();
            }
            return done;
          };
        }
        return handle;
      }) as typeof fileSystem.open,
    };
    a = (await openFileWal({ path, codec: 'msgpack', durability: 'batch', batchIntervalMs: 3_600_000, fileSystem: seam })).wal;
    const { wal: b } = await openFileWal({ path, codec: 'msgpack' });
    await a.append([{ type: 1, payload: Buffer.alloc(20_000, 97) }]);
    await b.append([entry('b')]);
    await b.truncateBefore(3);
    await b.append([entry('b2')]);
    armed = true;
    await a.flush();
    syncs = 0;
    await a.append([entry('important')]);
    await a.flush();
    expect(syncs).toBeGreaterThan(0);
    await a.close();
    await b.close();
    expect((await reopen()).records.map((r) => r.payload.length > 100 ? 'big' : r.payload.toString())).toEqual(['big', 'b', 'b2', 'important']);
  });
});

describe('FileWal: room written ahead of the records', () => {
  /** The bytes of the log file after `from`. */
  const after = async (from: number) => (await readFile(path)).subarray(from);

  it('writes zeros ahead, so that durable appends mostly change no file size; a crash keeps them, a close cuts them', async () => {
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    await wal.append([entry('first')]);
    const size = (await stat(path)).size;
    expect(size).toBeGreaterThan(wal.size);
    expect((await after(wal.size)).every((byte) => byte === 0)).toBe(true);
    for (let i = 0; i < 100; i++) await wal.append([entry(`record ${i}`)]);
    expect((await stat(path)).size).toBe(size);
    const end = wal.size;
    // What a process killed now leaves behind.
    const crashed = await readFile(path);
    await wal.close();
    expect((await stat(path)).size).toBe(end);
    await writeFile(path, crashed);
    const recovery = await reopen();
    expect(recovery.records).toHaveLength(101);
    expect(recovery.truncatedBytes).toBe(0);
    // The next writer appends where the records end, not where the file does.
    const { wal: next } = await openFileWal({ path, codec: 'msgpack' });
    expect(next.size).toBe(end);
    await next.append([entry('after the reopen')]);
    await next.close();
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString()).at(-1)).toBe('after the reopen');
  });

  it('cuts a commit torn inside the room as a torn tail, room and all', async () => {
    await writeLog(['alpha', 'beta']);
    const markerBeforeCrash = await readFile(headPath());
    const lastStart = (await stat(path)).size;
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    await wal.append([entry('a longer last record payload')]);
    const lastEnd = wal.size;
    const full = await readFile(path);
    await wal.close();
    expect(full.length).toBeGreaterThan(lastEnd);
    for (let cut = lastStart + 1; cut < lastEnd; cut += 3) {
      // The write reached the disk up to `cut`; the room after it was zeros already.
      const torn = Buffer.from(full);
      torn.fill(0, cut, lastEnd);
      await writeFile(path, torn);
      await writeFile(headPath(), markerBeforeCrash);
      const recovery = await reopen();
      expect(recovery.records.map((r) => Buffer.from(r.payload).toString()), `cut at ${cut}`).toEqual(['alpha', 'beta']);
      expect((await stat(path)).size).toBe(lastStart);
    }
  });

  it('still tells damage by a valid record written after it, with the room after that record', async () => {
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    for (const text of ['first', 'second', 'third']) await wal.append([entry(text)]);
    await wal.close();
    const image = await readFile(path);
    const second = image.indexOf('second');
    image[second] = image[second]! ^ 0xff;
    await writeFile(path, image);
    await rm(headPath());
    await expect(openFileWal({ path, codec: 'msgpack' })).rejects.toMatchObject({ code: 'WAL_CORRUPT', lsn: 2 });
  });

  it('a close leaves the room while another writer has records past the marker it has not marked yet', async () => {
    const { wal: batch } = await openFileWal({ path, codec: 'msgpack', durability: 'batch', batchIntervalMs: 60_000 });
    const { wal: closing } = await openFileWal({ path, codec: 'msgpack' });
    await closing.append([entry('marked')]);
    // Written under the lock, not yet fsynced, so not yet marked: another process's records all the same.
    await batch.append([entry('written, not yet marked')]);
    await closing.close();
    await batch.close();
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['marked', 'written, not yet marked']);
  });

  it('a writer that follows another reads its records and neither reads nor cuts the room', async () => {
    const { wal: a } = await openFileWal({ path, codec: 'msgpack' });
    const { wal: b } = await openFileWal({ path, codec: 'msgpack' });
    await a.append([entry('from a')]);
    const size = (await stat(path)).size;
    const seen: string[] = [];
    const { wal: c } = await openFileWal({ path, codec: 'msgpack', onCommit: (records) => seen.push(...records.map((r) => Buffer.from(r.payload).toString())) });
    await b.append([entry('from b')]);
    await a.append([entry('from a again')]);
    c.refresh();
    expect(seen).toEqual(['from b', 'from a again']);
    expect((await stat(path)).size).toBe(size);
    for (const wal of [a, b, c]) await wal.close();
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['from a', 'from b', 'from a again']);
  });

  it('seals a segment without its room: a sealed segment ends with its last record', async () => {
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    await wal.append([entry('one')]);
    await wal.append([entry('two')]);
    const sealedEnd = wal.size;
    // (Retention to record 2 seals the segment holding records 1 and 2, and keeps it.)
    await wal.truncateBefore(2);
    await wal.append([entry('three')]);
    await wal.close();
    const sealed = await readFile(join(dir, 'wal', '0000000000000001.seg'));
    expect(sealed.length).toBe(sealedEnd);
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['one', 'two', 'three']);
  });
});

describe('FileWal: found in the review of the room written ahead', () => {
  it('opens a sealed segment whose room a power loss brought back, and still refuses junk after its records', async () => {
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    await wal.append([entry('one')]);
    await wal.append([entry('two')]);
    await wal.truncateBefore(2);
    await wal.append([entry('three')]);
    await wal.close();
    const sealed = join(dir, 'wal', '0000000000000001.seg');
    // The cut of its room was not durable: the zeros are back.
    await appendFile(sealed, Buffer.alloc(64 * 1024));
    expect((await reopen()).records.map((r) => Buffer.from(r.payload).toString())).toEqual(['one', 'two', 'three']);
    await appendFile(sealed, Buffer.from('junk after the zeros'));
    await expect(openFileWal({ path, codec: 'msgpack' })).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
  });

  it('tells damage by a later record even when the record after that lost its first page to a torn write', async () => {
    const { wal } = await openFileWal({ path, codec: 'msgpack' });
    for (const text of ['first', 'second', 'third', 'fourth']) await wal.append([entry(text)]);
    const tornStart = wal.size;
    await wal.append([entry('x'.repeat(10_000))]);
    await wal.close();
    await cutRoom();
    const image = await readFile(path);
    const third = image.indexOf('third');
    image[third] = image[third]! ^ 0xff;
    // The last record was being written when the power went: its first page never reached the disk.
    image.fill(0, tornStart, tornStart + 4096);
    await writeFile(path, image);
    await rm(headPath());
    await expect(openFileWal({ path, codec: 'msgpack' })).rejects.toMatchObject({ code: 'WAL_CORRUPT', lsn: 3 });
  });
});
