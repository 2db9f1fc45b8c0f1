import type { CommittedRecord, WalOpener, WalOpenOptions, WalRecord, WriteAheadLog } from '@memmapfs/wal';
import { describe, expect, it } from 'vitest';

/** A fresh, empty place for a log (a folder, a database schema) and how to remove it. */
export interface WalPlace {
  /** Opens the log of this place; called several times per check (two writers, a reopen). */
  readonly open: WalOpener;
  /** Removes the place and everything in it. */
  cleanup(): Promise<void>;
  /**
   * (Optional: for a log that can be replaced under a process, as one in files can.) Puts a new, empty
   * log where the place's log was, as a user starting over would, with the old log's handles still
   * open. The checks of `checkCurrent` against a replaced log run only when it is given.
   */
  replace?(): Promise<void>;
  /**
   * (Optional.) Changes one byte of the payload of record `lsn` where the log keeps it, behind every
   * handle's back, as rot on the medium would. Without it, the check that damage fails the open (and is
   * never taken for the end of the log) is skipped.
   */
  damage?(lsn: number): Promise<void>;
  /**
   * (Optional.) A power loss, now: the place keeps what the log made durable and loses everything else
   * (every write not synced yet). Handles opened before it are only closed after it (what they do then
   * is after the power loss: the next open must not see it); opens after it see what the loss left.
   * Without it, the check that what was acknowledged as durable survives is skipped.
   */
  crash?(): Promise<void>;
}

/** Options of `writeAheadLogSuite`. */
export interface WriteAheadLogSuiteOptions {
  /** Exact check titles to leave out. A title the suite does not have is an error. */
  skip?: string[];
}

const text = (record: Pick<WalRecord, 'payload'>): string => Buffer.from(record.payload).toString();
const entry = (value: string, type = 1) => ({ type, payload: Buffer.from(value) });

/** One log under test: its instance, the records it reported through `onCommit`, and what `recover` saw. */
interface Opened {
  readonly wal: WriteAheadLog;
  readonly committed: string[];
  readonly recovered: string[];
  /** The same, with each record's LSN, type and whether its payload is a `Uint8Array`. */
  readonly committedRecords: Reported[];
  readonly recoveredRecords: Reported[];
  /** What `recover` was told its records start after (`RecoveryStart.after`). */
  readonly resumedAfter: number | undefined;
}

/** A record as a log reported it. */
interface Reported {
  readonly lsn: number;
  readonly type: number;
  readonly text: string;
  readonly bytes: boolean;
}

const reported = (record: Pick<WalRecord, 'lsn' | 'type' | 'payload'>): Reported => ({ lsn: record.lsn, type: record.type, text: text(record), bytes: record.payload instanceof Uint8Array });

async function openLog(place: WalPlace, options: Partial<WalOpenOptions> = {}): Promise<Opened> {
  const committed: string[] = [];
  const recovered: string[] = [];
  const committedRecords: Reported[] = [];
  const recoveredRecords: Reported[] = [];
  let resumedAfter: number | undefined;
  const wal = await place.open({
    codec: 'msgpack',
    ...options,
    onCommit: (records: CommittedRecord[]) => {
      committed.push(...records.map(text));
      committedRecords.push(...records.map(reported));
      options.onCommit?.(records);
    },
    recover: options.recover ?? (async (records, _header, start) => {
      resumedAfter = start.after;
      for await (const record of records) {
        recovered.push(text(record));
        recoveredRecords.push(reported(record));
      }
    }),
  });
  return { wal, committed, recovered, committedRecords, recoveredRecords, resumedAfter };
}

async function collect(records: AsyncIterable<WalRecord>): Promise<Array<{ lsn: number; type: number; text: string }>> {
  const out: Array<{ lsn: number; type: number; text: string }> = [];
  for await (const record of records) out.push({ lsn: record.lsn, type: record.type, text: text(record) });
  return out;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function rejection(promise: Promise<unknown>): Promise<{ code?: string; message?: string } | undefined> {
  return promise.then(() => undefined, (error: unknown) => error as { code?: string });
}

/**
 * Registers a vitest `describe` block that checks an implementation of the `WriteAheadLog` contract
 * of `@memmapfs/wal`: numbering and order, what `onCommit`, `recover`, `readFrom` and `fence` report,
 * preconditions (`check`), several writers on one log, reopening, read-only opens, a flush while
 * appends keep coming, retention
 * (`truncateBefore`), snapshots (when the log keeps them), `checkCurrent` (when it has one; against a
 * replaced log when the place can replace it) and closing. Every
 * check runs in a fresh place from `newPlace`.
 *
 * @param name Title of the `describe` block.
 * @param newPlace Returns a fresh, empty place for a log, with the opener of its log.
 * @param options `skip`: check titles to leave out.
 *
 * @example
 * import { fileWal } from '@memmapfs/wal';
 * writeAheadLogSuite('file log', async () => {
 *   const dir = await mkdtemp(join(tmpdir(), 'wal-'));
 *   return { open: fileWal(join(dir, 'state.wal')), cleanup: () => rm(dir, { recursive: true }) };
 * });
 */
export function writeAheadLogSuite(name: string, newPlace: () => Promise<WalPlace>, options: WriteAheadLogSuiteOptions = {}): void {
  const skipped = new Set(options.skip ?? []);
  const known = new Set<string>();

  describe(name, () => {
    const check = (title: string, body: (place: WalPlace, skip: (why: string) => void) => Promise<void>): void => {
      known.add(title);
      it.skipIf(skipped.has(title))(title, async (context) => {
        const place = await newPlace();
        try {
          await body(place, (why) => context.skip(why));
        } finally {
          await place.cleanup();
        }
      });
    };

    check('snapshots (when the log keeps them): the newest kept whole, an older one refused, and an open with fromSnapshot resumes after the one it installs', async (place, skip) => {
      const writer = await openLog(place);
      const snapshots = writer.wal.snapshots;
      if (!snapshots) {
        await writer.wal.close();
        skip('this log keeps no snapshots (WriteAheadLog.snapshots is absent)');
        return;
      }
      for (let i = 1; i <= 6; i++) await writer.wal.append([entry(`r${i}`)]);
      expect(await snapshots.latest()).toBeUndefined();
      const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 253));
      async function* pieces(of: Buffer, size: number): AsyncGenerator<Uint8Array> {
        for (let at = 0; at < of.length; at += size) yield of.subarray(at, at + size);
      }
      expect(await snapshots.put(4, pieces(bytes, 7_001))).toBe(true);
      expect(await snapshots.put(3, pieces(Buffer.from('older'), 2))).toBe(false);
      const kept = await snapshots.latest();
      expect({ lsn: kept?.lsn, size: kept?.size }).toEqual({ lsn: 4, size: bytes.length });
      const read: Buffer[] = [];
      for await (const piece of kept!.read()) read.push(Buffer.from(piece));
      expect(Buffer.concat(read).equals(bytes)).toBe(true);
      const records = await collect(writer.wal.readFrom(4));
      const at4 = await (async () => {
        for await (const record of writer.wal.readFrom(4)) return record;
        return undefined;
      })();
      expect(records[0]?.lsn).toBe(4);
      let offered: number | undefined;
      const fresh = await openLog(place, {
        fromSnapshot: async (snapshot) => {
          offered = snapshot.lsn;
          return { lsn: at4!.lsn, offset: at4!.offset, checksum: at4!.checksum };
        },
      });
      expect(offered).toBe(4);
      expect(fresh.resumedAfter).toBe(4);
      expect(fresh.recovered).toEqual(['r5', 'r6']);
      await fresh.wal.close();
      await writer.wal.close();
    });

    check('a new log has a header naming its codec and a 32-hex-digit id, kept when it is reopened', async (place) => {
      const first = await openLog(place, { codec: 'cbor' });
      expect(first.wal.header.codec).toBe('cbor');
      expect(first.wal.header.logId).toMatch(/^[0-9a-f]{32}$/);
      expect(first.wal.lastLsn).toBe(0);
      await first.wal.close();
      const again = await openLog(place, { codec: 'msgpack' });
      expect(again.wal.header).toEqual(first.wal.header);
      await again.wal.close();
    });

    check('numbers records from 1 in the order of the appends and reports each once through onCommit', async (place) => {
      const { wal, committed } = await openLog(place);
      expect(await wal.append([entry('one')])).toEqual([1]);
      expect(await wal.append([entry('two'), entry('three', 7)])).toEqual([2, 3]);
      const together = await Promise.all([wal.append([entry('four')]), wal.append([entry('five')]), wal.append([entry('six')])]);
      expect(together).toEqual([[4], [5], [6]]);
      expect(committed).toEqual(['one', 'two', 'three', 'four', 'five', 'six']);
      expect(wal.lastLsn).toBe(6);
      await wal.close();
    });

    check('onCommit and recover report each record\'s own LSN and type, its payload a Uint8Array, for its own appends and another writer\'s', async (place) => {
      const a = await openLog(place);
      const b = await openLog(place);
      await a.wal.append([entry('one', 1), entry('two', 3)]);
      await b.wal.append([entry('three', 127)]);
      await a.wal.append([entry('four', 64)]);
      const expected = [
        { lsn: 1, type: 1, text: 'one', bytes: true },
        { lsn: 2, type: 3, text: 'two', bytes: true },
        { lsn: 3, type: 127, text: 'three', bytes: true },
        { lsn: 4, type: 64, text: 'four', bytes: true },
      ];
      expect(a.committedRecords).toEqual(expected);
      await b.wal.fence();
      expect(b.committedRecords).toEqual(expected);
      await a.wal.close();
      await b.wal.close();
      const again = await openLog(place);
      expect(again.recoveredRecords).toEqual(expected);
      await again.wal.close();
    });

    check('an open whose recover rejects fails with that rejection', async (place) => {
      const first = await openLog(place);
      await first.wal.append([entry('one')]);
      await first.wal.close();
      const failed = new Error('the caller could not apply the records');
      const outcome = await rejection(openLog(place, { recover: async () => { throw failed; } }));
      expect(outcome).toBeDefined();
      expect(outcome === failed || (outcome as { cause?: unknown }).cause === failed || String(outcome?.message).includes(failed.message)).toBe(true);
      const again = await openLog(place);
      expect(again.recovered).toEqual(['one']);
      await again.wal.close();
    });

    check('hands every record back on reopen, to recover and through readFrom', async (place) => {
      const first = await openLog(place);
      await first.wal.append([entry('alpha')]);
      await first.wal.append([entry('beta', 3), entry('gamma', 127)]);
      await first.wal.close();
      const again = await openLog(place);
      expect(again.recovered).toEqual(['alpha', 'beta', 'gamma']);
      expect(again.wal.lastLsn).toBe(3);
      expect(await collect(again.wal.readFrom(1))).toEqual([{ lsn: 1, type: 1, text: 'alpha' }, { lsn: 2, type: 3, text: 'beta' }, { lsn: 3, type: 127, text: 'gamma' }]);
      expect((await collect(again.wal.readFrom(3))).map((r) => r.text)).toEqual(['gamma']);
      expect(await collect(again.wal.readFrom(4))).toEqual([]);
      expect(await again.wal.append([entry('delta')])).toEqual([4]);
      await again.wal.close();
    });

    check('resumes after a record named by its position: recover gets only the records after it; a position that names no record gets them all', async (place) => {
      const first = await openLog(place);
      await first.wal.append([entry('alpha')]);
      await first.wal.append([entry('beta'), entry('gamma')]);
      await first.wal.append([entry('delta')]);
      const records: WalRecord[] = [];
      for await (const record of first.wal.readFrom(1)) records.push({ ...record, payload: Buffer.from(record.payload) });
      await first.wal.close();
      const gamma = records[2]!;
      const resumed = await openLog(place, { resumeAfter: { lsn: gamma.lsn, offset: gamma.offset, checksum: gamma.checksum } });
      expect(resumed.resumedAfter).toBe(3);
      expect(resumed.recovered).toEqual(['delta']);
      expect(resumed.wal.lastLsn).toBe(4);
      expect(await resumed.wal.append([entry('epsilon')])).toEqual([5]);
      expect((await collect(resumed.wal.readFrom(1))).map((r) => r.text)).toEqual(['alpha', 'beta', 'gamma', 'delta', 'epsilon']);
      expect((await collect(resumed.wal.readFrom(4))).map((r) => r.text)).toEqual(['delta', 'epsilon']);
      await resumed.wal.close();
      const last = await openLog(place, { resumeAfter: { lsn: 5, offset: records[3]!.offset, checksum: records[3]!.checksum }, readOnly: true });
      expect(last.resumedAfter).toBe(0);
      expect(last.recovered).toEqual(['alpha', 'beta', 'gamma', 'delta', 'epsilon']);
      await last.wal.close();
      for (const wrong of [{ ...gamma, checksum: (gamma.checksum + 1) >>> 0 }, { ...gamma, lsn: 2 }, { ...gamma, offset: gamma.offset + 1 }, records[1]!]) {
        const again = await openLog(place, { resumeAfter: { lsn: wrong.lsn, offset: wrong.offset, checksum: wrong.checksum } });
        expect(again.resumedAfter).toBe(0);
        expect(again.recovered).toEqual(['alpha', 'beta', 'gamma', 'delta', 'epsilon']);
        await again.wal.close();
      }
    });

    check('readFrom reads many and large records, each whole', async (place) => {
      const { wal } = await openLog(place);
      const big = 'x'.repeat(3 * 1024 * 1024);
      for (let i = 0; i < 200; i++) await wal.append([entry(i === 100 ? big : `record ${i}`)]);
      const read = await collect(wal.readFrom(1));
      expect(read).toHaveLength(200);
      expect(read.map((r) => r.lsn)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(read[100]!.text).toBe(big);
      expect(read[199]!.text).toBe('record 199');
      await wal.close();
    });

    check('writes a record only once its after resolves, outside the writer lock; one that rejects writes nothing of its append, which rejects with it', async (place) => {
      const a = await openLog(place);
      const b = await openLog(place);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let settled = false;
      const waiting = a.wal.append([entry('waits for its block'), { ...entry('in the same append'), after: gate }]).then((lsns) => {
        settled = true;
        return lsns;
      });
      await pause(50);
      expect(settled).toBe(false);
      expect(await collect(a.wal.readFrom(1))).toEqual([]);
      // Another writer is not held back meanwhile.
      expect(await b.wal.append([entry('not held back')])).toEqual([1]);
      release();
      expect(await waiting).toEqual([2, 3]);
      const failure = new Error('the block could not be written');
      // (Handled here: a log may look at it only once its turn comes.)
      const rejected = Promise.reject(failure);
      rejected.catch(() => undefined);
      const failed = await rejection(a.wal.append([entry('never'), { ...entry('never either'), after: rejected }]));
      expect(failed === failure || (failed as { cause?: unknown } | undefined)?.cause === failure || String(failed?.message).includes(failure.message)).toBe(true);
      expect(await a.wal.append([entry('goes on')])).toEqual([4]);
      expect((await collect(a.wal.readFrom(1))).map((r) => r.text)).toEqual(['not held back', 'waits for its block', 'in the same append', 'goes on']);
      await b.wal.close();
      await a.wal.close();
    });

    check('onCommit hands this log\'s own records back with their context, and other writers\' with none', async (place) => {
      const contexts: unknown[] = [];
      const a = await openLog(place, { onCommit: (records) => contexts.push(...records.map((record) => record.context)) });
      const b = await openLog(place);
      const mine = { turn: 2 };
      await a.wal.append([{ ...entry('a1'), context: 'first' }, { ...entry('a2'), context: mine }]);
      await b.wal.append([{ ...entry('b1'), context: 'theirs, not mine' }]);
      await a.wal.fence();
      await a.wal.append([entry('a3')]);
      expect(contexts).toEqual(['first', mine, undefined, undefined]);
      expect(contexts[1]).toBe(mine);
      await b.wal.close();
      await a.wal.close();
    });

    check('calls beforeSync before making an append durable under sync, and the append waits for it', async (place) => {
      let calls = 0;
      let gate: Promise<void> | undefined;
      const { wal } = await openLog(place, { beforeSync: () => { calls++; return gate; } });
      await wal.append([entry('one')]);
      expect(calls).toBeGreaterThan(0);
      let release!: () => void;
      gate = new Promise<void>((resolve) => (release = resolve));
      let settled = false;
      const waiting = wal.append([entry('two')]).then(() => (settled = true));
      await pause(50);
      expect(settled).toBe(false);
      release();
      await waiting;
      gate = undefined;
      await wal.close();
    });

    check('every handle of one log reports the same logId: writers, read-only ones, after retention and after a reopen', async (place) => {
      const writer = await openLog(place);
      for (let i = 1; i <= 4; i++) await writer.wal.append([entry(`r${i}`)]);
      const reader = await openLog(place, { readOnly: true });
      const id = writer.wal.header.logId;
      expect(reader.wal.header.logId).toBe(id);
      await writer.wal.truncateBefore(3);
      await writer.wal.append([entry('r5')]);
      expect(writer.wal.header.logId).toBe(id);
      const later = await openLog(place);
      expect(later.wal.header.logId).toBe(id);
      await later.wal.close();
      await reader.wal.close();
      await writer.wal.close();
      const again = await openLog(place, { readOnly: true });
      expect(again.wal.header.logId).toBe(id);
      await again.wal.close();
    });

    check('lastLsn of a handle that follows counts the records of other writers it was told of', async (place) => {
      const a = await openLog(place);
      const b = await openLog(place);
      await a.wal.append([entry('a1'), entry('a2')]);
      expect(await b.wal.fence()).toBe(2);
      expect(b.wal.lastLsn).toBe(2);
      await a.wal.append([entry('a3')]);
      expect(await b.wal.fence()).toBe(3);
      expect(b.wal.lastLsn).toBe(3);
      await b.wal.append([entry('b1')]);
      expect(b.wal.lastLsn).toBe(4);
      await a.wal.close();
      await b.wal.close();
    });

    check('a damaged record (when the place can damage one) fails the open with WAL_CORRUPT: it is never taken for the end of the log', async (place, skip) => {
      if (!place.damage) return skip('this place cannot damage a record (WalPlace.damage is absent)');
      const writer = await openLog(place);
      for (const value of ['first', 'second', 'third']) await writer.wal.append([entry(`${value} record `.repeat(20))]);
      await writer.wal.close();
      await place.damage(2);
      const recovered: string[] = [];
      const outcome = await rejection(openLog(place, { recover: async (records) => { for await (const record of records) recovered.push(text(record).split(' ')[0]!); } }));
      expect(outcome?.code).toBe('WAL_CORRUPT');
      // (Records before the damage may have been handed over first, a page at a time or one by one; none after it.)
      expect(['first'].slice(0, recovered.length)).toEqual(recovered);
    });

    check('what an append under sync resolved, and what a flush under batch and none resolved, survives a power loss (when the place can cause one)', async (place, skip) => {
      if (!place.crash) return skip('this place cannot cause a power loss (WalPlace.crash is absent)');
      const synced = await openLog(place);
      await synced.wal.append([entry('one')]);
      await synced.wal.append([entry('two'), entry('three')]);
      const batched = await openLog(place, { durability: 'batch', batchIntervalMs: 60_000 });
      await batched.wal.append([entry('four')]);
      await batched.wal.flush();
      const unsynced = await openLog(place, { durability: 'none' });
      await unsynced.wal.append([entry('five')]);
      await unsynced.wal.flush();
      await place.crash();
      await Promise.allSettled([synced.wal.close(), batched.wal.close(), unsynced.wal.close()]);
      const again = await openLog(place);
      expect(again.recovered).toEqual(['one', 'two', 'three', 'four', 'five']);
      expect(await again.wal.append([entry('six')])).toEqual([6]);
      await again.wal.close();
    });

    check('a flush makes durable the records of other handles it reported (appended under none): they survive a power loss (when the place can cause one)', async (place, skip) => {
      if (!place.crash) return skip('this place cannot cause a power loss (WalPlace.crash is absent)');
      const writer = await openLog(place, { durability: 'none' });
      const reader = await openLog(place);
      await reader.wal.append([entry('one')]);
      expect(await writer.wal.append([entry('two'), entry('three')])).toEqual([2, 3]);
      // (A log may show another handle's records only once they are durable, as the file log does, or
      // before: either way, what the reader reported, a checkpoint of its own would cover.)
      await reader.wal.fence();
      const seen = [...reader.committed];
      expect(seen[0]).toBe('one');
      await reader.wal.flush();
      await place.crash();
      await Promise.allSettled([writer.wal.close(), reader.wal.close()]);
      const again = await openLog(place);
      expect(again.recovered.slice(0, seen.length)).toEqual(seen);
      await again.wal.close();
    });

    check('a precondition that throws writes nothing and leaves the log usable; one that holds sees every earlier append', async (place) => {
      const { wal, committed } = await openLog(place);
      await wal.append([entry('before')]);
      const seen: string[][] = [];
      const results = await Promise.allSettled([
        wal.append([entry('first')]),
        wal.append([entry('refused')], { check: () => { seen.push([...committed]); throw new Error('does not hold'); } }),
        wal.append([entry('accepted')], { check: () => { seen.push([...committed]); } }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ message: 'does not hold' });
      expect(seen).toEqual([['before', 'first'], ['before', 'first']]);
      expect(await wal.append([entry('after')])).toEqual([4]);
      await wal.close();
      const again = await openLog(place);
      expect(again.recovered).toEqual(['before', 'first', 'accepted', 'after']);
      await again.wal.close();
    });

    check('a lone append refused by its precondition leaves the log usable: later appends, flush and close complete', async (place) => {
      const { wal } = await openLog(place);
      await wal.append([entry('before')]);
      // Without a wait of 5 s: a log that stops committing would have this check hang, not fail.
      const outcome = (promise: Promise<unknown>) => Promise.race([promise.then(() => 'done', (error: Error) => error.message), new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5_000).unref())]);
      for (let i = 0; i < 3; i++) expect(await outcome(wal.append([entry('refused')], { check: () => { throw new Error('does not hold'); } }))).toBe('does not hold');
      expect(await outcome(wal.append([entry('after')]))).toBe('done');
      expect(await outcome(wal.flush())).toBe('done');
      expect(await outcome(wal.close())).toBe('done');
    });

    check('a precondition is checked with every writer\'s earlier records applied, under the writer lock: of two writers racing to claim a name, exactly one does', async (place) => {
      const writers = [await openLog(place), await openLog(place)];
      for (let round = 0; round < 20; round++) {
        const name = `claim-${round}`;
        const outcomes = await Promise.allSettled(writers.map(({ wal, committed }) => wal.append([entry(name)], { check: () => {
          if (committed.includes(name)) throw new Error(`${name} is taken`);
        } })));
        expect(outcomes.filter((o) => o.status === 'fulfilled'), `round ${round}`).toHaveLength(1);
      }
      for (const { wal } of writers) await wal.close();
      const again = await openLog(place);
      expect(again.recovered).toEqual(Array.from({ length: 20 }, (_, round) => `claim-${round}`));
      await again.wal.close();
    });

    check('two writers on one log: each numbers after the other, and refresh and fence report the other\'s records once, in order', async (place) => {
      const a = await openLog(place);
      const b = await openLog(place);
      expect(await a.wal.append([entry('a1'), entry('a2')])).toEqual([1, 2]);
      expect(await b.wal.append([entry('b1')])).toEqual([3]);
      expect(await a.wal.append([entry('a3')])).toEqual([4]);
      // (A fence: a log on a server may not have the other's records at hand for a synchronous refresh.)
      expect(await b.wal.fence()).toBe(4);
      expect(b.committed).toEqual(['a1', 'a2', 'b1', 'a3']);
      expect(await b.wal.append([entry('b2')])).toEqual([5]);
      expect(await a.wal.fence()).toBe(5);
      expect(a.committed).toEqual(['a1', 'a2', 'b1', 'a3', 'b2']);
      expect(a.wal.refresh()).toBe(0);
      await a.wal.close();
      await b.wal.close();
      const again = await openLog(place);
      expect(again.recovered).toEqual(['a1', 'a2', 'b1', 'a3', 'b2']);
      await again.wal.close();
    });

    check('writes from several writers at once all land, with distinct, gapless LSNs', async (place) => {
      const writers = await Promise.all([openLog(place), openLog(place), openLog(place)]);
      const lsns = (await Promise.all(writers.flatMap(({ wal }, w) => Array.from({ length: 20 }, (_, i) => wal.append([entry(`w${w}-${i}`)]))))).flat();
      expect([...lsns].sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      for (const { wal } of writers) await wal.close();
      const again = await openLog(place);
      expect(again.recovered).toHaveLength(60);
      expect(new Set(again.recovered).size).toBe(60);
      await again.wal.close();
    });

    check('a read-only open writes nothing, follows other writers, and refuses appends with READ_ONLY', async (place) => {
      const writer = await openLog(place);
      await writer.wal.append([entry('before')]);
      const reader = await openLog(place, { readOnly: true });
      expect(reader.wal.readOnly).toBe(true);
      expect(reader.recovered).toEqual(['before']);
      expect((await rejection(reader.wal.append([entry('no')])))?.code).toBe('READ_ONLY');
      await writer.wal.append([entry('after')]);
      expect(await reader.wal.fence()).toBe(2);
      expect(reader.committed).toEqual(['after']);
      await reader.wal.flush();
      await reader.wal.close();
      await writer.wal.close();
    });

    check('refuses a bad record type or payload, and every call after close', async (place) => {
      const { wal } = await openLog(place);
      for (const bad of [{ type: 0, payload: Buffer.alloc(1) }, { type: 128, payload: Buffer.alloc(1) }, { type: 1.5, payload: Buffer.alloc(1) }, { type: 1, payload: 'text' as never }]) {
        expect((await rejection(wal.append([bad])))?.code).toBe('INVALID_ARGUMENT');
      }
      expect(await wal.append([entry('still fine')])).toEqual([1]);
      await wal.close();
      expect((await rejection(wal.append([entry('late')])))?.code).toBe('WAL_CLOSED');
      expect((await rejection(wal.fence()))?.code).toBe('WAL_CLOSED');
      expect((await rejection(wal.truncateBefore(1)))?.code).toBe('WAL_CLOSED');
      expect((await rejection(collect(wal.readFrom(1))))?.code).toBe('WAL_CLOSED');
      // Nothing new to report, nothing left to flush: both return as they would.
      expect(wal.refresh()).toBe(0);
      await wal.flush();
      await wal.close();
      const again = await openLog(place);
      expect(again.recovered).toEqual(['still fine']);
      await again.wal.close();
    });

    check('a read-only open of an empty place creates no log: a later open with create: false finds none', async (place) => {
      const outcome = await place.open({ codec: 'msgpack', readOnly: true }).then(async (wal) => {
        expect((await rejection(wal.append([entry('no')])))?.code).toBe('READ_ONLY');
        await wal.close();
      }, (error: unknown) => error);
      void outcome;
      expect((await rejection(place.open({ codec: 'msgpack', create: false })))?.code).toBe('WAL_NOT_FOUND');
    });

    check('makes every record durable on flush, whatever the durability, and keeps records appended under none', async (place) => {
      for (const durability of ['batch', 'none'] as const) {
        const { wal } = await openLog(place, { durability, batchIntervalMs: 60_000 });
        await wal.append([entry(`under ${durability}`)]);
        await wal.flush();
        await wal.close();
      }
      const again = await openLog(place);
      expect(again.recovered).toEqual(['under batch', 'under none']);
      await again.wal.close();
    });

    check('flush waits for the appends made before it, not for those that keep coming after it', async (place) => {
      const { wal } = await openLog(place, { durability: 'batch', batchIntervalMs: 60_000 });
      // Appenders that go on until the flush has returned, or for 20 s, which only a flush that waits for
      // them lasts: a slow flush that does not is still far within it.
      const stopAt = performance.now() + 20_000;
      let appended = 0;
      let flushed = false;
      const appender = async (n: number) => {
        while (!flushed && performance.now() < stopAt) {
          await wal.append([entry(`w${n}`)]);
          appended++;
        }
      };
      const appenders = Array.from({ length: 4 }, (_, n) => appender(n));
      let beforeEnded = false;
      const before = wal.append([entry('before the flush')]).then(() => (beforeEnded = true));
      await wal.flush();
      const endedFirst = beforeEnded;
      flushed = true;
      await Promise.all([before, ...appenders]);
      expect(endedFirst).toBe(true);
      expect(performance.now()).toBeLessThan(stopAt);
      expect(appended).toBeGreaterThan(0);
      await wal.close();
    });

    check('a flush called while another is under way returns after it (it covers no less)', async (place) => {
      const { wal } = await openLog(place, { durability: 'batch', batchIntervalMs: 60_000 });
      await wal.append([entry('r1')]);
      const order: string[] = [];
      const first = wal.flush().then(() => order.push('first'));
      // (The first one under way, past its first steps.)
      for (let i = 0; i < 5; i++) await null;
      const second = wal.flush().then(() => order.push('second'));
      await Promise.all([first, second]);
      expect(order).toEqual(['first', 'second']);
      await wal.close();
    });

    check('truncateBefore keeps every record from its LSN on: reads, follows, resumes and appends go on across it', async (place) => {
      const writer = await openLog(place);
      const follower = await openLog(place);
      for (let i = 1; i <= 6; i++) await writer.wal.append([entry(`r${i}`)]);
      const kept: WalRecord[] = [];
      for await (const record of writer.wal.readFrom(1)) kept.push({ ...record, payload: Buffer.from(record.payload) });
      const oldest = await writer.wal.truncateBefore(5);
      expect(oldest).toBeGreaterThanOrEqual(1);
      expect(oldest).toBeLessThanOrEqual(5);
      expect(await writer.wal.append([entry('r7')])).toEqual([7]);
      // Whatever it dropped, what it holds runs on without a gap to the end, and holds 5 onwards.
      const held = await collect(writer.wal.readFrom(1));
      expect(held[0]!.lsn).toBe(oldest);
      expect(held.map((r) => r.lsn)).toEqual(Array.from({ length: 8 - oldest }, (_, i) => oldest + i));
      expect((await collect(writer.wal.readFrom(5))).map((r) => r.text)).toEqual(['r5', 'r6', 'r7']);
      // A follower that has not read since sees every record, in order, once.
      await follower.wal.fence();
      expect(follower.committed).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
      expect(await follower.wal.append([entry('r8')])).toEqual([8]);
      writer.wal.refresh();
      await follower.wal.close();
      await writer.wal.close();
      // Resuming after the last record before the truncation point works, whether or not that record is still held.
      const four = kept[3]!;
      const resumed = await openLog(place, { resumeAfter: { lsn: four.lsn, offset: four.offset, checksum: four.checksum } });
      expect(resumed.resumedAfter).toBe(4);
      expect(resumed.recovered).toEqual(['r5', 'r6', 'r7', 'r8']);
      expect(await resumed.wal.append([entry('r9')])).toEqual([9]);
      await resumed.wal.close();
    });

    check('truncateBefore drops nothing a reader still reads, and what it drops is gone for good', async (place) => {
      const writer = await openLog(place);
      const reader = await openLog(place, { readOnly: true });
      for (let i = 1; i <= 4; i++) await writer.wal.append([entry(`a${i}`)]);
      await reader.wal.fence();
      await writer.wal.truncateBefore(5);
      for (let i = 5; i <= 8; i++) await writer.wal.append([entry(`b${i}`)]);
      await writer.wal.truncateBefore(9);
      await writer.wal.append([entry('c9')]);
      // The reader is still on records 1–4 and reads on without a gap.
      await reader.wal.fence();
      expect(reader.committed).toEqual(['a1', 'a2', 'a3', 'a4', 'b5', 'b6', 'b7', 'b8', 'c9']);
      await reader.wal.close();
      const oldest = await writer.wal.truncateBefore(9);
      const reopened = await openLog(place);
      expect(reopened.resumedAfter).toBe(oldest - 1);
      expect(reopened.recovered).toEqual(['a1', 'a2', 'a3', 'a4', 'b5', 'b6', 'b7', 'b8', 'c9'].slice(oldest - 1));
      expect(reopened.wal.lastLsn).toBe(9);
      await reopened.wal.close();
      await writer.wal.close();
    });

    check('checkCurrent (when the log has it) passes for every handle of the current log, also after another writer appended and cut its history, and fails with WAL_CLOSED after close', async (place, skip) => {
      const writer = await openLog(place);
      if (!writer.wal.checkCurrent) {
        await writer.wal.close();
        skip('this log cannot be replaced under a process (WriteAheadLog.checkCurrent is absent)');
        return;
      }
      const other = await openLog(place);
      const reader = await openLog(place, { readOnly: true });
      await writer.wal.append([entry('one')]);
      await other.wal.append([entry('two')]);
      // The other writer cuts the history: a log in files seals the segment it appends to and starts another.
      await other.wal.truncateBefore(3);
      await other.wal.append([entry('three')]);
      for (const handle of [writer, other, reader]) expect(() => handle.wal.checkCurrent!()).not.toThrow();
      await writer.wal.flush();
      expect(await writer.wal.append([entry('four')])).toEqual([4]);
      for (const handle of [reader, other, writer]) await handle.wal.close();
      expect(() => writer.wal.checkCurrent!()).toThrow(expect.objectContaining({ code: 'WAL_CLOSED' }));
    });

    check('a writer whose log was replaced (when the place can replace it) fails checkCurrent and flush with WAL_REPLACED, and writes nothing into the new log', async (place, skip) => {
      const stale = await openLog(place);
      if (!stale.wal.checkCurrent || !place.replace) {
        await stale.wal.close();
        skip('the place cannot replace its log, or the log has no checkCurrent');
        return;
      }
      await stale.wal.append([entry('one')]);
      await place.replace();
      expect(() => stale.wal.checkCurrent!()).toThrow(expect.objectContaining({ code: 'WAL_REPLACED' }));
      // Nothing was left to make durable; the flush still vouches for the log (a checkpoint waits on it).
      await expect(stale.wal.flush()).rejects.toMatchObject({ code: 'WAL_REPLACED' });
      await expect(stale.wal.append([entry('lost')])).rejects.toMatchObject({ code: 'WAL_REPLACED' });
      await stale.wal.close().catch(() => undefined);
      const fresh = await openLog(place);
      expect(fresh.recovered).toEqual([]);
      expect(await fresh.wal.append([entry('in the new log')])).toEqual([1]);
      await fresh.wal.close();
    });

    check('a handle that only reads, whose log was replaced (when the place can replace it), fails refresh and fence with WAL_REPLACED rather than go stale without a word', async (place, skip) => {
      if (!place.replace) return skip('the place cannot replace its log');
      const writer = await openLog(place);
      await writer.wal.append([entry('one')]);
      await writer.wal.close();
      const stale = await openLog(place, { readOnly: true });
      await place.replace();
      const fresh = await openLog(place);
      await fresh.wal.append([entry('in the new log')]);
      // (A log may look for its replacement now and then rather than at every refresh: within 2 s.)
      let refreshed: { code?: string } | undefined;
      for (const until = Date.now() + 2_000; !refreshed && Date.now() < until; await pause(25)) {
        try {
          stale.wal.refresh();
        } catch (error) {
          refreshed = error as { code?: string };
        }
      }
      expect(refreshed?.code).toBe('WAL_REPLACED');
      expect((await rejection(stale.wal.fence()))?.code).toBe('WAL_REPLACED');
      expect(stale.committed).toEqual([]);
      await stale.wal.close().catch(() => undefined);
      await fresh.wal.close();
    });

    const unknown = [...skipped].filter((title) => !known.has(title));
    if (unknown.length > 0) {
      throw new Error(`[memmapfs] [testkit] writeAheadLogSuite('${name}') was asked to skip checks it does not have: ${unknown.map((title) => JSON.stringify(title)).join(', ')}.`);
    }
  });
}
