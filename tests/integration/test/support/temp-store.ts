import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';

/**
 * A fresh temporary folder for each test (removed after it), with a store root inside it. Call at the
 * top of a test file; the returned function gives the current test's `{ dir, root }`.
 */
export function useTempStore(name: string): () => { dir: string; root: string } {
  let current: { dir: string; root: string } | undefined;
  beforeEach(async () => {
    const dir = await mkdtemp(join(tmpdir(), `memmapfs-${name}-`));
    current = { dir, root: join(dir, 'store') };
  });
  afterEach(async () => {
    if (current) await rm(current.dir, { recursive: true, force: true });
  });
  return () => current!;
}
