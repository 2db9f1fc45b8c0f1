import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection of this process, now (V8's own, exposed at run time). The bench's process
 * holds the workload and the stores it built or closed; collected before a figure is taken in other
 * processes, they neither share those processes' pages (PSS) nor keep this process's collector busy on a
 * core while they are timed.
 */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
