import { describe, expect, it } from 'vitest';
import { NamespaceTally } from '../src/engine/namespace-tally.js';

describe('NamespaceTally', () => {
  it('settles all or nothing: a row that cannot be read leaves the counts and the noted ids as they were', () => {
    const tally = new NamespaceTally();
    tally.add('a', 2);
    tally.replacedInBase.add(1);
    tally.replacedInBase.add(2);
    const damaged = (id: number) => {
      if (id === 2) throw new Error('row 2 is damaged');
      return 'a';
    };
    expect(() => tally.settle(damaged)).toThrow('row 2 is damaged');
    expect(tally.delta.get('a')).toBe(2);
    expect([...tally.replacedInBase]).toEqual([1, 2]);
    tally.settle(() => 'a');
    expect(tally.delta.has('a')).toBe(false);
    expect(tally.replacedInBase.size).toBe(0);
  });
});
