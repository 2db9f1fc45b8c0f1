import { searchProviderSuite } from '@memmapfs/testkit';
import { describe, expect, it } from 'vitest';
import segmentSearchDefault, { segmentSearch } from '../src/index.js';

searchProviderSuite('segments', () => segmentSearch());
// Tiny segments, merged often: every path from memory to file to merged file runs.
searchProviderSuite('segments (a file every 3 documents, merged by 2)', () => segmentSearch({ flushAfter: 3, mergeFactor: 2 }));

describe('segments provider', () => {
  it('is the default export, named segments, persistent, with prefixes', () => {
    expect(segmentSearchDefault).toBe(segmentSearch);
    expect(segmentSearch().name).toBe('segments');
    expect(segmentSearch().supports).toEqual({ snapshot: false, prefix: true, persistent: true });
  });

  it('refuses options that are not whole numbers in range', () => {
    expect(() => segmentSearch({ flushAfter: 0 })).toThrow('flushAfter');
    expect(() => segmentSearch({ mergeFactor: 1.5 })).toThrow('mergeFactor');
  });
});
