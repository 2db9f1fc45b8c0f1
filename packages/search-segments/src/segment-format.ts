/**
 * The layout of a segment file (docs/FORMAT.md, "Search segments"). Little-endian throughout; every
 * section starts at a multiple of 8 bytes, so that rows can be read in place through a mapping.
 */
export const SEGMENT_MAGIC = Buffer.from('MMFS-SEG', 'ascii');
export const SEGMENT_VERSION = 1;
export const HEADER_SIZE = 64;

/** Header fields: byte offsets. */
export const H = {
  version: 8,
  /** CRC32C of header bytes 16–63. */
  headerCrc: 12,
  docCount: 16,
  termCount: 20,
  /** Sum of the documents' lengths in words (f64). */
  totalLength: 24,
  docsOffset: 32,
  termIndexOffset: 36,
  termBytesOffset: 40,
  postingsOffset: 44,
  fileLength: 48,
  /** CRC32C of every byte after the header. */
  bodyCrc: 52,
} as const;

/** A document row: id (f64), length in words (u32), 4 bytes unused. */
export const DOC_ROW = 16;
/** A term row: start of its bytes (u32), their length (u32), start of its postings (u32), document frequency (u32). */
export const TERM_ROW = 16;

/** Segments are mapped whole: no segment file is larger than one mapping can be. */
export const MAX_SEGMENT_BYTES = 0x7fff_ffff;

export const align8 = (n: number): number => (n + 7) & ~7;
