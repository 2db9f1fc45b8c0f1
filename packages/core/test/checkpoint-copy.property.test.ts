import * as nodeFiles from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCheckpointFile, writeCheckpointFile, type CheckpointContents } from '../src/checkpoint/checkpoint-file.js';
import { encodeLabels } from '../src/checkpoint/checkpoint-rows.js';
import type { MemoryRecord } from '../src/engine/log-records.js';
import { MemoryTable } from '../src/engine/memory-table.js';
import type { StoreFileSystem } from '../src/types.js';
import { checkpointContents, namespacesOf, rowsLabelsAndChecks } from './checkpoint-contents.js';
import { v8Codec } from './fixtures.js';
import { seeded } from './support/seeded-random.js';

const codec = v8Codec();
const files = nodeFiles as unknown as StoreFileSystem;

type Write = (...args: unknown[]) => Promise<unknown>;

/** The node file system, whose handles' writes go through `onWrite` (given the handle's own write and the call's arguments). */
function withWrites(onWrite: (write: Write, args: unknown[]) => Promise<unknown>): StoreFileSystem {
  return {
    ...files,
    open: async (path: string, flags: string) => {
      const handle = await nodeFiles.open(path, flags);
      const write = handle.write.bind(handle) as Write;
      (handle as unknown as { write: Write }).write = (...args: unknown[]) => onWrite(write, args);
      return handle;
    },
  } as unknown as StoreFileSystem;
}

/** Memory `id` in its version `v`: labels and fields that differ from one memory and version to the next. */
function memory(id: number, v: number, withEmbedding = false): MemoryRecord {
  const record: MemoryRecord = {
    id,
    ref: { chunk: 1 + (id % 3), offset: id * 10, length: 5 + (id % 17), crc: (id * 2654435761) >>> 0 },
    tags: Array.from({ length: id % 4 }, (_, i) => `t${i}-${'z'.repeat((id + v) % 9)}`),
    namespace: `ns${id % 5}`,
    meta: { v, pad: 'p'.repeat((id * 7 + v) % 23) },
    createdAt: 1000 + id,
    updatedAt: 2000 + id + v,
    expiresAt: id % 11 === 0 ? 5_000_000 + id : undefined,
    version: id + v,
  };
  return withEmbedding ? { ...record, embedding: new Uint8Array(new Float32Array([id, v]).buffer) } : record;
}

const contents = (count: number, memories: CheckpointContents['memories'], namespaces: ReadonlyMap<string, number>) => checkpointContents(codec.name, count, memories, namespaces);

/** Writes `model` as a checkpoint in `dir`, and returns the file and a table whose base it is. */
async function tableOver(dir: string, model: Map<number, MemoryRecord>): Promise<{ baseFile: ReturnType<typeof openCheckpointFile>; table: MemoryTable }> {
  const basePath = join(dir, 'base');
  await writeCheckpointFile(basePath, contents(model.size, () => [...model.values()], namespacesOf(model)), codec, files, 'read');
  const baseFile = openCheckpointFile(basePath, 'read');
  const table = new MemoryTable(codec);
  table.setBase(baseFile.memories(codec), baseFile.tables(codec).expiring, baseFile.tables(codec).namespaces);
  return { baseFile, table };
}

/**
 * Writes `table` (frozen) as a checkpoint through `through`, and `model` afresh, in `dir`: the two must
 * hold the same rows, labels and row checks, and the copy must verify.
 */
async function expectCopyAsAfresh(dir: string, table: MemoryTable, model: Map<number, MemoryRecord>, through: StoreFileSystem = files): Promise<void> {
  const frozen = table.freeze();
  const copiedPath = join(dir, 'copied');
  const { file } = await writeCheckpointFile(copiedPath, contents(frozen.count, frozen.entries, frozen.namespaces), codec, through, 'read');
  const afreshPath = join(dir, 'afresh');
  await writeCheckpointFile(afreshPath, contents(model.size, () => [...model.values()], frozen.namespaces), codec, files, 'read');
  expect(rowsLabelsAndChecks(copiedPath).equals(rowsLabelsAndChecks(afreshPath))).toBe(true);
  expect(file.verify()).toBeUndefined();
}

describe('a checkpoint that copies rows of the last one', () => {
  it('computes the row checks of rows that moved, even where their labels did not (a grown row makes up for deleted ones)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-copy-'));
    try {
      const model = new Map<number, MemoryRecord>();
      for (let id = 1; id <= 8260; id++) model.set(id, memory(id, 0));
      const { table } = await tableOver(dir, model);
      // Rows 2–4 deleted, and row 1's labels grown by as many bytes as theirs: the rows after them lie
      // three rows earlier, their labels where they were.
      const freed = [2, 3, 4].reduce((sum, id) => sum + encodeLabels(codec, model.get(id)!).byteLength, 0);
      for (const id of [2, 3, 4]) {
        table.delete(id);
        model.delete(id);
      }
      const first = model.get(1)!;
      let grown: MemoryRecord | undefined;
      for (let pad = freed; pad > 0 && !grown; pad--) {
        const candidate = { ...first, meta: { ...first.meta, pad: `${String(first.meta.pad)}${'g'.repeat(pad)}` }, version: 2 };
        if (encodeLabels(codec, candidate).byteLength - encodeLabels(codec, first).byteLength === freed) grown = candidate;
      }
      expect(grown).toBeDefined();
      table.set(1, grown!);
      model.set(1, grown!);
      await expectCopyAsAfresh(dir, table, model);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('copies through reused buffers: with labels that grow from slice to slice, some of a slice over the write buffer, some over what a buffer is kept for, it writes what writing afresh writes, and no bytes change under a write', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-copy-'));
    try {
      // Metadata padding by row: none, then more from slice to slice (the copies' buffers grow in a
      // checkpoint), 400 KB every 997th row (a slice's labels past the 1 MiB write buffer), and 9 MB at
      // two rows (a group's and a slice's labels past what a reused buffer is kept for).
      const padOf = (id: number) => (id === 7001 || id === 7002 ? 9_000_000 : id % 997 === 0 ? 400_000 : id < 4000 ? 0 : id < 8000 ? 300 : 1500);
      const big = (id: number, v: number): MemoryRecord => ({ ...memory(id, v), meta: { v, pad: 'p'.repeat(padOf(id)) } });
      const model = new Map<number, MemoryRecord>();
      for (let id = 1; id <= 12_000; id++) model.set(id, big(id, 0));
      const { table } = await tableOver(dir, model);
      // Row 2 deleted (every copied row moves one up, its group split across two slices), row 1 grown,
      // and rows added at the end.
      table.delete(2);
      model.delete(2);
      for (const m of [{ ...big(1, 1), meta: { v: 1, pad: 'g'.repeat(50) } }, big(12_001, 1), big(12_002, 1)]) {
        table.set(m.id, m);
        model.set(m.id, m);
      }
      let inFlightChanged = 0;
      let bigWrites = 0;
      const watchful = withWrites(async (write, args) => {
        const [buffer, offset, length] = args as [Buffer, number, number];
        const before = Buffer.from(buffer.subarray(offset, offset + length));
        if (length > 1024 * 1024) bigWrites++;
        await new Promise((resolve) => setTimeout(resolve, 1));
        const result = await write(...args);
        if (!before.equals(buffer.subarray(offset, offset + length))) inFlightChanged++;
        return result;
      });
      await expectCopyAsAfresh(dir, table, model, watchful);
      // (Labels past the 1 MiB write buffer are written from the copy itself.)
      expect(bigWrites).toBeGreaterThan(0);
      expect(inFlightChanged).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a memory whose chunk, block length or labels do not fit a row, rather than write them cut', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-copy-'));
    try {
      for (const ref of [{ chunk: 2 ** 32 }, { length: 2 ** 32 + 5 }, { chunk: -1 }]) {
        const m = { ...memory(1, 0), ref: { ...memory(1, 0).ref, ...ref } };
        await expect(writeCheckpointFile(join(dir, `c-${JSON.stringify(ref)}`), contents(1, () => [m], namespacesOf(new Map([[1, m]]))), codec, files, 'read')).rejects.toThrow(/does not fit a checkpoint row/);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reuses only the row checks its rows were found to match when copied: a check read back changed while the copy writes does not go into the new file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-copy-'));
    try {
      const model = new Map<number, MemoryRecord>();
      for (let id = 1; id <= 19_200; id++) model.set(id, memory(id, 0));
      const { baseFile, table } = await tableOver(dir, model);
      const last = memory(19_200, 1);
      table.set(19_200, last);
      model.set(19_200, last);
      // The first write of the new file (its rows' buffer full, during the copy of rows 12,288–16,383)
      // changes the base's check of group 250 (rows 16,000–16,063), as a page read back from a disk that
      // lost a write would: those rows were checked, and their check taken, before it.
      const bytes = baseFile.bytes() as Buffer;
      const checkAt = bytes.readDoubleLE(152) + 4 * 250;
      let writes = 0;
      const flipping = withWrites((write, args) => {
        if (writes++ === 0) bytes[checkAt] = bytes[checkAt]! ^ 0x5a;
        return write(...args);
      });
      const frozen = table.freeze();
      const { file } = await writeCheckpointFile(join(dir, 'copied'), contents(frozen.count, frozen.entries, frozen.namespaces), codec, flipping, 'read');
      expect(writes).toBeGreaterThan(1);
      expect(file.verify()).toBeUndefined();
      expect(file.memories(codec).unreadableRows()).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  // Bases at the edges of groups of 64 rows and of copies of 4,096; changes few, many, every row, or at those edges.
  for (const size of [0, 1, 63, 64, 65, 4095, 4097, 8260, 12_800]) {
    for (const pattern of ['few', 'many', 'every', 'edges', 'texts'] as const) {
      it(`writes what writing its memories afresh writes, byte for byte (a base of ${size}, ${pattern} changed), three times over`, async () => {
        const random = seeded(size * 7 + pattern.length * 1000);
        const dir = await mkdtemp(join(tmpdir(), 'memmapfs-copy-'));
        try {
          const model = new Map<number, MemoryRecord>();
          for (let i = 0, id = 5; i < size; i++, id += 1 + Math.floor(random() * 3)) model.set(id, memory(id, 0));
          const { table } = await tableOver(dir, model);
          let next = Math.max(4, ...model.keys()) + 1;
          const change = (id: number, remove: boolean, round: number) => {
            if (remove) {
              table.delete(id);
              model.delete(id);
            } else {
              const m = memory(id, round);
              table.set(id, m);
              model.set(id, m);
            }
          };
          for (let round = 1; round <= 3; round++) {
            const live = [...model.keys()];
            if (pattern === 'texts') {
              // Only the texts of a few early memories: their labels keep their size, so the rows after
              // them are copied unmoved, whole groups with the row checks they had, slice after slice.
              for (const at of [0, 70, 200]) {
                const id = live[at];
                if (id === undefined) continue;
                const m = model.get(id)!;
                const changed = { ...m, ref: { ...m.ref, offset: m.ref.offset + round }, updatedAt: m.updatedAt + round, version: m.version! + round };
                table.set(id, changed);
                model.set(id, changed);
              }
            } else if (pattern === 'every') {
              for (const id of live) change(id, random() < 0.3, round);
            } else if (pattern === 'edges') {
              for (const at of [0, 1, 62, 63, 64, 127, 128, 4094, 4095, 4096, 4097, 4159, 4160, 8191, 8192, live.length - 1]) {
                const id = live[at];
                if (id !== undefined && model.has(id)) change(id, at % 2 === 1, round);
              }
            } else {
              const count = pattern === 'few' ? 5 : Math.floor(live.length / 2);
              for (let k = 0; k < count; k++) {
                const id = live[Math.floor(random() * live.length)];
                if (id !== undefined && model.has(id)) change(id, random() < 0.5, round);
              }
            }
            // New memories, some deleted again, one with an embedding.
            for (let k = 0; k < 70; k++) {
              const id = next++;
              const m = memory(id, round, k === 3);
              table.set(id, m);
              model.set(id, m);
              if (k % 9 === 0) change(id, true, round);
            }
            const frozen = table.freeze();
            expect(frozen.count).toBe(model.size);
            const copiedPath = join(dir, `copied-${round}`);
            const { file } = await writeCheckpointFile(copiedPath, contents(frozen.count, frozen.entries, frozen.namespaces), codec, files, 'read');
            const afreshPath = join(dir, `afresh-${round}`);
            const inOrder = [...model.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m);
            await writeCheckpointFile(afreshPath, contents(inOrder.length, () => inOrder, frozen.namespaces), codec, files, 'read');
            expect(rowsLabelsAndChecks(copiedPath).equals(rowsLabelsAndChecks(afreshPath))).toBe(true);
            const tables = file.tables(codec);
            const afresh = openCheckpointFile(afreshPath, 'read').tables(codec);
            expect({ expiring: tables.expiring, namespaces: tables.namespaces }).toEqual({ expiring: afresh.expiring, namespaces: afresh.namespaces });
            expect(file.verify()).toBeUndefined();
            const rows = file.memories(codec);
            for (let i = 0; i < rows.count; i++) expect(rows.record(i).id).toBe(inOrder[i]!.id);
            table.rebase(rows, tables.expiring, tables.namespaces ?? frozen.namespaces);
          }
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }, 60_000);
    }
  }
});
