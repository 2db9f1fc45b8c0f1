import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installedPackageFolder, loadNativeAddon, LOCK_PACKAGE } from '@memmapfs/wal';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'memmapfs-installed-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function install(folder: string, name: string): Promise<void> {
  await mkdir(join(folder, 'node_modules', name), { recursive: true });
  await writeFile(join(folder, 'node_modules', name, 'package.json'), JSON.stringify({ name }));
}

describe('installedPackageFolder', () => {
  it('finds the nearest node_modules that holds the package, as Node looks for a bare specifier', async () => {
    const start = join(root, 'app', 'lib', 'dist');
    await mkdir(start, { recursive: true });
    await install(root, 'plain');
    await install(join(root, 'app'), 'plain');
    await install(root, '@scope/scoped');
    expect(installedPackageFolder(start, 'plain')).toBe(join(root, 'app', 'node_modules', 'plain'));
    expect(installedPackageFolder(start, '@scope/scoped')).toBe(join(root, 'node_modules', '@scope', 'scoped'));
    expect(installedPackageFolder(start, 'absent')).toBeUndefined();
  });

  it('passes over a folder of the name without a package.json (a removed or half-installed package)', async () => {
    const start = join(root, 'app');
    await mkdir(join(start, 'node_modules', 'half'), { recursive: true });
    await install(root, 'half');
    expect(installedPackageFolder(start, 'half')).toBe(join(root, 'node_modules', 'half'));
    await rm(join(root, 'node_modules', 'half', 'package.json'));
    expect(installedPackageFolder(start, 'half')).toBeUndefined();
  });

  it('passes over a folder that cannot be looked into, as Node does (a symlink loop)', async () => {
    const start = join(root, 'app');
    await mkdir(start, { recursive: true });
    await symlink(join(start, 'node_modules'), join(start, 'node_modules'));
    await install(root, 'looped');
    expect(installedPackageFolder(start, 'looped')).toBe(join(root, 'node_modules', 'looped'));
  });
});

describe('loadNativeAddon', () => {
  it('loads the lock addon from its file, again on a second call, and the two copies lock the same files', async () => {
    const folder = installedPackageFolder(fileURLToPath(new URL('.', import.meta.url)), LOCK_PACKAGE)!;
    const file = join(folder, 'prebuilds', `${process.platform}-${process.arch}`, `${LOCK_PACKAGE}.node`);
    expect(existsSync(file)).toBe(true);
    type Locks = { tryLock(fd: number, offset: number, length: number, exclusive: boolean): void; unlock(fd: number, offset: number, length: number): void };
    const first = loadNativeAddon(file) as Locks;
    const second = loadNativeAddon(file) as Locks;
    const path = join(root, 'locked');
    await writeFile(path, '');
    const a = openSync(path, 'r+');
    const b = openSync(path, 'r+');
    try {
      first.tryLock(a, 0, 0, true);
      expect(() => second.tryLock(b, 0, 0, true)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
      first.unlock(a, 0, 0);
      second.tryLock(b, 0, 0, true);
      expect(() => first.tryLock(a, 0, 0, true)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    } finally {
      closeSync(a);
      closeSync(b);
    }
    expect(() => loadNativeAddon(join(root, 'missing.node'))).toThrow(/missing\.node/);
  });
});
