import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMcpCommand } from '../src/command-line.js';
import { spawnServer, tempFolder } from './server-process.js';

/** Runs the server until it has said on stderr that it serves, then does `stop`; resolves its exit code, signal and stderr. */
async function serveThen(root: string, stop: (child: ReturnType<typeof spawnServer>) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }> {
  const child = spawnServer(root);
  let stderr = '';
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const serving = new Promise<void>((resolve) => {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes('serving')) resolve();
    });
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  await Promise.race([serving, exited]);
  stop(child);
  const [code, signal] = await exited;
  return { code, signal, stderr, stdout };
}

describe('the server process', () => {
  let folder: Awaited<ReturnType<typeof tempFolder>>;

  beforeAll(async () => {
    folder = await tempFolder();
  });

  afterAll(async () => {
    await folder?.remove();
  });

  it('closes the store and exits 0 when stdin ends', async () => {
    const run = await serveThen(folder.root, (child) => child.stdin!.end());
    expect(run).toMatchObject({ code: 0, signal: null, stdout: '' });
  });

  it('answers every request it read before stdin ended, then exits 0 (it carried them out and answered none)', async () => {
    const child = spawnServer(folder.root);
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const lines = [
      { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'piped', version: '1' } } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      ...Array.from({ length: 50 }, (_, i) => ({ jsonrpc: '2.0', id: i + 1, method: 'tools/call', params: { name: 'remember', arguments: { text: `piped memory ${i}` } } })),
    ];
    child.stdin!.end(lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const answered = stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: number; result?: { isError?: boolean } });
    expect(answered.map((answer) => answer.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 51 }, (_, i) => i));
    expect(answered.filter((answer) => answer.id > 0 && answer.result?.isError !== false && answer.result?.isError !== undefined)).toEqual([]);
  });

  it('closes the store and exits 0 on SIGTERM and on SIGINT', async () => {
    expect(await serveThen(folder.root, (child) => child.kill('SIGTERM'))).toMatchObject({ code: 0, signal: null, stdout: '' });
    expect(await serveThen(folder.root, (child) => child.kill('SIGINT'))).toMatchObject({ code: 0, signal: null, stdout: '' });
  });

  it('exits 0 on SIGTERM while its open waits for the writer lock another process holds, without waiting for it', async () => {
    await serveThen(folder.root, (child) => child.stdin!.end());
    // (A process of core's package, which can import the log's: the lock's holder until it is killed.)
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const holder = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, '--input-type=module', '-e', `
      import { HeadFile } from '@memmapfs/wal';
      import * as fileSystem from 'node:fs/promises';
      const head = await HeadFile.open(${JSON.stringify(join(folder.root, 'state.head'))}, fileSystem);
      await head.lock();
      process.stdout.write('locked\\n');
      setInterval(() => undefined, 60_000);
    `], { cwd: fileURLToPath(new URL('../../core', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await Promise.race([once(holder.stdout!.setEncoding('utf8'), 'data').then(([data]) => data as string), once(holder, 'exit').then(() => 'ended')]);
      expect(line).toBe('locked\n');
      const child = spawnServer(folder.root);
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      // (Long enough for it to be waiting for the lock: it has not said it serves.)
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(stderr).not.toContain('serving');
      child.kill('SIGTERM');
      const [code, signal] = await exited;
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: expect.stringContaining('stopped while opening the store') });
      // The holder still holds the lock: the server did not wait for it.
      expect(holder.exitCode).toBeNull();
    } finally {
      holder.kill('SIGKILL');
      await once(holder, 'exit').catch(() => undefined);
    }
  });

  it('exits 2 on a bad command line, saying why on stderr', async () => {
    const child = spawnServer(folder.root, ['--serach', 'orama']);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(2);
    expect(stderr).toMatch(/--serach/);
  });

  it('takes a --root beginning with ~/ in the home folder, as a client\'s JSON config passes it unexpanded', async () => {
    const home = process.env.HOME;
    process.env.HOME = folder.root;
    let stderr = '';
    try {
      // (Stopped once it serves.)
      const stop = new AbortController();
      const write = (text: string) => {
        stderr += text;
        if (stderr.includes('serving')) stop.abort();
        return true;
      };
      const code = await runMcpCommand(['--root', '~/tilde-store'], { stderr: { write }, env: {}, cwd: join(folder.root, 'client'), signal: stop.signal });
      expect(code, stderr).toBe(0);
    } finally {
      process.env.HOME = home;
    }
    expect(stderr).toContain(`serving the store at ${join(folder.root, 'tilde-store')}`);
  });

  it('exits 2 when --store comes without --postgres, or --postgres is not a PostgreSQL URL, or --store is empty', async () => {
    const run = async (argv: string[]) => {
      let stderr = '';
      const code = await runMcpCommand(['--root', folder.root, ...argv], { stderr: { write: (text: string) => (stderr += text) }, env: {} });
      return { code, stderr };
    };
    expect(await run(['--store', 'team'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--store .*--postgres/) });
    expect(await run(['--postgres', 'mysql://db/agents'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/PostgreSQL URL/) });
    // A connection string in libpq's key=value form is refused without being echoed: it may hold a password.
    const keyValue = await run(['--postgres', 'host=db user=agent password=hunter2']);
    expect(keyValue).toMatchObject({ code: 2, stderr: expect.stringMatching(/PostgreSQL URL/) });
    expect(keyValue.stderr).not.toContain('hunter2');
    expect(await run(['--postgres', 'postgresql://nobody@/agents?host=/nonexistent-socket-folder', '--store', ' '])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--store must not be empty/) });
  });
});
