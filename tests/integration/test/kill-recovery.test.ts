import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyStore } from '@memmapfs/core';
import { appendThenKill, checkAfterKill, newLedger, record } from './support/kill-harness.js';

/**
 * Kills an appending child `MEMMAPFS_KILLS` times (12 by default) at random moments, checking the store
 * after each kill; `after` runs on the store folder before it is removed.
 */
async function killLoop(options: { checkpoints?: boolean; retention?: boolean }, after: (root: string) => Promise<void> = async () => undefined): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'memmapfs-kill-'));
  const root = join(dir, 'store');
  const ledger = newLedger();
  const kills = Number(process.env.MEMMAPFS_KILLS ?? 12);
  try {
    for (let round = 0; round < kills; round++) {
      record(ledger, await appendThenKill(root, 20 + Math.floor(Math.random() * 180), options));
      // Throws on any acknowledged memory missing or changed, or a text nobody wrote.
      await checkAfterKill(root, ledger);
    }
    expect(ledger.acknowledged.size).toBeGreaterThan(kills);
    await after(root);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('kill -9 while appending', () => {
  it('keeps every acknowledged memory, byte for byte, across repeated SIGKILLs', async () => {
    await killLoop({});
  }, 180_000);

  it('keeps every acknowledged memory across SIGKILLs that land while checkpoints of the tables are written', async () => {
    await killLoop({ checkpoints: true }, async (root) => {
      // Checkpoints were written (the manifest names one) and an open uses them.
      expect((await readdir(join(root, 'checkpoints'))).some((name) => name.endsWith('.bin'))).toBe(true);
    });
  }, 180_000);

  it('keeps every acknowledged memory across SIGKILLs that land while checkpoints seal log segments and drop the ones before them', async () => {
    await killLoop({ retention: true }, async (root) => {
      // Segments were sealed and dropped: the log no longer begins at its first record, and still holds every acknowledged memory.
      const report = await verifyStore(root);
      expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
      expect(report.firstLsn).toBeGreaterThan(1);
    });
  }, 180_000);
});
