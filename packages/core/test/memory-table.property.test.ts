import * as nodeFiles from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCheckpointFile, writeCheckpointFile, type CheckpointContents } from '../src/checkpoint/checkpoint-file.js';
import type { MemoryRecord } from '../src/engine/log-records.js';
import { MemoryTable } from '../src/engine/memory-table.js';
import type { StoreFileSystem } from '../src/types.js';
import { checkpointContents, namespacesOf, rowsLabelsAndChecks } from './checkpoint-contents.js';
import { v8Codec } from './fixtures.js';
import { seeded } from './support/seeded-random.js';

const codec = v8Codec();
const files = nodeFiles as unknown as StoreFileSystem;

/** Memory `id` in its version `v`, some with an expiry (`NOW` falls among them), tags, namespace and meta that differ by version. */
const NOW = 5_000_500;
function memory(id: number, v: number): MemoryRecord {
  return {
    id,
    ref: { chunk: 1 + (id % 3), offset: id * 10 + v, length: 5 + (id % 17), crc: (id * 2654435761 + v) >>> 0 },
    tags: Array.from({ length: (id + v) % 3 }, (_, i) => `t${i}-${v % 4}`),
    namespace: `ns${(id + v) % 4}`,
    meta: { v, pad: 'p'.repeat((id * 7 + v) % 13) },
    createdAt: 1000 + id,
    updatedAt: 2000 + id + v,
    expiresAt: (id + v) % 7 === 0 ? 5_000_000 + ((id * 37 + v) % 1000) : undefined,
    version: id + v,
  };
}

const contents = (count: number, memories: CheckpointContents['memories'], namespaces: ReadonlyMap<string, number>) => checkpointContents(codec.name, count, memories, namespaces);

/** Every answer of `table` that `model` (the live memories by id) determines. */
function expectSame(table: MemoryTable, model: ReadonlyMap<number, MemoryRecord>, probes: number[]): void {
  const inOrder = [...model.values()].sort((a, b) => a.id - b.id);
  expect([...table.values()]).toEqual(inOrder);
  const from = inOrder[Math.floor(inOrder.length / 3)]?.id ?? 0;
  expect([...table.after(from)]).toEqual(inOrder.filter((m) => m.id > from));
  expect(table.newest(7, () => true)).toEqual(inOrder.slice(-7).reverse());
  expect(table.newest(5, (m) => m.tags.length === 1)).toEqual(inOrder.filter((m) => m.tags.length === 1).slice(-5).reverse());
  expect([...table.refs()]).toEqual(inOrder.map((m) => [m.id, m.ref]));
  expect(new Map(table.withExpiry())).toEqual(new Map(inOrder.filter((m) => m.expiresAt !== undefined).map((m) => [m.id, m.expiresAt!])));
  expect(table.countLive(NOW)).toBe(inOrder.filter((m) => m.expiresAt === undefined || m.expiresAt > NOW).length);
  expect(new Map(table.namespaceCounts())).toEqual(namespacesOf(model));
  for (const id of probes) {
    const m = model.get(id);
    expect(table.get(id)).toEqual(m);
    expect(table.has(id)).toBe(m !== undefined);
    expect(table.versionOf(id)).toBe(m?.version);
    expect(table.expiryOf(id)).toBe(m?.expiresAt);
  }
}

describe('MemoryTable against a model', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`answers as the model of its changes does, across new memories kept as rows, updates and deletions of them, ids out of order, checkpoints written and failed (seed ${seed})`, async () => {
      const random = seeded(seed * 7919);
      const dir = await mkdtemp(join(tmpdir(), 'memmapfs-table-'));
      try {
        const table = new MemoryTable(codec);
        const model = new Map<number, MemoryRecord>();
        let frozen: { model: Map<number, MemoryRecord>; written: ReturnType<MemoryTable['freeze']> } | undefined;
        let next = 10;
        let floor = 0;
        let version = 0;
        let checkpoints = 0;
        const pick = () => {
          const live = [...model.keys()];
          return live[Math.floor(random() * live.length)];
        };
        for (let step = 0; step < 800; step++) {
          const roll = random();
          if (roll < 0.45) {
            // New memories above every id (a bulk load's).
            const count = 1 + Math.floor(random() * 20);
            for (let k = 0; k < count; k++) {
              const m = memory((next += 1 + Math.floor(random() * 2)), ++version);
              table.set(m.id, m);
              model.set(m.id, m);
            }
          } else if (roll < 0.6) {
            const id = pick();
            if (id === undefined) continue;
            const m = { ...memory(id, ++version), createdAt: model.get(id)!.createdAt };
            table.set(id, m);
            model.set(id, m);
          } else if (roll < 0.75) {
            const id = pick() ?? 1;
            expect(table.delete(id)).toBe(model.delete(id));
          } else if (roll < 0.8) {
            // An id below the highest that no memory holds (one deleted coming back), above those of the
            // last checkpoint frozen (ids are LSNs: a layer's new ids are above every id below it).
            const id = floor + 1 + Math.floor(random() * (next - floor));
            if (model.has(id)) continue;
            const m = memory(id, ++version);
            table.set(id, m);
            model.set(id, m);
          } else if (roll < 0.88 && !frozen) {
            frozen = { model: new Map(model), written: table.freeze() };
            floor = next;
            expect(frozen.written.count).toBe(model.size);
            expect(new Map(frozen.written.namespaces)).toEqual(namespacesOf(model));
          } else if (roll < 0.96 && frozen) {
            // The checkpoint of the frozen changes: written (the table rebased on it) or failed (thawed).
            const path = join(dir, `checkpoint-${++checkpoints}`);
            const written = frozen.written;
            const { file, tables } = await writeCheckpointFile(path, contents(written.count, written.entries, written.namespaces), codec, files, 'read');
            const afresh = [...frozen.model.values()].sort((a, b) => a.id - b.id);
            const rows = file.memories(codec);
            expect(Array.from({ length: rows.count }, (_, i) => rows.record(i))).toEqual(afresh);
            expect(file.verify()).toBeUndefined();
            if (random() < 0.5) table.rebase(rows, tables.expiring, tables.namespaces ?? written.namespaces);
            else table.thaw();
            frozen = undefined;
          }
          if (step % 50 === 0 || step === 799) {
            const probes = Array.from({ length: 30 }, () => 1 + Math.floor(random() * (next + 2)));
            expectSame(table, model, probes);
          }
        }
        expect(checkpoints).toBeGreaterThan(3);
        table.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }, 60_000);
  }

  it('writes the rows it copies as a checkpoint written afresh would, after a failed checkpoint merged them back (an embedding among them, which the file says it holds)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-table-'));
    try {
      const table = new MemoryTable(codec);
      const model = new Map<number, MemoryRecord>();
      for (let id = 1; id <= 300; id++) {
        table.set(id, memory(id, 0));
        model.set(id, memory(id, 0));
      }
      table.freeze();
      // Changes while frozen: new rows, an update and a deletion of frozen rows; then the checkpoint fails.
      for (let id = 301; id <= 400; id++) {
        const m = id === 333 ? { ...memory(id, 1), embedding: new Uint8Array(new Float32Array([1, 2]).buffer) } : memory(id, 1);
        table.set(id, m);
        model.set(id, m);
      }
      table.set(7, memory(7, 2));
      model.set(7, memory(7, 2));
      table.delete(8);
      model.delete(8);
      table.thaw();
      table.delete(350);
      model.delete(350);
      const written = table.freeze();
      const copied = join(dir, 'copied');
      await writeCheckpointFile(copied, contents(written.count, written.entries, written.namespaces), codec, files, 'read');
      const afresh = join(dir, 'afresh');
      const inOrder = [...model.values()].sort((a, b) => a.id - b.id);
      await writeCheckpointFile(afresh, contents(inOrder.length, () => inOrder, namespacesOf(model)), codec, files, 'read');
      expect(rowsLabelsAndChecks(copied).equals(rowsLabelsAndChecks(afresh))).toBe(true);
      // (The flag of format 5 that says some memory's labels hold an embedding.)
      expect((openCheckpointFile(copied, 'read').bytes() as Buffer).readUInt32LE(36)).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
