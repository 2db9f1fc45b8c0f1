import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointKv, KV_ROW_SIZE, writeKvSection } from '../src/checkpoint/checkpoint-kv.js';
import { DecodedKvPairs } from '../src/checkpoint/kv-pairs.js';
import { KvTable } from '../src/engine/kv-table.js';
import { useTempRoot } from './fixtures.js';
import { keyOf, seeded } from './support/seeded-random.js';

const rootOf = useTempRoot();

const valueOf = (random: () => number) => new Uint8Array(Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256)));

/** Writes `pairs` (any order) as a KV section at `offset` of a file of its own, and reads it back in place. */
async function section(path: string, pairs: ReadonlyMap<string, Uint8Array>, offset = 24): Promise<{ kv: CheckpointKv; bytes: Buffer }> {
  await mkdir(join(path, '..'), { recursive: true });
  const handle = await open(path, 'w');
  try {
    await handle.write(Buffer.alloc(offset), 0, offset, 0);
    await writeKvSection(handle, offset, [...pairs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), pairs.size);
  } finally {
    await handle.close();
  }
  const bytes = await readFile(path);
  const count = pairs.size;
  let dataLength = 0;
  for (const [key, value] of pairs) dataLength += Buffer.byteLength(key) + value.byteLength;
  return { kv: new CheckpointKv(bytes, { offset, count, dataLength }, path), bytes };
}

const sortedKeys = (keys: Iterable<string>) => [...keys].sort();

describe('the KV section of a checkpoint', () => {
  it('reads back every pair in place, in the order of <, and lists from any key as a sorted array would', async () => {
    const random = seeded(7);
    const pairs = new Map<string, Uint8Array>();
    for (let i = 0; i < 3000; i++) pairs.set(keyOf(random, 'k') + i, valueOf(random));
    const { kv } = await section(join(rootOf(), 'kv'), pairs);
    expect(kv.count).toBe(pairs.size);
    for (const [key, value] of pairs) expect(Buffer.from(kv.get(key)!).equals(Buffer.from(value))).toBe(true);
    expect(kv.get('not there')).toBeUndefined();
    expect([...kv.entries()].map(([key]) => key)).toEqual(sortedKeys(pairs.keys()));
    for (const start of ['', 'k', 'ka', 'k\u{1F600}', 'k\uFF5E', 'z']) {
      expect([...kv.keysFrom(start, true)]).toEqual(sortedKeys(pairs.keys()).filter((key) => key >= start));
    }
    expect(kv.verify()).toBeUndefined();
  });

  it('refuses pairs out of order, or fewer or more than counted', async () => {
    await mkdir(rootOf(), { recursive: true });
    const handle = await open(join(rootOf(), 'bad'), 'w');
    try {
      await expect(writeKvSection(handle, 0, [['b', new Uint8Array(1)], ['a', new Uint8Array(1)]], 2)).rejects.toThrow(/out of order/);
      await expect(writeKvSection(handle, 0, [['a', new Uint8Array(1)], ['a', new Uint8Array(1)]], 2)).rejects.toThrow(/out of order/);
      await expect(writeKvSection(handle, 0, [['a', new Uint8Array(1)]], 2)).rejects.toThrow(/1 pairs where 2/);
      await expect(writeKvSection(handle, 0, [['a', new Uint8Array(1)], ['b', new Uint8Array(1)]], 1)).rejects.toThrow(/more than the 1/);
    } finally {
      await handle.close();
    }
  });

  it('says a damaged group of pairs is damaged (CHECKPOINT_CORRUPT) when a read probes it, never a wrong value; reads that do not, and a salvage, read the others', async () => {
    const pairs = new Map<string, Uint8Array>();
    for (let i = 0; i < 200; i++) pairs.set(`key-${String(i).padStart(3, '0')}`, new Uint8Array([i, i, i]));
    const path = join(rootOf(), 'damaged');
    const { bytes } = await section(path, pairs, 0);
    // A byte of the value of pair 130 (group 2 of 64), in the data after the rows.
    let at = 200 * KV_ROW_SIZE;
    for (let i = 0; i < 130; i++) at += 7 + 3;
    bytes[at + 7] = bytes[at + 7]! ^ 0xff;
    await writeFile(path, bytes);
    let dataLength = 0;
    for (const [key, value] of pairs) dataLength += key.length + value.byteLength;
    const kv = new CheckpointKv(await readFile(path), { offset: 0, count: 200, dataLength }, path);
    expect(() => kv.get('key-130')).toThrow(expect.objectContaining({ code: 'CHECKPOINT_CORRUPT' }));
    expect(() => kv.get('key-150')).toThrow(expect.objectContaining({ code: 'CHECKPOINT_CORRUPT' }));
    expect([...kv.get('key-010')!]).toEqual([10, 10, 10]);
    expect(kv.verify()).toMatch(/KV pairs 128–191 .* fail their checksum/);
    const skipped: number[] = [];
    expect([...kv.checkedEntries((n) => skipped.push(n))]).toHaveLength(136);
    expect(skipped).toEqual([64]);
    expect(() => new CheckpointKv(bytes, { offset: 0, count: 200, dataLength: dataLength + 1_000_000 }, path)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_CORRUPT' }));
  });
});

describe('KvTable', () => {
  it('answers as a Map would through sets and deletes over a checkpoint\'s pairs (read in place, or decoded as an older format\'s), or none (a new store), and across checkpoints written from it while changes go on', async () => {
    for (const [seed, base] of [[1, 'section'], [2, 'section'], [3, 'none'], [4, 'none'], [5, 'decoded'], [6, 'decoded']] as const) {
      const random = seeded(seed);
      const truth = new Map<string, Uint8Array>();
      for (let i = 0; i < 500; i++) truth.set(keyOf(random, 'k'), valueOf(random));
      let table: KvTable;
      if (base === 'section') table = new KvTable((await section(join(rootOf(), `base-${seed}`), truth)).kv);
      else if (base === 'decoded') table = new KvTable(new DecodedKvPairs(truth));
      else {
        table = new KvTable();
        for (const [key, value] of truth) table.set(key, value);
      }
      for (let step = 0; step < 4000; step++) {
        const key = keyOf(random, 'k');
        if (random() < 0.6) {
          const value = valueOf(random);
          table.set(key, value);
          truth.set(key, value);
        } else {
          table.delete(key);
          truth.delete(key);
        }
        if (step % 500 === 499) {
          // A checkpoint of the table as it is, with changes applied while it is written.
          const frozen = table.frozen();
          const frozenPairs = new Map<string, Uint8Array>(frozen.entries());
          const during: Array<[string, Uint8Array | undefined]> = [];
          for (let i = 0; i < 20; i++) {
            const changed = keyOf(random, 'k');
            const value = random() < 0.5 ? valueOf(random) : undefined;
            if (value) {
              table.set(changed, value);
              truth.set(changed, value);
            } else {
              table.delete(changed);
              truth.delete(changed);
            }
            during.push([changed, value]);
          }
          table = KvTable.after((await section(join(rootOf(), `ckpt-${seed}-${step}`), frozenPairs)).kv, table, frozen);
        }
        if (step % 97 === 0) {
          expect(table.size).toBe(truth.size);
          expect([...table.entries()].map(([k, v]) => [k, [...v]])).toEqual(sortedKeys(truth.keys()).map((k) => [k, [...truth.get(k)!]]));
          const start = keyOf(random, 'k');
          expect([...table.from(start, false)]).toEqual(sortedKeys(truth.keys()).filter((k) => k > start));
        }
        expect(table.has(key)).toBe(truth.has(key));
      }
    }
  });
});
