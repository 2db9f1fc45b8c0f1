/** A word: a run of letters, digits and combining marks (any script). */
const WORD = /[\p{L}\p{N}\p{M}]+/gu;
/** Combining diacritics of Latin, Greek and Cyrillic letters once decomposed (`é` = `e` + U+0301). */
const DIACRITICS = /[\u0300-\u036f]/g;
const NOT_ASCII = /[^\x00-\x7f]/;

/**
 * The words of `text`, case-folded and with accents folded (`Café` and `cafe` are one word), in order,
 * repeats kept: what the built-in search providers index and what a query looks for there. Like SQLite
 * FTS5's `unicode61` tokenizer with `remove_diacritics`, so that rankings can be compared with it.
 * Marks that carry meaning in other scripts (Devanagari vowel signs, say) stay part of their word.
 */
export function wordTokens(text: string): string[] {
  return NOT_ASCII.test(text) ? unicodeWords(text) : asciiWords(text);
}

/**
 * The distinct words of a query, in the order they first come, but for its last word, which comes last
 * wherever else it comes too: the word a search matches by its beginning (`'goo to goo'` ends with
 * `goo`, not `to`).
 */
export function queryWords(text: string): string[] {
  return distinctWithLastLast(wordTokens(text));
}

/** `words` without repeats, in the order they first come, but for the last word, which stays last. */
export function distinctWithLastLast(words: readonly string[]): string[] {
  if (words.length === 0) return [];
  const last = words[words.length - 1]!;
  const distinct = new Set(words);
  distinct.delete(last);
  distinct.add(last);
  return [...distinct];
}

/** `wordTokens` for any text, by regular expression (`wordTokens` finds the same words in ASCII text faster). */
export function unicodeWords(text: string): string[] {
  let folded = text.toLowerCase();
  if (NOT_ASCII.test(folded)) folded = folded.normalize('NFD').replace(DIACRITICS, '').normalize('NFC');
  return folded.match(WORD) ?? [];
}

/** `wordTokens` for ASCII text, which is most of it: the same words, found a character at a time. */
function asciiWords(text: string): string[] {
  const words: string[] = [];
  let start = -1;
  let upper = false;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32;
    const capital = c >= 65 && c <= 90;
    if (capital || (c >= 97 && c <= 122) || (c >= 48 && c <= 57)) {
      if (start < 0) {
        start = i;
        upper = false;
      }
      if (capital) upper = true;
    } else if (start >= 0) {
      const word = text.slice(start, i);
      words.push(upper ? word.toLowerCase() : word);
      start = -1;
    }
  }
  return words;
}
