import * as nodeFiles from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { MemMapFS, verifyStore } from '@memmapfs/core';
import { useTempRoot, v8Codec, WordSearch } from './fixtures.js';

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
});

const codec = v8Codec();
const open = () => MemMapFS.init(root, { codec, search: new WordSearch() });
type Expected = { text: string; tags: string[]; namespace: string; meta: Record<string, unknown>; expiresAt?: number };

describe('a checkpoint written over an earlier one', () => {
  it('copies the rows no change touched, across groups of rows, with the changed and new ones in between: a reopen reads every memory as it is, and verify finds nothing wrong', async () => {
    const expected = new Map<number, Expected>();
    const fs = await open();
    const add = async (count: number, round: number) => {
      const items = Array.from({ length: count }, (_, i) => ({ text: `round ${round} memory ${i} ${'x'.repeat(i % 7)}`, tags: i % 3 === 0 ? [`t${i % 5}`] : [], namespace: `ns${i % 4}`, meta: { i, round }, ...(i % 11 === 0 ? { ttlMs: 3_600_000 } : {}) }));
      const ids = await fs.appendMemories(items);
      for (const id of ids) {
        const m = (await fs.getMemory(id))!;
        expected.set(id, { text: m.text, tags: m.tags, namespace: m.namespace, meta: m.meta, ...(m.expiresAt !== undefined ? { expiresAt: m.expiresAt } : {}) });
      }
      return ids;
    };
    const first = await add(300, 1);
    await fs.checkpoint();
    // Changes at the edges of groups of 64 rows and between them, of labels of other lengths.
    for (const at of [0, 1, 63, 64, 65, 127, 128, 200, 299]) {
      const updated = (await fs.updateMemory(first[at]!, { text: `updated ${at}`, tags: ['changed', `long-tag-${'y'.repeat(at % 13)}`], meta: { at } }))!;
      expected.set(first[at]!, { ...expected.get(first[at]!)!, text: updated.text, tags: updated.tags, meta: updated.meta });
    }
    for (const at of [2, 62, 66, 150, 298]) {
      await fs.deleteMemory(first[at]!);
      expected.delete(first[at]!);
    }
    await add(70, 2);
    await fs.checkpoint();
    // Once more over the copy: its rows, and the labels moved, are copied again.
    const second = [...expected.keys()];
    for (const id of [second[10]!, second[100]!, second.at(-1)!]) {
      await fs.deleteMemory(id);
      expected.delete(id);
    }
    await add(5, 3);
    await fs.checkpoint();
    await fs.close();

    const again = await open();
    // Opened from the last checkpoint: its rows are every memory.
    expect((again as unknown as { engine: { memories: { baseCount: number } } }).engine.memories.baseCount).toBe(expected.size);
    for (const [id, want] of expected) {
      const m = await again.getMemory(id);
      expect({ text: m?.text, tags: m?.tags, namespace: m?.namespace, meta: m?.meta, ...(m?.expiresAt !== undefined ? { expiresAt: m.expiresAt } : {}) }, `memory ${id}`).toEqual(want);
    }
    expect((await again.stats()).memories).toBe(expected.size);
    await again.close();
    expect((await verifyStore(root, { codec })).problems).toEqual([]);
  });

  it('over rows damaged after their check that compaction then moved (their records made from those rows), fails with CHECKPOINT_CORRUPT rather than write the damage under fresh checksums; its file, whole, is kept, and the next open reads them as they were', async () => {
    const fs = await MemMapFS.init(root, { codec, search: new WordSearch(), reader: 'read' });
    const ids = await fs.appendMemories(Array.from({ length: 64 }, (_, i) => ({ text: `memory ${i}`, tags: [`tag-${String(i).padStart(2, '0')}x`] })));
    // Dead bytes beside them, so that compaction takes their chunk and moves them.
    const dead = await fs.appendMemories(Array.from({ length: 8 }, (_, i) => ({ text: `${i} ${'dead text '.repeat(2000)}` })));
    for (const id of dead) await fs.deleteMemory(id);
    await fs.checkpoint();
    await fs.close();
    const again = await MemMapFS.init(root, { codec, search: new WordSearch(), reader: 'read' });
    // Read once: their group of rows is checked now, and not again when read.
    for (const id of ids) expect((await again.getMemory(id))?.tags).toHaveLength(1);
    // Then the page holding their labels reads back damaged: each tag now says y where it said x.
    const bytes = Buffer.from((again as unknown as { engine: { checkpointFile: { bytes(): Uint8Array } } }).engine.checkpointFile.bytes().buffer);
    let damaged = 0;
    for (let at = bytes.indexOf('x', 0, 'latin1'); at >= 0; at = bytes.indexOf('x', at + 1, 'latin1')) {
      if (bytes.toString('latin1', at - 6, at - 2) !== 'tag-') continue;
      bytes[at] = 'y'.charCodeAt(0);
      damaged++;
    }
    expect(damaged).toBe(64);
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const outcome = await again.compact().then(() => 'compacted', (error: { code?: string }) => error.code);
      expect(outcome).toBe('CHECKPOINT_CORRUPT');
      await again.close().catch(() => undefined);
      const reopened = await open();
      for (const [i, id] of ids.entries()) expect((await reopened.getMemory(id))?.tags).toEqual([`tag-${String(i).padStart(2, '0')}x`]);
      await reopened.close();
    } finally {
      warnings.mockRestore();
    }
  });

  it('over rows damaged after their check in this process\'s copy only, once a compaction let the log drop the records before it, fails with CHECKPOINT_CORRUPT and keeps the file; this process checks those rows again, and the next open reads every memory', async () => {
    const fs = await MemMapFS.init(root, { codec, search: new WordSearch(), reader: 'read' });
    const ids = await fs.appendMemories(Array.from({ length: 64 }, (_, i) => ({ text: `memory ${i}`, tags: [`tag-${String(i).padStart(2, '0')}x`] })));
    expect((await fs.compact()).logFirstLsn).toBeGreaterThan(1);
    await fs.close();
    const again = await MemMapFS.init(root, { codec, search: new WordSearch(), reader: 'read' });
    for (const id of ids) expect((await again.getMemory(id))?.tags).toHaveLength(1);
    // The page holding their labels reads back damaged after that check (a heap copy here, as the
    // 'read' reader holds it; the file itself is whole).
    const bytes = Buffer.from((again as unknown as { engine: { checkpointFile: { bytes(): Uint8Array } } }).engine.checkpointFile.bytes().buffer);
    for (let at = bytes.indexOf('x', 0, 'latin1'); at >= 0; at = bytes.indexOf('x', at + 1, 'latin1')) {
      if (bytes.toString('latin1', at - 6, at - 2) === 'tag-') bytes[at] = 'y'.charCodeAt(0);
    }
    const later = await again.appendMemory('after the damage');
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const outcome = await again.checkpoint().then(() => 'written', (error: { code?: string; message?: string }) => `${error.code}: ${error.message}`);
      expect(outcome).toMatch(/^CHECKPOINT_CORRUPT: .*its file does not show the damage when read again/);
      // This process no longer answers from rows it checked before: they are checked again, and fail.
      await expect(again.getMemory(ids[0]!)).rejects.toMatchObject({ code: 'CHECKPOINT_CORRUPT' });
      await again.close().catch(() => undefined);
    } finally {
      warnings.mockRestore();
    }
    const reopened = await open();
    for (const [i, id] of ids.entries()) expect((await reopened.getMemory(id))?.tags).toEqual([`tag-${String(i).padStart(2, '0')}x`]);
    expect((await reopened.getMemory(later))?.text).toBe('after the damage');
    await reopened.close();
  });

  it('refuses an update made from a row damaged after its check with CHECKPOINT_CORRUPT, rather than log the damage as the memory', async () => {
    const fs = await MemMapFS.init(root, { codec, search: new WordSearch(), reader: 'read' });
    const [id] = await fs.appendMemories([{ text: 'the memory', tags: ['tag-00x'] }]);
    await fs.checkpoint();
    await fs.close();
    const again = await MemMapFS.init(root, { codec, search: new WordSearch(), reader: 'read' });
    expect((await again.getMemory(id!))?.tags).toEqual(['tag-00x']);
    // Its page read back damaged after that check (a heap copy here, as the 'read' reader holds it).
    const bytes = Buffer.from((again as unknown as { engine: { checkpointFile: { bytes(): Uint8Array } } }).engine.checkpointFile.bytes().buffer);
    const at = bytes.indexOf('tag-00x', 0, 'latin1');
    expect(at).toBeGreaterThan(0);
    bytes[at + 6] = 'y'.charCodeAt(0);
    // The update keeps the memory's tags, read from that row: refused, and nothing logged.
    const outcome = await again.updateMemory(id!, { text: 'changed' }).then(() => 'updated', (error: { code?: string }) => error.code);
    expect(outcome).toBe('CHECKPOINT_CORRUPT');
    await again.close().catch(() => undefined);
    const reopened = await open();
    expect(await reopened.getMemory(id!)).toMatchObject({ text: 'the memory', tags: ['tag-00x'] });
    await reopened.close();
  });

  it('over one whose row checks are damaged, fails with CHECKPOINT_CORRUPT and removes it, and the next one fails the same way (never a table left frozen); the next open replays the log', async () => {
    const fs = await open();
    const ids = await fs.appendMemories(Array.from({ length: 100 }, (_, i) => ({ text: `memory ${i}` })));
    await fs.checkpoint();
    await fs.close();
    // The check of the last group of rows (the file's last bytes): not covered by the sections' checksums.
    const folder = join(root, 'checkpoints');
    const name = (await nodeFiles.readdir(folder)).filter((n) => n.startsWith('checkpoint-')).sort().at(-1)!;
    const bytes = await nodeFiles.readFile(join(folder, name));
    bytes[bytes.length - 1]! ^= 0xff;
    await nodeFiles.writeFile(join(folder, name), bytes);
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const again = await open();
      const last = await again.appendMemory('after the damage');
      const outcome = (promise: Promise<unknown>) => promise.then(() => 'written', (error: { code?: string; message?: string }) => `${error.code}: ${error.message}`);
      expect(await outcome(again.checkpoint())).toMatch(/^CHECKPOINT_CORRUPT: .*removed/);
      const second = await outcome(again.checkpoint());
      expect(second).toMatch(/^CHECKPOINT_CORRUPT/);
      expect(second).not.toContain('already being written');
      await again.close().catch(() => undefined);
      expect(await nodeFiles.readdir(folder).then((names) => names.includes(name))).toBe(false);
      const reopened = await open();
      for (const id of [...ids, last]) expect((await reopened.getMemory(id))?.text).toBeDefined();
      await reopened.close();
    } finally {
      warnings.mockRestore();
    }
  });
});

describe('a checkpoint that does not read back as written', () => {
  /** `node:fs/promises` that flips a byte of the header of every checkpoint written while `spoil.on`. */
  const spoiling = () => {
    const spoil = { on: false };
    const files = {
      ...nodeFiles,
      open: (async (...args: Parameters<typeof nodeFiles.open>) => {
        const handle = await nodeFiles.open(...args);
        if (!/\/\.checkpoint-.*\.tmp$/.test(String(args[0]))) return handle;
        const write = handle.write.bind(handle) as (...rest: unknown[]) => Promise<unknown>;
        handle.write = (async (...rest: unknown[]) => {
          const [buffer, , , position] = rest as [Buffer, number, number, number];
          if (spoil.on && position === 0 && Buffer.isBuffer(buffer)) {
            const spoiled = Buffer.from(buffer);
            spoiled[40] = spoiled[40]! ^ 0xff;
            return write(spoiled, ...rest.slice(1));
          }
          return write(...rest);
        }) as typeof handle.write;
        return handle;
      }) as typeof nodeFiles.open,
    };
    return { spoil, files };
  };

  it('fails naming the new file, leaves it nowhere, and keeps the one before, which the next open reads every memory from', async () => {
    const { spoil, files } = spoiling();
    const fs = await MemMapFS.init(root, { codec, search: new WordSearch(), fileSystem: files });
    const ids = await fs.appendMemories(Array.from({ length: 20 }, (_, i) => ({ text: `memory ${i}` })));
    await fs.checkpoint();
    const before = (await nodeFiles.readdir(join(root, 'checkpoints'))).sort();
    expect(before.filter((name) => name.startsWith('checkpoint-'))).toHaveLength(1);
    await fs.appendMemory('after the first checkpoint');
    spoil.on = true;
    const error = await fs.checkpoint().then(() => undefined, (e: unknown) => e);
    spoil.on = false;
    expect(error).toMatchObject({ code: 'IO_ERROR' });
    expect((error as Error).message).toMatch(/just written/);
    expect((error as Error).message).not.toContain(before.find((name) => name.startsWith('checkpoint-'))!);
    expect((await nodeFiles.readdir(join(root, 'checkpoints'))).sort()).toEqual(before);
    // The store goes on, and the next checkpoint is written.
    await fs.appendMemory('after the failed checkpoint');
    await fs.checkpoint();
    await fs.close();
    const again = await open();
    for (const [i, id] of ids.entries()) expect((await again.getMemory(id))?.text).toBe(`memory ${i}`);
    expect(await again.queryMemory('failed')).toHaveLength(1);
    await again.close();
    expect((await verifyStore(root, { codec })).problems).toEqual([]);
  });

  it('fails the same way when it is the first checkpoint of the store, and says that nothing was removed', async () => {
    const { spoil, files } = spoiling();
    const fs = await MemMapFS.init(root, { codec, search: new WordSearch(), fileSystem: files });
    await fs.appendMemory('before any checkpoint');
    spoil.on = true;
    const error = await fs.checkpoint().then(() => undefined, (e: unknown) => e);
    spoil.on = false;
    expect(error).toMatchObject({ code: 'IO_ERROR' });
    expect((error as Error).message).not.toMatch(/removed, and the next open replays/);
    expect((await nodeFiles.readdir(join(root, 'checkpoints')).catch(() => [] as string[])).filter((name) => !name.endsWith('.lock'))).toEqual([]);
    await fs.close();
  });
});

describe('a checkpoint whose tables the codec cannot encode', () => {
  it('holds KV values however large together (a section of their own), and fails with PROVIDER_FAILED, not IO_ERROR, when its tables cannot be encoded; nothing is lost, and a checkpoint is written once they shrink', async () => {
    const base = v8Codec();
    let limit = 10_000;
    let oversize = false;
    // As msgpackr past its largest buffer: the tables are encoded in one value.
    const capped = { ...base, encode: (value: unknown) => {
      const bytes = base.encode(value);
      const tables = typeof value === 'object' && value !== null && 'kvSection' in value;
      if (bytes.byteLength > limit && tables) throw new RangeError('Packed buffer would be larger than maximum buffer size');
      // (Its length alone is looked at before the write it would fail.)
      return oversize && tables ? Object.defineProperty(new Uint8Array(0), 'byteLength', { value: 2 ** 31 }) : bytes;
    } };
    const fs = await MemMapFS.init(root, { codec: capped, search: new WordSearch() });
    await fs.setKv('large', new Uint8Array(20_000));
    await fs.appendMemory('kept');
    await fs.checkpoint();
    await fs.updateState({ status: 'x'.repeat(20_000), activeMemoryCount: 0, lastUpdatedId: 0, extra: {} });
    const failed = await fs.checkpoint().then(() => undefined, (error: unknown) => error);
    expect(failed).toMatchObject({ code: 'PROVIDER_FAILED', message: expect.stringMatching(/the tables \(every stream's block list, the state, the namespace counts\) cannot be encoded/) });
    expect(fs.getKv<Uint8Array>('large')?.byteLength).toBe(20_000);
    // Past the 2 GiB one write of the tables section takes (as msgpack encodes up to 4 GiB): the same.
    limit = Number.POSITIVE_INFINITY;
    oversize = true;
    await expect(fs.checkpoint()).rejects.toMatchObject({ code: 'PROVIDER_FAILED', message: expect.stringMatching(/encode to 2147483648 bytes, more than the 2147483647/) });
    oversize = false;
    limit = 10_000;
    await fs.updateState({ status: 'short', activeMemoryCount: 0, lastUpdatedId: 0, extra: {} });
    await fs.checkpoint();
    limit = Number.POSITIVE_INFINITY;
    await fs.close();
    expect((await verifyStore(root, { codec: capped })).problems).toEqual([]);
    const again = await MemMapFS.init(root, { codec: capped, search: new WordSearch() });
    expect(again.getKv<Uint8Array>('large')?.byteLength).toBe(20_000);
    await again.close();
  });
});
