// One process of the cross-process benchmark: appends COUNT memories one at a time (each awaited) to
// the store at ROOT once told to start (a line on stdin), then prints {"ops":COUNT,"ms":elapsed}.
import { createInterface } from 'node:readline';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { segmentSearch } from '@memmapfs/search-segments';

const [root, countArg] = process.argv.slice(2);
const count = Number(countArg);
const fs = await MemMapFS.init(root!, { search: segmentSearch(), codec: msgpack() });
await fs.appendMemory('warm-up');
process.stdout.write('ready\n');
for await (const _line of createInterface({ input: process.stdin })) break;
const started = performance.now();
for (let i = 0; i < count; i++) await fs.appendMemory(`process ${process.pid} memory ${i}: keep the deployment window on Fridays`, ['bench']);
const ms = performance.now() - started;
process.stdout.write(`${JSON.stringify({ ops: count, ms })}\n`);
await fs.close();
