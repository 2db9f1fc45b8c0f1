import { appendFile, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS, repairStore, verifyStore } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { useTempStore } from './support/temp-store.js';
import { damageBlock } from './support/damage-block.js';

const tempStore = useTempStore('verify');
let dir: string;
let root: string;
beforeEach(() => {
  ({ dir, root } = tempStore());
});

const open = () => MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });

async function seed(count: number): Promise<number[]> {
  const fs = await open();
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push(await fs.appendMemory(`seeded memory ${i}`, ['seed']));
  await fs.appendStream('log', 'stream bytes');
  await fs.close();
  return ids;
}

describe('verifyStore', () => {
  it('finds nothing wrong with a healthy store and reports its size', async () => {
    await seed(10);
    const report = await verifyStore(root, { codec: msgpack() });
    expect(report).toMatchObject({ ok: true, codec: 'msgpack', blocksChecked: 11, problems: [] });
    expect(report.records).toBeGreaterThanOrEqual(11);
  });

  it('counts the log up to its last record, not the room written ahead of it', async () => {
    const fs = await open();
    for (let i = 0; i < 10; i++) await fs.appendMemory(`memory ${i}`);
    const { walBytes } = fs.stats();
    expect((await stat(join(root, 'state.wal'))).size).toBeGreaterThan(walBytes);
    const report = await verifyStore(root);
    expect(report.problems).toEqual([]);
    expect(report.walBytes).toBe(walBytes);
    await fs.close();
  });

  it('reports damage in the middle of the WAL without changing the file', async () => {
    await seed(10);
    const wal = join(root, 'state.wal');
    const image = await readFile(wal);
    image[Math.floor(image.length / 2)]! ^= 0x08;
    await writeFile(wal, image);
    const report = await verifyStore(root, { codec: msgpack() });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ severity: 'error', kind: 'wal-damaged', repairable: true, file: 'state.wal' })]);
    expect((await readFile(wal)).equals(image)).toBe(true);
  });

  it('reports a torn tail as a warning and a corrupt block as an error', async () => {
    await seed(3);
    await appendFile(join(root, 'state.wal'), Buffer.from([1, 2, 3]));
    const chunk = join(root, 'blocks', 'chunk_0000.bin');
    const bytes = await readFile(chunk);
    bytes[bytes.indexOf('memory 1')]! ^= 0x02;
    await writeFile(chunk, bytes);
    const report = await verifyStore(root, { codec: msgpack() });
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => [p.kind, p.severity])).toEqual([['wal-torn-tail', 'warning'], ['block-corrupt', 'error']]);
  });

  it('refuses to check a store under another codec', async () => {
    await seed(2);
    const { cbor } = await import('@memmapfs/codec-cbor');
    const error = await verifyStore(root, { codec: cbor() }).catch((e: unknown) => e);
    expect(MemMapError.is(error, 'CODEC_MISMATCH')).toBe(true);
  });

  it('fails clearly on a folder that is not a store', async () => {
    const error = await verifyStore(join(dir, 'nothing-here')).catch((e: unknown) => e);
    expect(MemMapError.is(error, 'STORE_NOT_FOUND')).toBe(true);
  });
});

describe('repairStore', () => {
  it('keeps none of an appendMemories batch that damage cuts through', async () => {
    const fs = await open();
    const kept = await fs.appendMemory('before the batch');
    await fs.appendMemories(['batch one', 'batch two', 'batch three'].map((text) => ({ text })));
    await fs.close();
    const wal = join(root, 'state.wal');
    const image = await readFile(wal);
    image[image.lastIndexOf('batch three')]! ^= 0x04;
    await writeFile(wal, image);
    const report = await verifyStore(root, { codec: msgpack() });
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'wal-damaged', message: expect.stringContaining('keeps the 1 records before it') })]);
    const result = await repairStore(root, { codec: msgpack() });
    expect(result.after.ok).toBe(true);
    expect(result.after.problems).toEqual([]);
    const reopened = await open();
    expect(reopened.stats().memories).toBe(1);
    expect((await reopened.getMemory(kept))?.text).toBe('before the batch');
    await reopened.close();
  });

  it('with resync: false keeps the valid prefix of a WAL damaged in the middle, backs up the original, and the store opens again', async () => {
    const ids = await seed(10);
    const wal = join(root, 'state.wal');
    const original = await readFile(wal);
    const damaged = Buffer.from(original);
    damaged[Math.floor(original.length / 2)]! ^= 0x08;
    await writeFile(wal, damaged);
    expect(MemMapError.is(await open().catch((e: unknown) => e), 'WAL_CORRUPT')).toBe(true);
    const lockFile = (await stat(join(root, 'state.head'))).ino;

    const result = await repairStore(root, { codec: msgpack(), resync: false });
    expect(result.after.ok).toBe(true);
    // The lock file is never replaced or deleted: an opener waiting on it holds the one lock there is.
    expect((await stat(join(root, 'state.head'))).ino).toBe(lockFile);
    expect(result.actions[0]).toMatch(/Kept the \d+ valid records/);
    expect(result.backup).toBeDefined();
    expect((await readFile(join(result.backup!, 'state.wal'))).equals(damaged)).toBe(true);
    expect((await readdir(root)).some((name) => name.startsWith('repair-backup-'))).toBe(true);

    const fs = await open();
    const present = [];
    for (const id of ids) {
      const memory = await fs.getMemory(id);
      if (memory) {
        expect(memory.text).toBe(`seeded memory ${id - 1}`);
        present.push(id);
      }
    }
    expect(present).toEqual(ids.slice(0, present.length));
    expect(present.length).toBeGreaterThan(0);
    await fs.close();
  });

  it('puts back a damaged block from the copy in its record', async () => {
    const ids = await seed(3);
    const chunk = join(root, 'blocks', 'chunk_0000.bin');
    const bytes = await readFile(chunk);
    bytes[bytes.indexOf('memory 1')]! ^= 0x02;
    await writeFile(chunk, bytes);
    const result = await repairStore(root, { codec: msgpack() });
    expect(result.actions.some((a) => a.startsWith('Put back the block'))).toBe(true);
    expect(result.after).toMatchObject({ ok: true, problems: [] });
    const fs = await open();
    expect((await fs.getMemory(ids[1]!))?.text).toBe('seeded memory 1');
    await fs.close();
  });

  it('removes a damaged search snapshot even when nothing else is wrong', async () => {
    await seed(2);
    await writeFile(join(root, 'index', 'search.snapshot'), 'not a snapshot');
    expect((await verifyStore(root, { codec: msgpack() })).problems.map((p) => p.kind)).toEqual(['search-snapshot-unusable']);
    const result = await repairStore(root, { codec: msgpack() });
    expect(result.actions).toEqual(['Removed the saved search index; it is rebuilt from the log on the next open.']);
    expect(result.after.problems).toEqual([]);
  });

  it('refuses to repair a store that a process has open (STORE_IN_USE), and works once it is closed', async () => {
    await seed(2);
    const fs = await open();
    const error = await repairStore(root, { codec: msgpack() }).catch((e: unknown) => e);
    expect(MemMapError.is(error, 'STORE_IN_USE')).toBe(true);
    await fs.close();
    expect((await repairStore(root, { codec: msgpack() })).after.ok).toBe(true);
  });

  it('does nothing to a healthy store', async () => {
    await seed(2);
    const before = await readFile(join(root, 'state.wal'));
    const result = await repairStore(root, { codec: msgpack() });
    expect(result.actions).toEqual([]);
    expect(result.backup).toBeUndefined();
    expect((await readFile(join(root, 'state.wal'))).equals(before)).toBe(true);
  });
});

describe('a whole named checkpoint before damage in state.wal, a newer one left unnamed past it', () => {
  /**
   * Memories `before` and checkpoint A, `between` and checkpoint B, `after`; then state.manifest and A
   * put back as they were when A was published: B is left unnamed, as a publisher stopped before naming it.
   */
  async function namedBeforeUnnamed(parts: { before: string[]; between: string[]; after: string[] }): Promise<{ ids: number[]; texts: string[]; a: string; b: string }> {
    const checkpoints = async () => (await readdir(join(root, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-')).sort();
    const texts = [...parts.before, ...parts.between, ...parts.after];
    const ids: number[] = [];
    const fs = await open();
    for (const text of parts.before) ids.push(await fs.appendMemory(text));
    await fs.checkpoint();
    const a = (await checkpoints()).at(-1)!;
    const aBytes = await readFile(join(root, 'checkpoints', a));
    const manifest = await readFile(join(root, 'state.manifest'));
    for (const text of parts.between) ids.push(await fs.appendMemory(text));
    await fs.checkpoint();
    const b = (await checkpoints()).at(-1)!;
    for (const text of parts.after) ids.push(await fs.appendMemory(text));
    await fs.close();
    await writeFile(join(root, 'checkpoints', a), aBytes);
    await writeFile(join(root, 'state.manifest'), manifest);
    return { ids, texts, a, b };
  }
  /** Flips a bit of the record holding `text` in state.wal. */
  async function damageWal(text: string): Promise<void> {
    const bytes = await readFile(join(root, 'state.wal'));
    bytes[bytes.indexOf(text) + 3]! ^= 0x20;
    await writeFile(join(root, 'state.wal'), bytes);
  }

  it.each([
    ['before the named checkpoint', 'memory a0 block'],
    ['between the damage and the newer checkpoint (a copy compact would drop)', 'memory newest block'],
  ])('repair puts back a damaged block of a record %s, which an open resuming after the newer checkpoint never replays, when it names that checkpoint and leaves the log', async (_, damaged) => {
    const { ids, texts } = await namedBeforeUnnamed({ before: ['memory a0 block'], between: ['memory damaged', 'memory newest block'], after: ['memory after'] });
    await damageBlock(root, damaged);
    await damageWal('memory damaged');
    await repairStore(root).catch(() => undefined);
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text, texts[i]).toBe(texts[i]);
    await again.close();
  });

  it('verify says repair puts back a damaged block of a record between the named checkpoint and the damage: the open that repair leaves resumes after the newer one, and never replays it', async () => {
    const { ids, texts } = await namedBeforeUnnamed({ before: ['memory a0'], between: ['memory between block', 'memory damaged', 'memory newest'], after: ['memory after'] });
    await damageBlock(root, 'memory between block');
    await damageWal('memory damaged');
    const blockProblems = (await verifyStore(root)).problems.filter((problem) => problem.kind === 'block-corrupt');
    expect(blockProblems).toEqual([expect.objectContaining({ severity: 'error', repairable: true, message: expect.stringContaining('`memmapfs repair` puts it back') })]);
    await repairStore(root).catch(() => undefined);
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text, texts[i]).toBe(texts[i]);
    await again.close();
  });

  it('on a log that dropped its first records, repair puts back a damaged block of a record between the named checkpoint and the damage, when it names the newer one and leaves the log', async () => {
    const fs = await open();
    const ids = await fs.appendMemories(Array.from({ length: 20 }, (_, i) => ({ text: `memory ${i}` })));
    expect((await fs.compact()).logFirstLsn).toBeGreaterThan(1);
    const a = (await readdir(join(root, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-')).sort().at(-1)!;
    const aBytes = await readFile(join(root, 'checkpoints', a));
    const manifest = await readFile(join(root, 'state.manifest'));
    const later = ['later one', 'later damaged', 'later three'];
    for (const text of later) ids.push(await fs.appendMemory(text));
    await fs.checkpoint();
    ids.push(await fs.appendMemory('after it'));
    await fs.close();
    await writeFile(join(root, 'checkpoints', a), aBytes);
    await writeFile(join(root, 'state.manifest'), manifest);
    const texts = [...Array.from({ length: 20 }, (_, i) => `memory ${i}`), ...later, 'after it'];
    await damageWal('later damaged');
    await damageBlock(root, 'later one');
    expect((await verifyStore(root)).problems.filter((problem) => problem.kind === 'block-corrupt')).toEqual([expect.objectContaining({ severity: 'error', repairable: true, message: expect.stringContaining('`memmapfs repair` puts it back') })]);
    await repairStore(root).catch(() => undefined);
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text, texts[i]).toBe(texts[i]);
    await again.close();
  });

  it('with the named checkpoint\'s own record damaged, repair names the newer one, which holds what that record made', async () => {
    const { ids, texts, b } = await namedBeforeUnnamed({ before: ['memory a0'], between: ['memory newest'], after: ['memory after'] });
    await damageWal('memory a0');
    await repairStore(root).catch(() => undefined);
    expect(await readFile(join(root, 'state.manifest'), 'utf8')).toContain(b);
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text, texts[i]).toBe(texts[i]);
    await again.close();
  });

  it('with damage after the newer checkpoint too, repair keeps the log through its record and puts back a damaged block of a record before it', async () => {
    const { ids, texts } = await namedBeforeUnnamed({ before: ['memory a0'], between: ['memory between block', 'memory damaged', 'memory newest'], after: ['memory after1', 'memory after2', 'memory after3'] });
    await damageBlock(root, 'memory between block');
    await damageWal('memory damaged');
    await damageWal('memory after2');
    await repairStore(root);
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text, texts[i]).toBe(texts[i] === 'memory after2' ? undefined : texts[i]);
    await again.close();
  });

  it('with damage after the newer checkpoint too, verify reports a damaged block of that checkpoint whose record (between the damage and it) carries no copy: the store needs a backup of its chunk file', async () => {
    // (Over 64 KiB: its record carries no copy of it.)
    const large = `memory newest block ${'x'.repeat(70 * 1024)}`;
    await namedBeforeUnnamed({ before: ['memory a0'], between: ['memory damaged', large], after: ['memory after1', 'memory after2', 'memory after3'] });
    await damageBlock(root, 'memory newest block');
    await damageWal('memory damaged');
    await damageWal('memory after2');
    expect((await verifyStore(root)).problems).toContainEqual(expect.objectContaining({ kind: 'block-corrupt', severity: 'error', repairable: false, message: expect.stringContaining('No copy exists') }));
  });

  it('verify counts the blocks it checked as the open reads them past a checkpoint that covers damage in state.wal: the checkpoint\'s, and those of the records after it', async () => {
    const { ids } = await namedBeforeUnnamed({ before: ['memory early', 'memory first damage', 'memory a0'], between: ['memory second damage', 'memory newest'], after: ['memory after'] });
    await damageWal('memory first damage');
    await damageWal('memory second damage');
    expect((await verifyStore(root)).blocksChecked).toBe(ids.length);
  });

  it('verify checks the blocks of the records after a checkpoint that covers damage in state.wal, which the open replays: a damaged one without a copy is reported', async () => {
    const large = `memory after block ${'x'.repeat(70 * 1024)}`;
    const { ids } = await namedBeforeUnnamed({ before: ['memory early', 'memory first damage', 'memory a0'], between: ['memory second damage', 'memory newest'], after: [large] });
    await damageWal('memory first damage');
    await damageWal('memory second damage');
    await damageBlock(root, 'memory after block');
    expect((await verifyStore(root)).problems).toContainEqual(expect.objectContaining({ kind: 'block-corrupt', severity: 'error', lsn: ids.at(-1), message: expect.stringContaining('No copy exists') }));
  });

  it('repair puts back a damaged block of a record after a checkpoint that covers damage in state.wal, as verify says (the open does not: a later chunk-sync record dropped its copy), and a compact after it keeps the memory', async () => {
    const { ids } = await namedBeforeUnnamed({ before: ['memory early', 'memory first damage', 'memory a0'], between: ['memory newest'], after: ['memory after block'] });
    await damageWal('memory first damage');
    await damageBlock(root, 'memory after block');
    expect((await verifyStore(root)).problems).toContainEqual(expect.objectContaining({ kind: 'block-corrupt', lsn: ids.at(-1), repairable: true, message: expect.stringContaining('`memmapfs repair` puts it back') }));
    await repairStore(root).catch(() => undefined);
    const fs = await open();
    expect((await fs.getMemory(ids.at(-1)!))?.text).toBe('memory after block');
    await fs.compact();
    await fs.close();
    const again = await open();
    expect((await again.getMemory(ids.at(-1)!))?.text).toBe('memory after block');
    await again.close();
  });

  it('with damage after the newer checkpoint too and --no-resync, repair neither puts back nor claims the block of a record it drops', async () => {
    const { ids } = await namedBeforeUnnamed({ before: ['memory a0'], between: ['memory damaged', 'memory newest'], after: ['memory after1', 'memory after2', 'memory after3 block'] });
    await damageBlock(root, 'memory after3 block');
    await damageWal('memory damaged');
    await damageWal('memory after2');
    const result = await repairStore(root, { resync: false });
    expect(result.actions.filter((action) => action.startsWith(`Put back the block of record ${ids.at(-1)} `))).toEqual([]);
    expect(result.after.problems.filter((problem) => problem.kind.startsWith('block-'))).toEqual([]);
  });

  it('with damage after the newer checkpoint too, verify does not promise to put back the block of a memory that checkpoint no longer holds (deleted after the damage)', async () => {
    const fs = await open();
    const gone = await fs.appendMemory('memory gone block');
    await fs.checkpoint();
    const a = (await readdir(join(root, 'checkpoints'))).filter((name) => name.startsWith('checkpoint-')).sort().at(-1)!;
    const aBytes = await readFile(join(root, 'checkpoints', a));
    const manifest = await readFile(join(root, 'state.manifest'));
    await fs.appendMemory('memory damaged');
    await fs.deleteMemory(gone);
    await fs.checkpoint();
    for (const text of ['memory after1', 'memory after2', 'memory after3']) await fs.appendMemory(text);
    await fs.close();
    await writeFile(join(root, 'checkpoints', a), aBytes);
    await writeFile(join(root, 'state.manifest'), manifest);
    await damageBlock(root, 'memory gone block');
    await damageWal('memory damaged');
    await damageWal('memory after2');
    expect((await verifyStore(root)).problems.filter((problem) => problem.kind.startsWith('block-'))).toEqual([]);
    // (What is left is the damage the checkpoint covers, for compact to drop.)
    const report = await repairStore(root);
    expect(report.after.problems.map((problem) => problem.kind)).toEqual(['wal-damaged']);
  });

  it('with damage before the named checkpoint\'s record too, repair names the newer one, which covers both: nothing is lost', async () => {
    const { ids, texts, b } = await namedBeforeUnnamed({ before: ['memory early', 'memory first damage', 'memory a0'], between: ['memory second damage', 'memory newest'], after: ['memory after'] });
    await damageWal('memory first damage');
    await damageWal('memory second damage');
    const found = await verifyStore(root);
    expect(found.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-unusable', file: expect.stringMatching(/^checkpoints\//), repairable: true, message: expect.stringContaining(b) }));
    // (Repair names it and leaves the log, then says the damage left before it is compact's to drop.)
    const refusal = await repairStore(root).then(() => undefined, (error: unknown) => error);
    expect(String(refusal)).toContain(`repair named it, ${b}`);
    expect(await readFile(join(root, 'state.manifest'), 'utf8')).toContain(b);
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text, texts[i]).toBe(texts[i]);
    await again.close();
  });

  it('with the named checkpoint\'s file gone, repair names the newer one and verify does not say the named one ends before the damage', async () => {
    const { ids, texts, a, b } = await namedBeforeUnnamed({ before: ['memory a0'], between: ['memory damaged', 'memory newest'], after: ['memory after1', 'memory after2', 'memory after3'] });
    await unlink(join(root, 'checkpoints', a));
    await damageWal('memory damaged');
    await damageWal('memory after2');
    const found = await verifyStore(root);
    expect(found.problems.map((problem) => problem.message).join(' ')).not.toContain('ends before the damage in state.wal');
    await repairStore(root).catch(() => undefined);
    expect((await readFile(join(root, 'state.manifest'), 'utf8'))).toContain(b);
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text, texts[i]).toBe(texts[i] === 'memory after2' ? undefined : texts[i]);
    await again.close();
  });
});
