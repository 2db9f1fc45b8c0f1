/** A linear congruential generator: the same numbers in [0, 1] on every run for a seed. */
export function seeded(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

/**
 * A key of up to five letters after `start`, over a small alphabet (so keys share prefixes, and one is
 * often the prefix of another) with letters outside the BMP (so UTF-16 order is not code point order).
 */
export function keyOf(random: () => number, start = ''): string {
  const letters = ['a', 'b', '/', 'é', '\u{1F600}', 'Z', '\uFF5E'];
  let key = start;
  for (let i = Math.floor(random() * 6); i > 0; i--) key += letters[Math.floor(random() * letters.length)];
  return key;
}
