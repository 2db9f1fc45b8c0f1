import { spawn } from 'node:child_process';
import { open, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MemMapFS } from '@memmapfs/core';
import { afterEach, describe, expect, it } from 'vitest';
import { binaryCommand, binaryEnvironment, memmapfs } from './binary.js';
import { initStore, inStore, paths, useTempStore } from './harness.js';

useTempStore();

const holder = fileURLToPath(new URL('./support/hold-writer-lock.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const holders: Array<() => void> = [];
afterEach(() => holders.splice(0).forEach((kill) => kill()));

/** Another process that takes the store's writer lock and does not let go until the test ends. */
async function holdWriterLock(): Promise<void> {
  const child = spawn(process.execPath, ['--import', tsx, holder, paths.root], { stdio: 'pipe' });
  holders.push(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const { value } = await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next();
  if (value !== 'locked') throw new Error(`the lock holder did not take the lock: ${stderr}`);
}

/** Runs `memmapfs ARGS` on the test's store, reads `bytes` of its stdout, then closes the pipe, as `| head -c` does. */
function readThenClose(args: string[], bytes: number): Promise<{ code: number | null; read: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...binaryCommand(), '--root', paths.root, ...args], { env: binaryEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
    let read = 0;
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.on('data', (chunk: Buffer) => {
      read += chunk.byteLength;
      if (read >= bytes) child.stdout.destroy();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, read, stderr }));
  });
}

describe('a store another process holds, or a reader that goes away', () => {
  it('reads (get, list, stats, query) while another process holds the writer lock and does not let go', async () => {
    await initStore();
    expect((await inStore(['append', 'Standup moved to 10:30', '--tag', 'calendar'])).code).toBe(0);
    await holdWriterLock();
    // Said on stderr: writes of processes whose durability is 'batch' or 'none' that are not synced yet are not shown.
    const readOnly = /^memmapfs: warning: opened read-only \(another process holds the writer lock\).*'none'.*\n$/;
    expect(await memmapfs(['--root', paths.root, 'get', '1'])).toMatchObject({ code: 0, stdout: expect.stringContaining('Standup moved to 10:30'), stderr: expect.stringMatching(readOnly) });
    expect(await memmapfs(['--root', paths.root, 'list'])).toMatchObject({ code: 0, stdout: expect.stringContaining('Standup'), stderr: expect.stringMatching(readOnly) });
    const stats = await memmapfs(['--root', paths.root, 'stats', '--json']);
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ memories: 1 });
    expect(JSON.parse(stats.stderr)).toMatchObject({ warning: { code: 'READ_ONLY_FALLBACK' } });
    expect(await memmapfs(['--root', paths.root, 'query', 'standup'])).toMatchObject({ code: 0, stdout: expect.stringContaining('Standup'), stderr: expect.stringMatching(readOnly) });
  }, 60_000);

  it('a write that cannot get the lock fails with LOCK_TIMEOUT and the process ends then, not when the holder lets go', async () => {
    await initStore();
    await holdWriterLock();
    const append = await memmapfs(['--root', paths.root, 'append', 'never written']);
    expect(append).toMatchObject({ code: 1, stdout: '', stderr: expect.stringContaining('LOCK_TIMEOUT') });
    // (The library's lockTimeoutMs is no option of the command line.)
    expect(append.stderr).not.toMatch(/lockTimeoutMs/);
    expect(append.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('export and stream read end with exit 0 and say nothing when their reader closes the pipe', async () => {
    await initStore();
    const store = await MemMapFS.init(paths.root);
    await store.appendMemories(Array.from({ length: 3000 }, (_, i) => ({ text: `memory ${i} ${'words about the weather and the standup '.repeat(3)}` })));
    await store.appendStream('log', 'x'.repeat(1_000_000));
    await store.close();
    const exported = await readThenClose(['export'], 1000);
    expect(exported).toMatchObject({ code: 0, stderr: '' });
    const streamed = await readThenClose(['stream', 'read', 'log'], 1000);
    expect(streamed).toMatchObject({ code: 0, stderr: '' });
  }, 60_000);

  it('hands the whole output to a reader that is slow to take it before it exits', async () => {
    await initStore();
    const store = await MemMapFS.init(paths.root);
    await store.appendMemories(Array.from({ length: 1000 }, (_, i) => ({ text: `memory ${i} ${'about the weather and the standup '.repeat(6)}` })));
    await store.close();
    const child = spawn(process.execPath, [...binaryCommand(), '--root', paths.root, 'list', '--json', '--limit', '1000'], { env: binaryEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Not read for 3 s: the pipe fills, and what is left waits in the process.
    child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stdout.resume();
    expect(await closed).toBe(0);
    expect((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { memories: unknown[] }).memories).toHaveLength(1000);
  }, 60_000);

  it('a warning is one line of its own, not Node\'s form with its pid', async () => {
    await initStore();
    expect((await inStore(['append', 'the parcel arrives on tuesday'])).code).toBe(0);
    // A byte of the memory's text flipped in its chunk file: its block fails its checksum.
    const blocks = join(paths.root, 'blocks');
    const chunk = (await readdir(blocks)).find((name) => name.startsWith('chunk_'))!;
    const file = await open(join(blocks, chunk), 'r+');
    const bytes = (await file.readFile()) as Buffer;
    const at = bytes.indexOf('parcel');
    await file.write(Buffer.from('P'), 0, 1, at);
    await file.close();
    const run = await memmapfs(['--root', paths.root, 'query', 'tuesday']);
    expect(run.code).toBe(0);
    expect(run.stderr).not.toContain('(node:');
    expect(run.stderr).toMatch(/^memmapfs: warning: .*Memory 1 .*\n$/);
  }, 60_000);
});
