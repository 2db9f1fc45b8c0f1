import { mkdir, mkdtemp, open as openFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkFileName, chunkStore, type BlockRef, type BlockStoreOpener } from '@memmapfs/blocks';
import { blockStoreSuite, writeAheadLogSuite } from '@memmapfs/testkit';
import { fileWal, type WalOpener } from '@memmapfs/wal';
import { PowerLossFileSystem } from './support/power-loss-file-system.js';

async function folder(name: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `memmapfs-${name}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

// Our own log and block store are held to the conformance suites any other implementation runs.
writeAheadLogSuite('file log (state.wal)', async () => {
  const { dir, cleanup } = await folder('wal-suite');
  // What a disk would keep through a power loss, modelled under every write of the log (see crash).
  let files: PowerLossFileSystem | undefined = new PowerLossFileSystem(dir);
  let root = dir;
  let path = join(root, 'state.wal');
  const open: WalOpener = (options) => fileWal(path, files ? { fileSystem: files } : {})(options);
  // A new log where the old one was: its files removed, and an open that finds none creates one.
  const replace = async () => {
    for (const file of await readdir(root)) await rm(join(root, file), { recursive: true, force: true });
    const wal = await fileWal(path)({ codec: 'msgpack' });
    await wal.close();
  };
  // A power loss: what the log synced (its files' bytes, and the names a folder fsync made durable) is
  // kept in a folder of its own, where later opens find it; every write not synced is lost.
  const crash = async () => {
    const state = files!.crashState(() => 1);
    root = await mkdtemp(join(tmpdir(), 'memmapfs-wal-suite-crash-'));
    path = join(root, 'state.wal');
    for (const folder of state.folders) await mkdir(join(root, folder), { recursive: true });
    for (const [name, bytes] of state.files) await writeFile(join(root, name), bytes);
    files = undefined;
  };
  // Rot: a byte in the middle of the record's payload flipped in state.wal (found by its bytes, read back first).
  const damage = async (lsn: number) => {
    const reader = await fileWal(path)({ codec: 'msgpack', readOnly: true });
    let payload: Buffer | undefined;
    try {
      for await (const record of reader.readFrom(lsn)) {
        payload = Buffer.from(record.payload);
        break;
      }
    } finally {
      await reader.close();
    }
    const image = await readFile(path);
    const at = payload ? image.indexOf(payload) : -1;
    if (!payload || at < 0 || image.indexOf(payload, at + 1) >= 0) throw new Error(`record ${lsn} cannot be told apart in ${path}`);
    image[at + (payload.length >> 1)] = image[at + (payload.length >> 1)]! ^ 0xff;
    await writeFile(path, image);
  };
  return { open, cleanup: async () => Promise.all([cleanup(), rm(root, { recursive: true, force: true })]).then(() => undefined), replace, damage, crash };
});

blockStoreSuite('chunk files (blocks/)', async () => {
  const { dir, cleanup } = await folder('blocks-suite');
  // What a disk would keep through a power loss, modelled under every write (see crash).
  let files: PowerLossFileSystem | undefined = new PowerLossFileSystem(dir);
  let root = dir;
  const open: BlockStoreOpener = (options) => chunkStore(join(root, 'blocks'), { chunkSize: 64 * 1024, ...(files ? { fileSystem: files } : {}) })(options);
  // Rot: one byte of the block flipped in its chunk file, through a descriptor of its own.
  const damage = async (ref: BlockRef) => {
    const file = await openFile(join(root, 'blocks', chunkFileName(ref.chunk)), 'r+');
    try {
      const byte = Buffer.alloc(1);
      await file.read(byte, 0, 1, ref.offset);
      byte[0] = byte[0]! ^ 0xff;
      await file.write(byte, 0, 1, ref.offset);
    } finally {
      await file.close();
    }
  };
  // A power loss: what the stores synced is kept in a folder of its own, where later opens find it.
  const crash = async () => {
    const state = files!.crashState(() => 1);
    root = await mkdtemp(join(tmpdir(), 'memmapfs-blocks-suite-crash-'));
    for (const folder of state.folders) await mkdir(join(root, folder), { recursive: true });
    for (const [name, bytes] of state.files) await writeFile(join(root, name), bytes);
    files = undefined;
  };
  return { open, cleanup: async () => Promise.all([cleanup(), rm(root, { recursive: true, force: true })]).then(() => undefined), damage, crash };
});
