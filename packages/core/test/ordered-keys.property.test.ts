import { describe, expect, it } from 'vitest';
import { OrderedKeys } from '../src/engine/ordered-keys.js';
import { keyOf, seeded } from './support/seeded-random.js';

const listed = (ordered: OrderedKeys, start: string, inclusive: boolean) => [...ordered.from(start, inclusive)];
const expected = (keys: Iterable<string>, start: string, inclusive: boolean) => [...keys].sort().filter((key) => (inclusive ? key >= start : key > start));

describe('OrderedKeys', () => {
  it('lists from any key, inclusive or not, as a sorted array would, through adds and deletes that split and empty blocks', () => {
    for (const seed of [1, 2, 3]) {
      const random = seeded(seed);
      const truth = new Set<string>();
      const ordered = OrderedKeys.from([]);
      for (let step = 0; step < 6000; step++) {
        const key = keyOf(random);
        // Grows to a few thousand keys (blocks split), then shrinks (blocks empty and go).
        if (random() < (step < 4000 ? 0.75 : 0.15)) {
          truth.add(key);
          ordered.add(key);
        } else {
          truth.delete(key);
          ordered.delete(key);
        }
        if (step % 97 === 0) {
          const start = keyOf(random);
          expect(listed(ordered, start, true)).toEqual(expected(truth, start, true));
          expect(listed(ordered, start, false)).toEqual(expected(truth, start, false));
        }
      }
      expect(listed(ordered, '', true)).toEqual([...truth].sort());
      expect(listed(OrderedKeys.from(truth), '', true)).toEqual([...truth].sort());
    }
  });

  it('lists numbered keys of many blocks in order', () => {
    const ordered = OrderedKeys.from([]);
    const keys = Array.from({ length: 5000 }, (_, i) => `k/${String((i * 7919) % 5000).padStart(5, '0')}`);
    for (const key of keys) ordered.add(key);
    expect(listed(ordered, 'k/02500', false)).toEqual(keys.sort().slice(2501));
    expect(listed(ordered, 'l', true)).toEqual([]);
  });
});
