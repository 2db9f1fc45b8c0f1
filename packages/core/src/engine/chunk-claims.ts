import type { BlockStore } from '@memmapfs/blocks';

/**
 * This store's claims of chunks (`BlockStore.claim`), counted by the parts of the engine that hold
 * them. Compaction and the removal of retired chunks may claim the same chunk at the same time, and the
 * block store keeps one claim per store, which one `unclaim` ends: each part ends its own share only,
 * the chunk is let go of once no part holds it, and retiring it ends every share.
 */
export class ChunkClaims {
  /** Chunk number → how many claims of this store's parts hold it (never 0). */
  private readonly shares = new Map<number, number>();
  /**
   * A claim or a release of the block store's claim under way, by chunk: another claim of the chunk
   * waits for it (two at once would each take the lock on a descriptor of its own, and one would fail).
   */
  private readonly changing = new Map<number, Promise<unknown>>();

  constructor(private readonly blocks: BlockStore) {}

  /** Claims `chunk` for one part of the store (see `BlockStore.claim`): false, changing nothing, when it cannot be. */
  async claim(chunk: number): Promise<boolean> {
    for (;;) {
      const held = this.shares.get(chunk);
      // (Held already: a share at once, with no await in which the last one could end.)
      if (held !== undefined) {
        this.shares.set(chunk, held + 1);
        return true;
      }
      const changing = this.changing.get(chunk);
      if (!changing) break;
      await changing;
    }
    return this.change(chunk, async () => {
      if (!(await this.blocks.claim(chunk))) return false;
      this.shares.set(chunk, 1);
      return true;
    });
  }

  /** Ends one share of each of `chunks` (those not retired); the store's claim ends with the last. Never fails. */
  async unclaim(chunks: Iterable<number>): Promise<void> {
    for (const chunk of chunks) {
      const held = this.shares.get(chunk);
      if (held === undefined) continue;
      if (held > 1) {
        this.shares.set(chunk, held - 1);
        continue;
      }
      this.shares.delete(chunk);
      await this.change(chunk, async () => {
        await this.blocks.unclaim?.(chunk).catch(() => undefined);
      });
    }
  }

  /** Removes `chunk` (`BlockStore.retire`), which ends every share of it. */
  async retire(chunk: number): Promise<void> {
    await this.blocks.retire(chunk);
    this.shares.delete(chunk);
  }

  /** Runs `body`, a change of the block store's claim of `chunk`, as the one under way for it. */
  private async change<T>(chunk: number, body: () => Promise<T>): Promise<T> {
    const run = body();
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.changing.set(chunk, settled);
    try {
      return await run;
    } finally {
      if (this.changing.get(chunk) === settled) this.changing.delete(chunk);
    }
  }
}
