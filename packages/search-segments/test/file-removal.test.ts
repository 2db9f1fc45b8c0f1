import * as nodeFileSystem from 'node:fs/promises';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { segmentSearch } from '../src/index.js';

/** Removals (`unlink PATH`) and fsyncs (`sync PATH`) the provider made, in order. */
const ops: string[] = [];
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof nodeFileSystem>();
  return {
    ...real,
    unlink: async (path: string) => {
      await real.unlink(path);
      ops.push(`unlink ${path}`);
    },
    open: async (path: string, flags?: string, mode?: number) => {
      const handle = await real.open(path, flags, mode);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        await sync();
        ops.push(`sync ${path}`);
      };
      return handle;
    },
  };
});

describe('segments provider removing the files no one uses', () => {
  it('makes their removal durable (their folder fsynced after): a power loss does not bring back a file a purge emptied', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'memmapfs-segments-'));
    try {
      const provider = segmentSearch({ flushAfter: 3 });
      await provider.openIndex(folder, undefined);
      for (let id = 1; id <= 9; id++) provider.add({ id, text: `note ${id}`, tags: [], namespace: 'default' });
      await provider.saveIndex();
      const before = (await readdir(folder)).filter((name) => name.endsWith('.seg'));
      for (let id = 1; id <= 9; id++) provider.remove(id);
      // A purge merges every segment into one without what was removed: the files before are named no more.
      const saved = await provider.saveIndex({ purge: true });
      ops.length = 0;
      await provider.removeUnusedFiles(async () => saved);
      const removed = before.filter((name) => ops.includes(`unlink ${join(folder, name)}`));
      expect(removed).toEqual(before);
      const lastRemoval = Math.max(...removed.map((name) => ops.lastIndexOf(`unlink ${join(folder, name)}`)));
      expect(ops.slice(lastRemoval + 1)).toContain(`sync ${folder}`);
      await provider.close();
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
