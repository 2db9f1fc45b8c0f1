import { join } from 'node:path';
import type { Codec } from '../contracts/codec.js';
import { MemMapError } from '../errors.js';
import type { StoreFileSystem } from '../types.js';
import { checkpointLogId, openCheckpointFile, writeCheckpointFile, type CheckpointContents, type CheckpointFile } from './checkpoint-file.js';
import { checkpointFileLsn, checkpointFileName, readManifest, writeManifest } from './checkpoint-manifest.js';

/**
 * The checkpoint files of a store (`<root>/checkpoints/`) and the manifest that names the current one
 * (`<root>/state.manifest`). Any process may write a checkpoint; the manifest only ever moves forward
 * (a checkpoint older than the one it names is not published), and files older than the one it names
 * are unlinked: a process that still maps one keeps reading it until it lets go, as unlinking leaves
 * an open file's pages in place.
 */
export class CheckpointStore {
  constructor(
    private readonly folder: string,
    private readonly manifestPath: string,
    private readonly files: StoreFileSystem,
    private readonly reader: 'auto' | 'mmap' | 'read',
  ) {}

  /** The checkpoint the manifest names, mapped; `undefined` when there is none or it cannot be used. */
  async current(): Promise<CheckpointFile | undefined> {
    // A writer may remove the file between the reading of the manifest and its opening: the manifest
    // then names a newer one.
    for (let attempt = 0; attempt < 5; attempt++) {
      const manifest = await readManifest(this.manifestPath, this.files);
      if (!manifest) return undefined;
      try {
        const file = openCheckpointFile(join(this.folder, manifest.checkpoint), this.reader);
        return file.logId === manifest.logId && file.position.lsn === manifest.lsn ? file : undefined;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        process.emitWarning(`The checkpoint ${manifest.checkpoint} is not used (the tables are rebuilt from the log): ${(error as Error).message}`, { code: 'MEMMAPFS_CHECKPOINT_UNUSABLE' });
        return undefined;
      }
    }
    return undefined;
  }

  /** Writes a checkpoint file (not yet published) and returns it mapped. */
  async write(contents: CheckpointContents, codec: Codec): Promise<CheckpointFile> {
    const path = join(this.folder, checkpointFileName(contents.position.lsn));
    try {
      await writeCheckpointFile(path, contents, codec, this.files);
    } catch (error) {
      throw MemMapError.is(error) ? error : new MemMapError('IO_ERROR', `Cannot write the checkpoint ${path}: ${(error as Error).message}`, { cause: error, subsystem: 'checkpoint' });
    }
    return openCheckpointFile(path, this.reader);
  }

  /**
   * Names `file` in the manifest unless the manifest already names a checkpoint of the same log at
   * least as recent, then removes the checkpoints it makes obsolete. Returns whether it was published.
   */
  async publish(file: CheckpointFile): Promise<boolean> {
    const lsn = file.position.lsn;
    const onDisk = await readManifest(this.manifestPath, this.files);
    if (onDisk && onDisk.logId === file.logId && onDisk.lsn >= lsn) return false;
    await writeManifest(this.manifestPath, { logId: file.logId, checkpoint: checkpointFileName(lsn), lsn }, this.files);
    await this.removeObsolete(lsn, file.logId).catch(() => undefined);
    return true;
  }

  /**
   * Unlinks the checkpoints of this log older than `lsn`, those of other logs, and the temporary files
   * of writers that died.
   */
  private async removeObsolete(lsn: number, logId: string): Promise<void> {
    for (const name of await this.files.readdir(this.folder)) {
      const path = join(this.folder, name);
      const fileLsn = checkpointFileLsn(name);
      if (fileLsn !== undefined) {
        if (fileLsn < lsn || (fileLsn > lsn && (await checkpointLogId(path, this.files)) !== logId)) await this.files.unlink(path).catch(() => undefined);
        continue;
      }
      const temp = /^\.checkpoint-\d{16}\.bin\.(\d+)-[0-9a-f]+\.tmp$/.exec(name);
      if (temp && !processAlive(Number(temp[1]))) await this.files.unlink(path).catch(() => undefined);
    }
  }

}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
