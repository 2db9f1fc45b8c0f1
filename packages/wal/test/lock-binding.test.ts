import { closeSync, openSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFileWal } from '@memmapfs/wal';
import { lockAddonAdvice, lockRefused, loadLockBinding } from '../src/lock-binding.js';
import { startLockProcess, type LockProcess } from './support/lock-process.js';

// What the log and the block store rely on, checked against real processes. Each test below marked
// "(not with process locks)" fails with POSIX record locks (`fcntl` F_SETLK, `lockf`), which belong to a
// process: there a second descriptor of the process is granted the lock, and closing any descriptor of
// the file drops every lock the process holds on it.

let dir: string;
let file: string;
const others: LockProcess[] = [];
const opened: number[] = [];
const locks = loadLockBinding();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-lock-'));
  file = join(dir, 'locked');
  writeFileSync(file, 'x');
});
afterEach(async () => {
  await Promise.all(others.splice(0).map((other) => other.kill()));
  for (const fd of opened.splice(0)) closeSync(fd);
  await rm(dir, { recursive: true, force: true });
});

/** Another process, with `file` open as descriptor `a`. */
async function another(): Promise<LockProcess> {
  const other = await startLockProcess();
  others.push(other);
  await other.open('a', file);
  return other;
}

/** A descriptor of `file` of its own (an open file description of its own), closed after the test. */
function openHere(flags: 'r' | 'r+' = 'r+'): number {
  const fd = openSync(file, flags);
  opened.push(fd);
  return fd;
}

function closeHere(fd: number): void {
  closeSync(fd);
  opened.splice(opened.indexOf(fd), 1);
}

describe('the file lock, between processes', () => {
  it('refuses here a lock another process holds; shared locks share; let go, it is granted', async () => {
    const other = await another();
    const fd = openHere();
    expect(await other.tryLock('a', 'exclusive')).toBe(true);
    expect(locks.tryLock(fd, 'exclusive')).toBe(false);
    expect(locks.tryLock(fd, 'shared')).toBe(false);
    await other.unlock('a');
    expect(locks.tryLock(fd, 'exclusive')).toBe(true);
    expect(await other.tryLock('a', 'shared')).toBe(false);
    locks.unlock(fd);
    expect(await other.tryLock('a', 'shared')).toBe(true);
    expect(locks.tryLock(fd, 'shared')).toBe(true);
    expect(await other.tryLock('a', 'exclusive')).toBe(false);
    const third = openHere();
    expect(locks.tryLock(third, 'exclusive')).toBe(false);
  });

  it('goes with its holder when it is killed with SIGKILL: a blocking wait here is granted then, and not before', async () => {
    const other = await another();
    const fd = openHere();
    expect(await other.tryLock('a', 'exclusive')).toBe(true);
    let granted = false;
    const waiting = locks.waitForExclusive(fd).then(() => (granted = true));
    // The wait blocks a thread of its own, not the event loop: timers keep firing meanwhile.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    clearInterval(timer);
    expect(granted).toBe(false);
    expect(ticks).toBeGreaterThan(5);
    await other.kill();
    await waiting;
    expect(granted).toBe(true);
    // Held here now: a third process is refused it.
    const third = await another();
    expect(await third.tryLock('a', 'shared')).toBe(false);
  });

  it('goes when the descriptor holding it is closed', async () => {
    const other = await another();
    const fd = openHere();
    expect(locks.tryLock(fd, 'exclusive')).toBe(true);
    expect(await other.tryLock('a', 'exclusive')).toBe(false);
    closeHere(fd);
    expect(await other.tryLock('a', 'exclusive')).toBe(true);
  });

  it('converted from exclusive to shared (as an open does with state.wal), stays shared: others share it, none takes it', async () => {
    const other = await another();
    const fd = openHere();
    expect(locks.tryLock(fd, 'exclusive')).toBe(true);
    expect(locks.tryLock(fd, 'shared')).toBe(true);
    expect(await other.tryLock('a', 'exclusive')).toBe(false);
    expect(await other.tryLock('a', 'shared')).toBe(true);
  });
});

describe('the file lock belongs to an open file description, not to the process', () => {
  it('refuses a second descriptor of this process a lock that conflicts with the first one\'s (not with process locks)', () => {
    const first = openHere();
    const second = openHere();
    expect(locks.tryLock(first, 'exclusive')).toBe(true);
    expect(locks.tryLock(second, 'exclusive')).toBe(false);
    expect(locks.tryLock(second, 'shared')).toBe(false);
    expect(locks.tryLock(first, 'shared')).toBe(true);
    expect(locks.tryLock(second, 'shared')).toBe(true);
    expect(locks.tryLock(second, 'exclusive')).toBe(false);
    locks.unlock(first);
    expect(locks.tryLock(second, 'exclusive')).toBe(true);
  });

  it('keeps a lock when another descriptor of the same file is closed in this process (not with process locks)', async () => {
    const other = await another();
    const holder = openHere();
    expect(locks.tryLock(holder, 'exclusive')).toBe(true);
    // Other descriptors of the file come and go: one refused a lock, one never locked, one read-only.
    const refused = openHere();
    expect(locks.tryLock(refused, 'shared')).toBe(false);
    closeHere(refused);
    closeHere(openHere());
    closeHere(openHere('r'));
    expect(await other.tryLock('a', 'shared')).toBe(false);
    expect(await other.tryLock('a', 'exclusive')).toBe(false);
    // The same with a shared lock: a closed neighbour does not let another process take it.
    locks.unlock(holder);
    expect(locks.tryLock(holder, 'shared')).toBe(true);
    closeHere(openHere());
    expect(await other.tryLock('a', 'exclusive')).toBe(false);
    closeHere(holder);
    expect(await other.tryLock('a', 'exclusive')).toBe(true);
  });

  it.runIf(process.platform === 'linux')('on Linux (OFD locks), needs a descriptor open for writing for an exclusive lock: through a read-only one it throws EBADF', () => {
    const readOnly = openHere('r');
    expect(() => locks.tryLock(readOnly, 'exclusive')).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(locks.tryLock(readOnly, 'shared')).toBe(true);
  });
});

describe('the writer lock', () => {
  it('a log closed while its blocking request waits leaves nothing locked once the request is granted', async () => {
    const path = join(dir, 'state.wal');
    const { wal } = await openFileWal({ path, codec: 'msgpack', lockTimeoutMs: 100 });
    await wal.append([{ type: 1, payload: Buffer.from('before') }]);
    const other = await startLockProcess();
    others.push(other);
    await other.open('head', join(dir, 'state.head'));
    expect(await other.tryLock('head', 'exclusive')).toBe(true);
    // The append gives up; its request stays with the kernel (it cannot be called off), and the log closes.
    await expect(wal.append([{ type: 1, payload: Buffer.from('blocked') }])).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    await wal.close();
    await other.unlock('head');
    // The request is granted to a description whose last descriptor is closed: the lock goes with it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await other.tryLock('head', 'exclusive')).toBe(true);
    await other.unlock('head');
    const reopened = await openFileWal({ path, codec: 'msgpack', lockTimeoutMs: 1000 });
    expect(await reopened.wal.append([{ type: 1, payload: Buffer.from('after') }])).toEqual([2]);
    await reopened.wal.close();
  });
});

describe('a wait for the writer lock abandoned by close', () => {
  it('never lands on another file that takes its descriptor number', async () => {
    const path = join(dir, 'state.wal');
    const other = join(dir, 'other.bin');
    writeFileSync(other, 'b');
    await (await openFileWal({ path, codec: 'msgpack' })).wal.close();
    // The writer lock is held elsewhere (another description: as another process holds it).
    const holder = openSync(join(dir, 'state.head'), 'r+');
    opened.push(holder);
    expect(locks.tryLock(holder, 'exclusive')).toBe(true);
    let stray = 0;
    let timeouts = 0;
    for (let round = 0; round < 100; round++) {
      try {
        const { wal } = await openFileWal({ path, codec: 'msgpack', lockTimeoutMs: 0 });
        await wal.close();
      } catch (error) {
        if ((error as { code?: string }).code !== 'LOCK_TIMEOUT') throw error;
        timeouts++;
      }
      // Opened now, this file may get the number the abandoned wait still holds.
      const reused = openSync(other, 'r+');
      await new Promise((resolve) => setTimeout(resolve, 5));
      const probe = openSync(other, 'r+');
      if (!locks.tryLock(probe, 'exclusive')) stray++;
      closeSync(probe);
      closeSync(reused);
      // The holder lets go for a moment, so that waits still pending end.
      locks.unlock(holder);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(locks.tryLock(holder, 'exclusive')).toBe(true);
    }
    expect(timeouts).toBe(100);
    expect(stray).toBe(0);
  }, 60_000);
});

describe('lockRefused: which errors of a lock taken without waiting mean another holds it', () => {
  const error = (code: string) => Object.assign(new Error(code), { code });
  it('EAGAIN everywhere (fcntl and flock say so)', () => {
    for (const platform of ['linux', 'darwin', 'win32'] as const) expect(lockRefused(error('EAGAIN'), platform)).toBe(true);
  });
  it("EBUSY on Windows, where libuv names LockFileEx's ERROR_LOCK_VIOLATION so; elsewhere an error", () => {
    expect(lockRefused(error('EBUSY'), 'win32')).toBe(true);
    expect(lockRefused(error('EBUSY'), 'linux')).toBe(false);
    expect(lockRefused(error('EBADF'), 'win32')).toBe(false);
  });
});

describe('the advice when the addon does not load', () => {
  it("names the package to reinstall and keeps the loader's first line, not every path it tried", () => {
    const advice = lockAddonAdvice(new Error('Cannot find addon for fs-native-extensions\n  tried: /a/prebuilds/linux-x64\n  tried: /b/build/Release'));
    expect(advice).toContain('npm install fs-native-extensions');
    expect(advice).toContain('Cannot find addon for fs-native-extensions …');
    expect(advice).not.toContain('tried:');
  });
});
