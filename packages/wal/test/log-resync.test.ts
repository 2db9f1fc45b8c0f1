import { describe, expect, it } from 'vitest';
import { WAL_HEADER_SIZE, encodeFrames, encodeWalHeader, frameSeed, newLogId, resyncLog, scanLog } from '@memmapfs/wal';
import { writeFrame } from '../src/wal-frame.js';

const logId = newLogId();
const seed = frameSeed(logId);

/**
 * A log image of `commits` (each a number of records), record payloads `r<LSN>` padded to 40 bytes;
 * returns it and each record's frame offset. `durableLag`: how many records before a commit's first the
 * log was durable up to when it was written (0: every earlier record, an fsync before each commit, as
 * under `'sync'`; more: as under `'batch'`, where writes go out before the fsync).
 */
function logOf(commits: number[], durableLag: number | number[] = 0): { image: Buffer; offsets: number[] } {
  const frames: Buffer[] = [encodeWalHeader({ formatVersion: 4, codec: 'msgpack', logId, firstLsn: 1 })];
  const offsets: number[] = [];
  let offset = WAL_HEADER_SIZE;
  let lsn = 1;
  for (const [c, size] of commits.entries()) {
    const durable = Math.max(0, lsn - 1 - (Array.isArray(durableLag) ? durableLag[c]! : durableLag));
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

  it('resumes at the frame after a damaged commit when its lag proves it begins a commit', () => {
    // Commits: [1] [2] [3] [4 5 6] [7] [8], each written after an fsync (lag 1 on each first frame).
    const { image, offsets } = logOf([1, 1, 1, 3, 1, 1]);
    image[offsets[2]! + 30]! ^= 1;
    const resync = resyncLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed });
    expect(lsns(resync.records)).toEqual([1, 2, 4, 5, 6, 7, 8]);
    expect(resync.regions).toEqual([expect.objectContaining({ damage: expect.objectContaining({ lsn: 3, offset: offsets[2] }), lost: { first: 3, last: 3 }, resumedAt: { lsn: 4, offset: offsets[3] }, kept: 5 })]);
    expect(resync.lastLsn).toBe(8);
  });

  it('without that proof, drops the commit of the frame found after the damage, and keeps what follows only where the commit marker covers it', () => {
    // The same commits written as under 'batch': every first frame has a lag of 3.
    const { image, offsets } = logOf([1, 1, 1, 3, 1, 1], 2);
    image[offsets[2]! + 30]! ^= 1;
    // The marker says everything was committed: the damage is rot, the records after it are durable.
    // Record 4 may end a commit that began in the damage: 4–6 go up to the end of their commit.
    const covered = resyncLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed, committedEnd: image.length });
    expect(lsns(covered.records)).toEqual([1, 2, 7, 8]);
    expect(covered.regions[0]).toMatchObject({ lost: { first: 3, last: 6 }, resumedAt: { lsn: 7, offset: offsets[6] }, kept: 2 });
    // Without the marker past them, 7 and 8 may have been torn together with the lost records by a
    // power loss (never durable): nothing more is kept, but their LSNs count as given out.
    const uncovered = resyncLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed, committedEnd: offsets[4]! });
    expect(lsns(uncovered.records)).toEqual([1, 2]);
    expect(uncovered.regions[0]).toMatchObject({ lost: { first: 3, last: 8 }, resumedAt: undefined, kept: 0 });
    expect(uncovered.lastLsn).toBe(8);
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
    // Record 3 begins a commit (lag 1): resumed at, it is found damaged in its middle; record 6 begins the next.
    expect(lsns(resync.records)).toEqual([1, 6, 7, 8, 10, 11]);
    expect(resync.regions.map((region) => [region.lost.first, region.lost.last, region.kept])).toEqual([[2, 2, 0], [3, 5, 3], [9, 9, 2]]);
  });

  it('keeps nothing after damage that no intact commit follows, and cuts a torn tail after the last one kept', () => {
    const { image, offsets } = logOf([1, 1, 1]);
    image[offsets[2]! + 30]! ^= 1;
    const last = resyncLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed, committedEnd: image.length });
    expect(lsns(last.records)).toEqual([1, 2]);
    expect(last.regions).toEqual([expect.objectContaining({ lost: { first: 3, last: 3 }, resumedAt: undefined, kept: 0 })]);
    // The damaged record was committed: its LSN was given out, and is not to be given again.
    expect(last.lastLsn).toBe(3);

    const { image: torn, offsets: at } = logOf([1, 1, 1, 1]);
    torn[at[0]! + 30]! ^= 1;
    const cut = torn.subarray(0, torn.length - 7);
    const resync = resyncLog(cut, WAL_HEADER_SIZE, 1, 'state.wal', { seed, committedEnd: at[3]! });
    expect(lsns(resync.records)).toEqual([2, 3]);
    expect(resync.tornBytes).toBe(cut.length - at[3]!);
  });

  it('keeps the commits after a dropped one that a frame written later proves durable, though the marker is behind them', () => {
    // Commits 3, 4 and 5 went out between two fsyncs (lags 1, 2, 3); 6 and 7 after one (lag 1). The
    // marker (not fsynced) still names the end of 3.
    const { image, offsets } = logOf([1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 2, 0, 0]);
    image[offsets[2]! + 30]! ^= 1;
    const resync = resyncLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed, committedEnd: offsets[3]! });
    // Record 4 may end a commit that began in the damage: dropped. Record 5 begins one, and record 6
    // was written once 5 and every record before it were durable: 5 was not torn with them.
    expect(lsns(resync.records)).toEqual([1, 2, 5, 6, 7]);
    expect(resync.regions[0]).toMatchObject({ lost: { first: 3, last: 4 }, resumedAt: { lsn: 5, offset: offsets[4] } });
  });

  it('reframes commits as commits: a record of a commit kept by an earlier repair is still lost with its whole commit', () => {
    const header = encodeWalHeader({ formatVersion: 4, codec: 'msgpack', logId, firstLsn: 1 });
    const record = (lsn: number, continues: boolean) => ({ lsn, type: 1, payload: Buffer.from(`r${lsn}`.padEnd(40, '.')), continues });
    const image = Buffer.concat([header, encodeFrames(logId, [record(1, true), record(2, true), record(3, false), record(4, false)])]);
    const scan = scanLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed });
    expect(lsns(scan.records)).toEqual([1, 2, 3, 4]);
    expect([...scan.continuing]).toEqual([1, 2]);
    image[WAL_HEADER_SIZE + 30]! ^= 1;
    const resync = resyncLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed, committedEnd: image.length });
    expect(lsns(resync.records)).toEqual([4]);
  });

  it("takes the commit marker's LSN as the proof when it has one: a repair interrupted after writing the marker of the log it rewrote leaves an offset that means nothing here", () => {
    // Commits [1] [2] [3] [4]; 3 and 4 were written before 2 was durable (lags 2). Record 2 is damaged.
    const { image, offsets } = logOf([1, 1, 1, 1], [0, 0, 1, 1]);
    image[offsets[1]! + 30]! ^= 1;
    // Record 3 may end a commit that began in the damage: dropped. Record 4 is proven by the marker
    // (LSN 4), though its offset is short of 4's frame.
    const resync = resyncLog(image, WAL_HEADER_SIZE, 1, 'state.wal', { seed, committedEnd: offsets[2]!, committedLsn: 4 });
    expect(lsns(resync.records)).toEqual([1, 4]);
  });
});

