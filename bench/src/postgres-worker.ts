// One process of the PostgreSQL benchmark, standing in for a host. Run as
// `node --import tsx postgres-worker.ts '<json task>'`. It connects, prints `ready`, waits for a line
// on stdin, then:
// - `wal`: appends one record at a time (durable, each awaited) to the store for `seconds`;
// - `insert`: the peer, one `INSERT INTO t(payload) VALUES ($1)` per autocommit transaction for `seconds`;
// - `follow`: follows the store read-only until a second line arrives, noting when each record reached onCommit.
// It then prints one JSON line (`WorkerResult`).
import { createInterface } from 'node:readline';
import { writeSync } from 'node:fs';
import pg from 'pg';
import { postgresWal } from '@memmapfs/wal-postgres';

export interface WorkerTask {
  readonly mode: 'wal' | 'insert' | 'follow';
  readonly connectionString: string;
  readonly store: string;
  /** Which writer this is: written into every payload. */
  readonly writer: number;
  readonly seconds: number;
  readonly payloadBytes: number;
}

export interface WorkerResult {
  /** Writers: operations done and the time from the start signal to the last one's completion. */
  readonly operations: number;
  readonly ms: number;
  /** `wal`: when each append resolved (wall clock, ms), by sequence number. */
  readonly resolvedAt?: number[];
  /** `follow`: when each record reached onCommit (wall clock, ms), as [writer, sequence, time]. */
  readonly committedAt?: Array<[number, number, number]>;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes of one machine. */
const wallClock = () => performance.timeOrigin + performance.now();

/** `writer sequence time ` then padding up to `bytes`: the same payload for the log and the peer. */
function benchPayload(writer: number, sequence: number, bytes: number): Buffer {
  const head = `${writer} ${sequence} ${wallClock().toFixed(3)} `;
  return Buffer.from(head.padEnd(bytes, 'x'));
}

const task = JSON.parse(process.argv[2]!) as WorkerTask;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (value: unknown) => writeSync(1, `${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
/** Appends (or inserts) before `ready`, not counted: connections made, code compiled. */
const WARM_UP = 20;

async function timed(operation: (sequence: number) => Promise<void>): Promise<{ operations: number; ms: number }> {
  for (let i = 0; i < WARM_UP; i++) await operation(-1 - i);
  say('ready');
  await lines.next();
  const started = wallClock();
  const deadline = started + task.seconds * 1000;
  let operations = 0;
  let now = started;
  while (now < deadline) {
    await operation(operations++);
    now = wallClock();
  }
  return { operations, ms: now - started };
}

if (task.mode === 'wal') {
  const wal = await postgresWal({ connectionString: task.connectionString, store: task.store })({ codec: 'raw', durability: 'sync' });
  const resolvedAt: number[] = [];
  const result = await timed(async (sequence) => {
    await wal.append([{ type: 1, payload: benchPayload(task.writer, sequence, task.payloadBytes) }]);
    if (sequence >= 0) resolvedAt[sequence] = wallClock();
  });
  say({ ...result, resolvedAt } satisfies WorkerResult);
  await wal.close();
} else if (task.mode === 'insert') {
  const client = new pg.Client({ connectionString: task.connectionString });
  await client.connect();
  const result = await timed(async (sequence) => {
    await client.query('INSERT INTO t(payload) VALUES ($1)', [benchPayload(task.writer, sequence, task.payloadBytes)]);
  });
  say(result satisfies WorkerResult);
  await client.end();
} else {
  const committedAt: Array<[number, number, number]> = [];
  const wal = await postgresWal({ connectionString: task.connectionString, store: task.store })({
    codec: 'raw',
    readOnly: true,
    onCommit: (records) => {
      const at = wallClock();
      for (const record of records) {
        const [writer, sequence] = Buffer.from(record.payload.subarray(0, 32)).toString('latin1').split(' ');
        committedAt.push([Number(writer), Number(sequence), at]);
      }
    },
  });
  say('ready');
  await lines.next();
  // Records other processes committed reach onCommit through refresh(), which reports what the log has
  // already fetched on their notification: a reader that polls it every millisecond.
  let following = true;
  const poll = () => {
    wal.refresh();
    if (following) setTimeout(poll, 1);
  };
  poll();
  await lines.next();
  following = false;
  await wal.fence();
  say({ operations: committedAt.length, ms: 0, committedAt } satisfies WorkerResult);
  await wal.close();
}
