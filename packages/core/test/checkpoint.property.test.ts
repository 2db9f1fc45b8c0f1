import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemMapFS, verifyStore } from '@memmapfs/core';
import { tempRoot, v8Codec, VectorWordSearch } from './fixtures.js';

type Op =
  | { kind: 'append'; text: string; tags: string[]; namespace: string; meta: Record<string, unknown>; ttlMs: number | undefined; embedding: readonly number[] | undefined }
  | { kind: 'batch'; texts: string[] }
  | { kind: 'update'; pick: number; text: string | undefined; tags: string[] | undefined; meta: Record<string, unknown> | undefined }
  | { kind: 'delete'; pick: number }
  | { kind: 'kvSet'; key: string; value: unknown }
  | { kind: 'kvDelete'; key: string }
  | { kind: 'stream'; key: string; data: string }
  | { kind: 'streamDelete'; key: string }
  | { kind: 'state'; status: string; extra: Record<string, unknown> }
  | { kind: 'checkpoint' }
  | { kind: 'reopen' };

const word = fc.constantFrom('alpha', 'beta', 'gamma', 'delta', 'épsilon', '数据', 'zeta');
const tags = fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 2 });
const meta = fc.dictionary(fc.constantFrom('k', 'n', 'bytes'), fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.constant(null)), { maxKeys: 2 });
const key = fc.constantFrom('k1', 'k2', 'k3');
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), text: fc.array(word, { minLength: 1, maxLength: 4 }).map((w) => w.join(' ')), tags, namespace: fc.constantFrom('default', 'work', 'work/deep'), meta, ttlMs: fc.option(fc.constantFrom(1, 3_600_000), { nil: undefined }), embedding: fc.option(fc.constantFrom([1, 0, 0], [0.25, -2, 1e-3]), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('batch' as const), texts: fc.array(fc.array(word, { minLength: 1, maxLength: 3 }).map((w) => w.join(' ')), { minLength: 1, maxLength: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('update' as const), pick: fc.nat(), text: fc.option(word, { nil: undefined }), tags: fc.option(tags, { nil: undefined }), meta: fc.option(meta, { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('kvSet' as const), key, value: fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.array(fc.integer(), { maxLength: 3 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kvDelete' as const), key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stream' as const), key, data: fc.string({ minLength: 1, maxLength: 12 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('streamDelete' as const), key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('state' as const), status: fc.constantFrom('idle', 'busy'), extra: meta }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

/** Everything a caller can read back from a store, in a comparable form. */
async function readBack(fs: MemMapFS) {
  const memories = (await fs.queryMemory('', { limit: 1000 })).map(({ score: _score, ...m }) => m).sort((a, b) => a.id - b.id);
  const kv: Record<string, unknown> = {};
  const streams: Record<string, string> = {};
  for (const k of ['k1', 'k2', 'k3']) {
    kv[k] = fs.getKv(k);
    const parts: Buffer[] = [];
    for await (const chunk of fs.openRead(k)) parts.push(Buffer.from(chunk));
    streams[k] = Buffer.concat(parts).toString();
  }
  const byId = await Promise.all(memories.map((m) => fs.getMemory(m.id)));
  const { lastLsn, memories: count, streams: streamCount } = fs.stats();
  const namespaces = await fs.listNamespaces({ limit: 10_000 });
  expect(namespaces).toEqual([...new Set(memories.map((m) => m.namespace))].sort());
  return { memories, byId, kv, streams, streamKeys: fs.listStreams(), streamCount, state: fs.getState(), lastLsn, count, namespaces, found: (await fs.queryMemory('alpha', { limit: 1000 })).map((h) => h.id).sort((a, b) => a - b), near: (await fs.queryMemory('', { embedding: [1, 0, 0], limit: 1000 })).map((h) => h.id) };
}

describe('checkpoints', () => {
  it('a store opened from its checkpoint and the log after it reads back exactly as one replayed from the whole log', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const { root, cleanup } = await tempRoot();
        const open = () => MemMapFS.init(root, { codec: v8Codec(), search: new VectorWordSearch() });
        try {
          let fs = await open();
          const ids: number[] = [];
          for (const step of ops) {
            switch (step.kind) {
              case 'append':
                ids.push(await fs.appendMemory(step.text, step.tags, { namespace: step.namespace, meta: step.meta, ...(step.ttlMs ? { ttlMs: step.ttlMs } : {}), ...(step.embedding ? { embedding: step.embedding } : {}) }));
                break;
              case 'batch':
                ids.push(...(await fs.appendMemories(step.texts.map((text) => ({ text })))));
                break;
              case 'update': {
                const id = ids[step.pick % Math.max(1, ids.length)];
                if (id === undefined) break;
                const changes = { ...(step.text ? { text: step.text } : {}), ...(step.tags ? { tags: step.tags } : {}), ...(step.meta ? { meta: step.meta } : {}) };
                if (Object.keys(changes).length > 0) await fs.updateMemory(id, changes).catch((error: { code?: string }) => expect(error.code).toBe('MEMORY_NOT_FOUND'));
                break;
              }
              case 'delete': {
                const id = ids[step.pick % Math.max(1, ids.length)];
                if (id !== undefined) await fs.deleteMemory(id);
                break;
              }
              case 'kvSet': await fs.setKv(step.key, step.value); break;
              case 'kvDelete': await fs.deleteKv(step.key); break;
              case 'stream': await fs.appendStream(step.key, Buffer.from(step.data)); break;
              case 'streamDelete': await fs.deleteStream(step.key); break;
              case 'state': await fs.updateState({ ...fs.getState(), status: step.status as 'idle', extra: step.extra }); break;
              case 'checkpoint': await fs.checkpoint(); break;
              case 'reopen':
                await fs.close();
                fs = await open();
                break;
            }
          }
          // (Past every 1 ms TTL: each memory is expired or not for the whole comparison.)
          await new Promise((resolve) => setTimeout(resolve, 5));
          // Live, with the changes since the last checkpoint in layers over it…
          const live = await readBack(fs);
          await fs.checkpoint();
          expect(await readBack(fs)).toEqual(live);
          await fs.close();
          // …opened from the checkpoint…
          fs = await open();
          expect(await readBack(fs)).toEqual(live);
          await fs.close();
          // verify replays the log on its own and finds the checkpoint holds what it says.
          expect((await verifyStore(root, { codec: v8Codec() })).problems).toEqual([]);
          // One checkpoint file is left, the one the manifest names (none when nothing was ever written).
          expect((await readdir(join(root, 'checkpoints'))).filter((name) => name.endsWith('.bin'))).toHaveLength(live.lastLsn > 0 ? 1 : 0);
          // …and replayed from the whole log, with no checkpoint at all.
          await rm(join(root, 'checkpoints'), { recursive: true });
          await rm(join(root, 'state.manifest'), { force: true });
          fs = await open();
          expect(await readBack(fs)).toEqual(live);
          await fs.close();
        } finally {
          await cleanup();
        }
      }),
      // (A run that hangs fails with its operations rather than stalling the suite.)
      { numRuns: 60, timeout: 20_000 },
    );
  }, 120_000);
});
