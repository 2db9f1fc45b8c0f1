import { describe, expect, it } from 'vitest';
import { BlockError } from '../src/block-error.js';

/** A second copy of the module, as where two versions of the package are installed. */
async function otherCopy(): Promise<typeof import('../src/block-error.js')> {
  // (A query makes the module loader take it for another module.)
  const specifier = '../src/block-error.ts?another-copy';
  return (await import(/* @vite-ignore */ specifier)) as typeof import('../src/block-error.js');
}

describe('BlockError', () => {
  it('is recognised across copies of the package in one process', async () => {
    const other = await otherCopy();
    expect(other.BlockError).not.toBe(BlockError);
    expect(new other.BlockError('BLOCK_MISSING', 'gone') instanceof BlockError).toBe(true);
    expect(new BlockError('IO_ERROR', 'io') instanceof other.BlockError).toBe(true);
  });

  it('is not claimed by other errors, look-alikes or values', () => {
    expect(new Error('x') instanceof BlockError).toBe(false);
    expect(Object.assign(new Error('x'), { name: 'BlockError', code: 'BLOCK_MISSING' }) instanceof BlockError).toBe(false);
    for (const value of [undefined, null, 0, 'BlockError', {}]) expect(value instanceof BlockError).toBe(false);
  });

  it('is still an Error with its code, name and cause', () => {
    const cause = new Error('disk');
    const error = new BlockError('IO_ERROR', 'read failed', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'BlockError', code: 'IO_ERROR', message: 'read failed', cause });
  });
});
