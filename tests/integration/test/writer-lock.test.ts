import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';

const holder = fileURLToPath(new URL('./support/hold-writer-lock.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

it('waits for a live lock holder, and gets the lock at once when the holder is killed -9', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'memmapfs-lock-'));
  const root = join(dir, 'store');
  try {
    const setup = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
    await setup.appendMemory('before the lock was taken');
    await setup.close();

    const child = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, holder, root], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (data: string) => data.includes('locked') && resolve());
      child.on('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
    });

    let opened = false;
    const opening = MemMapFS.init(root, { search: flexsearch(), codec: msgpack() }).then((fs) => {
      opened = true;
      return fs;
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(opened).toBe(false);

    const killedAt = performance.now();
    child.kill('SIGKILL');
    const fs = await opening;
    const waited = performance.now() - killedAt;
    console.log(`the store opened ${waited.toFixed(1)} ms after the lock holder was killed`);
    expect(waited).toBeLessThan(1000);
    expect((await fs.queryMemory('lock'))[0]?.text).toBe('before the lock was taken');
    expect(await fs.appendMemory('after the holder died')).toBeGreaterThan(0);
    await fs.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 30_000);

it("close() of a 'sync' store whose writes are all durable resolves, warning, while another process holds the writer lock past lockTimeoutMs", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'memmapfs-lock-'));
  const root = join(dir, 'store');
  try {
    const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), lockTimeoutMs: 300 });
    // (Small memories ride in their records: the close would write a record that lets go of those copies.)
    const id = await fs.appendMemory('durable before the close');
    await fs.setKv('key', 'durable too');
    const child = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, holder, root], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (data: string) => data.includes('locked') && resolve());
        child.on('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
      });
      const warnings: string[] = [];
      const onWarning = (warning: Error & { code?: string }) => warnings.push(warning.code ?? '');
      process.on('warning', onWarning);
      try {
        await fs.close();
        await new Promise((resolve) => setImmediate(resolve));
      } finally {
        process.off('warning', onWarning);
      }
      expect(warnings).toContain('MEMMAPFS_CHECKPOINT_FAILED');
    } finally {
      child.kill('SIGKILL');
    }
    const again = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
    expect((await again.getMemory(id))?.text).toBe('durable before the close');
    expect(again.getKv('key')).toBe('durable too');
    expect((await again.queryMemory('durable')).map((hit) => hit.id)).toEqual([id]);
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 30_000);
