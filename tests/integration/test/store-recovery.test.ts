import { appendFile, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS, type CodecOption, type SearchOption } from '@memmapfs/core';
import { decodeWalHeader, frameSeed, scanLog, WAL_HEADER_SIZE } from '@memmapfs/wal';
import { cbor } from '@memmapfs/codec-cbor';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { orama } from '@memmapfs/search-orama';
import { segmentSearch } from '@memmapfs/search-segments';
import { useTempStore } from './support/temp-store.js';

const tempStore = useTempStore('it');
let dir: string;
let root: string;
beforeEach(() => {
  ({ dir, root } = tempStore());
});

const combinations: Array<[string, () => SearchOption, () => CodecOption]> = [
  ['flexsearch + msgpack', () => flexsearch(), () => msgpack()],
  ['flexsearch + cbor', () => flexsearch(), () => cbor()],
  ['orama + msgpack', () => orama(), () => msgpack()],
  ['orama + cbor', () => orama(), () => cbor()],
  ['segments + msgpack', () => segmentSearch(), () => msgpack()],
  ['segments (a file every 8 memories) + cbor', () => segmentSearch({ flushAfter: 8, mergeFactor: 2 }), () => cbor()],
];

describe.each(combinations)('reopen with %s', (_name, search, codec) => {
  it('keeps every memory, the state, KV values and streams', async () => {
    const fs = await MemMapFS.init(root, { search: search(), codec: codec() });
    const ids: number[] = [];
    for (let i = 0; i < 50; i++) ids.push(await fs.appendMemory(`note ${i}: the deployment window is ${i % 2 ? 'Friday' : 'Monday'} ✓`, [`n${i % 5}`, 'notes'], { meta: { i } }));
    await fs.updateMemory(ids[3]!, { text: 'note 3 was rewritten entirely', tags: ['rewritten'] });
    await fs.deleteMemory(ids[4]!);
    await fs.updateState({ status: 'running', activeMemoryCount: 49, lastUpdatedId: ids.at(-1)!, extra: { nested: { deep: [1, 'two', null] } } });
    await fs.setKv('settings', { theme: 'dark', limits: [1, 2, 3], blob: new Uint8Array([9, 8, 7]) });
    await fs.appendStream('log', 'line 1\n');
    await fs.appendStream('log', new Uint8Array([0, 255, 10]));
    const before = await Promise.all(ids.map((id) => fs.getMemory(id)));
    const queryBefore = (await fs.queryMemory('deployment Friday', { tags: ['notes'], limit: 100 })).map((h) => h.id).sort((a, b) => a - b);
    await fs.close();

    const again = await MemMapFS.init(root, { search: search(), codec: codec() });
    expect(await Promise.all(ids.map((id) => again.getMemory(id)))).toEqual(before);
    expect(await again.getMemory(ids[4]!)).toBeUndefined();
    expect(again.getState()).toEqual({ status: 'running', activeMemoryCount: 49, lastUpdatedId: ids.at(-1)!, extra: { nested: { deep: [1, 'two', null] } } });
    const settings = again.getKv<{ theme: string; limits: number[]; blob: Uint8Array }>('settings')!;
    expect({ ...settings, blob: [...settings.blob] }).toEqual({ theme: 'dark', limits: [1, 2, 3], blob: [9, 8, 7] });
    const chunks: number[] = [];
    for await (const chunk of again.openRead('log')) chunks.push(...chunk);
    expect(Buffer.from(chunks).equals(Buffer.concat([Buffer.from('line 1\n'), Buffer.from([0, 255, 10])]))).toBe(true);
    const queryAfter = (await again.queryMemory('deployment Friday', { tags: ['notes'], limit: 100 })).map((h) => h.id).sort((a, b) => a - b);
    expect(queryAfter).toEqual(queryBefore);
    expect(queryAfter.length).toBeGreaterThan(10);
    expect((await again.queryMemory('rewritten', { tags: ['rewritten'] })).map((h) => h.id)).toEqual([ids[3]]);
    expect(again.stats().memories).toBe(49);
    await again.close();
  });
});

describe('crash damage', () => {
  async function seed(count: number): Promise<number[]> {
    const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(await fs.appendMemory(`memory number ${i} about recovery`, ['seed']));
    await fs.close();
    return ids;
  }

  it('recovers to the last whole record when the WAL is cut inside its last record', async () => {
    const ids = await seed(5);
    await rm(join(root, 'index'), { recursive: true });
    const wal = join(root, 'state.wal');
    const image = await readFile(wal);
    const lastMemory = scanLog(image, WAL_HEADER_SIZE, 1, wal, { seed: frameSeed(decodeWalHeader(image, wal).logId) }).records.filter((r) => r.type === 1).at(-1)!;
    const size = lastMemory.offset + 7 + 7;
    await truncate(wal, size - 7);
    await rm(join(root, 'state.head')); // the crash lost the commit marker too: recovery must tell by itself
    const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
    expect(fs.stats().memories).toBe(4);
    expect(await fs.getMemory(ids[4]!)).toBeUndefined();
    expect((await fs.getMemory(ids[3]!))?.text).toBe('memory number 3 about recovery');
    expect((await fs.queryMemory('recovery', { limit: 10 })).map((h) => h.id).sort()).toEqual(ids.slice(0, 4));
    const next = await fs.appendMemory('written after recovery');
    await fs.close();
    expect((await stat(wal)).size).toBeGreaterThan(size - 7);
    const again = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
    expect((await again.getMemory(next))?.text).toBe('written after recovery');
    await again.close();
  });

  it('ignores junk appended after the last record', async () => {
    await seed(3);
    await appendFile(join(root, 'state.wal'), Buffer.from('\u0000\u0001garbage that is not a frame'));
    const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
    expect(fs.stats().memories).toBe(3);
    await fs.close();
  });

  it('refuses to open a WAL with a flipped byte in the middle (WAL_CORRUPT), and changes nothing', async () => {
    await seed(5);
    const wal = join(root, 'state.wal');
    const image = await readFile(wal);
    const damaged = Buffer.from(image);
    damaged[Math.floor(image.length / 2)]! ^= 0x10;
    await writeFile(wal, damaged);
    const error = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() }).catch((e: unknown) => e);
    expect(MemMapError.is(error, 'WAL_CORRUPT')).toBe(true);
    expect((error as Error).message).toMatch(/record \d+ at byte \d+/);
    expect((await readFile(wal)).equals(damaged)).toBe(true);
  });

  it('never returns a memory whose block bytes were changed', async () => {
    const ids = await seed(3);
    const chunk = join(root, 'blocks', 'chunk_0000.bin');
    const bytes = await readFile(chunk);
    const target = bytes.indexOf('number 1');
    bytes[target]! ^= 0x01;
    await writeFile(chunk, bytes);
    await rm(join(root, 'index'), { recursive: true });
    const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
    const error = await fs.getMemory(ids[1]!).catch((e: unknown) => e);
    expect(MemMapError.is(error, 'BLOCK_CORRUPT')).toBe(true);
    const hits = await fs.queryMemory('recovery', { limit: 10 });
    expect(hits.map((h) => h.id).sort()).toEqual([ids[0], ids[2]]);
    expect(hits.every((h) => h.text.startsWith('memory number'))).toBe(true);
    expect(await fs.queryMemory('', { limit: 10 }).then((h) => h.map((x) => x.id))).toEqual([ids[2], ids[0]]);
    await fs.close();
  });
});

describe('defaults', () => {
  it('opens on the embedded defaults (segments, msgpack) loaded by name', async () => {
    const fs = await MemMapFS.init(root);
    expect(fs.stats()).toMatchObject({ search: 'segments', codec: 'msgpack', durability: 'sync', formatVersion: 4 });
    expect(['mmap', 'read']).toContain(fs.stats().reader);
    await fs.appendMemory('Hello from MemMapFS!', ['demo']);
    expect((await fs.queryMemory('MemMapFS', { tags: ['demo'] }))[0]?.text).toBe('Hello from MemMapFS!');
    await fs.close();
    const cborError = await MemMapFS.init(root, { codec: 'cbor' }).catch((e: unknown) => e);
    expect(MemMapError.is(cborError, 'CODEC_MISMATCH')).toBe(true);
    const orama = await MemMapFS.init(root, { search: 'orama' });
    expect(orama.stats().search).toBe('orama');
    expect((await orama.queryMemory('hello'))[0]?.text).toBe('Hello from MemMapFS!');
    await orama.close();
  });

  it('reads zero-copy through the mmap binding on this machine', async () => {
    const fs = await MemMapFS.init(root, { reader: 'mmap' });
    await fs.appendStream('s', 'abc');
    await fs.appendStream('s', 'def');
    const views: Uint8Array[] = [];
    for await (const chunk of fs.openRead('s')) views.push(chunk);
    expect(views[0]!.buffer).toBe(views[1]!.buffer);
    expect(fs.stats().reader).toBe('mmap');
    await fs.close();
  });
});
