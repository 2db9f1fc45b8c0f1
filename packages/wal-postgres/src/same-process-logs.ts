import type { CommittedRecord } from '@memmapfs/wal';

/** A log of this process that can take records another log of this process committed to its store. */
export interface SameProcessLog {
  readonly logId: string;
  /** Records committed by another log of this process, in order, right after their commit. */
  tookCommitted(records: readonly CommittedRecord[]): void;
}

/**
 * The logs this process has open, by server and store. A commit is handed to the other logs of its
 * store in this process at once, so that their `refresh()` (synchronous) reports it without waiting for
 * the notification: a record committed in this process is never missing from another of its logs.
 */
const open = new Map<string, Set<SameProcessLog>>();

const keyOf = (connectionString: string, store: string): string => `${connectionString}\n${store}`;

export function joinProcessLogs(connectionString: string, store: string, log: SameProcessLog): () => void {
  const key = keyOf(connectionString, store);
  let logs = open.get(key);
  if (!logs) open.set(key, (logs = new Set()));
  logs.add(log);
  return () => {
    logs.delete(log);
    if (logs.size === 0 && open.get(key) === logs) open.delete(key);
  };
}

export function shareCommitted(connectionString: string, store: string, from: SameProcessLog, records: readonly CommittedRecord[]): void {
  const logs = open.get(keyOf(connectionString, store));
  if (!logs) return;
  for (const log of logs) {
    if (log !== from && log.logId === from.logId) log.tookCommitted(records);
  }
}
