import { describe, expect, it } from 'vitest';
import { ExpiryQueue } from '../src/engine/expiry-queue.js';

describe('ExpiryQueue', () => {
  it('hands out exactly the entries due, soonest first, each once', () => {
    const queue = new ExpiryQueue();
    const expiries = Array.from({ length: 200 }, (_, i) => ({ id: i + 1, at: ((i * 7919) % 200) * 10 }));
    for (const { id, at } of expiries) queue.add(id, at);
    const due = queue.takeDue(995);
    const expected = expiries.filter((e) => e.at <= 995).sort((a, b) => a.at - b.at);
    expect(due).toHaveLength(expected.length);
    expect(due.map((id) => expiries[id - 1]!.at)).toEqual(expected.map((e) => e.at));
    expect(queue.takeDue(995)).toEqual([]);
    expect(queue.size).toBe(200 - expected.length);
    expect(queue.takeDue(Infinity)).toHaveLength(200 - expected.length);
    expect(queue.size).toBe(0);
  });
});
