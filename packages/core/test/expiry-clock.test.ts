import { beforeEach, expect, it, onTestFinished, vi } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = () => MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });

it('every process and every reopen agree on whether a memory has expired, even when the clock steps back', async () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  onTestFinished(() => {
    vi.useRealTimers();
  });
  const start = Date.now();
  const a = await open();
  const id = await a.appendMemory('a fact with a lifetime', ['ttl'], { ttlMs: 1_000 });
  const b = await open();
  const seen = async (fs: MemMapFS) => [(await fs.getMemory(id))?.id, (await fs.queryMemory('lifetime')).map((h) => h.id), (await fs.queryMemory('', { tags: ['ttl'] })).map((h) => h.id), fs.stats().memories];
  const live = [id, [id], [id], 1];
  const expired = [undefined, [], [], 0];

  vi.setSystemTime(start + 2_000);
  // Process A looks after the expiry; B does not look yet.
  expect(await seen(a)).toEqual(expired);
  // The clock steps back across the expiry (an NTP correction, say).
  vi.setSystemTime(start + 500);
  expect(await seen(b)).toEqual(live);
  expect(await seen(a)).toEqual(live);
  const c = await open();
  expect(await seen(c)).toEqual(live);
  // And forward again.
  vi.setSystemTime(start + 3_000);
  for (const fs of [a, b, c]) expect(await seen(fs)).toEqual(expired);
  // Closed while it is expired: the saved search index leaves it out.
  await Promise.all([a.close(), b.close(), c.close()]);
  const reopened = await open();
  expect(await seen(reopened)).toEqual(expired);
  vi.setSystemTime(start + 500);
  expect(await seen(reopened)).toEqual(live);
  vi.setSystemTime(start + 3_000);
  await reopened.close();
  // The clock steps back while no process has the store open.
  vi.setSystemTime(start + 500);
  const later = await open();
  expect(await seen(later)).toEqual(live);
  await later.close();
});

it('a memory whose expiry the index failed to take in is taken out at the next try', async () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  onTestFinished(() => {
    vi.useRealTimers();
  });
  let failRemoves = 0;
  class FlakySearch extends WordSearch {
    override remove(id: number): void {
      if (failRemoves > 0) {
        failRemoves--;
        throw new Error('the index is busy');
      }
      super.remove(id);
    }
  }
  const search = new FlakySearch();
  const fs = await MemMapFS.init(root, { codec: v8Codec(), search });
  const id = await fs.appendMemory('short-lived words', [], { ttlMs: 1_000 });
  await fs.appendMemory('long-lived words');
  // Indexed while it is live.
  expect(await fs.queryMemory('words')).toHaveLength(2);
  vi.setSystemTime(Date.now() + 2_000);
  failRemoves = 1;
  await expect(fs.queryMemory('words')).rejects.toMatchObject({ code: 'PROVIDER_FAILED' });
  expect(search.docs.has(id)).toBe(true);
  expect((await fs.queryMemory('words')).map((h) => h.text)).toEqual(['long-lived words']);
  expect(search.docs.has(id)).toBe(false);
  await fs.close();
});

it('a memory that expires while it waits for the index to load is not indexed and takes no result slot', async () => {
  const setup = await open();
  await setup.appendMemory('banana bread, live');
  await setup.close();
  vi.useFakeTimers({ toFake: ['Date'] });
  onTestFinished(() => {
    vi.useRealTimers();
  });
  const search = new WordSearch();
  const fs = await MemMapFS.init(root, { codec: v8Codec(), search });
  // Reopened, the index is not loaded: this change waits for it.
  const shortLived = await fs.appendMemory('banana banana banana, short-lived', [], { ttlMs: 1_000 });
  vi.setSystemTime(Date.now() + 2_000);
  expect((await fs.queryMemory('banana', { limit: 1 })).map((h) => h.text)).toEqual(['banana bread, live']);
  expect(search.docs.has(shortLived)).toBe(false);
  await fs.close();
});

it('a memory live again after the clock stepped back, which the index failed to take back, is taken back at the next try', async () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  onTestFinished(() => {
    vi.useRealTimers();
  });
  let failAdds = 0;
  class FlakySearch extends WordSearch {
    override add(doc: Parameters<WordSearch['add']>[0]): void {
      if (failAdds > 0) {
        failAdds--;
        throw new Error('the index is busy');
      }
      super.add(doc);
    }
  }
  const start = Date.now();
  const search = new FlakySearch();
  const fs = await MemMapFS.init(root, { codec: v8Codec(), search });
  const id = await fs.appendMemory('returning words', [], { ttlMs: 1_000 });
  expect(await fs.queryMemory('returning')).toHaveLength(1);
  vi.setSystemTime(start + 2_000);
  expect(await fs.queryMemory('returning')).toEqual([]);
  vi.setSystemTime(start + 500);
  failAdds = 1;
  await expect(fs.queryMemory('returning')).rejects.toMatchObject({ code: 'PROVIDER_FAILED' });
  expect((await fs.queryMemory('returning')).map((h) => h.id)).toEqual([id]);
  await fs.close();
});

it('a memory left out of the index as it expired, before any query looked, is back once the clock steps back, and after a reopen', async () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  onTestFinished(() => {
    vi.useRealTimers();
  });
  const start = Date.now();
  const search = new WordSearch();
  const fs = await MemMapFS.init(root, { codec: v8Codec(), search });
  // A query looks at the expiries now, at `start`.
  expect(await fs.queryMemory('fleeting')).toEqual([]);
  const id = await fs.appendMemory('a fleeting fact', [], { ttlMs: 1_000 });
  // Past its expiry before the change reaches the index, which therefore leaves it out.
  vi.setSystemTime(start + 2_000);
  // (Timers are real: the change reaches the index in the background, no query asking.)
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(search.docs.has(id)).toBe(false);
  // The clock steps back to before its expiry, though after the last query's look.
  vi.setSystemTime(start + 500);
  expect((await fs.queryMemory('fleeting')).map((h) => h.id)).toEqual([id]);
  await fs.close();
  const reopened = await open();
  expect((await reopened.queryMemory('fleeting')).map((h) => h.id)).toEqual([id]);
  await reopened.close();
});
