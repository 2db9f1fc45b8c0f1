// pnpm soak: the kill loop at length. A child appends; it is SIGKILLed at a random moment; the store is
// reopened and checked against everything ever acknowledged. Prints the counts; exits 1 on a violation.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendThenKill, checkAfterKill, newLedger, record, type KillLedger } from '../test/support/kill-harness.js';

const kills = Number(process.argv[2] ?? process.env.MEMMAPFS_KILLS ?? 1000);
/** Each store takes this many kills, then a fresh one starts, so that checking every memory stays quick. */
const KILLS_PER_STORE = 100;
const dir = await mkdtemp(join(tmpdir(), 'memmapfs-soak-'));
let ledger: KillLedger = newLedger();
let totalAcknowledged = 0;
let totalUnacknowledged = 0;
const started = Date.now();
let exitCode = 0;
try {
  for (let round = 1; round <= kills; round++) {
    const root = join(dir, `store-${Math.ceil(round / KILLS_PER_STORE)}`);
    const before = ledger.acknowledged.size;
    record(ledger, await appendThenKill(root, 5 + Math.floor(Math.random() * 300)));
    totalAcknowledged += ledger.acknowledged.size - before;
    const memories = await checkAfterKill(root, ledger);
    if (round % KILLS_PER_STORE === 0 || round === kills) {
      totalUnacknowledged += memories - ledger.acknowledged.size;
      console.log(`kills ${round}/${kills}: ${totalAcknowledged} acknowledged memories, all intact; ${totalUnacknowledged} more written but never acknowledged; ${((Date.now() - started) / 1000).toFixed(0)} s`);
      ledger = newLedger();
      await rm(root, { recursive: true, force: true });
    }
  }
  console.log(`soak passed: ${kills} kills, ${totalAcknowledged} acknowledged memories, none lost or damaged`);
} catch (error) {
  console.error(`soak FAILED after ${totalAcknowledged} acknowledged memories: ${(error as Error).message}`);
  console.error(`the store is kept for inspection at ${dir}`);
  exitCode = 1;
}
if (exitCode === 0) await rm(dir, { recursive: true, force: true });
process.exit(exitCode);
