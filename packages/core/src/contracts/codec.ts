/**
 * Turns the store's records into bytes and back. A codec is chosen when a store is created; its
 * `name` is written into the WAL header, and a store refuses to open under a different codec.
 *
 * Implementations must round-trip exactly every value the store writes: its own records, and what
 * callers store (`StorableValue`): `null`, booleans, `undefined` (an object property keeps its key),
 * numbers (`NaN` and the infinities too; `-0` never reaches a codec), well-formed strings, `Uint8Array`,
 * arrays, and objects with string keys other than `__proto__`, nested `maxStorableDepth` levels deep, and each inside the record that holds it (one level more).
 * Decoded objects are plain (prototype `Object.prototype`), with the keys in the order written.
 * Run `codecSuite` from `@memmapfs/testkit` to check a codec.
 */
export interface Codec {
  /** Stable name recorded in the store header, e.g. `'msgpack'`. 1 to 24 letters, digits, `.`, `_` or `-` (what `registerCodec` takes, so that a store made with an instance can be opened by name). */
  readonly name: string;
  /** Encodes one record. Must not keep a reference to the returned bytes. */
  encode(value: unknown): Uint8Array;
  /**
   * Decodes bytes produced by `encode` (of this codec, possibly in another process or version).
   * Binary values come back as plain `Uint8Array`s, never `Buffer`s, whatever the type of `bytes`: a
   * value must read back the same in every process. Throws on malformed input. Keeps no reference of
   * its own to `bytes` (or to the memory under them) once it returns or throws: the store decodes
   * straight from its files' memory mappings, which stay mapped, their disk space taken, as long as
   * anything reaches them. Returns new objects, arrays and binaries at every call (none shared with an
   * earlier result, as a cache of decoded values would): the store hands them to its caller, who may
   * change them.
   */
  decode(bytes: Uint8Array): unknown;
}
