import stringWidth from 'string-width';

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The columns `text` takes on a terminal: 2 for a CJK character or an emoji, 0 for a combining mark. */
export function displayWidth(text: string): number {
  return stringWidth(text);
}

/**
 * `text` cut to at most `columns` terminal columns, ending with `…` when cut. It cuts between
 * grapheme clusters, so an emoji sequence or a letter with its accents is kept whole or left out whole,
 * and a wide character that would straddle the edge is left out.
 */
export function truncateToWidth(text: string, columns: number): string {
  if (stringWidth(text) <= columns) return text;
  const room = Math.max(0, columns - 1);
  let used = 0;
  let kept = '';
  for (const { segment } of graphemes.segment(text)) {
    const width = stringWidth(segment);
    if (used + width > room) break;
    kept += segment;
    used += width;
  }
  return columns >= 1 ? `${kept}…` : '';
}

/** `text` padded with spaces to `columns` terminal columns (unchanged when it is that wide already). */
export function padToWidth(text: string, columns: number): string {
  return text + ' '.repeat(Math.max(0, columns - stringWidth(text)));
}
