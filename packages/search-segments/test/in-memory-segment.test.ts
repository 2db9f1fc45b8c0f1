import { describe, expect, it } from 'vitest';
import { SegmentBuilder } from '../src/index.js';
import { PostingsPool } from '../src/postings-pool.js';
import { TermTable } from '../src/term-table.js';
import { unicodeWords } from '@memmapfs/core';

/** A small random generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('PostingsPool', () => {
  /** Adds pairs to `pool` (some terms with a few, some with many thousands) and checks it gives them all back. */
  function fillAndCheck(pool: PostingsPool): void {
    const next = random(7);
    const model: number[][] = [];
    // Some terms with a few pairs, some with many thousands (past the largest block), interleaved.
    for (let row = 0; row < 20_000; row++) {
      const terms = new Set<number>();
      for (let k = 0; k < 12; k++) terms.add(Math.floor(model.length * next() ** 3));
      if (next() < 0.05 || model.length === 0) terms.add(model.length);
      for (const term of [...terms].sort((a, b) => a - b)) {
        const frequency = 1 + Math.floor(next() * 5);
        (model[term] ??= []).push(row, frequency);
        pool.add(term, row, frequency);
      }
    }
    expect(pool.size).toBe(model.length);
    expect(Math.max(...model.map((pairs) => pairs.length / 2))).toBeGreaterThan(10_000);
    model.forEach((pairs, term) => {
      expect(pool.pairs(term)).toBe(pairs.length / 2);
      const visited: number[] = [];
      pool.forEach(term, (row, frequency) => visited.push(row, frequency));
      expect(visited).toEqual(pairs);
      const reader = pool.reader(term);
      const read: number[] = [];
      for (reader.next(); reader.row !== Number.POSITIVE_INFINITY; reader.next()) read.push(reader.row, reader.frequency);
      expect(read).toEqual(pairs);
    });
  }

  it('gives back every pair of every term in order, across blocks and as the pool grows', () => {
    const pool = new PostingsPool();
    fillAndCheck(pool);
    expect(pool.capacity).toBeGreaterThan(1 << 16);
  });

  it('starts at the capacity it is given, so that a pool for a segment like the last one never grows', () => {
    const first = new PostingsPool();
    fillAndCheck(first);
    const second = new PostingsPool(first.usedInts);
    expect(second.capacity).toBe(first.usedInts);
    fillAndCheck(second);
    expect([second.capacity, second.usedInts]).toEqual([first.usedInts, first.usedInts]);
    // Never less than the least a pool starts with, never more than 64 MiB at once.
    expect(new PostingsPool(3).capacity).toBe(1 << 16);
    expect(new PostingsPool(2 ** 40).capacity).toBe(1 << 24);
  });

  it('takes the ints of a pool let go of, whatever they hold, when they are from four fifths of its capacity to twice it', () => {
    const first = new PostingsPool();
    fillAndCheck(first);
    const used = first.usedInts;
    const spare = first.release();
    expect([first.size, first.pairs(0), first.usedInts]).toEqual([0, 0, 0]);
    // What the last segment left in them is never read.
    spare.fill(-7);
    const second = new PostingsPool(spare.length / 0.8, spare);
    fillAndCheck(second);
    expect([second.capacity, second.usedInts]).toEqual([spare.length, used]);
    // A spare below four fifths, or above twice, is not taken (new ints of the capacity asked for instead).
    const third = new PostingsPool(spare.length / 0.79, second.release());
    expect(third.capacity).toBe(Math.ceil(spare.length / 0.79));
    const fourth = new PostingsPool(spare.length / 2, third.release());
    expect(fourth.capacity).toBe(spare.length / 2);
    const fifth = new PostingsPool(spare.length / 2.01, spare);
    expect(fifth.capacity).toBe(Math.ceil(spare.length / 2.01));
    expect(new PostingsPool(spare.length / 2, spare).capacity).toBe(spare.length);
  });

  it('holds nothing for a term skipped', () => {
    const pool = new PostingsPool();
    pool.add(0, 0, 1);
    pool.add(3, 0, 2);
    expect([pool.size, pool.pairs(1), pool.pairs(2), pool.pairs(3)]).toEqual([4, 0, 0, 1]);
    const reader = pool.reader(2);
    reader.next();
    expect(reader.row).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('TermTable', () => {
  it('numbers each term once, finds ASCII words in place whatever their case, and survives growing', () => {
    const table = new TermTable();
    const next = random(3);
    const words = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}${'abcxyz'[i % 6]}`);
    const ids = new Map<string, number>();
    for (let n = 0; n < 40_000; n++) {
      const word = words[Math.floor(next() * words.length)]!;
      const shown = next() < 0.5 ? word.toUpperCase() : word;
      const text = `.. ${shown} ..`;
      let hash = 0x811c9dc5 | 0;
      for (const c of word) hash = Math.imul(hash ^ c.charCodeAt(0), 0x01000193);
      const id = table.internAscii(text, 3, 3 + shown.length, hash);
      if (!ids.has(word)) ids.set(word, id);
      expect(id).toBe(ids.get(word));
      expect(table.term(id)).toBe(word);
    }
    expect(table.size).toBe(ids.size);
    for (const [word, id] of ids) {
      expect(table.find(word)).toBe(id);
      expect(table.intern(word)).toBe(id);
    }
    expect(table.find('absent')).toBe(-1);
    expect(table.intern('\u0001t:tag')).toBe(ids.size);
  });
});

describe('SegmentBuilder', () => {
  it('counts the same words as the tokenizer does, in ASCII and other text, with labels once', () => {
    const builder = new SegmentBuilder();
    const texts = ['Alpha beta ALPHA alpha, gamma42 beta', 'Café CAFE café crème ÉCOLE', 'the THE The tHe', ''];
    texts.forEach((text, i) => builder.add({ id: 10 + i, text, tags: ['x', 'x', 'y'], namespace: 'ns' }));
    for (const [i, text] of texts.entries()) {
      const expected = new Map<string, number>();
      for (const word of unicodeWords(text)) expected.set(word, (expected.get(word) ?? 0) + 1);
      expect(builder.lengthAt(i)).toBe(unicodeWords(text).length);
      for (const [word, frequency] of expected) {
        const cursor = builder.cursor(builder.termId(word));
        while (cursor.row < i) cursor.next();
        expect([word, cursor.row, cursor.frequency]).toEqual([word, i, frequency]);
      }
    }
    expect(builder.docFrequency(builder.termId('alpha'))).toBe(1);
    expect(builder.docFrequency(builder.termId('cafe'))).toBe(1);
    expect(builder.docFrequency(builder.termId('the'))).toBe(1);
    const tag = builder.cursor(builder.termId('\u0001t:x'));
    expect([tag.row, tag.frequency]).toEqual([0, 1]);
    expect(builder.docFrequency(builder.termId('\u0001n:ns'))).toBe(4);
  });

  it('indexes every word of a document of thousands of different words, and of the documents after it', () => {
    const builder = new SegmentBuilder();
    const many = Array.from({ length: 3000 }, (_, i) => `w${i}`);
    builder.add({ id: 1, text: `${many.join(' ')} w7`, tags: ['t'], namespace: 'ns' });
    builder.add({ id: 2, text: 'w1 w2 w2', tags: ['t'], namespace: 'ns' });
    for (const word of many) {
      const cursor = builder.cursor(builder.termId(word));
      expect([word, cursor.row, cursor.frequency]).toEqual([word, 0, word === 'w7' ? 2 : 1]);
    }
    expect(builder.docFrequency(builder.termId('w1'))).toBe(2);
    const w2 = builder.cursor(builder.termId('w2'));
    w2.next();
    expect([w2.row, w2.frequency]).toEqual([1, 2]);
    expect(builder.docFrequency(builder.termId('w3'))).toBe(1);
    expect(builder.docFrequency(builder.termId('\u0001t:t'))).toBe(2);
  });
});

describe('SegmentBuilder after a failed add', () => {
  it('counts nothing of the failed document in the next one', () => {
    const builder = new SegmentBuilder();
    expect(() => builder.add({ id: 1, text: 'secret secret words', tags: 42 as unknown as string[], namespace: 'n' })).toThrow();
    builder.add({ id: 2, text: 'plain words', tags: [], namespace: 'n' });
    expect(builder.termId('secret') < 0 || builder.docFrequency(builder.termId('secret')) === 0).toBe(true);
    const words = builder.cursor(builder.termId('words'));
    expect([words.row, words.frequency]).toEqual([0, 1]);
    expect(builder.lengthAt(0)).toBe(2);
  });
});
