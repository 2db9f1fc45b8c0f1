// The KV pairs of a checkpoint (format 5: a section read in place, the changes since in the heap):
// changes made while a checkpoint is written, and a damaged group of pairs.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS, repairStore, verifyStore } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { useTempStore } from './support/temp-store.js';

const tempStore = useTempStore('kv-checkpoints');
let root: string;
beforeEach(() => {
  ({ root } = tempStore());
});
const open = (options: Parameters<typeof MemMapFS.init>[1] = {}) => MemMapFS.init(root, { search: flexsearch(), codec: msgpack(), ...options });

/** Flips the last byte of the value of KV pair `index` in the checkpoint `state.manifest` names. */
async function damageKvValue(index: number): Promise<void> {
  const manifest = JSON.parse((await readFile(join(root, 'state.manifest'), 'utf8')).split('\n')[1]!) as { checkpoint: { file: string } };
  const path = join(root, 'checkpoints', manifest.checkpoint.file);
  const bytes = await readFile(path);
  // The KV section lies between the labels and the tables: rows of 16 bytes (data offset, key length,
  // value length), then the keys and values; its rows are counted by their offsets following on.
  const kvAt = bytes.readDoubleLE(72) + bytes.readDoubleLE(80);
  const tablesAt = bytes.readDoubleLE(88);
  const rowEnd = (row: number) => bytes.readDoubleLE(kvAt + row * 16) + bytes.readUInt32LE(kvAt + row * 16 + 8) + bytes.readUInt32LE(kvAt + row * 16 + 12);
  let count = 1;
  while (kvAt + (count + 1) * 16 <= tablesAt && bytes.readDoubleLE(kvAt + count * 16) === rowEnd(count - 1)) count++;
  const at = kvAt + count * 16 + rowEnd(index) - 1;
  bytes[at] = bytes[at]! ^ 0x01;
  await writeFile(path, bytes);
}

const codeOf = (read: () => unknown) => {
  try {
    return read();
  } catch (error) {
    return (error as MemMapError).code;
  }
};

describe('the KV pairs of checkpoints', () => {
  it('a key deleted while the first checkpoint of a store is written stays deleted, live and after a reopen', async () => {
    const fs = await open();
    await fs.setKvs(Array.from({ length: 20_000 }, (_, i) => [`fill-${i}`, 'x'.repeat(50)] as const));
    await fs.setKvs(Array.from({ length: 2000 }, (_, i) => [`victim-${String(i).padStart(4, '0')}`, 'old'] as const));
    let done = false;
    const checkpoint = fs.checkpoint().then(() => (done = true));
    let deleted = 0;
    for (let i = 0; i < 2000 && !done; i++) if (await fs.deleteKv(`victim-${String(i).padStart(4, '0')}`)) deleted++;
    await checkpoint;
    expect(deleted).toBeGreaterThan(0);
    const listed = fs.listKv({ prefix: 'victim-' });
    expect(listed).toHaveLength(2000 - deleted);
    expect(listed.every((key) => fs.getKv(key) === 'old')).toBe(true);
    expect(fs.getKv('victim-0000')).toBeUndefined();
    expect(fs.stats().kvKeys).toBe(22_000 - deleted);
    await fs.setKv('after', 1);
    await fs.checkpoint();
    await fs.close();
    const again = await open();
    expect(again.listKv({ prefix: 'victim-' })).toHaveLength(2000 - deleted);
    await again.close();
  });

  it('a handle that takes the checkpoint another published reads every KV pair as written, its own and those changed since', async () => {
    const a = await open();
    const b = await open();
    await a.setKvs(Array.from({ length: 300 }, (_, i) => [`k-${String(i).padStart(3, '0')}`, i] as const));
    expect(b.getKv('k-010')).toBe(10);
    await b.setKv('from-b', 'b');
    await a.deleteKvs({ prefix: 'k-1' });
    await a.checkpoint();
    await a.setKv('k-150', 'again');
    await a.deleteKv('k-200');
    const checkpointOf = (handle: MemMapFS) => (handle as unknown as { engine: { checkpointFile?: { path: string } } }).engine.checkpointFile?.path;
    // (Taken at an idle catch-up, once a second.)
    for (const deadline = Date.now() + 10_000; checkpointOf(b) !== checkpointOf(a) && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(checkpointOf(b)).toBe(checkpointOf(a));
    const expected = new Map<string, unknown>();
    for (let i = 0; i < 300; i++) if (i < 100 || i > 200) expected.set(`k-${String(i).padStart(3, '0')}`, i);
    expected.set('k-150', 'again');
    expected.set('from-b', 'b');
    for (const handle of [a, b]) {
      expect(handle.listKv()).toEqual([...expected.keys()].sort());
      expect(handle.stats().kvKeys).toBe(expected.size);
      for (const [key, value] of expected) expect(handle.getKv(key)).toEqual(value);
    }
    await b.close();
    await a.close();
  }, 30_000);

  for (const retention of [undefined, 0]) {
    it(`a damaged group of KV pairs: reads that meet it say CHECKPOINT_CORRUPT, verify reports it, and repair mends the store so that checkpoints are written again (${retention === 0 ? 'the log cut at each checkpoint: salvaged' : 'the whole log: replayed'})`, async () => {
      const options = retention === undefined ? {} : { historyRetentionMs: retention };
      const fs = await open(options);
      await fs.setKvs(Array.from({ length: 200 }, (_, i) => [`key-${String(i).padStart(3, '0')}`, `value ${i}`] as const));
      await fs.appendMemory('m');
      await fs.checkpoint();
      await fs.close();
      await damageKvValue(130);
      const report = await verifyStore(root, { codec: msgpack() });
      expect(report.ok).toBe(false);
      expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint-damaged', message: expect.stringContaining('KV pairs 128–191') }));
      const again = await open(options);
      expect(codeOf(() => again.getKv('key-130'))).toBe('CHECKPOINT_CORRUPT');
      expect(again.getKv('key-010')).toBe('value 10');
      await again.close().catch(() => undefined);
      const repaired = await repairStore(root, { codec: msgpack(), salvage: true });
      if (retention === 0) expect(repaired.actions.join('\n')).toMatch(/dropped the 64 KV pairs of its damaged groups of KV pairs/);
      const third = await open(options);
      await third.setKv('newer', 1);
      await third.checkpoint();
      // (Salvaged, the pairs of the damaged group are gone; replayed, every pair is back.)
      expect(codeOf(() => third.getKv('key-130'))).toBe(retention === 0 ? undefined : 'value 130');
      expect(third.getKv('key-010')).toBe('value 10');
      await third.close();
      expect((await verifyStore(root, { codec: msgpack() })).problems).toEqual([]);
    });
  }
});
