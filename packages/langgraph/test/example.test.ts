import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempFolder } from './support/open-store.js';
import { runScript } from './support/run-script.js';

// examples/langgraph-memory.ts, run as its README says (from the sources), twice on one folder.
const example = fileURLToPath(new URL('../../../examples/langgraph-memory.ts', import.meta.url));

function runExample(root: string): Promise<string> {
  return runScript(example, [root], fileURLToPath(new URL('../../../examples/', import.meta.url)));
}

let root: string;
let remove: () => Promise<void>;
beforeEach(async () => {
  ({ root, remove } = await tempFolder('example'));
});
afterEach(() => remove());

describe('examples/langgraph-memory.ts', { timeout: 120_000 }, () => {
  it('remembers across its two processes, and across runs', async () => {
    const first = await runExample(root);
    expect(first).toMatch(/\[first-process \d+\] ada: what do you know about me\? -> I know nothing about you yet\./);
    expect(first).toMatch(/\[second-process \d+\] ada: what did I just tell you\? -> You said: "remember I drink green tea"\./);
    expect(first).toContain('ada: what do you know about me? -> I know 3 things: I drink green tea; I live in Lisbon; my cat is called Miso.');
    expect(first).toContain('ada: recall cat -> my cat is called Miso');
    expect(first).toContain('Thread "ada" has 12 turns');

    const second = await runExample(root);
    expect(second).toMatch(/\[first-process \d+\] ada: what do you know about me\? -> I know 3 things: I drink green tea; I live in Lisbon; my cat is called Miso\./);
    expect(second).toContain('Thread "ada" has 24 turns');
  });
});
