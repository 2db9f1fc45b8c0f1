/**
 * Milliseconds since an arbitrary moment, never going back: the clock of `performance.now()` without
 * its price (Node 20 loads `perf_hooks`, a dozen modules, the first time `performance` is touched,
 * which was a millisecond of every open).
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
