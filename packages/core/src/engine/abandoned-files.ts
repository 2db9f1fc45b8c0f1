import type { StoreFileSystem } from '../types.js';

/** How old a temporary file of a dead process must be before it is removed. */
const ABANDONED_AFTER_MS = 3_600_000;

/**
 * Whether the temporary file `path` that process `pid` wrote was abandoned: that process is gone and the
 * file is an hour old (a process id alone may be another's, in another PID namespace, or reused). A
 * writer that dies between writing such a file and renaming it into place leaves it behind.
 */
export async function isAbandoned(path: string, pid: number, files: Pick<StoreFileSystem, 'open'>): Promise<boolean> {
  return !processAlive(pid) && (await ageMs(path, files)) > ABANDONED_AFTER_MS;
}

async function ageMs(path: string, files: Pick<StoreFileSystem, 'open'>): Promise<number> {
  try {
    const handle = await files.open(path, 'r');
    try {
      return Date.now() - (await handle.stat()).mtimeMs;
    } finally {
      await handle.close();
    }
  } catch {
    return 0;
  }
}

/** Whether process `pid` is alive as this process sees it (this one's namespace; EPERM: another user's, alive). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
