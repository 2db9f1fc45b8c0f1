/**
 * The options of the adapters that core can load by name. They are declared here, beside the names,
 * so that `{ provider: 'orama', options: { … } }` is checked without the adapter's types in the
 * program; each adapter package takes its options type from here and exports it under its own name.
 */

/** How flexsearch splits words into indexed terms. */
export type FlexSearchTokenize = 'strict' | 'forward' | 'reverse' | 'full';

/** Options of the flexsearch provider. Every option is optional; the defaults suit agent memories. */
export interface FlexSearchProviderOptions {
  /**
   * How words are indexed. `'strict'` (default): whole words, ranked by BM25; the last query word
   * also matches the `prefixWords` most common words it begins. `'forward'` indexes every word
   * beginning, so every query word matches as a prefix; `'reverse'` beginnings and endings; `'full'`
   * every substring (largest index). These three rank in FlexSearch's order (earlier positions first).
   */
  tokenize?: FlexSearchTokenize;
  /**
   * Number of relevance levels flexsearch files a memory at under each of its words (flexsearch
   * `resolution`): with `'strict'`, levels of the word's BM25 weight in the memory (default 16); with
   * the other tokenizers, of the word's position (default 9).
   */
  resolution?: number;
  /**
   * With `tokenize: 'strict'`: how many indexed words the last query word may stand for as a prefix,
   * the ones most memories hold (and the word itself, if indexed). Default 32; `0` turns prefix
   * matching off (`supports.prefix` is then `false`).
   */
  prefixWords?: number;
  /**
   * Whether a multi-word query also finds memories holding only some of its words. Default `true`;
   * `false` returns only memories holding every word.
   */
  suggest?: boolean;
}

/** Options of the Orama provider. Every option is optional. */
export interface OramaProviderOptions {
  /** Typos tolerated per query word (Levenshtein distance). Default 0: exact words and prefixes only. */
  tolerance?: number;
  /** BM25 parameters: `k` term-frequency saturation (default 1.2), `b` length normalization (0.75), `d` (0.5). */
  relevance?: { k?: number; b?: number; d?: number };
  /**
   * Vector search over the embeddings given with memories, of exactly `dimensions` numbers each (your
   * model's). Absent: no vector search (`supports.vectors` is absent).
   */
  vectors?: { dimensions: number };
}

/** Options of the `segments` search provider. */
export interface SegmentSearchOptions {
  /** Memories indexed in memory before they are written out as a segment file. Default 16,384. */
  readonly flushAfter?: number;
  /** How many segments of about one size are merged into one. Default 10. */
  readonly mergeFactor?: number;
}

/** Options of the `msgpack` codec. None of them changes the bytes it writes. */
export interface MsgpackCodecOptions {
  /**
   * Copy binary values out of the bytes being decoded. Default `true`. With `false`, decoded
   * `Uint8Array`s are views into the input: faster, but they change when the input bytes are reused.
   */
  copyBinary?: boolean;
}

/** Options of the `cbor` codec. None of them changes the bytes it writes. */
export interface CborCodecOptions {
  /**
   * Copy binary values out of the bytes being decoded. Default `true`. With `false`, decoded
   * `Uint8Array`s are views into the input: faster, but they change when the input bytes are reused.
   */
  copyBinary?: boolean;
}
