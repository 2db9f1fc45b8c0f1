import type { Tokenizer } from '@orama/orama';
import { distinctWithLastLast } from '@memmapfs/core';

/** Anything but a letter, a combining mark or a digit separates words. */
const wordSeparators = /[^\p{L}\p{M}\p{N}]+/u;

/** Accents and other combining diacritics of Latin, Greek and Cyrillic letters once decomposed. */
const combiningDiacritics = /[\u0300-\u036f]/g;

/**
 * Splits text into lower-case words of any script, with accents folded (`Café` and `cafe` are one
 * word). Replaces Orama's English tokenizer, which splits words at any letter outside `A–Z` and a few
 * accented ones: `naïve`, `Grüße`, Greek and Cyrillic words could not be found with it.
 */
export function createWordTokenizer(): Tokenizer {
  return {
    language: 'english',
    normalizationCache: new Map(),
    tokenize(raw: string): string[] {
      if (typeof raw !== 'string') return [raw];
      const folded = raw.normalize('NFD').replace(combiningDiacritics, '').normalize('NFC').toLowerCase();
      // (The last word stays last: a query's, which may also come earlier, is the one matched by its beginning.)
      return distinctWithLastLast(folded.split(wordSeparators).filter((word) => word.length > 0));
    },
  };
}
