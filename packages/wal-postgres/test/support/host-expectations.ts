// What each memory may be at the end of a run of host processes (store-child.ts), from the lines they printed.
import { expect } from 'vitest';
import type { Line, StoreChild } from './store-process.js';

/** What a memory may be at the end: one of these texts, or deleted. */
export const DELETED = '<deleted>';

/** The errors a write may fail with while a host is killed or the server restarts (each one not acknowledged, and tried again). */
export const EXPECTED_FAILURES = new Set(['IO_ERROR', 'WAL_FAILED', 'LOCK_TIMEOUT', 'STORE_CLOSED']);

export const acks = (child: StoreChild) => child.lines.filter((line) => 'ack' in line).length;

interface Expectation {
  /** What the memory may be now: a single value once its last write was acknowledged. */
  possible: Set<string>;
  owner: string;
}

/**
 * Reads the lines of every host into what each memory may be: an acknowledged append or update fixes
 * its text, an acknowledged delete its absence; a try that failed (or was under way when its host was
 * killed) adds what it would have made it, since it may or may not have been written.
 */
export function expectations(hosts: ReadonlyArray<{ name: string; lines: readonly Line[] }>) {
  const memories = new Map<number, Expectation>();
  const appendAttempts = new Set<string>();
  const ackedTexts = new Set<string>();
  const duplicateIds: Array<{ id: number; hosts: string[] }> = [];
  const problems: Line[] = [];
  const failures: Array<{ host: string; op: unknown; code: unknown; message: unknown }> = [];
  for (const { name, lines } of hosts) {
    for (const line of lines) {
      if ('attempt' in line && line.attempt === 'append') {
        for (const text of line.texts as string[]) appendAttempts.add(text);
      } else if ('attempt' in line && line.attempt === 'update') {
        memories.get(line.id as number)?.possible.add(line.text as string);
      } else if ('attempt' in line && line.attempt === 'delete') {
        memories.get(line.id as number)?.possible.add(DELETED);
      } else if (line.ack === 'append') {
        const ids = line.ids as number[];
        (line.texts as string[]).forEach((text, k) => {
          const id = ids[k]!;
          const before = memories.get(id);
          if (before) duplicateIds.push({ id, hosts: [before.owner, name] });
          memories.set(id, { possible: new Set([text]), owner: name });
          ackedTexts.add(text);
        });
      } else if (line.ack === 'update') {
        const memory = memories.get(line.id as number);
        if (memory) memory.possible = new Set([line.text as string]);
      } else if (line.ack === 'delete') {
        const memory = memories.get(line.id as number);
        if (memory) memory.possible = new Set([DELETED]);
        // A first try finds its own live memory: only a retry may find it deleted (by the try before).
        if (line.result !== true && line.tries === 1) problems.push({ host: name, ...line });
      } else if ('failed' in line) {
        failures.push({ host: name, op: line.failed, code: line.code, message: line.message });
      } else if ('mismatch' in line || 'lost' in line || 'gaveUp' in line || 'loopFailed' in line || 'queryFailed' in line || 'unparsed' in line) {
        problems.push({ host: name, ...line });
      }
    }
  }
  return { memories, appendAttempts, ackedTexts, duplicateIds, problems, failures };
}

/**
 * Compares what a host reads at the end (`view`: [id, text] of every live memory) with the model:
 * `wrong`, memories not as a write may have left them; `unsettled`, memories of hosts not in `killed`
 * whose last write was never acknowledged (survivors retry until it is); `unexplained`, live memories
 * no host acknowledged that are not an append tried and never acknowledged.
 */
export function compareWithModel(model: ReturnType<typeof expectations>, view: ReadonlyArray<readonly [number, string]>, killed: ReadonlySet<string>) {
  const live = new Map(view);
  const wrong: Array<{ id: number; owner: string; got: string; possible: string[] }> = [];
  const unsettled: Array<{ id: number; owner: string; possible: string[] }> = [];
  for (const [id, { possible, owner }] of model.memories) {
    const got = live.get(id) ?? DELETED;
    if (!possible.has(got)) wrong.push({ id, owner, got: got.slice(0, 60), possible: [...possible].map((text) => text.slice(0, 60)) });
    if (!killed.has(owner) && possible.size !== 1) unsettled.push({ id, owner, possible: [...possible].map((text) => text.slice(0, 60)) });
  }
  // Memories no host acknowledged are appends that failed (maybe written) or were under way at a kill, never anything else.
  const unexplained = view.filter(([id, text]) => !model.memories.has(id) && (!model.appendAttempts.has(text) || model.ackedTexts.has(text))).map(([id, text]) => [id, text.slice(0, 60)]);
  return { wrong, unsettled, unexplained };
}

/**
 * Checks the end of a run of hosts, some killed on the way: compactions failed only as a kill or a
 * restart may make them, no host saw a problem, ids are unique, writes failed only so, each survivor
 * reads `freshView` (what a fresh open reads), and that view is what the acknowledged writes (and the
 * tries that may have landed) left.
 */
export function expectRunMatchesModel(children: readonly StoreChild[], survivors: readonly StoreChild[], views: ReadonlyArray<ReadonlyArray<readonly [number, string]>>, freshView: ReadonlyArray<readonly [number, string]>): void {
  const compactFailures = children.flatMap((child) => child.lines).filter((line): line is Line & { compactFailed: { code: string } } => 'compactFailed' in line);
  expect(compactFailures.filter((line) => !EXPECTED_FAILURES.has(line.compactFailed.code))).toEqual([]);
  const model = expectations(children);
  expect(model.problems).toEqual([]);
  expect(model.duplicateIds).toEqual([]);
  expect(model.failures.filter((failure) => !EXPECTED_FAILURES.has(String(failure.code)))).toEqual([]);
  for (const [i, view] of views.entries()) expect(view, `what ${survivors[i]!.name} reads`).toEqual(freshView);
  const killed = new Set(children.filter((child) => !survivors.includes(child)).map((child) => child.name));
  const { wrong, unsettled, unexplained } = compareWithModel(model, freshView, killed);
  expect(wrong).toEqual([]);
  expect(unsettled).toEqual([]);
  expect(unexplained).toEqual([]);
}
