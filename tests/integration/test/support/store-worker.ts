// A child process for multi-process tests, driven by its arguments and stdin:
//   append ROOT TAG COUNT  appends COUNT memories tagged TAG (bursts of 8 and single ones), prints
//                          {"ids":[…]}, then on each stdin line "count TAG…" prints {"counts":{TAG:n…},"total":n},
//                          and on "read ID…" prints {"texts":{ID:text|null…}}.
//   query ROOT TEXT        queries TEXT (loading the index), prints {"hits":n}, then reads nothing until a
//                          line on stdin: "query TEXT" prints {"hits":n}, "checkpoint" writes one (saving the
//                          index) and prints {"checkpointed":true}, "busy MS" blocks its event loop for MS
//                          and prints {"busy":MS}; closes when stdin ends.
//   claim ROOT NAME COUNT  prints {"ready":true}; on a stdin line sets claim/0…claim/COUNT-1 to NAME, each
//                          only if absent (setKvs ifAbsent), and prints {"won":[i…]}: the keys it set.
//   state ROOT N GAP_MS    writes N agent states, GAP_MS apart, printing {"wrote":i,"at":ms} after each.
//   compact-behind-background ROOT  starts a compaction by policy, asks for one (not awaited) and closes
//                          at once; prints {"closed":true,"report":…} once close() is done.
//   hold ROOT TEXT…        appends one memory a TEXT, prints {"id":n,"ids":[…]} (n: the first's), then
//                          until stdin ends (or it is killed), on each line "read ID" prints {"text":…|null},
//                          and on "append TEXT" prints {"id":n}.
//   update ROOT ID FIELD N updates FIELD ('tags' or 'meta') of memory ID N times (to round i), prints {"done":N}.
//   delete ROOT ID…        deletes each memory, all at once, prints {"deleted":[true|false…]}.
//   churn ROOT TAG N EVERY appends N memories tagged TAG (in pairs), deletes every fifth and updates the
//                          meta of every third of its own, writes a checkpoint every EVERY appends (not
//                          awaited), prints {"kept":{id:text…},"deleted":[id…],"updated":[id…]}.
//   compact ROOT [erase]   prints {"ready":true}, and on the first stdin line compacts (printing
//                          {"copied":n} as blocks are copied), then prints {"report":…}. With
//                          MEMMAPFS_TEST_HOLD_INDEX_COMPACTION=1 (and segments), its compacting save of the
//                          index prints {"compactingIndex":true} and waits for the next stdin line.
//   save-held ROOT TEXT    appends TEXT and three notes, searches (its index holds them in memory), prints
//                          {"id":n} (TEXT's); on the first stdin line writes a checkpoint, whose save of the
//                          index, with MEMMAPFS_TEST_HOLD_INDEX_SAVE=1 (and segments), prints
//                          {"savedIndexFiles":true} once its files are written and waits for the next line;
//                          then prints {"checkpointed":true}, and closes when stdin ends.
import { createInterface } from 'node:readline';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { segmentSearch, SegmentSearchProvider } from '@memmapfs/search-segments';

const [command, root, ...rest] = process.argv.slice(2);
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
// MEMMAPFS_TEST_RETENTION=0: every checkpoint lets the log drop the segments before it.
const retention = process.env.MEMMAPFS_TEST_RETENTION;
// The lines on stdin, one reader for every command that waits for them.
let stdinLines: AsyncIterator<string> | undefined;
const nextLine = () => (stdinLines ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]()).next();

/** Segments whose compacting save waits for a line on stdin: the window after a compaction cut the log, held open. */
class HeldIndexCompaction extends SegmentSearchProvider {
  constructor() {
    super(16, 3, { provider: 'segments', options: { flushAfter: 16, mergeFactor: 3 } });
  }
  override async saveIndex(options: { purge?: boolean; compact?: boolean } = {}): Promise<Uint8Array> {
    if (options.compact) {
      print({ compactingIndex: true });
      await nextLine();
    }
    return super.saveIndex(options);
  }
}

/** Segments whose first save, once its files are written, waits for a line on stdin: a save under way, held open. */
class HeldIndexSave extends SegmentSearchProvider {
  private held = false;
  constructor() {
    super(16, 3, { provider: 'segments', options: { flushAfter: 16, mergeFactor: 3 } });
  }
  override async saveIndex(options: { purge?: boolean; compact?: boolean } = {}): Promise<Uint8Array> {
    const saved = await super.saveIndex(options);
    if (!this.held) {
      this.held = true;
      print({ savedIndexFiles: true });
      await nextLine();
    }
    return saved;
  }
}

// MEMMAPFS_TEST_SEARCH=segments: the search index in segment files (small ones, merged often).
const segments = process.env.MEMMAPFS_TEST_HOLD_INDEX_COMPACTION === '1'
  ? new HeldIndexCompaction()
  : process.env.MEMMAPFS_TEST_HOLD_INDEX_SAVE === '1'
    ? new HeldIndexSave()
    : segmentSearch({ flushAfter: 16, mergeFactor: 3 });
const search = process.env.MEMMAPFS_TEST_SEARCH === 'segments' ? segments : flexsearch();
const fs = await MemMapFS.init(root!, { search, codec: msgpack(), ...(retention !== undefined ? { historyRetentionMs: Number(retention) } : {}) });

if (command === 'append') {
  const [tag, count] = [rest[0]!, Number(rest[1])];
  const ids: number[] = [];
  let i = 0;
  while (i < count) {
    const burst = Math.min(i % 3 === 0 ? 8 : 1, count - i);
    const texts = Array.from({ length: burst }, (_, k) => `${tag} memory ${i + k} shared folder`);
    i += burst;
    ids.push(...(await Promise.all(texts.map((text) => fs.appendMemory(text, [tag])))));
  }
  print({ ids });
  for await (const line of createInterface({ input: process.stdin })) {
    const [verb, ...tags] = line.trim().split(/\s+/);
    if (verb === 'read') {
      const texts: Record<string, string | null> = {};
      for (const id of tags) texts[id] = (await fs.getMemory(Number(id)))?.text ?? null;
      print({ texts });
      continue;
    }
    if (verb !== 'count') break;
    const counts: Record<string, number> = {};
    for (const t of tags) counts[t] = (await fs.queryMemory('shared folder', { tags: [t], limit: 1000 })).length;
    print({ counts, total: fs.stats().memories });
  }
} else if (command === 'hold') {
  const ids: number[] = [];
  for (const text of rest) ids.push(await fs.appendMemory(text));
  print({ id: ids[0], ids });
  for await (const line of createInterface({ input: process.stdin })) {
    const [verb, ...words] = line.split(' ');
    if (verb === 'read') print({ text: (await fs.getMemory(Number(words[0])))?.text ?? null });
    else if (verb === 'append') print({ id: await fs.appendMemory(words.join(' ')) });
  }
} else if (command === 'update') {
  const [id, field, n] = [Number(rest[0]), rest[1]!, Number(rest[2])];
  for (let i = 1; i <= n; i++) await fs.updateMemory(id, field === 'tags' ? { tags: [`round-${i}`] } : { meta: { round: i } });
  print({ done: n });
} else if (command === 'delete') {
  print({ deleted: await Promise.all(rest.map((id) => fs.deleteMemory(Number(id)))) });
} else if (command === 'churn') {
  const [tag, n, every] = [rest[0]!, Number(rest[1]), Number(rest[2])];
  const kept: Record<number, string> = {};
  const deleted: number[] = [];
  const updated: number[] = [];
  const checkpoints: Promise<void>[] = [];
  for (let i = 0; i < n; i += 2) {
    const texts = [`${tag} churn ${i}`, `${tag} churn ${i + 1}`];
    const ids = await Promise.all(texts.map((text) => fs.appendMemory(text, [tag])));
    ids.forEach((id, k) => (kept[id] = texts[k]!));
    for (const [k, id] of ids.entries()) {
      if ((i + k) % 5 === 4) {
        await fs.deleteMemory(id);
        delete kept[id];
        deleted.push(id);
      } else if ((i + k) % 3 === 2) {
        await fs.updateMemory(id, { meta: { by: tag } });
        updated.push(id);
      }
    }
    if (i % every === 0) checkpoints.push(fs.checkpoint());
  }
  await Promise.all(checkpoints);
  print({ kept, deleted, updated });
} else if (command === 'compact') {
  print({ ready: true });
  await nextLine();
  print({ report: await fs.compact({ erase: rest[0] === 'erase', onProgress: (copied) => print({ copied }) }) });
} else if (command === 'save-held') {
  const id = await fs.appendMemory(rest[0]!);
  for (let i = 0; i < 3; i++) await fs.appendMemory(`ordinary note from the saver ${i}`);
  await fs.queryMemory('note');
  print({ id });
  await nextLine();
  await fs.checkpoint();
  print({ checkpointed: true });
  while (!(await nextLine()).done);
} else if (command === 'compact-behind-background') {
  // A compaction by policy (whose grace does not keep the process alive), one asked for behind it
  // (not awaited), and close() at once: the process must live until close() is done.
  const engine = (fs as unknown as { engine: { compact(options: { background: boolean }): Promise<unknown> } }).engine;
  void engine.compact({ background: true });
  const asked = fs.compact();
  await fs.close();
  print({ closed: true, report: await asked });
} else if (command === 'query') {
  print({ hits: (await fs.queryMemory(rest.join(' '), { limit: 1000 })).length });
  for await (const line of createInterface({ input: process.stdin })) {
    const [verb, ...words] = line.split(' ');
    if (verb === 'query') print({ hits: (await fs.queryMemory(words.join(' '), { limit: 1000 })).length });
    else if (verb === 'checkpoint') {
      await fs.checkpoint();
      print({ checkpointed: true });
    } else if (verb === 'busy') {
      const until = Date.now() + Number(words[0]);
      while (Date.now() < until);
      print({ busy: Number(words[0]) });
    }
  }
} else if (command === 'claim') {
  // Once a line arrives on stdin (every worker started), claims each key claim/0… with its name, unless set.
  const [name, count] = [rest[0]!, Number(rest[1])];
  print({ ready: true });
  await nextLine();
  const won: number[] = [];
  for (let i = 0; i < count; i++) {
    const { skipped } = await fs.setKvs([[`claim/${i}`, name]], { ifAbsent: true });
    if (skipped.length === 0) won.push(i);
  }
  print({ won });
} else if (command === 'state') {
  const [n, gap] = [Number(rest[0]), Number(rest[1])];
  for (let i = 1; i <= n; i++) {
    await new Promise((resolve) => setTimeout(resolve, gap));
    await fs.updateState({ status: `step-${i}`, activeMemoryCount: i, lastUpdatedId: 0, extra: { pid: process.pid } });
    print({ wrote: i, at: Date.now() });
  }
}
await fs.close();
