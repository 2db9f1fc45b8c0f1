import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deltaChannelHistoryTests, validate } from '@langchain/langgraph-checkpoint-validation';
import type { MemMapFS } from '@memmapfs/core';
import { MemMapSaver } from '../src/index.js';
import { openStore, tempFolder } from './support/open-store.js';

// The suite calls vitest's functions as globals (vitest's `globals: true`); this file provides them.
Object.assign(globalThis, { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it });

/** Each checkpointer the suite makes gets a store of its own, in a new folder removed when it is destroyed. */
const opened = new Map<MemMapSaver, { store: MemMapFS; remove: () => Promise<void> }>();

const initializer = {
  checkpointerName: 'MemMapSaver',
  async createCheckpointer() {
    const { root, remove } = await tempFolder('validation');
    const store = await openStore(root);
    const saver = new MemMapSaver(store);
    opened.set(saver, { store, remove });
    return saver;
  },
  async destroyCheckpointer(saver: MemMapSaver) {
    const { store, remove } = opened.get(saver)!;
    opened.delete(saver);
    await store.close();
    await remove();
  },
};

validate(initializer);
// Not part of validate (opt-in, beta): the walk over parent checkpoints that rebuilds delta channels.
describe('MemMapSaver (opt-in suites)', () => deltaChannelHistoryTests(initializer));
