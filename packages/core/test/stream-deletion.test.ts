import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS, verifyStore, type MemMapErrorCode } from '@memmapfs/core';
import { crc32c } from '@memmapfs/wal';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

// Two instances on one folder behave as two processes do: each has its own log descriptor and view.
const open = (extra: Parameters<typeof MemMapFS.init>[1] = {}) => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch(), ...extra });

async function readFrom(read: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of read) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString();
}

async function readAll(fs: MemMapFS, key: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of fs.openRead(key)) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString();
}

/**
 * Bytes as long as `original`, beginning with `prefix`, with the same CRC-32C: CRC is linear over GF(2),
 * so the last 4 bytes are solved for it.
 */
function sameChecksum(original: Buffer, prefix: string): Buffer {
  const length = original.length;
  const changed = Buffer.alloc(length);
  Buffer.from(prefix).copy(changed);
  for (let i = 0; i < prefix.length; i++) changed[i] = changed[i]! ^ original[i]!;
  // The CRC of a difference, less that of zeros, is linear in its bits: find the last 4 bytes' bits that cancel it.
  const zeros = crc32c(Buffer.alloc(length));
  const effect = (difference: Buffer) => (crc32c(difference) ^ zeros) >>> 0;
  const basis: Array<{ value: number; bits: number } | undefined> = [];
  for (let bit = 0; bit < 32; bit++) {
    const difference = Buffer.alloc(length);
    difference[length - 4 + (bit >> 3)] = 1 << (bit & 7);
    let value = effect(difference);
    let bits = 2 ** bit;
    for (let high = 31; high >= 0 && value !== 0; high--) {
      if (!((value >>> high) & 1)) continue;
      const row = basis[high];
      if (!row) {
        basis[high] = { value, bits };
        break;
      }
      value = (value ^ row.value) >>> 0;
      bits = (bits ^ row.bits) >>> 0;
    }
  }
  let target = effect(changed);
  let chosen = 0;
  for (let high = 31; high >= 0; high--) {
    if (!((target >>> high) & 1)) continue;
    target = (target ^ basis[high]!.value) >>> 0;
    chosen = (chosen ^ basis[high]!.bits) >>> 0;
  }
  for (let bit = 0; bit < 32; bit++) if ((chosen >>> bit) & 1) changed[length - 4 + (bit >> 3)] = changed[length - 4 + (bit >> 3)]! ^ (1 << (bit & 7));
  const forged = Buffer.alloc(length);
  for (let i = 0; i < length; i++) forged[i] = original[i]! ^ changed[i]!;
  expect(crc32c(forged)).toBe(crc32c(original));
  return forged;
}

async function codeOf(action: () => unknown): Promise<MemMapErrorCode | string> {
  try {
    await action();
  } catch (error) {
    return error instanceof MemMapError ? error.code : String(error);
  }
  return 'no error';
}

describe('deleting a stream', () => {
  it('removes it: openRead yields nothing, listStreams and stats leave it out, and an append starts it afresh', async () => {
    const fs = await open();
    await fs.appendStream('transcript', 'first part; ');
    await fs.appendStream('transcript', 'second part');
    await fs.appendStream('other', 'stays');
    expect(fs.listStreams()).toEqual(['other', 'transcript']);
    expect(fs.stats().streams).toBe(2);
    expect(await fs.deleteStream('transcript')).toBe(true);
    expect(await readAll(fs, 'transcript')).toBe('');
    expect(fs.listStreams()).toEqual(['other']);
    expect(fs.stats().streams).toBe(1);
    expect(await readAll(fs, 'other')).toBe('stays');
    await fs.appendStream('transcript', 'a new start');
    expect(await readAll(fs, 'transcript')).toBe('a new start');
    await fs.close();
  });

  it('resolves false for a key never written or already deleted, and true to exactly one of several deletes from two writers', async () => {
    const a = await open();
    const b = await open();
    expect(await a.deleteStream('never-written')).toBe(false);
    for (let round = 0; round < 5; round++) {
      await a.appendStream(`log-${round}`, `round ${round}`);
      // b has not read a's append yet: it still finds the stream under the writer lock.
      const removed = await Promise.all([b.deleteStream(`log-${round}`), a.deleteStream(`log-${round}`), b.deleteStream(`log-${round}`)]);
      expect(removed.filter(Boolean)).toHaveLength(1);
      expect(await readAll(a, `log-${round}`)).toBe('');
      expect(await readAll(b, `log-${round}`)).toBe('');
    }
    const lsn = a.stats().lastLsn;
    expect(await a.deleteStream('log-0')).toBe(false);
    expect(a.stats().lastLsn).toBe(lsn);
    await Promise.all([a.close(), b.close()]);
  });

  it('keeps call order between appends and deletes of one stream not awaited in between', async () => {
    const fs = await open();
    for (let round = 0; round < 10; round++) {
      const key = `s-${round}`;
      const large = Buffer.alloc(100 * 1024 + round, 'a');
      // Appended, then deleted: nothing is left, and the delete found the stream.
      const [, deleted] = await Promise.all([fs.appendStream(key, large), fs.deleteStream(key)]);
      expect(deleted).toBe(true);
      expect(await readAll(fs, key)).toBe('');
      // Deleted, then appended: the append starts it anew.
      await fs.appendStream(key, 'old;');
      await Promise.all([fs.deleteStream(key), fs.appendStream(key, large), fs.appendStream(key, 'new')]);
      expect(await readAll(fs, key)).toBe(large.toString() + 'new');
    }
    await fs.close();
  });

  it('keeps call order among appends to one stream not awaited, when a chunk file fills and a later, smaller block still fits it', async () => {
    const fs = await open({ chunkSizeBytes: 4096 });
    const sizes = Array.from({ length: 200 }, (_, i) => (i % 2 === 1 ? 10 : [3000, 40_000, 70_000, 2_000_000][i % 4 === 0 ? (i / 4) % 4 : 0]!));
    const chunkOf = (i: number) => {
      const bytes = Buffer.alloc(sizes[i]!);
      bytes.writeUInt32LE(i, 0);
      return bytes;
    };
    await Promise.all(sizes.map((_, i) => fs.appendStream('s', chunkOf(i))));
    const read: number[] = [];
    for await (const chunk of fs.openRead('s')) read.push(Buffer.from(chunk).readUInt32LE(0));
    expect(read).toEqual(sizes.map((_, i) => i));
    await fs.close();
  });

  it('stays deleted for a handle that replays the deletion after a checkpoint, and after a reopen that reads a checkpoint', async () => {
    const fs = await open();
    await fs.appendStream('doomed', 'gone');
    await fs.appendStream('kept', 'here');
    await fs.checkpoint();
    await fs.deleteStream('doomed');
    // Opened now, it reads the checkpoint (which holds the stream) and replays the deletion after it.
    const replaying = await open();
    expect(replaying.listStreams()).toEqual(['kept']);
    expect(await readAll(replaying, 'doomed')).toBe('');
    await replaying.checkpoint();
    await Promise.all([fs.close(), replaying.close()]);
    // verify replays the log on its own: the checkpoint written after the deletion holds no such stream either.
    expect((await verifyStore(root, { codec: v8Codec() })).problems).toEqual([]);
    const fromCheckpoint = await open();
    expect(fromCheckpoint.listStreams()).toEqual(['kept']);
    expect(await readAll(fromCheckpoint, 'kept')).toBe('here');
    await fromCheckpoint.close();
  });

  it('verify takes a deleted stream\'s blocks for dead: their chunk file gone (removed by a compaction whose cut of the log waits) is no damage', async () => {
    // (A chunk file is sealed once it reaches 64 KiB: the next block goes to another.)
    const fs = await open({ chunkSizeBytes: 64 * 1024 });
    await fs.appendStream('doomed', Buffer.alloc(70 * 1024, 'd'));
    await fs.appendStream('kept', 'here');
    expect(await fs.deleteStream('doomed')).toBe(true);
    await fs.close();
    const before = await verifyStore(root, { codec: v8Codec() });
    expect(before.problems).toEqual([]);
    // The large block (no copy in its record) is the only one in its chunk file; the small one has its copy in the log.
    const chunks = (await readdir(join(root, 'blocks'))).filter((name) => name.endsWith('.bin'));
    const holding = [];
    for (const name of chunks) if ((await readFile(join(root, 'blocks', name))).includes(Buffer.alloc(1024, 'd'))) holding.push(name);
    expect(holding).toHaveLength(1);
    expect((await readFile(join(root, 'blocks', holding[0]!))).includes(Buffer.from('here'))).toBe(false);
    await rm(join(root, 'blocks', holding[0]!));
    expect((await verifyStore(root, { codec: v8Codec() })).problems.filter((p) => p.severity === 'error')).toEqual([]);
  });

  it('lists stream keys in order, by prefix, after a key and up to a limit, and refuses bad options', async () => {
    const fs = await open();
    for (const key of ['tool/b', 'chat/2', 'tool/a', 'chat/1', 'tool/c']) await fs.appendStream(key, key);
    expect(fs.listStreams()).toEqual(['chat/1', 'chat/2', 'tool/a', 'tool/b', 'tool/c']);
    expect(fs.listStreams({ prefix: 'tool/' })).toEqual(['tool/a', 'tool/b', 'tool/c']);
    expect(fs.listStreams({ prefix: 'tool/', after: 'tool/a', limit: 1 })).toEqual(['tool/b']);
    expect(await codeOf(() => fs.listStreams({ limit: 0 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => fs.listStreams({ prefix: 3 } as never))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => fs.listStreams({ first: 3 } as never))).toBe('INVALID_ARGUMENT');
    await fs.close();
  });

  it('refuses a key that is not one, on a read-only store and once closed', async () => {
    const fs = await open();
    await fs.appendStream('s', 'x');
    expect(await codeOf(() => fs.deleteStream(42 as never))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => fs.deleteStream(''))).toBe('INVALID_ARGUMENT');
    const readOnly = await open({ readOnly: true });
    expect(await codeOf(() => readOnly.deleteStream('s'))).toBe('READ_ONLY');
    expect(readOnly.listStreams()).toEqual(['s']);
    await readOnly.close();
    await fs.close();
    expect(await codeOf(() => fs.deleteStream('s'))).toBe('STORE_CLOSED');
    expect(await codeOf(() => fs.listStreams())).toBe('STORE_CLOSED');
  });

  it('a read takes the stream as it is at the openRead call: a delete or an append after it, from this handle or another, changes nothing it yields', async () => {
    const fs = await open();
    const other = await open();
    await fs.appendStream('log', 'first ');
    await fs.appendStream('log', 'second');
    const beforeDelete = fs.openRead('log');
    await other.deleteStream('log');
    expect(await readFrom(beforeDelete)).toBe('first second');
    await fs.appendStream('log2', 'one ');
    const beforeAppend = fs.openRead('log2');
    await other.appendStream('log2', 'two');
    expect(await readFrom(beforeAppend)).toBe('one ');
    // Checked at the call too.
    expect(() => fs.openRead('')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    await Promise.all([fs.close(), other.close()]);
    expect(() => fs.openRead('log2')).toThrow(expect.objectContaining({ code: 'STORE_CLOSED' }));
  });

  it('a read begun before the stream was deleted, whose blocks an erase then removed, fails with STREAM_DELETED rather than read the stream written in its place', async () => {
    const fs = await open({ chunkSizeBytes: 64 * 1024 });
    const second = Buffer.alloc(30_000, 'b');
    await fs.appendStream('s', Buffer.alloc(30_000, 'a'));
    await fs.appendStream('s', second);
    const reader = fs.openRead('s');
    expect(Buffer.from((await reader.next()).value as Uint8Array).subarray(0, 1).toString()).toBe('a');
    expect(await fs.deleteStream('s')).toBe(true);
    // Written in its place: the same key, a block of the same length and checksum as the one not read yet.
    const forged = sameChecksum(second, 'written since');
    await fs.appendStream('s', Buffer.alloc(30_000, 'x'));
    await fs.appendStream('s', forged);
    await fs.compact({ erase: true });
    expect(await codeOf(() => reader.next())).toBe('STREAM_DELETED');
    expect(await readAll(fs, 's')).toBe('x'.repeat(30_000) + forged.toString());
    await fs.close();
  });

  it('a read begun before the stream was deleted goes on with the blocks a compaction moved before the delete', async () => {
    const fs = await open({ chunkSizeBytes: 64 * 1024 });
    await fs.appendStream('s', 'kept while read;');
    await fs.appendStream('s', 'moved, then deleted');
    // Dead bytes beside the stream's blocks, so that the compaction rewrites their chunk.
    await fs.appendStream('padding', Buffer.alloc(40_000, 'p'));
    await fs.deleteStream('padding');
    const reader = fs.openRead('s');
    expect(Buffer.from((await reader.next()).value as Uint8Array).toString()).toBe('kept while read;');
    expect((await fs.compact({ erase: true })).blocksMoved).toBeGreaterThan(0);
    expect(await fs.deleteStream('s')).toBe(true);
    expect(Buffer.from((await reader.next()).value as Uint8Array).toString()).toBe('moved, then deleted');
    expect((await reader.next()).done).toBe(true);
    await fs.close();
  });
});
