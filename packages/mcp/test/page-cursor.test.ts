import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../src/page-cursor.js';
import { ToolFailure } from '../src/tool-errors.js';

const listing = { query: 'tea', tags: ['a', 'b'], namespace: 'n', filter: { x: { $gte: 1, $lt: 5 } } };

describe('page cursors', () => {
  it('round-trip a position for the same arguments, whatever the order of object keys', () => {
    const cursor = encodeCursor('recall', listing, { offset: 20 });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, 'recall', { filter: { x: { $lt: 5, $gte: 1 } }, namespace: 'n', tags: ['a', 'b'], query: 'tea' })).toEqual({ offset: 20 });
    expect(decodeCursor(encodeCursor('recall', { query: 'tea', tags: undefined }, { offset: 1 }), 'recall', { query: 'tea' })).toEqual({ offset: 1 });
  });

  it('refuse a cursor for other arguments, of another tool, or not a cursor at all', () => {
    const cursor = encodeCursor('recall', listing, { offset: 20 });
    const refused = (run: () => unknown): ToolFailure => {
      try {
        run();
      } catch (error) {
        expect(error).toBeInstanceOf(ToolFailure);
        expect((error as ToolFailure).code).toBe('INVALID_CURSOR');
        return error as ToolFailure;
      }
      throw new Error('not refused');
    };
    expect(refused(() => decodeCursor(cursor, 'recall', { ...listing, query: 'coffee' })).message).toMatch(/other arguments/);
    expect(refused(() => decodeCursor(cursor, 'other_tool', listing)).message).toMatch(/not one that other_tool returned/);
    for (const bad of ['', 'abc', '!!!', Buffer.from('{"v":1,"t":"recall","q":"x","o":-1}').toString('base64url'), Buffer.from('[1]').toString('base64url'), 'x'.repeat(600)]) {
      refused(() => decodeCursor(bad, 'recall', listing));
    }
  });
});
