import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkStore, type BlockStore } from '@memmapfs/blocks';
import { afterEach, describe, expect, it } from 'vitest';
import { ChunkClaims } from '../src/engine/chunk-claims.js';

describe('ChunkClaims (a store\'s claims of chunks, counted by the parts that hold them)', () => {
  let dir: string | undefined;
  const stores: BlockStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Two block stores of one folder holding two sealed chunks: this one, and another. */
  const setUp = async () => {
    dir = await mkdtemp(join(tmpdir(), 'memmapfs-claims-'));
    const open = () => chunkStore(join(dir!, 'blocks'), { chunkSize: 4096 })({ reader: 'read' });
    const blocks = await open();
    stores.push(blocks);
    for (let i = 0; i < 2; i++) await blocks.append(new Uint8Array(3000).fill(i + 1));
    await blocks.seal();
    const other = await open();
    stores.push(other);
    return { claims: new ChunkClaims(blocks), other };
  };

  it('keeps the chunk claimed until every part that claimed it lets go, when two parts claim it at the same moment', async () => {
    const { claims, other } = await setUp();
    expect(await Promise.all([claims.claim(0), claims.claim(0)])).toEqual([true, true]);
    await claims.unclaim([0]);
    expect(await other.claim(0)).toBe(false);
    await claims.unclaim([0]);
    expect(await other.claim(0)).toBe(true);
  });

  it('a claim made while the last share is let go of waits until the block store has let go, then claims the chunk afresh', async () => {
    const calls: string[] = [];
    let closed!: () => void;
    const fake = {
      claim: async (chunk: number) => {
        calls.push(`claim ${chunk}`);
        return true;
      },
      unclaim: async (chunk: number) => {
        calls.push(`unclaim ${chunk}`);
        await new Promise<void>((resolve) => (closed = resolve));
        calls.push(`let go ${chunk}`);
      },
    } as unknown as BlockStore;
    const claims = new ChunkClaims(fake);
    expect(await claims.claim(1)).toBe(true);
    const letting = claims.unclaim([1]);
    const again = claims.claim(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls).toEqual(['claim 1', 'unclaim 1']);
    closed();
    await letting;
    expect(await again).toBe(true);
    expect(calls).toEqual(['claim 1', 'unclaim 1', 'let go 1', 'claim 1']);
  });

  it('fails, holding nothing, for a chunk another store holds; retiring ends every share', async () => {
    const { claims, other } = await setUp();
    expect(await other.claim(0)).toBe(true);
    expect(await claims.claim(0)).toBe(false);
    await claims.unclaim([0]);
    expect(await claims.claim(1)).toBe(true);
    expect(await claims.claim(1)).toBe(true);
    await claims.retire(1);
    // (No share is left to end, and the chunk is gone.)
    await claims.unclaim([1]);
    expect(await claims.claim(1)).toBe(false);
  });
});
