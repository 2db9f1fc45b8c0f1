import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { call, callError, rawExchange, rawToolCall, serverKind, startServer, tempFolder, type ServerSession } from './server-process.js';

interface MemoryOut { id: number; text: string; tags: string[]; namespace: string; meta: Record<string, unknown>; createdAt: string; updatedAt: string; expiresAt?: string }
interface HitOut extends MemoryOut { score: number }
interface RecallOut { hits: HitOut[]; nextCursor?: string; truncated?: boolean }
interface ListOut { memories: MemoryOut[]; nextCursor?: string }

/** The files under `folder` (every file of the store, read whole) that hold `text`. */
async function filesHolding(folder: string, text: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) found.push(...(await filesHolding(path, text)));
    else if ((await readFile(path)).includes(Buffer.from(text))) found.push(path);
  }
  return found;
}

describe(`the MCP server (${serverKind === 'dist' ? 'built dist/bin.js' : 'src/bin.ts through tsx'})`, () => {
  let folder: Awaited<ReturnType<typeof tempFolder>>;
  let session: ServerSession;

  beforeAll(async () => {
    folder = await tempFolder();
    session = await startServer(folder.root);
  });

  afterAll(async () => {
    await session?.close();
    await folder?.remove();
  });

  it('lists exactly its tools, with schemas, and the state resource', async () => {
    const { tools } = await session.client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([
      'forget', 'get_memory', 'get_state', 'kv_delete', 'kv_get', 'kv_list', 'kv_set', 'list_memories', 'recall', 'remember', 'update_memory', 'update_state',
    ]);
    for (const tool of tools) {
      expect(tool.description, tool.name).toBeTruthy();
      expect(tool.outputSchema, tool.name).toBeDefined();
    }
    const remember = tools.find((tool) => tool.name === 'remember')!;
    expect(remember.inputSchema.required).toEqual(['text']);
    // (The state's fields are told to clients, though the object is handed on as sent.)
    const updateState = tools.find((tool) => tool.name === 'update_state')!;
    expect(updateState.inputSchema.properties?.state).toMatchObject({ type: 'object', properties: { status: { type: 'string' }, lastUpdatedId: { type: 'number' }, extra: { type: 'object' } } });
    expect(session.client.getServerCapabilities()?.resources?.subscribe).toBe(true);
    const { resources } = await session.client.listResources();
    expect(resources).toEqual([expect.objectContaining({ uri: 'memmapfs://state', mimeType: 'application/json' })]);
    expect(session.stderr()).toMatch(/serving the store at .*store over stdio/);
  });

  it('remembers, recalls, gets, updates and forgets a memory', async () => {
    const { id } = await call<{ id: number }>(session, 'remember', {
      text: 'The user prefers dark mode in every editor', tags: ['preference', 'ui'], namespace: 'user-42', meta: { source: 'chat', turn: 3 },
    });
    expect(id).toBeGreaterThan(0);

    const recalled = await call<RecallOut>(session, 'recall', { query: 'dark mode', namespace: 'user-42' });
    expect(recalled.hits).toHaveLength(1);
    expect(recalled.hits[0]).toMatchObject({ id, text: 'The user prefers dark mode in every editor', tags: ['preference', 'ui'], namespace: 'user-42', meta: { source: 'chat', turn: 3 } });
    expect(recalled.hits[0]!.score).toBeGreaterThan(0);
    expect(Date.parse(recalled.hits[0]!.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(recalled.nextCursor).toBeUndefined();
    expect((await call<RecallOut>(session, 'recall', { query: 'dark mode', tags: ['preference', 'missing'] })).hits).toEqual([]);
    expect((await call<RecallOut>(session, 'recall', { query: 'dark mode', filter: { source: 'chat', turn: { $gte: 3 } } })).hits.map((hit) => hit.id)).toEqual([id]);
    expect((await call<RecallOut>(session, 'recall', { query: 'dark mode', filter: { turn: { $gt: 3 } } })).hits).toEqual([]);

    expect(await call(session, 'get_memory', { id })).toEqual({ found: true, memory: recalled.hits.map(({ score: _score, ...memory }) => memory)[0] });

    const { memory } = await call<{ memory: MemoryOut }>(session, 'update_memory', { id, text: 'The user prefers light mode now', meta: { source: 'settings' } });
    expect(memory).toMatchObject({ id, text: 'The user prefers light mode now', tags: ['preference', 'ui'], namespace: 'user-42', meta: { source: 'settings' } });
    expect((await call<RecallOut>(session, 'recall', { query: 'light mode' })).hits.map((hit) => hit.id)).toEqual([id]);

    expect(await call(session, 'forget', { id })).toEqual({ id, deleted: true });
    expect(await call(session, 'forget', { id })).toEqual({ id, deleted: false });
    expect(await call(session, 'get_memory', { id })).toEqual({ found: false });
    expect(await callError(session, 'update_memory', { id, text: 'again' })).toMatch(/no memory with id \d+.*\(MEMORY_NOT_FOUND\)$/s);
  });

  it('forgets a memory with erase: what it said is in no file of the store afterwards', async () => {
    const { id } = await call<{ id: number }>(session, 'remember', { text: 'My bank PIN is heron-5521, forget it soon' });
    await call(session, 'remember', { text: 'A memory that stays' });
    expect(await filesHolding(folder.root, 'heron-5521')).not.toEqual([]);
    expect(await call(session, 'forget', { id, erase: true })).toEqual({ id, deleted: true, erased: true });
    expect(await filesHolding(folder.root, 'heron-5521')).toEqual([]);
    expect((await call<RecallOut>(session, 'recall', { query: 'memory that stays' })).hits).toHaveLength(1);
    // Already gone: nothing to delete, and the erase still runs.
    expect(await call(session, 'forget', { id, erase: true })).toEqual({ id, deleted: false, erased: true });
  });

  it('gives a memory a time to live', async () => {
    const { id } = await call<{ id: number }>(session, 'remember', { text: 'A short-lived note', ttlMs: 60_000 });
    const { memory } = await call<{ memory: MemoryOut }>(session, 'get_memory', { id });
    expect(Date.parse(memory.expiresAt!) - Date.parse(memory.createdAt)).toBe(60_000);
  });

  it('refuses bad input with tool errors that say what is wrong', async () => {
    expect(await callError(session, 'remember', {})).toMatch(/text/);
    expect(await callError(session, 'remember', { text: '' })).toMatch(/text/);
    expect(await callError(session, 'remember', { text: '   ' })).toMatch(/text must not be empty.*\(INVALID_ARGUMENT\)/);
    expect(await callError(session, 'remember', { text: 'x', tags: 'a' })).toMatch(/tags/);
    expect(await callError(session, 'remember', { text: 'x', meta: ['a'] })).toMatch(/meta/);
    // Handed on as sent, so core refuses (rather than the key being dropped on the way).
    expect(await callError(session, 'remember', { text: 'x', meta: JSON.parse('{"__proto__":1}') as unknown })).toMatch(/__proto__.*\(INVALID_ARGUMENT\)/);
    expect(await callError(session, 'update_state', { state: JSON.parse('{"__proto__":{"x":1},"status":"s"}') as unknown })).toMatch(/__proto__.*\(INVALID_ARGUMENT\)/);
    expect(await callError(session, 'update_state', { state: { status: 5 } })).toMatch(/status/);
    expect(await callError(session, 'update_state', { state: ['a'] })).toMatch(/state/);
    expect(await callError(session, 'remember', { text: 'x', ttlMs: -5 })).toMatch(/ttlMs/);
    expect(await callError(session, 'recall', { query: 'x', limit: 0 })).toMatch(/limit/);
    expect(await callError(session, 'recall', { query: 'x', limit: 51 })).toMatch(/limit/);
    expect(await callError(session, 'recall', { query: 'x', filter: { n: { $regex: 'a' } } })).toMatch(/\$regex.*\(INVALID_ARGUMENT\)/);
    expect(await callError(session, 'recall', { query: 'x', cursor: 'not a cursor' })).toMatch(/cursor.*\(INVALID_CURSOR\)/);
    expect(await callError(session, 'get_memory', { id: -1 })).toMatch(/id/);
    expect(await callError(session, 'get_memory', { id: 1.5 })).toMatch(/id/);
    expect(await callError(session, 'update_memory', { id: 1 })).toMatch(/at least one of text, tags and meta.*\(INVALID_ARGUMENT\)/);
    expect(await callError(session, 'list_memories', { cursor: 'bogus' })).toMatch(/list_memories: cursor is not one that list_memories returned.*\(INVALID_CURSOR\)/);
    expect(await callError(session, 'kv_list', { cursor: 'bogus' })).toMatch(/kv_list: cursor is not one that kv_list returned.*\(INVALID_CURSOR\)/);
    expect(await callError(session, 'kv_set', { key: 'k' })).toMatch(/value is required/);
    expect(await callError(session, 'kv_set', { key: '', value: 1 })).toMatch(/key/);
    expect(await callError(session, 'update_state', { state: { status: 7 } })).toMatch(/status/);
    expect(await callError(session, 'update_state', {})).toMatch(/state/);
  });

  it('pages through recall with a cursor: disjoint pages that cover every hit', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 23; i++) ids.push((await call<{ id: number }>(session, 'remember', { text: `Paging note number ${i} about zebras`, namespace: 'paging', meta: { n: i } })).id);

    const seen: number[] = [];
    let cursor: string | undefined;
    const sizes: number[] = [];
    do {
      const page: RecallOut = await call<RecallOut>(session, 'recall', { query: 'zebras', namespace: 'paging', limit: 10, ...(cursor ? { cursor } : {}) });
      sizes.push(page.hits.length);
      seen.push(...page.hits.map((hit) => hit.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(sizes).toEqual([10, 10, 3]);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort((a, b) => a - b)).toEqual(ids);

    const filtered = await call<RecallOut>(session, 'recall', { query: 'zebras', filter: { n: { $gte: 10, $lt: 20 } }, limit: 4 });
    const next = await call<RecallOut>(session, 'recall', { query: 'zebras', filter: { n: { $lt: 20, $gte: 10 } }, limit: 4, cursor: filtered.nextCursor });
    const last = await call<RecallOut>(session, 'recall', { query: 'zebras', filter: { n: { $gte: 10, $lt: 20 } }, limit: 4, cursor: next.nextCursor });
    expect(last.nextCursor).toBeUndefined();
    expect([...filtered.hits, ...next.hits, ...last.hits].map((hit) => hit.meta.n).sort((a, b) => (a as number) - (b as number))).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);

    // A cursor goes with the arguments of the call that returned it.
    expect(await callError(session, 'recall', { query: 'giraffes', namespace: 'paging', cursor: filtered.nextCursor })).toMatch(/other arguments.*\(INVALID_CURSOR\)/);

    // list_memories: oldest first, every one once.
    const listed: number[] = [];
    cursor = undefined;
    do {
      const page: ListOut = await call<ListOut>(session, 'list_memories', { namespace: 'paging', limit: 7, ...(cursor ? { cursor } : {}) });
      expect(page.memories.length).toBeLessThanOrEqual(7);
      listed.push(...page.memories.map((memory) => memory.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(listed).toEqual(ids);
    // Its cursor goes with its arguments too (another namespace would skip memories).
    const firstPage = await call<ListOut>(session, 'list_memories', { namespace: 'paging', limit: 7 });
    expect(await callError(session, 'list_memories', { namespace: 'other', limit: 7, cursor: firstPage.nextCursor })).toMatch(/other arguments.*\(INVALID_CURSOR\)/);
    expect(await callError(session, 'recall', { query: 'zebras', namespace: 'paging', cursor: firstPage.nextCursor })).toMatch(/not one that recall returned.*\(INVALID_CURSOR\)/);
    expect((await call<ListOut>(session, 'list_memories', { namespace: 'paging', filter: { n: { $in: [1, 2] } } })).memories.map((m) => m.meta.n)).toEqual([1, 2]);
  });

  it('keeps the agent state and KV values', async () => {
    const initial = await call<{ state: Record<string, unknown> }>(session, 'get_state');
    expect(initial.state).toEqual({ status: 'idle', activeMemoryCount: 0, lastUpdatedId: 0, extra: {} });
    const updated = await call<{ state: Record<string, unknown> }>(session, 'update_state', { state: { status: 'running', extra: { task: 'triage' }, owner: 'agent-1' } });
    expect(updated.state).toEqual({ status: 'running', activeMemoryCount: 0, lastUpdatedId: 0, extra: { task: 'triage' }, owner: 'agent-1' });
    expect(await call(session, 'get_state')).toEqual(updated);
    const read = await session.client.readResource({ uri: 'memmapfs://state' });
    expect(JSON.parse((read.contents[0] as { text: string }).text)).toEqual(updated.state);

    expect(await call(session, 'kv_get', { key: 'settings' })).toEqual({ key: 'settings', found: false });
    expect(await call(session, 'kv_set', { key: 'settings', value: { theme: 'dark', sizes: [1, 2], none: null } })).toEqual({ key: 'settings' });
    expect(await call(session, 'kv_get', { key: 'settings' })).toEqual({ key: 'settings', found: true, value: { theme: 'dark', sizes: [1, 2], none: null } });
    expect(await call(session, 'kv_set', { key: 'nothing', value: null })).toEqual({ key: 'nothing' });
    expect(await call(session, 'kv_get', { key: 'nothing' })).toEqual({ key: 'nothing', found: true, value: null });
    expect(await call(session, 'kv_delete', { key: 'settings' })).toEqual({ key: 'settings', deleted: true });
    expect(await call(session, 'kv_delete', { key: 'settings' })).toEqual({ key: 'settings', deleted: false });
    expect(await call(session, 'kv_get', { key: 'settings' })).toEqual({ key: 'settings', found: false });
    // (ifAbsent: set only when no process has set the key; set says whether this call did.)
    expect(await call(session, 'kv_set', { key: 'owner', value: 'agent a', ifAbsent: true })).toEqual({ key: 'owner', set: true });
    expect(await call(session, 'kv_set', { key: 'owner', value: 'agent b', ifAbsent: true })).toEqual({ key: 'owner', set: false });
    expect(await call(session, 'kv_get', { key: 'owner' })).toEqual({ key: 'owner', found: true, value: 'agent a' });
    expect(await call(session, 'kv_set', { key: 'owner', value: 'agent b', ifAbsent: false })).toEqual({ key: 'owner', set: true });
    expect(await call(session, 'kv_get', { key: 'owner' })).toEqual({ key: 'owner', found: true, value: 'agent b' });
    expect(await callError(session, 'kv_set', { key: 'owner', value: 1, ifAbsent: 'yes' })).toMatch(/ifAbsent/);
    expect(await call(session, 'kv_delete', { key: 'owner' })).toEqual({ key: 'owner', deleted: true });

    for (const key of ['user/b', 'user/a', 'user/c', 'team/x']) await call(session, 'kv_set', { key, value: 1 });
    const first = await call(session, 'kv_list', { prefix: 'user/', limit: 2 });
    expect(first).toEqual({ keys: ['user/a', 'user/b'], nextCursor: expect.any(String) });
    expect(await call(session, 'kv_list', { prefix: 'user/', limit: 2, cursor: (first as { nextCursor: string }).nextCursor })).toEqual({ keys: ['user/c'] });
    expect(await call(session, 'kv_list', {})).toEqual({ keys: ['nothing', 'team/x', 'user/a', 'user/b', 'user/c'] });
    expect(await callError(session, 'kv_list', { limit: 500 })).toMatch(/limit/);
    // A kv_list cursor goes with its prefix.
    expect(await callError(session, 'kv_list', { prefix: 'team/', limit: 2, cursor: (first as { nextCursor: string }).nextCursor })).toMatch(/other arguments.*\(INVALID_CURSOR\)/);
  });

  it('refuses arguments a tool does not take, naming them and the ones it takes, rather than going on without them', async () => {
    expect(await callError(session, 'remember', { text: 'x', metadata: { source: 'slack' } })).toMatch(/"metadata" is not an argument of this tool; it takes text, tags, namespace, meta, ttlMs/);
    expect(await callError(session, 'remember', { text: 'x', ttl: 5 })).toMatch(/"ttl" is not an argument/);
    expect(await callError(session, 'recall', { query: 'x', namespaces: 'alice', tag: 'a' })).toMatch(/"namespaces", "tag" are not arguments of this tool/);
    expect(await callError(session, 'update_memory', { id: 1, namespace: 'other' })).toMatch(/"namespace" is not an argument/);
    expect(await callError(session, 'kv_set', { key: 'k', value: 1, ttlMs: 5 })).toMatch(/"ttlMs" is not an argument/);
    expect(await callError(session, 'get_state', { verbose: true })).toMatch(/"verbose" is not an argument/);
    expect(await call(session, 'kv_get', { key: 'k' })).toEqual({ key: 'k', found: false });
    const { tools } = await session.client.listTools();
    for (const tool of tools) expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);
    // A namespace takes in the namespaces beneath it, and the model is told so.
    const recall = tools.find((tool) => tool.name === 'recall')!;
    expect((recall.inputSchema.properties?.namespace as { description: string }).description).toMatch(/or beneath it/);
  });

  it('refuses numbers beyond what JSON carries (1e400 would be stored as Infinity and read back as null), naming where they are', async () => {
    const raw = await tempFolder();
    try {
      const answers = await rawExchange(raw.root, [
        rawToolCall(1, 'kv_set', '{"key":"k","value":{"a":[1,1e400]}}'),
        rawToolCall(2, 'remember', '{"text":"t","meta":{"x":-1e400}}'),
        rawToolCall(3, 'update_state', '{"state":{"mine":1e400}}'),
        rawToolCall(4, 'kv_get', '{"key":"k"}'),
        rawToolCall(5, 'kv_set', '{"key":"k2","value":1e300}'),
      ]);
      const text = (id: number) => ((answers.get(id)!.result!.content as Array<{ text: string }>)[0]!.text);
      expect(answers.get(1)!.result!.isError).toBe(true);
      expect(text(1)).toMatch(/value\.a\[1\] is a number beyond what JSON carries/);
      expect(text(2)).toMatch(/meta\.x is a number beyond what JSON carries/);
      expect(text(3)).toMatch(/state\.mine is a number beyond what JSON carries/);
      expect(answers.get(4)!.result!.structuredContent).toEqual({ key: 'k', found: false });
      expect(answers.get(5)!.result!.isError).toBeFalsy();
    } finally {
      await raw.remove();
    }
  });
});
