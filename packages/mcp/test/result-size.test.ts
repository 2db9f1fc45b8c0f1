import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { call, callError, rawExchange, rawToolCall, startServer, tempFolder, type ServerSession } from './server-process.js';

interface MemoryOut { id: number; text: string; textTruncated?: true; textBytes?: number }

// A client reads a response as one message (the SDK's refuses one over 10 MiB and drops the connection).
describe('results that would not fit in one message', () => {
  let folder: Awaited<ReturnType<typeof tempFolder>>;
  let session: ServerSession;
  const big: number[] = [];
  let huge = 0;
  let metaHeavy: number[] = [];

  beforeAll(async () => {
    folder = await tempFolder();
    // Written through the library, which takes texts up to 16 MiB, beside the server.
    const store = await MemMapFS.init(folder.root);
    huge = await store.appendMemory(`huge memory ${'y'.repeat(6_000_000)}`, ['size'], { namespace: 'size' });
    for (let i = 0; i < 50; i++) big.push(await store.appendMemory(`meeting notes ${i} ${'lorem ipsum '.repeat(9_000)}`, ['size'], { namespace: 'big' }));
    await store.setKv('large', { blob: 'z'.repeat(3_000_000) });
    metaHeavy = [await store.appendMemory('before the heavy one', [], { namespace: 'heavy' }), await store.appendMemory('heavy meta', [], { namespace: 'heavy', meta: { blob: 'm'.repeat(2_500_000) } }), await store.appendMemory('after the heavy one', [], { namespace: 'heavy' })];
    await store.close();
    session = await startServer(folder.root);
  }, 120_000);

  afterAll(async () => {
    await session?.close();
    await folder?.remove();
  });

  it('returns a memory too long for one result with its text cut short, saying so, and the connection stays', async () => {
    const { found, memory } = await call<{ found: boolean; memory: MemoryOut }>(session, 'get_memory', { id: huge });
    expect(found).toBe(true);
    expect(memory.textTruncated).toBe(true);
    expect(memory.textBytes).toBe(6_000_000 + 'huge memory '.length);
    expect(memory.text.length).toBeGreaterThan(1_000_000);
    expect(memory.text.length).toBeLessThan(2_100_000);
    expect(`huge memory ${'y'.repeat(6_000_000)}`.startsWith(memory.text)).toBe(true);
    // Still connected.
    expect(await call(session, 'kv_get', { key: 'absent' })).toEqual({ key: 'absent', found: false });
  });

  it('pages recall and list_memories by size as well as by count: every memory once, none cut short', async () => {
    const seen: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page: { hits: MemoryOut[]; nextCursor?: string } = await call(session, 'recall', { query: 'meeting notes', namespace: 'big', limit: 50, ...(cursor ? { cursor } : {}) });
      expect(page.hits.length).toBeGreaterThan(0);
      expect(page.hits.every((hit) => hit.textTruncated === undefined)).toBe(true);
      seen.push(...page.hits.map((hit) => hit.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThan(1);
    expect([...seen].sort((a, b) => a - b)).toEqual(big);

    const listed: number[] = [];
    cursor = undefined;
    pages = 0;
    do {
      const page: { memories: MemoryOut[]; nextCursor?: string } = await call(session, 'list_memories', { namespace: 'big', limit: 50, ...(cursor ? { cursor } : {}) });
      listed.push(...page.memories.map((memory) => memory.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThan(1);
    expect(listed).toEqual(big);

    // A page of one memory too long for a result: that memory, cut short.
    const alone = await call<{ memories: MemoryOut[]; nextCursor?: string }>(session, 'list_memories', { namespace: 'size', limit: 5 });
    expect(alone.memories.map((memory) => [memory.id, memory.textTruncated])).toEqual([[huge, true]]);
  });

  it('refuses a KV value too large for one result, saying how to read it, and texts and values over what a call takes', async () => {
    expect(await callError(session, 'kv_get', { key: 'large' })).toMatch(/kv_get: the result is 2\.9 MiB as JSON, more than one tool result carries.*\(RESULT_TOO_LARGE\)/);
    expect(await callError(session, 'remember', { text: 'x'.repeat(1_200_000) })).toMatch(/remember: text is 1\.1 MiB; a tool call takes texts up to 1\.0 MiB.*\(TEXT_TOO_LARGE\)/);
    expect(await callError(session, 'kv_set', { key: 'k', value: 'v'.repeat(1_200_000) })).toMatch(/kv_set: value is 1\.1 MiB as JSON.*\(INVALID_ARGUMENT\)/);
    expect(await call(session, 'kv_get', { key: 'k' })).toEqual({ key: 'k', found: false });
  });

  it('leaves out a meta too long for one result (metaOmitted) rather than stop a listing at it, and refuses one that long from a call', async () => {
    const listed: number[] = [];
    let cursor: string | undefined;
    do {
      const page: { memories: Array<MemoryOut & { metaOmitted?: true; meta: unknown }>; nextCursor?: string } = await call(session, 'list_memories', { namespace: 'heavy', limit: 1, ...(cursor ? { cursor } : {}) });
      for (const memory of page.memories) {
        listed.push(memory.id);
        if (memory.id === metaHeavy[1]) expect([memory.metaOmitted, memory.meta, memory.text]).toEqual([true, {}, 'heavy meta']);
      }
      cursor = page.nextCursor;
    } while (cursor);
    expect(listed).toEqual(metaHeavy);
    expect((await call<{ memory: { metaOmitted?: true } }>(session, 'get_memory', { id: metaHeavy[1] })).memory.metaOmitted).toBe(true);
    expect(await callError(session, 'remember', { text: 'x', meta: { blob: 'q'.repeat(1_200_000) } })).toMatch(/remember: meta is 1\.1 MiB as JSON.*\(INVALID_ARGUMENT\)/);
  });

  it('refuses an update_state that would make the state too long for one result, before writing it', async () => {
    await call(session, 'update_state', { state: { a: 'x'.repeat(900_000) } });
    await call(session, 'update_state', { state: { b: 'y'.repeat(900_000) } });
    expect(await callError(session, 'update_state', { state: { c: 'z'.repeat(900_000) } })).toMatch(/update_state: the state with these changes is 2\.6 MiB as JSON.*\(INVALID_ARGUMENT\)/);
    const { state } = await call<{ state: Record<string, unknown> }>(session, 'get_state');
    expect(Object.keys(state)).not.toContain('c');
    await call(session, 'update_state', { state: { a: 'small again', b: 'and again' } });
  });

  it('says a value nested too deeply is so, however deep (no stack overflow on the way)', async () => {
    // (Written as raw JSON: a client's JSON.stringify may itself run out of stack on it.)
    const deep = `${'{"d":'.repeat(5_000)}1${'}'.repeat(5_000)}`;
    const answers = await rawExchange(folder.root, [rawToolCall(1, 'kv_set', `{"key":"deep","value":${deep}}`)]);
    expect(((answers.get(1)!.result!.content as Array<{ text: string }>)[0]!.text)).toMatch(/nested more than 64 levels deep/);
  });

  it('answers a request over what its client libraries read (10 MiB) with an error, and goes on serving', async () => {
    const answers = await rawExchange(folder.root, [rawToolCall(1, 'remember', JSON.stringify({ text: 'w'.repeat(11_000_000) })), rawToolCall(2, 'kv_get', '{"key":"absent"}')], 60_000);
    expect(((answers.get(1)!.result!.content as Array<{ text: string }>)[0]!.text)).toMatch(/\(TEXT_TOO_LARGE\)/);
    expect(answers.get(2)!.result!.structuredContent).toEqual({ key: 'absent', found: false });
  }, 90_000);
});
