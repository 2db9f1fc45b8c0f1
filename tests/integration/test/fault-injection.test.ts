import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS, repairStore, type AgentState } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { FaultyFileSystem } from './support/faulty-file-system.js';

interface Acknowledged {
  memories: Map<number, string>;
  deleted: Set<number>;
  /** Deletes that failed: a failed write may or may not have reached the disk. */
  maybeDeleted: Set<number>;
  kv: unknown;
  state: AgentState | undefined;
  stream: string[];
  errors: unknown[];
}

const busyState: AgentState = { status: 'busy', activeMemoryCount: 7, lastUpdatedId: 3, extra: { step: 'write' } };

/** A workload touching every kind of write; records what was acknowledged and every error met. */
async function runWorkload(root: string, fileSystem: FaultyFileSystem | undefined): Promise<Acknowledged> {
  const acked: Acknowledged = { memories: new Map(), deleted: new Set(), maybeDeleted: new Set(), kv: undefined, state: undefined, stream: [], errors: [] };
  const attempt = async (action: () => Promise<void>) => {
    try {
      await action();
    } catch (error) {
      acked.errors.push(error);
    }
  };
  let fs: MemMapFS | undefined;
  await attempt(async () => {
    fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), chunkSizeBytes: 4096, ...(fileSystem ? { fileSystem } : {}) });
  });
  if (!fs) return acked;
  const store = fs;
  for (let i = 0; i < 4; i++) {
    const text = `memory ${i} ${'x'.repeat(1500)}`;
    await attempt(async () => {
      acked.memories.set(await store.appendMemory(text, ['w']), text);
    });
  }
  await attempt(async () => {
    const texts = ['bulk one', 'bulk two', 'bulk three'];
    const ids = await store.appendMemories(texts.map((text) => ({ text, tags: ['bulk'] })));
    ids.forEach((id, i) => acked.memories.set(id, texts[i]!));
  });
  await attempt(async () => {
    // Blocks over 64 KiB, each in a new chunk: written through the handle, with no copy in the log. A
    // write that fails while a later block waits for its chunk must fail the call, never go unhandled.
    const texts = [0, 1, 2].map((i) => `large ${i} ${String(i).repeat(70_000)}`);
    const ids = await store.appendMemories(texts.map((text) => ({ text })));
    ids.forEach((id, i) => acked.memories.set(id, texts[i]!));
  });
  await attempt(async () => {
    await store.setKv('config', { retries: 3 });
    acked.kv = { retries: 3 };
  });
  await attempt(async () => {
    await store.updateState(busyState);
    acked.state = busyState;
  });
  for (const piece of ['first piece;', 'second piece;']) {
    await attempt(async () => {
      await store.appendStream('transcript', piece);
      acked.stream.push(piece);
    });
  }
  const victim = [...acked.memories.keys()][0];
  if (victim !== undefined) {
    acked.maybeDeleted.add(victim);
    await attempt(async () => {
      if (await store.deleteMemory(victim)) acked.deleted.add(victim);
      acked.maybeDeleted.delete(victim);
    });
  }
  await attempt(() => store.close());
  return acked;
}

async function checkSurvivors(root: string, acked: Acknowledged, label: string): Promise<void> {
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
  try {
    for (const [id, text] of acked.memories) {
      const memory = await fs.getMemory(id);
      if (acked.deleted.has(id)) expect(memory, `${label}: memory ${id} was deleted`).toBeUndefined();
      else if (acked.maybeDeleted.has(id)) expect([undefined, text], label).toContain(memory?.text);
      else expect(memory?.text, `${label}: memory ${id}`).toBe(text);
    }
    if (acked.kv !== undefined) expect(fs.getKv('config'), label).toEqual(acked.kv);
    if (acked.state !== undefined) expect(fs.getState(), label).toEqual(acked.state);
    const chunks: string[] = [];
    for await (const chunk of fs.openRead('transcript')) chunks.push(Buffer.from(chunk).toString());
    // A failed append may or may not have landed; an acknowledged one must have, in order.
    const pieces = ['first piece;', 'second piece;'];
    const possible = [[], [0], [1], [0, 1]].filter((kept) => acked.stream.every((p) => kept.some((i) => pieces[i] === p))).map((kept) => kept.map((i) => pieces[i]).join(''));
    expect(possible, `${label}: stream`).toContain(chunks.join(''));
    for (const hit of await fs.queryMemory('memory', { limit: 100 })) {
      expect(hit.text.startsWith('memory '), label).toBe(true);
    }
  } finally {
    await fs.close();
  }
}

describe('I/O fault injection', () => {
  for (const code of ['EIO', 'ENOSPC'] as const) {
    it(`fails the Nth file operation with ${code}, for every N: errors are MemMapErrors, nothing acknowledged is lost, the store reopens`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'memmapfs-faults-'));
      try {
        const dryRun = new FaultyFileSystem(Number.POSITIVE_INFINITY, code);
        const clean = await runWorkload(join(dir, 'dry'), dryRun);
        expect(clean.errors).toEqual([]);
        const total = dryRun.operations;
        expect(total).toBeGreaterThan(30);
        const injectedInto = new Set<string>();
        for (let n = 1; n <= total; n++) {
          const root = join(dir, `run-${n}`);
          const faulty = new FaultyFileSystem(n, code);
          const acked = await runWorkload(root, faulty);
          const label = `${code} at operation ${n} (${faulty.injected})`;
          if (faulty.injected) injectedInto.add(faulty.injected);
          for (const error of acked.errors) {
            expect(error, label).toBeInstanceOf(MemMapError);
            expect(['IO_ERROR', 'WAL_FAILED', 'STORE_CLOSED'], `${label}: ${(error as MemMapError).message}`).toContain((error as MemMapError).code);
          }
          await checkSurvivors(root, acked, label);
          await rm(root, { recursive: true, force: true });
        }
        expect(injectedInto).toContain('handle.datasync');
        expect(injectedInto).toContain('handle.write');
        expect(injectedInto).toContain('rename');
        expect(injectedInto).toContain('writeSync');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('I/O fault injection in maintenance', () => {
  it('fails the Nth file operation of a repair, for every N: the original log is never lost, and a repair run again succeeds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-repair-faults-'));
    try {
      const fixture = join(dir, 'fixture');
      const fs = await MemMapFS.init(fixture, { search: flexsearch(), codec: msgpack() });
      const written: Array<[number, string]> = [];
      for (let i = 0; i < 10; i++) written.push([await fs.appendMemory(`repaired memory ${i}`), `repaired memory ${i}`]);
      await fs.close();
      const wal = join(fixture, 'state.wal');
      const original = await readFile(wal);
      const damageAt = original.indexOf('repaired memory 6');
      original[damageAt]! ^= 0x20;
      await writeFile(wal, original);
      const dryRun = new FaultyFileSystem(Number.POSITIVE_INFINITY, 'EIO');
      await cp(fixture, join(dir, 'dry'), { recursive: true });
      expect((await repairStore(join(dir, 'dry'), { fileSystem: dryRun })).after.ok).toBe(true);
      const total = dryRun.operations;
      expect(total).toBeGreaterThan(10);
      for (let n = 1; n <= total; n++) {
        const root = join(dir, `run-${n}`);
        await cp(fixture, root, { recursive: true });
        const faulty = new FaultyFileSystem(n, 'EIO');
        const label = `EIO at operation ${n} of ${total} (${faulty.injected ?? 'pending'})`;
        const failed = await repairStore(root, { fileSystem: faulty }).then(() => undefined, (error: unknown) => error);
        if (failed) expect(failed, `${label}: ${String(failed)}`).toBeInstanceOf(MemMapError);
        // The damaged original is always somewhere: still in place, or in a backup.
        const copies = [await readFile(join(root, 'state.wal'))];
        for (const name of await readdir(root)) if (name.startsWith('repair-backup-')) copies.push(await readFile(join(root, name, 'state.wal')).catch(() => Buffer.alloc(0)));
        expect(copies.some((copy) => copy.equals(original)), label).toBe(true);
        expect((await repairStore(root)).after.ok, label).toBe(true);
        const reopened = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
        for (const [id, text] of written) {
          const memory = await reopened.getMemory(id);
          // Record 7 is damaged; repair skips it (record 8's frame, written after an fsync, begins a commit) and keeps the rest.
          if (text === 'repaired memory 6') expect(memory, label).toBeUndefined();
          else expect(memory?.text, label).toBe(text);
        }
        await reopened.close();
        await rm(root, { recursive: true, force: true });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
