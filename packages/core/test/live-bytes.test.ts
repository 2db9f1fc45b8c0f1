import { describe, expect, it } from 'vitest';
import type { BlockRef } from '@memmapfs/blocks';
import { liveBytes, liveBytesInTurns } from '../src/engine/compaction.js';
import { MemoryTable } from '../src/engine/memory-table.js';
import { v8Codec } from './fixtures.js';
import type { MemoryRecord } from '../src/engine/log-records.js';

const memory = (id: number, ref: BlockRef): MemoryRecord => ({ id, ref, tags: [], namespace: 'default', meta: {}, createdAt: id, updatedAt: id, expiresAt: undefined });

/** A table of `count` memories spread over four chunks, and two streams. */
function site(count: number) {
  const memories = new MemoryTable(v8Codec());
  for (let id = 1; id <= count; id++) memories.set(id, memory(id, { chunk: id % 4, offset: id * 8, length: 1 + (id % 7), crc: 0 }));
  const streams = new Map<string, BlockRef[]>([
    ['a', [{ chunk: 1, offset: 0, length: 100, crc: 0 }]],
    ['b', [{ chunk: 9, offset: 0, length: 5, crc: 0 }, { chunk: 9, offset: 5, length: 6, crc: 0 }]],
  ]);
  return { memories, streams };
}

describe('live bytes per chunk', () => {
  it('counted in turns, are what the synchronous count says, and the event loop gets turns while a large table is counted', async () => {
    const tables = site(200_000);
    let turns = 0;
    let counting = true;
    const tick = () => {
      if (!counting) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const counted = await liveBytesInTurns(tables);
    counting = false;
    expect(counted).toEqual(liveBytes(tables));
    expect(counted.get(9)).toBe(11);
    // (A count done in one go would let no immediate run before it ends.)
    expect(turns).toBeGreaterThanOrEqual(2);
  });

  it('counted in turns while a checkpoint freezes the table and then fails (the layers merged back), are still what the tables hold', async () => {
    const tables = site(200_000);
    setImmediate(() => {
      tables.memories.freeze();
      tables.memories.set(200_001, memory(200_001, { chunk: 5, offset: 0, length: 1000, crc: 0 }));
      tables.memories.thaw();
    });
    const counted = await liveBytesInTurns(tables);
    expect(counted).toEqual(liveBytes(tables));
  });
});
