import { describe, expect, it } from 'vitest';
import { UncheckpointedCopies } from '../src/engine/block-recovery.js';
import { RecordType, type LogRecord } from '../src/engine/log-records.js';

/** A copy whose every byte says which record it belongs to: a copy moved or overwritten shows. */
function copyOf(lsn: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (lsn * 31 + i) & 0xff;
  return bytes;
}

describe('UncheckpointedCopies (the block copies an open would put back)', () => {
  it('keeps each copy whole and apart from the log, while checkpoint records drop most of them and the rest are moved and grown past a megabyte', () => {
    const copies = new UncheckpointedCopies();
    /** What should be kept: lsn → chunk and length. */
    const model = new Map<number, { chunk: number; length: number }>();
    let lsn = 0;
    let offset = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 300; i++) {
        lsn++;
        // Chunk 1 is fsynced by each round's checkpoint record; chunk 2 never is. Sizes up to 8 KiB.
        const chunk = i % 5 === 0 ? 2 : 1;
        const length = 1 + ((lsn * 7919) % 8192);
        const ref = { chunk, offset, length, crc: 0 };
        offset += length;
        // Read from a window of the log that is written again afterwards: a copy kept as a view would change.
        const window = Buffer.from(copyOf(lsn, length));
        const record: LogRecord = i % 2 === 0
          ? { type: RecordType.StreamAppend, key: 's', ref, copy: window }
          : { type: RecordType.MemoryPut, memory: { id: lsn, ref, tags: [], namespace: '', meta: {}, createdAt: 0, updatedAt: 0, expiresAt: undefined }, copy: window } as LogRecord;
        copies.note(record, lsn);
        window.fill(0);
        model.set(lsn, { chunk, length });
      }
      lsn++;
      // Covers chunk 1 up to ten records before it: those after stay.
      const upTo = lsn - 10;
      copies.note({ type: RecordType.Checkpoint, upTo, chunks: [1] }, lsn);
      for (const [at, block] of model) if (block.chunk === 1 && at <= upTo) model.delete(at);
    }
    const kept = copies.blocks;
    expect(kept.map((b) => b.lsn)).toEqual([...model.keys()]);
    // More than a megabyte is kept (chunk 2's copies): the buffer grew, and was compacted on the way.
    expect(kept.reduce((sum, b) => sum + b.copy.byteLength, 0)).toBeGreaterThan(1 << 20);
    for (const block of kept) {
      expect(block.copy.byteLength).toBe(model.get(block.lsn)!.length);
      expect(Buffer.from(block.copy).equals(Buffer.from(copyOf(block.lsn, block.copy.byteLength))), `copy of record ${block.lsn}`).toBe(true);
    }
  });

  it('drops the copies of chunks a compaction retired', () => {
    const copies = new UncheckpointedCopies();
    const ref = (chunk: number) => ({ chunk, offset: 0, length: 4, crc: 0 });
    copies.note({ type: RecordType.StreamAppend, key: 'a', ref: ref(3), copy: copyOf(1, 4) }, 1);
    copies.note({ type: RecordType.StreamAppend, key: 'b', ref: ref(4), copy: copyOf(2, 4) }, 2);
    copies.note({ type: RecordType.BlocksMoved, memories: [], streams: [], retired: [3] } as unknown as LogRecord, 3);
    expect(copies.blocks.map((b) => [b.lsn, [...b.copy]])).toEqual([[2, [...copyOf(2, 4)]]]);
  });
});
