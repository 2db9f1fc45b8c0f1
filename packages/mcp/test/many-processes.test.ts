import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startServer, tempFolder, type ServerSession } from './server-process.js';

interface MemoryOut { id: number; text: string; namespace: string; meta: Record<string, unknown> }

describe('several server processes on one store', () => {
  let folder: Awaited<ReturnType<typeof tempFolder>>;
  let sessions: ServerSession[] = [];

  beforeAll(async () => {
    folder = await tempFolder();
    // The first creates the store; the others open it, all at once.
    sessions = [await startServer(folder.root, 'client-0')];
    sessions.push(...(await Promise.all([1, 2].map((i) => startServer(folder.root, `client-${i}`)))));
  });

  afterAll(async () => {
    await Promise.all(sessions.map((session) => session.close()));
    await folder?.remove();
  });

  it('loses nothing of concurrent remember calls from every client, and each client sees them all', async () => {
    const perClient = 30;
    const calls = sessions.flatMap((session, s) =>
      Array.from({ length: perClient }, (_, i) => call<{ id: number }>(session, 'remember', { text: `Observation ${i} from client ${s}: the kettle whistles`, namespace: 'shared', meta: { client: s, i } })));
    const ids = (await Promise.all(calls)).map(({ id }) => id);
    expect(new Set(ids).size).toBe(sessions.length * perClient);

    for (const session of sessions) {
      // Every memory, by id, through this process.
      const memories = await Promise.all(ids.map((id) => call<{ found: boolean; memory: MemoryOut }>(session, 'get_memory', { id })));
      expect(memories.every((m) => m.found)).toBe(true);
      expect(new Set(memories.map((m) => `${m.memory.meta.client}/${m.memory.meta.i}`)).size).toBe(ids.length);

      // Every memory, by listing, a page at a time.
      const listed: number[] = [];
      let cursor: string | undefined;
      do {
        const page: { memories: MemoryOut[]; nextCursor?: string } = await call(session, 'list_memories', { namespace: 'shared', limit: 50, ...(cursor ? { cursor } : {}) });
        listed.push(...page.memories.map((memory) => memory.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(listed).toEqual([...ids].sort((a, b) => a - b));

      // Every memory, by search: each client's 30 are found in every process.
      for (const client of sessions.keys()) {
        const found: number[] = [];
        cursor = undefined;
        do {
          const page: { hits: MemoryOut[]; nextCursor?: string } = await call(session, 'recall', { query: 'kettle whistles', filter: { client }, limit: 50, ...(cursor ? { cursor } : {}) });
          found.push(...page.hits.map((hit) => hit.id));
          cursor = page.nextCursor;
        } while (cursor);
        expect(found.sort((a, b) => a - b)).toEqual(ids.slice(client * perClient, (client + 1) * perClient).sort((a, b) => a - b));
      }
    }
  });

  it('shares KV values between processes', async () => {
    const [a, b, c] = sessions as [ServerSession, ServerSession, ServerSession];
    await call(a, 'kv_set', { key: 'plan', value: { step: 1, owner: 'a' } });
    expect(await call(b, 'kv_get', { key: 'plan' })).toEqual({ key: 'plan', found: true, value: { step: 1, owner: 'a' } });
    await call(b, 'kv_set', { key: 'plan', value: { step: 2, owner: 'b' } });
    expect(await call(c, 'kv_get', { key: 'plan' })).toEqual({ key: 'plan', found: true, value: { step: 2, owner: 'b' } });
    expect(await call(c, 'kv_delete', { key: 'plan' })).toEqual({ key: 'plan', deleted: true });
    expect(await call(a, 'kv_get', { key: 'plan' })).toEqual({ key: 'plan', found: false });
  });

  it("tells a client subscribed to memmapfs://state of another process's state change", async () => {
    const [watcher, writer, other] = sessions as [ServerSession, ServerSession, ServerSession];
    const updates: string[] = [];
    let heard!: () => void;
    const firstUpdate = new Promise<void>((resolve) => (heard = resolve));
    watcher.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => {
      updates.push(notification.params.uri);
      heard();
    });
    await watcher.client.subscribeResource({ uri: 'memmapfs://state' });
    // A client that did not subscribe hears nothing.
    const otherUpdates: string[] = [];
    other.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => void otherUpdates.push(notification.params.uri));

    await call(writer, 'update_state', { state: { status: 'waiting for user', lastUpdatedId: 42, extra: { from: 'writer' } } });
    await firstUpdate;
    expect(updates[0]).toBe('memmapfs://state');
    const read = await watcher.client.readResource({ uri: 'memmapfs://state' });
    expect(JSON.parse((read.contents[0] as { text: string }).text)).toEqual({ status: 'waiting for user', activeMemoryCount: 0, lastUpdatedId: 42, extra: { from: 'writer' } });
    expect(await call(other, 'get_state')).toEqual({ state: { status: 'waiting for user', activeMemoryCount: 0, lastUpdatedId: 42, extra: { from: 'writer' } } });

    // After unsubscribing, changes are no longer announced.
    await watcher.client.unsubscribeResource({ uri: 'memmapfs://state' });
    const heardBefore = updates.length;
    await call(writer, 'update_state', { state: { status: 'done' } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(updates.length).toBe(heardBefore);
    expect(otherUpdates).toEqual([]);
    await expect(watcher.client.subscribeResource({ uri: 'memmapfs://nothing' })).rejects.toThrow(/memmapfs:\/\/state/);
  });

  it('keeps every field when processes update different fields of the state at once', async () => {
    const [a, b] = sessions;
    const rounds = 25;
    await Promise.all([
      (async () => {
        for (let i = 1; i <= rounds; i++) await call(a!, 'update_state', { state: { activeMemoryCount: i } });
      })(),
      (async () => {
        for (let i = 1; i <= rounds; i++) await call(b!, 'update_state', { state: { extra: { round: i }, lastUpdatedId: 1000 + i } });
      })(),
    ]);
    // Each process's last change stands: none was overwritten by the other's merge of an older state.
    const { state } = (await call(a!, 'get_state')) as { state: Record<string, unknown> };
    expect(state).toMatchObject({ activeMemoryCount: rounds, lastUpdatedId: 1000 + rounds, extra: { round: rounds } });
  });
});
