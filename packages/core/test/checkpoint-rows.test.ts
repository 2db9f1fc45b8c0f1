import { describe, expect, it } from 'vitest';
import { CheckpointMemories, ROW_SIZE } from '../src/checkpoint/checkpoint-rows.js';
import type { Codec } from '../src/contracts/codec.js';

const codec: Codec = { name: 'none', encode: () => new Uint8Array(), decode: () => [] };

/** Rows holding these ids (their other fields zero), with no labels and checksums that fail. */
function rowsWithIds(ids: number[]): CheckpointMemories {
  const rows = Buffer.alloc(ids.length * ROW_SIZE);
  ids.forEach((id, i) => rows.writeDoubleLE(id, i * ROW_SIZE));
  return new CheckpointMemories(rows, Buffer.alloc(0), Buffer.alloc(4), codec, 'a test');
}

describe('CheckpointMemories.indexOf', () => {
  it('finds ids by binary search over the rows as they lie (unchecked)', () => {
    const memories = rowsWithIds([1, 5, 9, 12]);
    expect([1, 5, 9, 12].map((id) => memories.indexOf(id, false))).toEqual([0, 1, 2, 3]);
    expect([0, 2, 13].map((id) => memories.indexOf(id, false))).toEqual([-1, -1, -1]);
  });

  it('takes a damaged id that reads as NaN for no id at all, never for the one looked for', () => {
    const memories = rowsWithIds([1, Number.NaN, 3]);
    expect(memories.indexOf(2, false)).toBe(-1);
  });

  it('checked, fails on a damaged group rather than answer from it', () => {
    const memories = rowsWithIds([1, Number.NaN, 3]);
    expect(() => memories.indexOf(2)).toThrow(/checksum|out of range/);
  });
});
