import { describe, expect, it } from 'vitest';
import type { BlockRef } from '@memmapfs/blocks';
import { decodeRecord, encodeRecord, RecordType, walRecordType, type LogRecord, type MemoryRecord } from '../src/engine/log-records.js';
import { v8Codec } from './fixtures.js';

const codec = v8Codec();

function memory(ref: BlockRef): MemoryRecord {
  return { id: 9, ref, tags: [], namespace: '', meta: {}, createdAt: 1, updatedAt: 1, expiresAt: undefined, version: 9 };
}

/** `record` encoded and decoded again, as the log reads it back at LSN 9. */
function roundTrip(record: LogRecord): LogRecord {
  return decodeRecord(codec, walRecordType(record), encodeRecord(codec, record), 9);
}

describe('decodeRecord', () => {
  it('refuses a block reference whose chunk, length or checksum does not fit a u32, as a checkpoint row holds them; offsets may be larger', () => {
    for (const ref of [{ chunk: 2 ** 32, offset: 0, length: 5, crc: 1 }, { chunk: 1, offset: 0, length: 2 ** 32, crc: 1 }, { chunk: 1, offset: 0, length: 5, crc: 2 ** 32 }, { chunk: 1, offset: 2 ** 53, length: 5, crc: 1 }]) {
      expect(() => roundTrip({ type: RecordType.MemoryPut, memory: memory(ref) })).toThrow(/block reference is malformed/);
    }
    const widest = { chunk: 2 ** 32 - 1, offset: 2 ** 40, length: 2 ** 32 - 1, crc: 2 ** 32 - 1 };
    expect(roundTrip({ type: RecordType.MemoryPut, memory: memory(widest) })).toMatchObject({ memory: { ref: widest } });
  });

  it('refuses a blocks-moved record whose chunks, length or checksum do not fit a u32; ids, indexes and offsets may be larger', () => {
    const move = (to: BlockRef) => ({ type: RecordType.BlocksMoved, memories: [{ id: 2 ** 40, from: { ...to, chunk: 1, offset: 0 }, to }], streams: [{ key: 's', index: 2 ** 40, from: { ...to, chunk: 1, offset: 0 }, to }], retired: [] }) as LogRecord;
    for (const to of [{ chunk: 2 ** 32, offset: 0, length: 5, crc: 1 }, { chunk: 2, offset: 0, length: 2 ** 32, crc: 1 }, { chunk: 2, offset: 0, length: 5, crc: 2 ** 32 }]) {
      expect(() => roundTrip(move(to))).toThrow(/blocks-moved record is malformed/);
    }
    const widest = { chunk: 2 ** 32 - 1, offset: 2 ** 40, length: 2 ** 32 - 1, crc: 2 ** 32 - 1 };
    expect(roundTrip(move(widest))).toMatchObject({ memories: [{ id: 2 ** 40, to: widest }], streams: [{ index: 2 ** 40, to: widest }] });
  });

  it('reads the chunks a checkpoint record asks their writers to let go of, refuses a malformed list, and reads a record without one as before', () => {
    expect(roundTrip({ type: RecordType.Checkpoint, upTo: 0, chunks: [], letGo: [3, 2 ** 40] })).toEqual({ type: RecordType.Checkpoint, upTo: 0, chunks: [], letGo: [3, 2 ** 40] });
    expect(roundTrip({ type: RecordType.Checkpoint, upTo: 7, chunks: [1, 2] })).toEqual({ type: RecordType.Checkpoint, upTo: 7, chunks: [1, 2] });
    for (const letGo of [[-1], [1.5], ['3'], 4]) {
      expect(() => roundTrip({ type: RecordType.Checkpoint, upTo: 0, chunks: [], letGo } as unknown as LogRecord)).toThrow(/checkpoint record is malformed/);
    }
  });
});
