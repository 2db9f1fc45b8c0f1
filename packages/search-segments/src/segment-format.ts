import { crc32c } from '@memmapfs/wal';
/**
 * The layout of a segment file (docs/FORMAT.md, "Search segments"). Little-endian throughout; every
 * section starts at a multiple of 8 bytes, so that rows can be read in place through a mapping.
 */
export const SEGMENT_MAGIC = Buffer.from('MMFS-SEG', 'ascii');
export const SEGMENT_VERSION = 3;
/** The version before the checks section, still read (its body is checked only whole, by `verify` and merges). */
export const SEGMENT_VERSION_WITHOUT_CHECKS = 2;
/** The version before the lengths column, still read (a segment of it is rewritten in the current one when it is merged). */
export const SEGMENT_VERSION_WITHOUT_LENGTHS = 1;
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
  /** Version 2: offset of the lengths column (u32). */
  lengthsOffset: 56,
  /** Version 3: offset of the checks section (u32). */
  checksOffset: 60,
} as const;

/** A document row: id (f64), length in words (u32), the row's check (u32; version 3, zero before: `rowCheck`). */
export const DOC_ROW = 16;

/**
 * A document row's check (version 3): a 32-bit mix of its number, its id's two 32-bit halves (low, then
 * high) and its length. Each step is a bijection of what came before given the next word, so damage to
 * any one word of a row, or to the check, always shows; a row read, not a group, is what is checked (a
 * query reads the ids of a few rows here and there).
 */
export function rowCheck(row: number, idLow: number, idHigh: number, length: number): number {
  return mix32(mix32(mix32(mix32(row ^ 0x6d2b79f5) ^ idLow) ^ idHigh) ^ length) >>> 0;
}

/** MurmurHash3's finalizer: a bijection of 32-bit words that spreads every bit of its input. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
/**
 * The lengths column (version 2): each document's length in words again, as a u16, so that BM25 reads 2
 * bytes a posting rather than a row's page; `LENGTH_IN_ROW` for a length the row alone can hold.
 */
export const LENGTH_BYTES = 2;
export const LENGTH_IN_ROW = 0xffff;
/** A term row: start of its bytes (u32), their length (u32), start of its postings (u32), document frequency (u32). */
export const TERM_ROW = 16;

/**
 * The checks section (version 3): CRC32Cs of the parts of the body a query reads, each checked the first
 * time a process reads that part (a length, only for a row a query returns or ranks among its best), so
 * that a segment damaged after it was written is found where it is read rather than answering wrongly.
 * In this order, each a u32: one a term (its postings), one a `TERMS_PER_CHECK` terms (their rows, then
 * their bytes), one a `LENGTHS_PER_CHECK` documents (their lengths). (A document row holds its own
 * check: `rowCheck`.)
 */
export const CHECK_BYTES = 4;
// (Small parts: a query reads rows, terms and lengths here and there, and in a process that just started
// a checksum runs at tens of megabytes a second until the JIT compiles it, so each check covers about
// what one read touches.)
/** Terms whose rows and bytes one check covers: 1 KiB of rows. */
export const TERMS_PER_CHECK = 64;
/** Documents whose lengths one check covers: 512 bytes of the lengths column. */
export const LENGTHS_PER_CHECK = 256;

/** Where each kind of check starts in the checks section of a segment of `docCount` documents and `termCount` terms, and the section's size. */
export function checksLayout(docCount: number, termCount: number): { termGroups: number; lengthGroups: number; size: number } {
  const termGroups = termCount * CHECK_BYTES;
  const lengthGroups = termGroups + Math.ceil(termCount / TERMS_PER_CHECK) * CHECK_BYTES;
  return { termGroups, lengthGroups, size: lengthGroups + Math.ceil(docCount / LENGTHS_PER_CHECK) * CHECK_BYTES };
}

/** Segments are mapped whole: no segment file is larger than one mapping can be. */
export const MAX_SEGMENT_BYTES = 0x7fff_ffff;

export const align8 = (n: number): number => (n + 7) & ~7;

/**
 * The checksum of a group of `TERMS_PER_CHECK` term rows of `file`, continued over their terms' bytes;
 * `undefined` when the rows name bytes out of order or outside `[termBytes, postings)` (damaged rows: the
 * reader's bounds). Shared by the writer and the reader.
 */
export function termGroupChecksum(file: Buffer, termIndexOffset: number, group: number, termCount: number, bounds?: { termBytes: number; postings: number }): number | undefined {
  const first = group * TERMS_PER_CHECK;
  const end = Math.min(termCount, first + TERMS_PER_CHECK);
  const rows = crc32c(file.subarray(termIndexOffset + first * TERM_ROW, termIndexOffset + end * TERM_ROW));
  const from = file.readUInt32LE(termIndexOffset + first * TERM_ROW);
  const lastRow = termIndexOffset + (end - 1) * TERM_ROW;
  const to = file.readUInt32LE(lastRow) + file.readUInt32LE(lastRow + 4);
  if (bounds && (from < bounds.termBytes || to < from || to > bounds.postings)) return undefined;
  return crc32c(file.subarray(from, to), rows);
}
