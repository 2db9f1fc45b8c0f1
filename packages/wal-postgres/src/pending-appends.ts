import type { WalEntry } from '@memmapfs/wal';

/** Records one transaction commits for the appends queued in this process (one append may be larger). */
const GROUP_RECORDS = 1_000;
const GROUP_BYTES = 16 * 1024 * 1024;

/** An append waiting for its commit. */
export interface PendingAppend {
  readonly entries: readonly WalEntry[];
  readonly bytes: number;
  readonly check: (() => void) | undefined;
  resolve(lsns: number[]): void;
  reject(error: unknown): void;
}

/** The appends the next transaction commits: one with a precondition alone, else those queued before the next one with a precondition. */
export function takeBatch(queue: PendingAppend[]): PendingAppend[] {
  if (queue[0]!.check) return queue.splice(0, 1);
  let count = 0;
  let records = 0;
  let bytes = 0;
  for (const pending of queue) {
    if (pending.check || (count > 0 && (records + pending.entries.length > GROUP_RECORDS || bytes + pending.bytes > GROUP_BYTES))) break;
    count++;
    records += pending.entries.length;
    bytes += pending.bytes;
  }
  return queue.splice(0, count);
}


/** Waits for the `after` promises of the batch; appends whose work failed are rejected with its error and left out. */
export async function dropFailedDependencies(batch: PendingAppend[]): Promise<PendingAppend[]> {
  if (!batch.some((pending) => pending.entries.some((entry) => entry.after))) return batch;
  const failures = await Promise.all(batch.map(async (pending) => {
    try {
      // (Only the entries that wait for something: a batch of thousands of entries usually has one.)
      const waits: Array<Promise<unknown>> = [];
      for (const entry of pending.entries) if (entry.after !== undefined) waits.push(entry.after);
      await Promise.all(waits);
      return undefined;
    } catch (error) {
      return { error };
    }
  }));
  return batch.filter((pending, i) => {
    const failure = failures[i];
    if (failure) pending.reject(failure.error);
    return !failure;
  });
}
