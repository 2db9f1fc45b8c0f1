import type { Codec, CborCodecOptions } from '@memmapfs/core';
import { Encoder } from 'cbor-x';

export type { CborCodecOptions };

/**
 * Creates the CBOR codec (`name: 'cbor'`) over cbor-x. It writes plain CBOR (RFC 8949) that any
 * decoder reads: objects as maps with string keys sized to fit, `Uint8Array` as a byte string
 * without tags, `undefined` as simple value 23; no records, packing or structured-clone tags.
 * Binary decodes as a plain `Uint8Array`, never a `Buffer`.
 *
 * @example
 * await MemMapFS.init(root, { codec: cbor() });
 */
export function cbor(options: CborCodecOptions = {}): Codec {
  const encoder = new Encoder({
    useRecords: false,
    structuredClone: false,
    pack: false,
    bundleStrings: false,
    tagUint8Array: false,
    mapsAsObjects: true,
    variableMapSize: true,
    copyBuffers: options.copyBinary !== false,
  });
  return {
    name: 'cbor',
    encode(value) {
      try {
        // A view of the encoder's buffer, which it never writes over (it moves on to a new one when it
        // is full): no copy, and no ArrayBuffer of its own per value, which costs more than the encoding.
        const bytes = encoder.encode(value);
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      } catch (cause) {
        throw new Error(`[memmapfs] [codec] cbor cannot encode this value: ${describeCause(cause)}`, { cause });
      }
    },
    decode(bytes) {
      try {
        return encoder.decode(plainBytes(bytes));
      } catch (cause) {
        throw new Error(`[memmapfs] [codec] cbor cannot decode ${bytes?.byteLength} bytes: ${describeCause(cause)}`, { cause });
      } finally {
        // cbor-x keeps a view of the last bytes it read (a module-level DataView): over a store's
        // mapped file, that kept the file mapped, and its disk space taken, after the store closed or
        // removed it. Reading one byte of its own moves that view off them.
        encoder.decode(RESET);
      }
    },
  };
}

/** One null in CBOR: what the decoder reads last, so that it holds none of the caller's bytes. */
const RESET = Uint8Array.of(0xf6);

/**
 * The bytes as a plain `Uint8Array` over the same memory (no copy). The decoder makes binary values of
 * the type of its input, so given a `Buffer` it would return `Buffer`s; a store's values read back as
 * plain `Uint8Array`s whatever the path the bytes took.
 */
function plainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

export default cbor;
