import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyStore, type VerifyReport } from '@memmapfs/core';
import { appendThenKill, type ChildMode, checkAfterKill, newLedger, record } from './support/kill-harness.js';

/**
 * Kills an appending child `MEMMAPFS_KILLS` times (12 by default) at random moments, checking the store
 * after each kill; `after` runs on the store folder before it is removed.
 */
async function killLoop(mode: ChildMode | undefined, after: (root: string) => Promise<void> = async () => undefined): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'memmapfs-kill-'));
  const root = join(dir, 'store');
  const ledger = newLedger();
  const kills = Number(process.env.MEMMAPFS_KILLS ?? 12);
  try {
    for (let round = 0; round < kills; round++) {
      // (Compactions wait a grace of over a second before they remove chunk files: kills land before, during and after.
      // The last round runs long enough for one to finish on a loaded machine too, which `after` checks; with
      // retention, for checkpoints to seal a segment and drop the ones before it, which short rounds may not.)
      const slow = mode === 'compaction' || mode === 'segments';
      const last = round === kills - 1;
      const runMs = slow ? (last ? 6000 : 200 + Math.floor(Math.random() * 2300)) : last && mode === 'retention' ? 3000 : 20 + Math.floor(Math.random() * 180);
      const outcome = await appendThenKill(root, runMs, mode);
      // A checkpoint or compaction that failed on its own (not by the kill) is a fault too.
      expect(outcome.failures).toEqual([]);
      record(ledger, outcome);
      // Throws on any acknowledged memory missing or changed, or a text nobody wrote.
      await checkAfterKill(root, ledger, mode);
    }
    expect(ledger.acknowledged.size).toBeGreaterThan(kills);
    await after(root);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Verifies the store: no problem of severity error. Returns the report. */
async function verifiedWithoutErrors(root: string): Promise<VerifyReport> {
  const report = await verifyStore(root);
  expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
  return report;
}

describe('kill -9 while appending', () => {
  it('keeps every acknowledged memory, byte for byte, across repeated SIGKILLs', async () => {
    await killLoop(undefined);
  }, 180_000);

  it('keeps every acknowledged memory across SIGKILLs that land while checkpoints of the tables are written', async () => {
    await killLoop('checkpoints', async (root) => {
      // Checkpoints were written (the manifest names one) and an open uses them.
      expect((await readdir(join(root, 'checkpoints'))).some((name) => name.endsWith('.bin'))).toBe(true);
    });
  }, 180_000);

  it('keeps every acknowledged memory across SIGKILLs that land while checkpoints seal log segments and drop the ones before them', async () => {
    await killLoop('retention', async (root) => {
      // Segments were sealed and dropped: the log no longer begins at its first record, and still holds every acknowledged memory.
      expect((await verifiedWithoutErrors(root)).firstLsn).toBeGreaterThan(1);
    });
  }, 180_000);

  // (Its rounds run up to 2.5 s and its last 6 s, and each check reads every memory acknowledged so far
  // and the index: 70–160 s alone on two cores, once 228 s beside the rest of the suite.)
  it('keeps every acknowledged memory, and a search index in segment files that finds exactly the live ones, across SIGKILLs that land while segments are written, merged and saved', async () => {
    await killLoop('segments', async (root) => {
      // Segment files were written and saved: the index's folder holds them.
      expect((await readdir(join(root, 'index', 'segments'))).filter((name) => name.endsWith('.seg')).length).toBeGreaterThan(0);
    });
  }, 360_000);

  it('keeps every acknowledged memory across SIGKILLs that land while compactions copy, move and remove chunk files', async () => {
    await killLoop('compaction', async (root) => {
      // Compactions did run to the end: the log no longer begins at its first record, and chunk files were removed.
      expect((await verifiedWithoutErrors(root)).firstLsn).toBeGreaterThan(1);
      const chunks = (await readdir(join(root, 'blocks'))).filter((name) => name.endsWith('.bin')).map((name) => Number(/\d+/.exec(name)![0]));
      expect(chunks.length).toBeLessThan(Math.max(...chunks) + 1);
    });
  }, 180_000);
});
