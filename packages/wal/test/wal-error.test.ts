import { describe, expect, it } from 'vitest';
import { WalError, isWalError } from '../src/wal-error.js';

/** A second copy of the module, as where two versions of the package are installed. */
async function otherCopy(): Promise<typeof import('../src/wal-error.js')> {
  // (A query makes the module loader take it for another module.)
  const specifier = '../src/wal-error.ts?another-copy';
  return (await import(/* @vite-ignore */ specifier)) as typeof import('../src/wal-error.js');
}

describe('WalError', () => {
  it('is recognised across copies of the package in one process', async () => {
    const other = await otherCopy();
    expect(other.WalError).not.toBe(WalError);
    const theirs = new other.WalError('WAL_CLOSED', 'closed');
    expect(theirs instanceof WalError).toBe(true);
    expect(isWalError(theirs, 'WAL_CLOSED')).toBe(true);
    expect(isWalError(theirs, 'WAL_FAILED')).toBe(false);
    expect(new WalError('IO_ERROR', 'io') instanceof other.WalError).toBe(true);
  });

  it('is not claimed by other errors, look-alikes or values', () => {
    expect(new Error('x') instanceof WalError).toBe(false);
    expect(Object.assign(new Error('x'), { name: 'WalError', code: 'WAL_CLOSED' }) instanceof WalError).toBe(false);
    for (const value of [undefined, null, 0, 'WalError', {}]) expect(value instanceof WalError).toBe(false);
    expect(isWalError(new Proxy({}, {}))).toBe(false);
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(isWalError(proxy)).toBe(false);
  });

  it('is still an Error with its code, name and cause', () => {
    const cause = new Error('disk');
    const error = new WalError('IO_ERROR', 'write failed', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'WalError', code: 'IO_ERROR', message: 'write failed', cause });
    expect(Object.keys(error)).not.toContain(Symbol.for('@memmapfs/wal:WalError'));
  });
});
