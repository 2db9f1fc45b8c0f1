import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { runCli, type CliIo } from '../src/index.js';
import { stdinOf, type Run } from './harness.js';

// Runs in the PostgreSQL project of the test run (vitest.config.ts), whose global setup (in
// @memmapfs/wal-postgres's tests) starts a throwaway server and provides it as `postgres`.
declare module 'vitest' {
  export interface ProvidedContext {
    postgres: { readonly connectionString: string } | null;
  }
}

const postgres = inject('postgres');

/** Runs the CLI in this process with `env`, capturing what it writes. */
async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    env,
    stdin: stdinOf(''),
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

const folders: string[] = [];
afterEach(async () => {
  await Promise.all(folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })));
});
const cacheFolder = async () => {
  const folder = await mkdtemp(join(tmpdir(), 'memmapfs-cli-pg-'));
  folders.push(folder);
  return join(folder, 'cache');
};

describe('memmapfs --postgres: usage', () => {
  it('refuses a value that is not a PostgreSQL URL without echoing it, --store alone, and an empty --store (exit 2)', async () => {
    const root = await cacheFolder();
    const keyValue = await run(['--root', root, 'stats', '--postgres', 'host=db password=hunter2']);
    expect(keyValue.code).toBe(2);
    expect(keyValue.stderr).toMatch(/PostgreSQL URL/);
    expect(keyValue.stderr).not.toContain('hunter2');
    expect(await run(['--root', root, 'stats', '--store', 'team'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--store names a store in PostgreSQL/) });
    expect(await run(['--root', root, 'stats', '--postgres', 'postgresql://nobody@/x', '--store', ' '])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--store must not be empty/) });
  });
});

if (!postgres) {
  it.skip('PostgreSQL is not installed here: the tests of memmapfs --postgres are skipped', () => undefined);
} else {
  const { connectionString } = postgres;

  describe('memmapfs --postgres: a store in PostgreSQL, a cache folder per host', () => {
    it('what one cache writes, another reads, queries and lists; KV and state too; MEMMAPFS_POSTGRES and MEMMAPFS_STORE stand for the options', async () => {
      const store = `cli-${randomUUID()}`;
      const [a, b] = [await cacheFolder(), await cacheFolder()];
      const on = (root: string) => ['--root', root, '--postgres', connectionString, '--store', store];
      // Before init, the store is not in PostgreSQL: a command on it says so.
      const early = await run([...on(a), 'stats']);
      expect(early.code).toBe(1);
      expect(early.stderr).toMatch(/memmapfs init --postgres[\s\S]*STORE_NOT_FOUND/);
      expect((await run([...on(a), 'init'])).code).toBe(0);
      const appended = await run([...on(a), 'append', 'The deploy key rotates every ninety days', '--tag', 'ops', '--json']);
      expect(appended.stderr).toBe('');
      expect(appended.code).toBe(0);
      const { id } = JSON.parse(appended.stdout) as { id: number };
      const got = await run([...on(b), 'get', String(id), '--json']);
      expect(got.code).toBe(0);
      expect(JSON.parse(got.stdout)).toMatchObject({ id, text: 'The deploy key rotates every ninety days', tags: ['ops'] });
      const found = await run([...on(b), 'query', 'deploy key', '--json']);
      expect((JSON.parse(found.stdout) as Array<{ id: number }>).map((hit) => hit.id)).toEqual([id]);
      expect((await run([...on(b), 'kv', 'set', 'owner', '"b"'])).code).toBe(0);
      const env = { MEMMAPFS_POSTGRES: connectionString, MEMMAPFS_STORE: store };
      expect(JSON.parse((await run(['--root', a, 'kv', 'get', 'owner', '--json'], env)).stdout)).toEqual({ key: 'owner', value: 'b' });
      expect((await run([...on(a), 'state', 'set', '{"status":"deploying"}'])).code).toBe(0);
      expect(JSON.parse((await run(['--root', b, 'state', 'get', '--json'], env)).stdout)).toMatchObject({ status: 'deploying' });
      // A snapshot kept with the log: a new host's cache starts from it.
      const snapshot = await run([...on(a), 'snapshot', '--json']);
      expect(snapshot.code).toBe(0);
      expect(JSON.parse(snapshot.stdout)).toMatchObject({ lsn: expect.any(Number), bytes: expect.any(Number) });
      expect(JSON.parse((await run([...on(await cacheFolder()), 'get', String(id), '--json'])).stdout)).toMatchObject({ id, text: 'The deploy key rotates every ninety days' });
      // Another store name is another store, which was never created.
      const other = await run(['--root', await cacheFolder(), '--postgres', connectionString, '--store', `${store}-other`, 'stats', '--json']);
      expect(other.code).toBe(1);
      expect(JSON.parse(other.stderr)).toMatchObject({ error: { code: 'STORE_NOT_FOUND' } });
    }, 60_000);

    it('verify and repair, which read a local store\'s files, and compact --erase are refused on a shared log, and snapshot on a local store, saying why; compact runs', async () => {
      const root = await cacheFolder();
      const on = ['--root', root, '--postgres', connectionString, '--store', `cli-${randomUUID()}`];
      expect((await run([...on, 'init'])).code).toBe(0);
      expect((await run([...on, 'append', 'one'])).code).toBe(0);
      expect((await run([...on, 'help', 'verify'])).code).toBe(0);
      for (const command of [['verify'], ['repair', '--yes']]) {
        const refused = await run([...on, ...command]);
        expect(refused.code).toBe(2);
        expect(refused.stderr).toMatch(/local store/);
      }
      // A local store keeps no snapshot: its own checkpoints serve.
      const localRoot = await cacheFolder();
      expect((await run(['--root', localRoot, 'init'])).code).toBe(0);
      expect(await run(['--root', localRoot, 'snapshot'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/NOT_SUPPORTED/) });
      const erase = await run([...on, 'compact', '--erase', '--json']);
      expect(erase.code).toBe(1);
      expect(erase.stderr).toMatch(/NOT_SUPPORTED/);
      const compact = await run([...on, 'compact', '--json']);
      expect(compact.code).toBe(0);
      expect(JSON.parse(compact.stdout)).toMatchObject({ chunksRewritten: 0, expiredDeleted: 0 });
    }, 60_000);
  });
}
