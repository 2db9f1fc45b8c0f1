import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { segmentSearch } from '@memmapfs/search-segments';

const childScript = fileURLToPath(new URL('./append-forever.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** What one appending child reported before it was killed. */
export interface KillRound {
  acknowledged: Map<number, string>;
  attempted: Set<string>;
  /** The texts of each batch (one `appendMemories` call) the child started. */
  batches: string[][];
  /** What failed in the child other than by its kill (a checkpoint, a compaction). */
  failures: string[];
}

/** Everything all children of a run have reported. */
export interface KillLedger {
  acknowledged: Map<number, string>;
  attempted: Set<string>;
  /** Batches started but not acknowledged since the last check: each must be in the store whole or not at all. */
  unsettledBatches: string[][];
  /** Every memory with an id up to this was checked to hold a text that was written. */
  checkedUpTo: number;
}

/** An empty ledger. */
export function newLedger(): KillLedger {
  return { acknowledged: new Map(), attempted: new Set(), unsettledBatches: [], checkedUpTo: 0 };
}

/** Starts the appending child, lets it run for `runMs` after it is ready, then SIGKILLs it. */
/** What the appending child does besides appending (see append-forever.ts). */
export type ChildMode = 'checkpoints' | 'retention' | 'compaction' | 'segments';

export async function appendThenKill(root: string, runMs: number, mode?: ChildMode): Promise<KillRound> {
  const child = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, childScript, root, 'child', ...(mode ? [mode] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  const round: KillRound = { acknowledged: new Map(), attempted: new Set(), batches: [], failures: [] };
  let buffered = '';
  let stderr = '';
  let ready: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  child.stdout.setEncoding('utf8').on('data', (data: string) => {
    buffered += data;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const [kind, a, b] = line.split('\t');
      if (kind === 'ready') ready();
      else if (kind === 'try') round.attempted.add(JSON.parse(a!) as string);
      else if (kind === 'batch') round.batches.push(JSON.parse(a!) as string[]);
      else if (kind === 'ack') round.acknowledged.set(Number(a), JSON.parse(b!) as string);
      else if (kind === 'checkpoint-failed' || kind === 'compaction-failed') round.failures.push(`${kind}: ${JSON.parse(a!) as string}`);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (data: string) => (stderr += data));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await Promise.race([isReady, exited]);
  if (child.exitCode !== null) throw new Error(`the appending child exited early (${child.exitCode}): ${stderr}`);
  await new Promise((resolve) => setTimeout(resolve, runMs));
  child.kill('SIGKILL');
  await exited;
  if (child.signalCode !== 'SIGKILL') throw new Error(`the child ended by ${child.signalCode ?? child.exitCode}, not SIGKILL: ${stderr}`);
  return round;
}

/** Adds a round to the ledger; an id acknowledged twice is a failure. */
export function record(ledger: KillLedger, round: KillRound): void {
  for (const [id, text] of round.acknowledged) {
    if (ledger.acknowledged.has(id)) throw new Error(`id ${id} was acknowledged twice`);
    ledger.acknowledged.set(id, text);
  }
  for (const text of round.attempted) ledger.attempted.add(text);
  const acknowledgedTexts = new Set(round.acknowledged.values());
  for (const batch of round.batches) if (!batch.every((text) => acknowledgedTexts.has(text))) ledger.unsettledBatches.push(batch);
}

/**
 * Opens the store after a kill and checks it against everything ever acknowledged: each acknowledged
 * memory present byte for byte, no memory holding a text nobody wrote, each batch the kill interrupted
 * there whole or not at all, search answering. Returns the number of memories in the store; throws on
 * any violation.
 */
export async function checkAfterKill(root: string, ledger: KillLedger, mode?: ChildMode): Promise<number> {
  const fs = await MemMapFS.init(root, { search: mode === 'segments' ? segmentSearch({ flushAfter: 16, mergeFactor: 3 }) : flexsearch(), codec: msgpack() });
  try {
    for (const [id, text] of ledger.acknowledged) {
      const memory = await fs.getMemory(id);
      if (memory?.text !== text) throw new Error(`acknowledged memory ${id} is ${memory ? `"${memory.text.slice(0, 60)}"` : 'missing'}, expected "${text.slice(0, 60)}"`);
    }
    const stats = fs.stats();
    if (stats.memories < ledger.acknowledged.size) throw new Error(`${stats.memories} memories, fewer than the ${ledger.acknowledged.size} acknowledged`);
    // Every memory written since the last check (ids are LSNs), not only the newest: each holds a text
    // that was written; and the texts present, for the batch check.
    const texts = new Set<string>();
    for (let id = ledger.checkedUpTo + 1; id <= stats.lastLsn; id++) {
      const memory = await fs.getMemory(id);
      if (!memory) continue;
      if (!ledger.attempted.has(memory.text)) throw new Error(`memory ${id} holds a text nobody wrote: "${memory.text.slice(0, 60)}"`);
      texts.add(memory.text);
    }
    ledger.checkedUpTo = stats.lastLsn;
    if (ledger.unsettledBatches.length > 0) {
      // A kill interrupts at most the child's newest batch, which was written after the last check.
      for (const batch of ledger.unsettledBatches) {
        const present = batch.filter((text) => texts.has(text)).length;
        if (present !== 0 && present !== batch.length) throw new Error(`${present} of the ${batch.length} memories of an interrupted batch ("${batch[0]!.slice(0, 40)}…") are in the store: a batch must be whole or absent`);
      }
      ledger.unsettledBatches = [];
    }
    if (mode === 'segments') await checkSegmentIndex(fs, ledger, stats.lastLsn);
    const found = await fs.queryMemory('payload', { limit: 5 });
    if (found.length !== Math.min(5, stats.memories)) throw new Error(`search found ${found.length} of ${stats.memories} memories`);
    return stats.memories;
  } finally {
    await fs.close();
  }
}

/**
 * The search index kept in segment files, as the killed process left it and this open brought it up
 * to date: the word only one text holds finds exactly the live memory with that text, and nothing for
 * a text deleted or never committed.
 */
async function checkSegmentIndex(fs: MemMapFS, ledger: KillLedger, lastLsn: number): Promise<void> {
  const liveByText = new Map<string, number>();
  for (let id = 1; id <= lastLsn; id++) {
    const memory = await fs.getMemory(id);
    if (memory) liveByText.set(memory.text, id);
  }
  for (const text of ledger.attempted) {
    const word = /\bu\d+x\d+z\b/.exec(text)?.[0];
    if (!word) continue;
    const hits = (await fs.queryMemory(word, { limit: 5 })).map((hit) => hit.id);
    const live = liveByText.get(text);
    const expected = live === undefined ? [] : [live];
    if (JSON.stringify(hits) !== JSON.stringify(expected)) throw new Error(`search for ${word} found [${hits.join(', ')}], expected [${expected.join(', ')}]`);
  }
}
