/** Wall-clock timing shared by the benches. */

/** Seconds `body` took, awaited. */
export async function seconds(body: () => unknown): Promise<number> {
  return (await timed(body)).seconds;
}

/** Seconds `body` took, awaited, with what it returned. */
export async function timed<T>(body: () => Promise<T> | T): Promise<{ seconds: number; value: T }> {
  const started = process.hrtime.bigint();
  const value = await body();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, value };
}
