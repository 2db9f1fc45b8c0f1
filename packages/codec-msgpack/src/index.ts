import type { Codec, MsgpackCodecOptions } from '@memmapfs/core';
// The entry without msgpackr's optional native string decoder and its streams: loading them cost every
// open more than the decoding they speed up saves on a store's small records.
import { Packr } from 'msgpackr/pack';

export type { MsgpackCodecOptions };

/**
 * Creates the MessagePack codec (`name: 'msgpack'`, the store's default) over msgpackr. It writes
 * plain MessagePack that any decoder reads: objects as maps with string keys, `Uint8Array` as bin,
 * no record or structured-clone extensions. `undefined` is written as fixext 1 of type 0 (msgpackr's
 * convention) and decodes as `undefined`. Binary decodes as a plain `Uint8Array`, never a `Buffer`.
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
        // A view of the encoder's buffer, which it never writes over (it moves on to a new one when it
        // is full): no copy, and no ArrayBuffer of its own per value, which costs more than the encoding.
        const bytes = packr.pack(value);
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      } catch (cause) {
        throw new Error(`[memmapfs] [codec] msgpack cannot encode this value: ${describeCause(cause)}`, { cause });
      }
    },
    decode(bytes) {
      try {
        return packr.unpack(plainBytes(bytes));
      } catch (cause) {
        throw new Error(`[memmapfs] [codec] msgpack cannot decode ${bytes?.byteLength} bytes: ${describeCause(cause)}`, { cause });
      } finally {
        // msgpackr keeps a view of the last bytes it read (a module-level DataView): over a store's
        // mapped file, that kept the file mapped, and its disk space taken, after the store closed or
        // removed it. Reading one byte of its own moves that view off them.
        packr.unpack(RESET);
      }
    },
  };
}

/** One nil in MessagePack: what the decoder reads last, so that it holds none of the caller's bytes. */
const RESET = Uint8Array.of(0xc0);

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

export default msgpack;
