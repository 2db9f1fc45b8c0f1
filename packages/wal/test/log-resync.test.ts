import { describe, expect, it } from 'vitest';
import { WAL_HEADER_SIZE, encodeWalHeader, frameSeed, newLogId, resyncLog, scanLog } from '@memmapfs/wal';
import { writeFrame } from '../src/wal-frame.js';

const logId = newLogId();
const seed = frameSeed(logId);

/** A log image of `commits` (each a number of records), record payloads `r<LSN>` padded to 40 bytes; returns it and each record's frame offset. */
function logOf(commits: number[]): { image: Buffer; offsets: number[] } {
  const frames: Buffer[] = [encodeWalHeader({ formatVersion: 4, codec: 'msgpack', logId, firstLsn: 1 })];
  const offsets: number[] = [];
  let offset = WAL_HEADER_SIZE;
  let lsn = 1;
  for (const size of commits) {
    const durable = lsn - 1;
    for (let i = 0; i < size; i++, lsn++) {
      const frame = Buffer.alloc(21 + 40);
      writeFrame(frame, 0, seed, lsn, { type: 1, payload: Buffer.from(`r${lsn}`.padEnd(40, '.')) }, durable, i < size - 1);
      offsets.push(offset);
      offset += frame.length;
      frames.push(frame);
    }
  }
  return { image: Buffer.concat(frames), offsets };
}

const lsns = (records: Array<{ lsn: number }>) => records.map((record) => record.lsn);

describe('resyncLog', () => {
  it('reads an undamaged log as scanLog does', () => {
    const { image } = logOf([1, 3, 1]);
    const resync = resyncLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed });
    expect(lsns(resync.records)).toEqual(lsns(scanLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed }).records));
    expect(resync).toMatchObject({ regions: [], lastLsn: 5, tornBytes: 0 });
  });

  it('skips a damaged single-record commit and, conservatively, the commit whose frame follows it', () => {
    // Commits: [1] [2] [3] [4 5 6] [7] [8]
    const { image, offsets } = logOf([1, 1, 1, 3, 1, 1]);
    image[offsets[2]! + 30]! ^= 1;
    const resync = resyncLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed });
    // Record 4 follows the damage: not a commit end, so 4–6 go up to the end of their commit.
    expect(lsns(resync.records)).toEqual([1, 2, 7, 8]);
    expect(resync.regions).toEqual([expect.objectContaining({ damage: expect.objectContaining({ lsn: 3, offset: offsets[2] }), lost: { first: 3, last: 6 }, resumedAt: { lsn: 7, offset: offsets[6] }, kept: 2 })]);
    expect(resync.lastLsn).toBe(8);
  });

  it('loses only a commit damaged in its middle when its own last frame follows', () => {
    const { image, offsets } = logOf([1, 3, 1, 1]);
    image[offsets[2]! + 30]! ^= 1;
    const resync = resyncLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed });
    expect(lsns(resync.records)).toEqual([1, 5, 6]);
    expect(resync.regions[0]!.lost).toEqual({ first: 2, last: 4 });
  });

  it('skips several damaged regions, and damage met while looking for a commit end', () => {
    const { image, offsets } = logOf([1, 1, 3, 1, 1, 1, 1, 1, 1]);
    image[offsets[1]! + 30]! ^= 1; // record 2
    image[offsets[3]! + 30]! ^= 1; // record 4, inside the commit 3–5 that follows
    image[offsets[8]! + 30]! ^= 1; // record 9
    const resync = resyncLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed });
    expect(lsns(resync.records)).toEqual([1, 6, 7, 8, 11]);
    expect(resync.regions.map((region) => [region.lost.first, region.lost.last, region.kept])).toEqual([[2, 5, 3], [9, 10, 1]]);
  });

  it('keeps nothing after damage that no intact commit follows, and cuts a torn tail after the last one kept', () => {
    const { image, offsets } = logOf([1, 1, 1]);
    image[offsets[2]! + 30]! ^= 1;
    const last = resyncLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed, committedEnd: image.length });
    expect(lsns(last.records)).toEqual([1, 2]);
    expect(last.regions).toEqual([expect.objectContaining({ lost: { first: 3, last: 3 }, resumedAt: undefined, kept: 0 })]);
    expect(last.lastLsn).toBe(2);

    const { image: torn, offsets: at } = logOf([1, 1, 1, 1]);
    torn[at[0]! + 30]! ^= 1;
    const cut = torn.subarray(0, torn.length - 7);
    const resync = resyncLog(cut, WAL_HEADER_SIZE, 1, 'state.wal', { seed, committedEnd: at[3]! });
    expect(lsns(resync.records)).toEqual([3]);
    expect(resync.tornBytes).toBe(cut.length - at[3]!);
  });
});
