import { describe, expect, it } from 'vitest';
import { compareCodePoints } from '../src/segment-builder.js';

describe('compareCodePoints', () => {
  it("orders strings as their UTF-8 bytes do, characters above U+FFFF and from U+E000 to U+FFFF among them", () => {
    const alphabet = ['a', 'z', '\u00e9', '\u4e2d', '\ud7ff', '\ue000', '\uff21', '\ufffd', '\u{1F600}', '\u{20000}', '\u{10FFFF}'];
    let state = 7;
    const random = () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const words = Array.from({ length: 2_000 }, () => Array.from({ length: 1 + Math.floor(random() * 4) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''));
    const byBytes = [...words].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    expect([...words].sort(compareCodePoints)).toEqual(byBytes);
    // (JavaScript's own order differs for these, which is why it is needed.)
    expect([...words].sort()).not.toEqual(byBytes);
  });
});
