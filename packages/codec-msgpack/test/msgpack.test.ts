import type { CodecFactory, Codecs } from '@memmapfs/core';
import { codecSuite } from '@memmapfs/testkit';
import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import defaultFactory, { msgpack } from '../src/index.js';

codecSuite('msgpack codec conformance', () => msgpack());

const record = { t: 1, ref: [0, 128], tags: ['a'], bin: new Uint8Array([1, 2]) };
const recordHex = '84a17401a37265669200cc80a47461677391a161a362696ec4020102';

describe('msgpack codec', () => {
  it('is the default export, and fits the factory type core loads', () => {
    const factory: CodecFactory<Codecs['msgpack']> = defaultFactory;
    expect(factory).toBe(msgpack);
    expect(msgpack().name).toBe('msgpack');
  });

  it('writes standard MessagePack: maps, str, positive fixint, uint8 and bin', () => {
    expect(Buffer.from(msgpack().encode({ a: 1 })).toString('hex')).toBe('81a16101');
    expect(Buffer.from(msgpack().encode(record)).toString('hex')).toBe(recordHex);
  });

  it('writes bytes that msgpackr with default options decodes', () => {
    const decoded = unpack(msgpack().encode(record));
    expect({ ...decoded, bin: new Uint8Array(decoded.bin) }).toEqual(record);
  });

  it('throws an Error naming the codec on every truncation of a record', () => {
    const codec = msgpack();
    const bytes = codec.encode(record);
    for (let length = 0; length < bytes.byteLength; length++) {
      expect(() => codec.decode(bytes.subarray(0, length))).toThrow(/\[memmapfs\] \[codec\] msgpack cannot decode/);
    }
  });

  it('throws on bytes left over after the value', () => {
    const codec = msgpack();
    const bytes = codec.encode(record);
    const padded = new Uint8Array(bytes.byteLength + 1);
    padded.set(bytes);
    expect(() => codec.decode(padded)).toThrow(Error);
  });

  it('throws an Error naming the codec for a value it cannot encode', () => {
    expect(() => msgpack().encode({ at: Symbol('at') })).toThrow(/\[memmapfs\] \[codec\] msgpack cannot encode/);
  });

  it('decodes binary as views into the input when copyBinary is false, plain Uint8Arrays from a Buffer too', () => {
    const codec = msgpack({ copyBinary: false });
    const bytes = Buffer.from(codec.encode({ bin: new Uint8Array([1, 2, 3]) }));
    const decoded = codec.decode(bytes) as { bin: Uint8Array };
    expect(Object.getPrototypeOf(decoded.bin)).toBe(Uint8Array.prototype);
    bytes.fill(9);
    expect([...decoded.bin]).toEqual([9, 9, 9]);
  });
});
