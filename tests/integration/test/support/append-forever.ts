// A child process for crash tests: appends memories forever, one at a time, in concurrent bursts and in
// batches (appendMemories), and reports on stdout each batch ("batch") and each text before it is
// written ("try"), and each acknowledged id ("ack"). With a third argument `checkpoints`, it also
// writes a checkpoint of the tables every few steps, while the appends go on.
// stdout is written synchronously so that a line printed is a line the parent will read, even if
// the process is killed right after.
import { randomBytes } from 'node:crypto';
import { writeSync } from 'node:fs';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { segmentSearch } from '@memmapfs/search-segments';

const [root, tag = 'child', mode] = process.argv.slice(2);
if (!root) throw new Error('usage: append-forever.ts ROOT [TAG] [checkpoints|retention|compaction|segments]');

/** Writes a line to stdout before returning, waiting out a full pipe (EAGAIN) rather than failing. */
function report(line: string): void {
  const bytes = Buffer.from(`${line}\n`);
  let written = 0;
  while (written < bytes.length) {
    try {
      written += writeSync(1, bytes, written);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}
// `retention`: checkpoints as above, each letting the log drop the segments before it. `compaction`: memories
// deleted at once between the appends, and compactions while the appends go on. `segments`: the search
// index kept in segment files (small ones, merged often), queried, updated and saved with checkpoints
// while the appends go on.
const search = mode === 'segments' ? segmentSearch({ flushAfter: 16, mergeFactor: 3 }) : flexsearch();
const fs = await MemMapFS.init(root, { search, codec: msgpack(), chunkSizeBytes: 64 * 1024, ...(mode === 'retention' ? { historyRetentionMs: 0 } : {}) });
report('ready');

let sequence = 0;
// (With `segments`, each text also holds one word no other text holds, which finds it alone.)
const nextText = () => `${tag}-${process.pid}-${sequence++} ${mode === 'segments' ? `u${process.pid}x${sequence}z ` : ''}${'payload '.repeat(1 + (sequence % 40))}`.trim();

async function appendOne(): Promise<void> {
  const text = nextText();
  report(`try\t${JSON.stringify(text)}`);
  const id = await fs.appendMemory(text, [tag]);
  report(`ack\t${id}\t${JSON.stringify(text)}`);
}

let batches = 0;
const run = randomBytes(4).toString('hex');
/** Four memories in one call, which must survive a kill all together or not at all. */
async function appendBatch(): Promise<void> {
  const name = `batch-${run}-${batches++}`;
  const texts = Array.from({ length: 4 }, (_, i) => `${name} ${i + 1} of 4 ${nextText()}`);
  report(`batch\t${JSON.stringify(texts)}`);
  for (const text of texts) report(`try\t${JSON.stringify(text)}`);
  const ids = await fs.appendMemories(texts.map((text) => ({ text, tags: [tag, 'batch'] })));
  ids.forEach((id, i) => report(`ack\t${id}\t${JSON.stringify(texts[i])}`));
}

/** A memory never acknowledged (so never expected back), deleted at once: dead bytes for compaction. */
async function appendDoomed(): Promise<void> {
  const text = `doomed ${nextText()}`;
  report(`try\t${JSON.stringify(text)}`);
  await fs.deleteMemory(await fs.appendMemory(text, [tag]));
}

let compacting: Promise<unknown> | undefined;
for (let step = 0; ; step++) {
  if (mode === 'compaction') {
    await appendDoomed();
    // Not awaited: the compaction copies, moves and removes chunks while appends commit.
    if (step % 9 === 0 && !compacting) compacting = fs.compact({ erase: step % 18 === 0 }).catch((error: unknown) => report(`compaction-failed\t${JSON.stringify(String(error))}`)).finally(() => (compacting = undefined));
  }
  // Not awaited: the checkpoint is written while appends commit.
  if ((mode === 'checkpoints' || mode === 'retention' || mode === 'segments') && step % 7 === 0) fs.checkpoint().catch((error: unknown) => report(`checkpoint-failed\t${JSON.stringify(String(error))}`));
  if (mode === 'segments') {
    // The index loaded and fed; some memories changed (a word added) or deleted, never acknowledged as such.
    if (step % 5 === 0) await fs.queryMemory('payload', { limit: 3 });
    if (step % 6 === 2) await appendDoomed();
  }
  if (step % 3 === 0) await Promise.all(Array.from({ length: 8 }, appendOne));
  else if (step % 4 === 1) await appendBatch();
  else await appendOne();
}
