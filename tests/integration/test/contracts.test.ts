import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkStore } from '@memmapfs/blocks';
import { blockStoreSuite, writeAheadLogSuite } from '@memmapfs/testkit';
import { fileWal } from '@memmapfs/wal';

async function folder(name: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `memmapfs-${name}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

// Our own log and block store are held to the conformance suites any other implementation runs.
writeAheadLogSuite('file log (state.wal)', async () => {
  const { dir, cleanup } = await folder('wal-suite');
  return { open: fileWal(join(dir, 'state.wal')), cleanup };
});

blockStoreSuite('chunk files (blocks/)', async () => {
  const { dir, cleanup } = await folder('blocks-suite');
  return { open: chunkStore(join(dir, 'blocks'), { chunkSize: 64 * 1024 }), cleanup };
});
