import type { Codec } from '@memmapfs/core';
import { Encoder } from 'cbor-x';

/** Options of the `cbor` codec. None of them changes the bytes it writes. */
export type CborCodecOptions = {
  /**
   * Copy binary values out of the bytes being decoded. Default `true`. With `false`, decoded
   * `Uint8Array`s are views into the input: faster, but they change when the input bytes are reused.
   */
  copyBinary?: boolean;
};

/**
 * Creates the CBOR codec (`name: 'cbor'`) over cbor-x. It writes plain CBOR (RFC 8949) that any
 * decoder reads: objects as maps with string keys sized to fit, `Uint8Array` as a byte string
 * without tags, `undefined` as simple value 23; no records, packing or structured-clone tags.
 * Binary decodes as `Uint8Array`.
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
        return new Uint8Array(encoder.encode(value));
      } catch (cause) {
        throw new Error(`[memmapfs] [codec] cbor cannot encode this value: ${describeCause(cause)}`, { cause });
      }
    },
    decode(bytes) {
      try {
        return encoder.decode(bytes);
      } catch (cause) {
        throw new Error(`[memmapfs] [codec] cbor cannot decode ${bytes?.byteLength} bytes: ${describeCause(cause)}`, { cause });
      }
    },
  };
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

export default cbor;
