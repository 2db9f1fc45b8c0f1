import { describe, expect, it } from 'vitest';
import { MemoryTable } from '../src/engine/memory-table.js';
import { v8Codec } from './fixtures.js';
import type { MemoryRecord } from '../src/engine/log-records.js';

const memory = (id: number, tags: string[] = []): MemoryRecord => ({ id, ref: { chunk: 0, offset: id, length: 1, crc: 0 }, tags, namespace: 'default', meta: {}, createdAt: id, updatedAt: id, expiresAt: undefined });
const ids = (records: MemoryRecord[]) => records.map((m) => m.id);
const all = () => true;

describe('MemoryTable', () => {
  it('answers nothing once closed: every lookup, change and walk, one resumed after the close too, fails with STORE_CLOSED', () => {
    const table = new MemoryTable(v8Codec());
    for (let id = 1; id <= 10; id++) table.set(id, { ...memory(id), expiresAt: 1e15 + id });
    const walk = table.after(0);
    const refs = table.refs();
    const expiring = table.withExpiry();
    expect(walk.next().value?.id).toBe(1);
    expect(refs.next().value?.[0]).toBe(1);
    expect(expiring.next().done).toBe(false);
    table.close();
    const closed = { name: 'MemMapError', code: 'STORE_CLOSED' };
    expect(() => table.get(5)).toThrow(expect.objectContaining(closed));
    expect(() => table.has(5)).toThrow(expect.objectContaining(closed));
    // (Above every id it held: still not an answer of "no such memory".)
    expect(() => table.has(11)).toThrow(expect.objectContaining(closed));
    expect(() => table.versionOf(11)).toThrow(expect.objectContaining(closed));
    expect(() => table.set(11, memory(11))).toThrow(expect.objectContaining(closed));
    expect(() => table.delete(5)).toThrow(expect.objectContaining(closed));
    expect(() => table.newest(3, all)).toThrow(expect.objectContaining(closed));
    expect(() => table.countLive(0)).toThrow(expect.objectContaining(closed));
    expect(() => table.namespaceCounts()).toThrow(expect.objectContaining(closed));
    expect(() => table.freeze()).toThrow(expect.objectContaining(closed));
    expect(() => walk.next()).toThrow(expect.objectContaining(closed));
    expect(() => refs.next()).toThrow(expect.objectContaining(closed));
    expect(() => expiring.next()).toThrow(expect.objectContaining(closed));
    expect(() => table.values().next()).toThrow(expect.objectContaining(closed));
    // A checkpoint that failed after the close has nothing to merge back: no second error over its own.
    expect(() => table.thaw()).not.toThrow();
  });

  it('fails a walk with STORE_CLOSED when it resumes after the close between two layers, rather than ending it early', () => {
    const table = new MemoryTable(v8Codec());
    for (let id = 1; id <= 3; id++) table.set(id, { ...memory(id), expiresAt: 1e15 + id });
    table.freeze();
    for (let id = 4; id <= 5; id++) table.set(id, { ...memory(id), expiresAt: 1e15 + id });
    // Each paused on the last entry of the frozen layer: what remains is the current one's.
    const walk = table.after(0);
    const refs = table.refs();
    const expiring = table.withExpiry();
    for (let i = 0; i < 3; i++) {
      walk.next();
      refs.next();
      expiring.next();
    }
    table.close();
    const closed = { name: 'MemMapError', code: 'STORE_CLOSED' };
    expect(() => walk.next()).toThrow(expect.objectContaining(closed));
    expect(() => refs.next()).toThrow(expect.objectContaining(closed));
    expect(() => expiring.next()).toThrow(expect.objectContaining(closed));
  });

  it('lists the newest first, up to the limit, keeping only what passes the filter', () => {
    const table = new MemoryTable(v8Codec());
    for (let id = 1; id <= 10; id++) table.set(id, memory(id, id % 2 === 0 ? ['even'] : []));
    expect(ids(table.newest(3, all))).toEqual([10, 9, 8]);
    expect(ids(table.newest(3, (m) => m.tags.includes('even')))).toEqual([10, 8, 6]);
    expect(ids(table.newest(100, all))).toHaveLength(10);
  });

  it('keeps an id its place when the memory is replaced, and leaves deleted ones out', () => {
    const table = new MemoryTable(v8Codec());
    for (let id = 1; id <= 5; id++) table.set(id, memory(id));
    table.set(2, { ...memory(2), tags: ['updated'] });
    expect(table.delete(4)).toBe(true);
    expect(table.delete(4)).toBe(false);
    expect(ids(table.newest(10, all))).toEqual([5, 3, 2, 1]);
    expect(table.newest(10, all).find((m) => m.id === 2)?.tags).toEqual(['updated']);
  });

  it('stays right across the compaction of many deletes', () => {
    const table = new MemoryTable(v8Codec());
    for (let id = 1; id <= 5000; id++) table.set(id, memory(id));
    for (let id = 1; id <= 5000; id++) if (id % 5 !== 0) table.delete(id);
    expect(ids(table.newest(3, all))).toEqual([5000, 4995, 4990]);
    expect(table.newest(5000, all)).toHaveLength(1000);
    table.set(5001, memory(5001));
    expect(ids(table.newest(2, all))).toEqual([5001, 5000]);
  });

  it('puts an id that arrives out of order in its place, and a deleted id that returns only once', () => {
    const table = new MemoryTable(v8Codec());
    for (const id of [1, 5, 9]) table.set(id, memory(id));
    table.set(3, memory(3));
    table.delete(5);
    table.set(5, memory(5));
    expect(ids(table.newest(10, all))).toEqual([9, 5, 3, 1]);
  });

  it('updates and deletes new memories without decoding their rows: a codec that cannot decode them fails a read, never a change', () => {
    const codec = v8Codec('undecodable');
    const table = new MemoryTable({ ...codec, decode: () => { throw new Error('cannot decode'); } });
    for (let id = 1; id <= 3; id++) table.set(id, { ...memory(id), namespace: `ns${id}` });
    expect(() => table.set(2, { ...memory(2), namespace: 'other' })).not.toThrow();
    expect(table.delete(1)).toBe(true);
    expect(new Map(table.namespaceCounts())).toEqual(new Map([['other', 1], ['ns3', 1]]));
    expect(table.versionOf(3)).toBe(3);
    expect(table.has(1)).toBe(false);
    expect(() => table.get(3)).toThrow(expect.objectContaining({ code: 'PROVIDER_FAILED', message: expect.stringMatching(/undecodable codec cannot decode the labels .* memory 3/) }));
  });

  it('leaves both layers as they were when merging back a failed checkpoint runs out of memory, and merges them when tried again', () => {
    const table = new MemoryTable(v8Codec());
    for (let id = 2; id <= 120; id += 2) table.set(id, memory(id));
    table.freeze();
    // New rows (the frozen layer's 60 must grow to take them), an id out of order among them, an update and a deletion of frozen rows.
    for (let id = 122; id <= 140; id += 2) table.set(id, memory(id));
    table.set(131, memory(131));
    table.set(6, memory(6, ['updated']));
    table.delete(4);
    const before = [...table.values()];
    const allocUnsafe = Buffer.allocUnsafe;
    Buffer.allocUnsafe = (size: number) => {
      if (size >= 2 * 64 * 72) throw new RangeError('Array buffer allocation failed');
      return allocUnsafe(size);
    };
    try {
      expect(() => table.thaw()).toThrow('allocation failed');
    } finally {
      Buffer.allocUnsafe = allocUnsafe;
    }
    expect([...table.values()]).toEqual(before);
    table.thaw();
    expect([...table.values()]).toEqual(before);
    expect(table.freeze().count).toBe(before.length);
  });

  it('keeps a new memory whose labels the codec cannot encode as a record, in its place among the rows', () => {
    const table = new MemoryTable(v8Codec());
    for (let id = 1; id <= 3; id++) table.set(id, memory(id));
    // (The structured-clone serializer refuses a function.)
    table.set(4, { ...memory(4), meta: { call: () => 1 } });
    for (let id = 5; id <= 6; id++) table.set(id, memory(id));
    expect(ids([...table.values()])).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ids(table.newest(10, all))).toEqual([6, 5, 4, 3, 2, 1]);
    expect(typeof table.get(4)?.meta.call).toBe('function');
    table.delete(4);
    expect(ids([...table.values()])).toEqual([1, 2, 3, 5, 6]);
  });
});
