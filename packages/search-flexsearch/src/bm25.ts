/** BM25's parameters, as SQLite FTS5 and Lucene use them by default. */
export const K1 = 1.2;
export const B = 0.75;

/** The largest weight a word can have in a memory (`termWeight` tends to it as the word repeats). */
export const MAX_TERM_WEIGHT = K1 + 1;

/**
 * Robertson–Spärck Jones IDF of a word held by `documentFrequency` of `documentCount` memories, floored
 * at a small positive number for words in most memories, as FTS5 does.
 */
export function inverseDocumentFrequency(documentFrequency: number, documentCount: number): number {
  const value = Math.log((documentCount - documentFrequency + 0.5) / (documentFrequency + 0.5));
  return value > 0 ? value : 1e-6;
}

/** BM25's weight of a word seen `frequency` times in a memory of `length` words: at most `MAX_TERM_WEIGHT`. */
export function termWeight(frequency: number, length: number, averageLength: number): number {
  return (frequency * (K1 + 1)) / (frequency + K1 * (1 - B + (B * length) / averageLength));
}

/**
 * The relevance level, out of `levels`, of a word of this weight in a memory: 0 for weights close to
 * `MAX_TERM_WEIGHT`, `levels - 1` for the lowest. FlexSearch keeps a word's memories grouped by level,
 * best first, so that a search can stop before reading the lower levels.
 */
export function weightLevel(weight: number, levels: number): number {
  const level = Math.floor((1 - weight / MAX_TERM_WEIGHT) * levels);
  return level < 0 ? 0 : level >= levels ? levels - 1 : level;
}

/** The largest weight a word can have in the memories filed at `level` (inclusive bound). */
export function levelCeiling(level: number, levels: number): number {
  return (1 - level / levels) * MAX_TERM_WEIGHT;
}
