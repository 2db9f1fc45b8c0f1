import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
});

describe('loadNativeAddon', () => {
  it('loads the lock addon from its file, again on a second call, and each copy works', async () => {
    const folder = installedPackageFolder(fileURLToPath(new URL('.', import.meta.url)), LOCK_PACKAGE)!;
    const file = join(folder, 'prebuilds', `${process.platform}-${process.arch}`, `${LOCK_PACKAGE}.node`);
    expect(existsSync(file)).toBe(true);
    const first = loadNativeAddon(file) as { unlock(fd: number, offset: number, length: number): void };
    const second = loadNativeAddon(file) as typeof first;
    expect(typeof first.unlock).toBe('function');
    expect(typeof second.unlock).toBe('function');
    expect(() => loadNativeAddon(join(root, 'missing.node'))).toThrow(/missing\.node/);
  });
});
