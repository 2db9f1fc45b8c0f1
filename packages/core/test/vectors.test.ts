import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { useTempRoot, v8Codec, VectorWordSearch, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const open = (search = new VectorWordSearch()) => MemMapFS.init(root, { codec: v8Codec(), search });

describe('embeddings', () => {
  it('are kept with a memory as float32, handed to the provider, and searched by cosine', async () => {
    const search = new VectorWordSearch();
    const fs = await open(search);
    const north = await fs.appendMemory('points north', ['compass'], { embedding: [0, 1, 0] });
    const east = await fs.appendMemory('towards the sunrise', ['compass'], { embedding: new Float32Array([1, 0, 0]) });
    const [northEast] = await fs.appendMemories([{ text: 'points north-east', tags: ['compass'], namespace: 'other', embedding: [0.7, 0.7, 0] }]);
    await fs.appendMemory('no embedding at all');
    expect((await fs.getMemory(north))?.embedding).toEqual(new Float32Array([0, 1, 0]));
    expect((await fs.getMemory(northEast!))?.embedding).toEqual(new Float32Array([0.7, 0.7, 0]));
    const byVector = await fs.queryMemory('', { embedding: [0.1, 1, 0] });
    expect(byVector.map((h) => h.id)).toEqual([north, northEast, east]);
    expect(byVector[0]!.score).toBeGreaterThan(byVector[1]!.score);
    // The query text is ignored without hybrid, and filters apply.
    expect((await fs.queryMemory('east', { embedding: [0.1, 1, 0], namespace: 'default' })).map((h) => h.id)).toEqual([north, east]);
    expect(search.requests.at(-1)).toMatchObject({ text: '', namespace: 'default' });
    // Hybrid: the text counts too.
    const hybrid = await fs.queryMemory('sunrise', { embedding: [0.1, 1, 0], hybrid: { textWeight: 0.9 } });
    expect(hybrid[0]!.id).toBe(east);
    expect(search.requests.at(-1)).toMatchObject({ text: 'sunrise', textWeight: 0.9 });
    await fs.close();
  });

  it('survive updates, a checkpoint and a reopen that rebuilds the index', async () => {
    let fs = await open();
    const id = await fs.appendMemory('a memory', [], { embedding: [1, 0, 0] });
    await fs.appendMemory('another', [], { embedding: [0, 0, 1] });
    await fs.updateMemory(id, { text: 'a memory, renamed' });
    expect((await fs.getMemory(id))?.embedding).toEqual(new Float32Array([1, 0, 0]));
    await fs.checkpoint();
    await fs.updateMemory(id, { embedding: [0, 0.5, 0.5] });
    await fs.close();
    fs = await open();
    expect((await fs.getMemory(id))).toMatchObject({ text: 'a memory, renamed', embedding: new Float32Array([0, 0.5, 0.5]) });
    expect((await fs.queryMemory('', { embedding: [0, 1, 0], limit: 1 })).map((h) => h.id)).toEqual([id]);
    await fs.checkpoint();
    await fs.close();
    fs = await open();
    expect((await fs.listMemories()).memories.map((m) => m.embedding)).toEqual([new Float32Array([0, 0.5, 0.5]), new Float32Array([0, 0, 1])]);
    await fs.close();
  });

  it('are refused with a message that says what is wrong and how to fix it', async () => {
    const fs = await open();
    const invalid = (call: () => Promise<unknown>, message: RegExp) => expect(call()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) });
    await invalid(() => fs.appendMemory('x', [], { embedding: [1, 2] }), /2 numbers; the 'word-test' search provider takes embeddings of 3/);
    await invalid(() => fs.appendMemory('x', [], { embedding: [1, Number.NaN, 0] }), /NaN at index 1/);
    await invalid(() => fs.appendMemory('x', [], { embedding: [0, 0, 0] }), /all zeros/);
    // Kept as float32: a number beyond its range would be stored as Infinity.
    await invalid(() => fs.appendMemory('x', [], { embedding: [1e39, 1, 0] }), /1e\+39 at index 0, beyond the float32 range/);
    await invalid(() => fs.queryMemory('x', { embedding: [0, -1e39, 0] }), /-1e\+39 at index 1, beyond the float32 range/);
    await invalid(() => fs.appendMemory('x', [], { embedding: 'vector' as never }), /Float32Array or an array/);
    await invalid(() => fs.appendMemories([{ text: 'ok', embedding: [1, 0, 0] }, { text: 'bad', embedding: [1] }]), /item 1/);
    await invalid(() => fs.queryMemory('x', { embedding: [1, 0] }), /takes embeddings of 3/);
    await invalid(() => fs.queryMemory('x', { hybrid: true }), /hybrid needs an embedding/);
    await invalid(() => fs.queryMemory('x', { embedding: [1, 0, 0], hybrid: { textWeight: 2 } }), /from 0 to 1/);
    expect((await fs.listMemories()).memories).toEqual([]);
    await fs.close();
    const plain = await MemMapFS.init(root, { codec: v8Codec(), search: new WordSearch() });
    await invalid(() => plain.appendMemory('x', [], { embedding: [1, 0, 0] }), /'word-test' has none: open the store with one/);
    await invalid(() => plain.queryMemory('x', { embedding: [1, 0, 0] }), /has none/);
    await plain.close();
  });
});

describe('embeddings on disk, for releases that do not know them', () => {
  /** The record types of the store's log, in LSN order (read as the store's own log reads them). */
  async function recordTypes(fs: MemMapFS): Promise<number[]> {
    const wal = (fs as unknown as { engine: { wal: { readFrom(lsn: number): AsyncIterable<{ type: number }> } } }).engine.wal;
    const types: number[] = [];
    for await (const record of wal.readFrom(1)) types.push(record.type);
    return types;
  }
  const checkpointVersion = async () => {
    const folder = join(root, 'checkpoints');
    const [name] = (await readdir(folder)).filter((n) => n.startsWith('checkpoint-'));
    const bytes = await readFile(join(folder, name!));
    // (The format version, and the flags: bit 0, memories that may hold embeddings.)
    return [bytes.readUInt32LE(8), bytes.readUInt32LE(36)];
  };

  it('a memory put with an embedding is a record type of its own (10), so that an older release refuses the log rather than drop the embedding', async () => {
    const fs = await open();
    const plain = await fs.appendMemory('no embedding');
    const embedded = await fs.appendMemory('with one', [], { embedding: [1, 0, 0] });
    await fs.updateMemory(embedded, { text: 'with one, updated' });
    await fs.updateMemory(plain, { text: 'still none' });
    expect(await recordTypes(fs)).toEqual([1, 10, 10, 1]);
    await fs.close();
    const again = await open();
    expect((await again.getMemory(embedded))?.embedding).toEqual(new Float32Array([1, 0, 0]));
    expect((await again.memoryHistory(embedded)).map((v) => v.memory?.text)).toEqual(['with one', 'with one, updated']);
    await again.close();
  });

  it('a checkpoint holding an embedding is written with the flag that says so, one without, without it (format version 5, which releases before embeddings refuse)', async () => {
    const fs = await open();
    await fs.appendMemory('no embedding');
    await fs.checkpoint();
    expect(await checkpointVersion()).toEqual([5, 0]);
    const embedded = await fs.appendMemory('with one', [], { embedding: [0, 1, 0] });
    await fs.checkpoint();
    expect(await checkpointVersion()).toEqual([5, 1]);
    await fs.appendMemory('after');
    await fs.checkpoint();
    expect(await checkpointVersion()).toEqual([5, 1]);
    await fs.close();
    const again = await open();
    expect((await again.getMemory(embedded))?.embedding).toEqual(new Float32Array([0, 1, 0]));
    await again.close();
  });
});
