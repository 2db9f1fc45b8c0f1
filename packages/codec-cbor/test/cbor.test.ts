import type { CodecFactory, Codecs } from '@memmapfs/core';
import { codecSuite } from '@memmapfs/testkit';
import { decode } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import defaultFactory, { cbor } from '../src/index.js';

codecSuite('cbor codec conformance', () => cbor());

const record = { t: 1, ref: [0, 128], tags: ['a'], bin: new Uint8Array([1, 2]) };
const recordHex = 'a4617401637265668200188064746167738161616362696e420102';

describe('cbor codec', () => {
  it('is the default export, and fits the factory type core loads', () => {
    const factory: CodecFactory<Codecs['cbor']> = defaultFactory;
    expect(factory).toBe(cbor);
    expect(cbor().name).toBe('cbor');
  });

  it('writes standard CBOR without tags: maps, text, unsigned ints and byte strings', () => {
    expect(Buffer.from(cbor().encode({ a: 1 })).toString('hex')).toBe('a1616101');
    expect(Buffer.from(cbor().encode(record)).toString('hex')).toBe(recordHex);
    expect(Buffer.from(cbor().encode(undefined)).toString('hex')).toBe('f7');
  });

  it('writes bytes that cbor-x with default options decodes', () => {
    expect(decode(cbor().encode(record))).toEqual(record);
  });

  it('throws an Error naming the codec on every truncation of a record', () => {
    const codec = cbor();
    const bytes = codec.encode(record);
    for (let length = 0; length < bytes.byteLength; length++) {
      expect(() => codec.decode(bytes.subarray(0, length))).toThrow(/\[memmapfs\] \[codec\] cbor cannot decode/);
    }
  });

  it('throws on bytes left over after the value', () => {
    const codec = cbor();
    const bytes = codec.encode(record);
    const padded = new Uint8Array(bytes.byteLength + 1);
    padded.set(bytes);
    expect(() => codec.decode(padded)).toThrow(Error);
  });

  it('throws an Error naming the codec for a value it cannot encode', () => {
    expect(() => cbor().encode({ at: Symbol('at') })).toThrow(/\[memmapfs\] \[codec\] cbor cannot encode/);
  });

  it('decodes binary as views into the input when copyBinary is false, plain Uint8Arrays from a Buffer too', () => {
    const codec = cbor({ copyBinary: false });
    const bytes = Buffer.from(codec.encode({ bin: new Uint8Array([1, 2, 3]) }));
    const decoded = codec.decode(bytes) as { bin: Uint8Array };
    expect(Object.getPrototypeOf(decoded.bin)).toBe(Uint8Array.prototype);
    bytes.fill(9);
    expect([...decoded.bin]).toEqual([9, 9, 9]);
  });
});
