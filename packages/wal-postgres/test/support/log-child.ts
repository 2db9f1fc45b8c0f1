// A process of its own that appends to (or follows) a PostgreSQL log, standing in for another host.
// Run as `node --conditions=dev-source --import tsx log-child.ts '<json task>'`; prints JSON lines.
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { postgresWal } from '../../src/index.js';

interface Task {
  readonly mode: 'append' | 'slow' | 'forever';
  readonly connectionString: string;
  readonly store: string;
  readonly name: string;
  /** `append`: records to append, `concurrency` appends in flight at a time. */
  readonly count?: number;
  readonly concurrency?: number;
  /** `slow`: how long the precondition keeps the transaction (and the writer lock) open. */
  readonly holdMs?: number;
  /** `forever`: bytes of each record. */
  readonly size?: number;
  /** `append`: the records every process appends together; the process follows the log (refresh only) until it has seen them all. */
  readonly total?: number;
  /** Wait for a line on stdin before appending. */
  readonly waitForGo?: boolean;
}

const task = JSON.parse(process.argv[2]!) as Task;
const say = (value: unknown) => writeSync(1, `${JSON.stringify(value)}\n`);
const seen: Array<[number, string]> = [];
const wal = await postgresWal({ connectionString: task.connectionString, store: task.store })({
  codec: 'msgpack',
  // What the open recovered, then what was committed after it: every record of the log, once, in order.
  recover: async (records) => {
    for await (const record of records) seen.push([record.lsn, Buffer.from(record.payload).toString().slice(0, 40)]);
  },
  onCommit: (records) => {
    for (const record of records) seen.push([record.lsn, Buffer.from(record.payload).toString().slice(0, 40)]);
  },
});
say({ ready: true });
if (task.waitForGo) {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  await lines.next();
}

if (task.mode === 'append') {
  const mine: Array<[number, string]> = [];
  let next = 0;
  const worker = async () => {
    while (next < task.count!) {
      const i = next++;
      const texts = Array.from({ length: 1 + (i % 3) }, (_, k) => `${task.name}-${i}-${k}`);
      const lsns = await wal.append(texts.map((text) => ({ type: 1, payload: Buffer.from(text) })));
      lsns.forEach((lsn, k) => mine.push([lsn, texts[k]!]));
    }
  };
  await Promise.all(Array.from({ length: task.concurrency ?? 1 }, worker));
  const deadline = Date.now() + 10_000;
  while (seen.length < (task.total ?? 0) && Date.now() < deadline) {
    wal.refresh();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await wal.fence();
  say({ mine, seen });
} else if (task.mode === 'slow') {
  const lsns = await wal.append([{ type: 1, payload: Buffer.from(`${task.name}-slow`) }], {
    check: () => {
      // Inside the append's transaction, holding the writer lock: say so, then keep it open.
      say({ locked: true });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, task.holdMs ?? 1_000);
    },
  });
  say({ lsns });
} else {
  const filler = 'x'.repeat(task.size ?? 1_000);
  for (let i = 0; ; i++) {
    const texts = Array.from({ length: 4 }, (_, k) => `${task.name}-${i}-${k}-${filler}`);
    const lsns = await wal.append(texts.map((text) => ({ type: 1, payload: Buffer.from(text) })));
    say({ acked: lsns });
  }
}
await wal.close();
