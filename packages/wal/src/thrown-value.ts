/**
 * Words for a value something threw, whatever it is: an Error's message, another object's `message`,
 * else the value as text. Never throws itself: a callback that throws a Symbol, or an object without a
 * prototype, must not turn the warning that reports it into a failure of the store.
 */
export function describeThrown(value: unknown): string {
  try {
    const message = (value as { message?: unknown } | null | undefined)?.message;
    return typeof message === 'string' ? message : String(value);
  } catch {
    return `a thrown ${value === null ? 'null' : typeof value} that cannot be shown as text`;
  }
}
