import { importModule } from '../import-module.js';

/** Printable ASCII: one terminal column a character, measured without string-width. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Made when first needed: making one loads ICU's break rules, about 15 ms. */
let graphemes: Intl.Segmenter | undefined;

/**
 * string-width, once `loadDisplayWidth` has loaded it: loading it compiles Unicode property patterns,
 * about 40 ms of a command's start, which most commands never need.
 */
let stringWidth: ((text: string) => number) | undefined;

/** Loads what measures text beyond printable ASCII (CJK characters, emoji, combining marks, escapes). */
export async function loadDisplayWidth(): Promise<void> {
  stringWidth ??= (await importModule<typeof import('string-width')>('string-width')).default;
}

/** Whether `text` can be measured before `loadDisplayWidth` has run (it is printable ASCII). */
export function measurableWithoutLoading(text: string): boolean {
  return PRINTABLE_ASCII.test(text);
}

/**
 * The columns `text` takes on a terminal: 2 for a CJK character or an emoji, 0 for a combining mark.
 * Beyond printable ASCII, `loadDisplayWidth` must have run.
 */
export function displayWidth(text: string): number {
  if (PRINTABLE_ASCII.test(text)) return text.length;
  if (stringWidth === undefined) throw new Error('displayWidth: call loadDisplayWidth() before measuring text beyond printable ASCII');
  return stringWidth(text);
}

/**
 * `text` cut to at most `columns` terminal columns, ending with `…` when cut. It cuts between
 * grapheme clusters, so an emoji sequence or a letter with its accents is kept whole or left out whole,
 * and a wide character that would straddle the edge is left out.
 */
export function truncateToWidth(text: string, columns: number): string {
  if (displayWidth(text) <= columns) return text;
  const room = Math.max(0, columns - 1);
  if (PRINTABLE_ASCII.test(text)) return columns >= 1 ? `${text.slice(0, room)}…` : '';
  let used = 0;
  let kept = '';
  graphemes ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  for (const { segment } of graphemes.segment(text)) {
    const width = displayWidth(segment);
    if (used + width > room) break;
    kept += segment;
    used += width;
  }
  return columns >= 1 ? `${kept}…` : '';
}

/** `text` padded with spaces to `columns` terminal columns (unchanged when it is that wide already). */
export function padToWidth(text: string, columns: number): string {
  return text + ' '.repeat(Math.max(0, columns - displayWidth(text)));
}
