import { writeFileSync } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openChunkStore, tryLeaseFile, type FileLease } from '@memmapfs/blocks';
import { existsSync } from 'node:fs';
import { reservationFileName } from '../src/chunk-store.js';
import { tryLockHandle } from '../src/file-lease.js';
import { startLeaseProcess, type LeaseProcess } from './support/lease-process.js';

// Leases on chunk, segment and index files, checked against real processes. The tests marked "(not with
// process locks)" fail with POSIX record locks (`fcntl` F_SETLK, `lockf`), which belong to a process:
// there a second lease of the process is granted, and closing the descriptor of a refused lease drops
// every lock the process holds on the file.

let dir: string;
let file: string;
const others: LeaseProcess[] = [];
const held: FileLease[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-lease-'));
  file = join(dir, 'chunk_0000.bin');
  writeFileSync(file, 'x');
});
afterEach(async () => {
  await Promise.all(others.splice(0).map((other) => other.kill()));
  await Promise.all(held.splice(0).map((lease) => lease.release()));
  await rm(dir, { recursive: true, force: true });
});

async function another(): Promise<LeaseProcess> {
  const other = await startLeaseProcess();
  others.push(other);
  return other;
}

/** `tryLeaseFile` here, released after the test when granted. */
async function leaseHere(mode: 'shared' | 'exclusive'): Promise<FileLease | 'busy' | 'removed'> {
  const lease = await tryLeaseFile(file, mode);
  if (typeof lease !== 'string') held.push(lease);
  return lease;
}

describe('file leases, between processes', () => {
  it('an exclusive lease another process holds refuses every lease here, until that process is killed with SIGKILL', async () => {
    const other = await another();
    expect(await other.lease('a', 'exclusive', file)).toBe('held');
    expect(await leaseHere('shared')).toBe('busy');
    expect(await leaseHere('exclusive')).toBe('busy');
    await other.kill();
    expect(typeof (await leaseHere('exclusive'))).toBe('object');
  });

  it('shared leases share; an exclusive one is granted only once every shared one is let go', async () => {
    const other = await another();
    expect(await other.lease('a', 'shared', file)).toBe('held');
    const mine = await leaseHere('shared');
    expect(typeof mine).toBe('object');
    expect(await leaseHere('exclusive')).toBe('busy');
    await other.release('a');
    // This process's own shared lease still excludes it (not with process locks).
    expect(await leaseHere('exclusive')).toBe('busy');
    await (mine as FileLease).release();
    expect(typeof (await leaseHere('exclusive'))).toBe('object');
    expect(await other.lease('b', 'shared', file)).toBe('busy');
  });
});

describe('file leases belong to their own descriptor, not to the process', () => {
  it('a second lease of this process conflicts with the first (not with process locks)', async () => {
    expect(typeof (await leaseHere('exclusive'))).toBe('object');
    expect(await leaseHere('exclusive')).toBe('busy');
    expect(await leaseHere('shared')).toBe('busy');
  });

  it('a refused lease or lock here, whose descriptor is closed, leaves the held one in force (not with process locks)', async () => {
    const other = await another();
    const mine = await leaseHere('exclusive');
    expect(typeof mine).toBe('object');
    expect(await leaseHere('shared')).toBe('busy');
    expect(await tryLockHandle(await open(file, 'r'), 'shared')).toBe(false);
    // Another descriptor of the file opened and closed here, never locked.
    await (await open(file, 'r+')).close();
    expect(await other.lease('a', 'shared', file)).toBe('busy');
    expect(await other.lease('a', 'exclusive', file)).toBe('busy');
    await (mine as FileLease).release();
    expect(await other.lease('a', 'exclusive', file)).toBe('held');
  });
});

describe('chunk reservations, between processes', () => {
  it('a chunk another process reserves is taken up by no store here; once that process is killed with SIGKILL, a store takes its chunk up and removes the mark it left, and a retire removes another', async () => {
    const blocks = join(dir, 'blocks');
    const bytes = (text: string) => new TextEncoder().encode(text);
    const mark = (chunk: number) => join(blocks, reservationFileName(chunk));
    const stores: Array<{ close(): Promise<void> }> = [];
    const store = async () => {
      const opened = await openChunkStore({ dir: blocks, reader: 'read' });
      stores.push(opened);
      return opened;
    };
    try {
      const writer = await store();
      const first = (await writer.append(bytes('first'))).chunk;
      const other = await another();
      await writeFile(mark(first), '');
      expect(await other.lease('first', 'shared', mark(first))).toBe('held');
      await writer.seal();
      // The highest chunk, let go of and with room, but reserved: a new store starts another.
      const here = await store();
      const second = (await here.append(bytes('second'))).chunk;
      expect(second).not.toBe(first);
      await writeFile(mark(second), '');
      expect(await other.lease('second', 'shared', mark(second))).toBe('held');
      await here.seal();
      expect((await (await store()).append(bytes('third'))).chunk).not.toBe(second);
      await other.kill();
      await Promise.all(stores.splice(0).map((opened) => opened.close()));
      // The reserver is gone. (Its marks stay until a store takes their chunk up or retires it.)
      const next = await store();
      const third = (await next.append(bytes('fourth'))).chunk;
      expect(third).toBeGreaterThan(second);
      await next.seal();
      expect(existsSync(mark(first))).toBe(true);
      expect(await next.claim(first)).toBe(true);
      await next.retire(first);
      expect(existsSync(mark(first))).toBe(false);
      expect(existsSync(mark(second))).toBe(true);
      const last = await store();
      expect(await last.claim(third)).toBe(true);
      await last.retire(third);
      expect((await last.append(bytes('fifth'))).chunk).toBe(second);
      expect(existsSync(mark(second))).toBe(false);
    } finally {
      await Promise.all(stores.map((opened) => opened.close()));
    }
  });
});
