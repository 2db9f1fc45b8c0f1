import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { once } from 'node:events';
import { call, spawnServer, startServer, tempFolder, type ServerSession } from './server-process.js';

// Runs in the PostgreSQL project of the test run (vitest.config.ts), whose global setup (in
// @memmapfs/wal-postgres's tests) starts a throwaway server and provides it as `postgres`.
declare module 'vitest' {
  export interface ProvidedContext {
    postgres: { readonly connectionString: string } | null;
  }
}

const postgres = inject('postgres');

interface MemoryOut {
  id: number;
  text: string;
}

if (!postgres) {
  it.skip('PostgreSQL is not installed here: the tests of memmapfs-mcp --postgres are skipped', () => undefined);
} else {
  describe('memmapfs-mcp --postgres: servers on several hosts share one store', () => {
    it('two servers, each with a cache folder of its own, on one store in PostgreSQL: what one remembers, the other reads and recalls at once', async () => {
      const store = `mcp-${randomUUID()}`;
      const folders = [await tempFolder(), await tempFolder()];
      const sessions: ServerSession[] = [];
      try {
        for (const [i, folder] of folders.entries()) sessions.push(await startServer(folder.root, `host-${i}`, ['--postgres', postgres.connectionString, '--store', store]));
        const [a, b] = sessions as [ServerSession, ServerSession];
        expect(a.stderr()).toContain(`serving the store '${store}' in PostgreSQL`);
        const { id } = await call<{ id: number }>(a, 'remember', { text: 'The deploy key rotates every ninety days', namespace: 'ops' });
        const got = await call<{ found: boolean; memory: MemoryOut }>(b, 'get_memory', { id });
        expect(got.found).toBe(true);
        expect(got.memory.text).toBe('The deploy key rotates every ninety days');
        const recalled = await call<{ hits: MemoryOut[] }>(b, 'recall', { query: 'deploy key', limit: 5 });
        expect(recalled.hits.map((hit) => hit.id)).toEqual([id]);
        await call(b, 'kv_set', { key: 'owner', value: { host: 'b' } });
        expect(await call(a, 'kv_get', { key: 'owner' })).toEqual({ key: 'owner', found: true, value: { host: 'b' } });
        await call(a, 'update_state', { state: { status: 'deploying' } });
        expect((await call<{ state: { status: string } }>(b, 'get_state')).state.status).toBe('deploying');
      } finally {
        for (const session of sessions) await session.close().catch(() => undefined);
        for (const folder of folders) await folder.remove();
      }
    }, 60_000);

    it('exits 1, saying what to check, when PostgreSQL cannot be reached', async () => {
      const folder = await tempFolder();
      try {
        const child = spawnServer(folder.root, ['--postgres', 'postgresql://nobody@/agents?host=/nonexistent-socket-folder', '--store', 'team']);
        let stderr = '';
        child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        const [code] = (await once(child, 'exit')) as [number | null];
        expect(code).toBe(1);
        expect(stderr).toMatch(/PostgreSQL.*\(IO_ERROR\)/s);
      } finally {
        await folder.remove();
      }
    }, 30_000);
  });
}
