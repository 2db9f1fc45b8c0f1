import * as files from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { withFileLock } from '../src/engine/file-lock.js';

describe('withFileLock', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs one body at a time, and gives up with LOCK_TIMEOUT while another holder keeps the lock past the wait', async () => {
    dir = await mkdtemp(join(tmpdir(), 'memmapfs-file-lock-'));
    const path = join(dir, 'x.lock');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const first = withFileLock(path, files, async () => {
      entered();
      await held;
      return 'first';
    });
    await inside;
    await expect(withFileLock(path, files, async () => 'second', 100)).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    const order: string[] = [];
    const waiting = withFileLock(path, files, async () => {
      order.push('third');
      return 'third';
    }, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    order.push('released');
    release();
    expect(await first).toBe('first');
    expect(await waiting).toBe('third');
    expect(order).toEqual(['released', 'third']);
  });
});
