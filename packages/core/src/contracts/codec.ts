/**
 * Turns the store's records into bytes and back. A codec is chosen when a store is created; its
 * `name` is written into the WAL header, and a store refuses to open under a different codec.
 *
 * Implementations must round-trip every value the store writes: `null`, booleans, finite and
 * non-finite numbers, strings (any Unicode), `Uint8Array`, arrays, and plain objects with string keys
 * (nested to any depth). Run `codecSuite` from `@memmapfs/testkit` to check a codec.
 */
export interface Codec {
  /** Stable name recorded in the store header, e.g. `'msgpack'`. ASCII, at most 48 bytes. */
  readonly name: string;
  /** Encodes one record. Must not keep a reference to the returned bytes. */
  encode(value: unknown): Uint8Array;
  /**
   * Decodes bytes produced by `encode` (of this codec, possibly in another process or version).
   * Binary values come back as `Uint8Array` (a `Buffer` is fine). Throws on malformed input.
   */
  decode(bytes: Uint8Array): unknown;
}
