/** A word: a run of letters, digits and combining marks (any script). */
const WORD = /[\p{L}\p{N}\p{M}]+/gu;
/** Combining diacritics of Latin, Greek and Cyrillic letters once decomposed (`é` = `e` + U+0301). */
const DIACRITICS = /[\u0300-\u036f]/g;
const NOT_ASCII = /[^\x00-\x7f]/;

/**
 * The words of `text`, case-folded and with accents folded (`Café` and `cafe` are one word), in order,
 * repeats kept: what is indexed and what a query looks for. Like SQLite FTS5's `unicode61` tokenizer
 * with `remove_diacritics`, so that rankings can be compared with it. Marks that carry meaning in other
 * scripts (Devanagari vowel signs, say) stay part of their word.
 */
export function wordTokens(text: string): string[] {
  let folded = text.toLowerCase();
  if (NOT_ASCII.test(folded)) folded = folded.normalize('NFD').replace(DIACRITICS, '').normalize('NFC');
  return folded.match(WORD) ?? [];
}
