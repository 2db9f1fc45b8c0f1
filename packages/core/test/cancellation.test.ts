import { beforeEach, describe, expect, it, vi } from 'vitest';
import { MemMapFS, type SearchProvider } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = (search: SearchProvider = new WordSearch()) => MemMapFS.init(root, { codec: v8Codec(), search });

describe('await using', () => {
  it('closes the store when the block ends, even when it throws', async () => {
    let outside: MemMapFS | undefined;
    await expect(
      (async () => {
        await using fs = await open();
        outside = fs;
        await fs.appendMemory('kept across the close');
        throw new Error('the block failed');
      })(),
    ).rejects.toThrow('the block failed');
    expect(() => outside!.getKv('k')).toThrow(expect.objectContaining({ code: 'STORE_CLOSED' }));
    await using again = await open();
    expect((await again.queryMemory('kept')).map((h) => h.text)).toEqual(['kept across the close']);
  });
});

describe('AbortSignal', () => {
  it('queryMemory rejects with the reason of a signal that aborts while it waits for the search', async () => {
    const slow = new WordSearch();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const search = slow.search.bind(slow);
    slow.search = (request) => gate.then(() => search(request)) as never;
    const fs = await open(slow);
    await fs.appendMemory('alpha');
    const controller = new AbortController();
    const pending = fs.queryMemory('alpha', { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await expect(fs.queryMemory('alpha', { signal: AbortSignal.abort(new Error('gave up')) })).rejects.toThrow('gave up');
    release();
    expect(await fs.queryMemory('alpha', { signal: new AbortController().signal })).toHaveLength(1);
    await expect(fs.queryMemory('alpha', { signal: 'soon' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('AbortSignal') });
    await fs.close();
  });

  it('close waits for the search of an aborted queryMemory, which starts no further search', async () => {
    const provider = new WordSearch();
    const calls: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const search = provider.search.bind(provider);
    provider.search = (request) => {
      calls.push(`search ${request.namespace}`);
      return gate.then(() => {
        calls.push(`searched ${request.namespace}`);
        return search(request);
      }) as never;
    };
    (provider as SearchProvider).close = () => {
      calls.push('close');
    };
    const fs = await open(provider);
    await fs.appendMemory('alpha', [], { namespace: 'team' });
    await fs.appendMemory('alpha', [], { namespace: 'team/docs' });
    const controller = new AbortController();
    // Two namespaces: one search each, one after the other.
    const pending = fs.queryMemory('alpha', { namespace: 'team', signal: controller.signal });
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    const [first] = calls;
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    const closed = fs.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls).toEqual([first]);
    release();
    await closed;
    expect(calls).toEqual([first, first!.replace('search', 'searched'), 'close']);
  });

  it('watchState ends with the reason when its signal aborts, and stops buffering states', async () => {
    const fs = await open();
    const controller = new AbortController();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const state of fs.watchState({ signal: controller.signal })) {
        seen.push(state.status);
        if (state.status === 'second') controller.abort();
      }
    })();
    await fs.updateState({ ...fs.getState(), status: 'first' });
    await fs.updateState({ ...fs.getState(), status: 'second' });
    await expect(loop).rejects.toMatchObject({ name: 'AbortError' });
    await fs.updateState({ ...fs.getState(), status: 'third' });
    expect(seen).toEqual(['first', 'second']);
    const timed = fs.watchState({ signal: AbortSignal.timeout(20) });
    await expect(timed.next()).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(() => fs.watchState({ signal: 1 as never })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    await fs.close();
  });

  it('watchState aborted before its first next() ends with the reason and keeps no states', async () => {
    const fs = await open();
    const controller = new AbortController();
    const states = fs.watchState({ signal: controller.signal });
    controller.abort();
    for (let i = 0; i < 10; i++) await fs.updateState({ ...fs.getState(), status: `s${i}` });
    await expect(states.next()).rejects.toMatchObject({ name: 'AbortError' });
    expect(await states.next()).toEqual({ done: true, value: undefined });
    await expect(fs.watchState({ signal: AbortSignal.abort(new Error('gave up')) }).next()).rejects.toThrow('gave up');
    await fs.close();
  });
});
