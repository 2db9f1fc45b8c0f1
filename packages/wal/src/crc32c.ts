import CRC32C from 'crc-32/crc32c.js';

/**
 * CRC-32C (Castagnoli) of `data`, continuing from `seed` (the CRC of what came before it), unsigned.
 * Pure JavaScript (SheetJS crc-32, slicing by 16: over a gigabyte a second here): nothing native to
 * install or load, which keeps opening a store fast.
 */
export function crc32c(data: Uint8Array, seed = 0): number {
  return CRC32C.buf(data, seed) >>> 0;
}
