import type { Codec } from '@memmapfs/core';
import { Packr } from 'msgpackr';

/** Options of the `msgpack` codec. None of them changes the bytes it writes. */
export type MsgpackCodecOptions = {
  /**
   * Copy binary values out of the bytes being decoded. Default `true`. With `false`, decoded
   * `Uint8Array`s are views into the input: faster, but they change when the input bytes are reused.
   */
  copyBinary?: boolean;
};

/**
 * Creates the MessagePack codec (`name: 'msgpack'`, the store's default) over msgpackr. It writes
 * plain MessagePack that any decoder reads: objects as maps with string keys, `Uint8Array` as bin,
 * no record or structured-clone extensions. `undefined` is written as msgpackr's fixext 0 (type 0)
 * and decodes as `undefined`. Binary decodes as `Buffer`.
 *
 * @example
 * await MemMapFS.init(root, { codec: msgpack() });
 */
export function msgpack(options: MsgpackCodecOptions = {}): Codec {
  const packr = new Packr({
    useRecords: false,
    moreTypes: false,
    structuredClone: false,
    bundleStrings: false,
    mapsAsObjects: true,
    variableMapSize: true,
    copyBuffers: options.copyBinary !== false,
  });
  return {
    name: 'msgpack',
    encode(value) {
      try {
        return new Uint8Array(packr.pack(value));
      } catch (cause) {
        throw new Error(`[memmapfs] [codec] msgpack cannot encode this value: ${describeCause(cause)}`, { cause });
      }
    },
    decode(bytes) {
      try {
        return packr.unpack(bytes);
      } catch (cause) {
        throw new Error(`[memmapfs] [codec] msgpack cannot decode ${bytes?.byteLength} bytes: ${describeCause(cause)}`, { cause });
      }
    },
  };
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

export default msgpack;
