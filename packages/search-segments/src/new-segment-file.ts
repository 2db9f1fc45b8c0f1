import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tryLeaseFile, type FileLease } from '@memmapfs/blocks';

/**
 * A segment file being made: created and leased (`create`), then written whole and fsynced (`write`);
 * `discard` lets go of it and removes it when it is not kept.
 */
export class NewSegmentFile {
  /** Its lease once created: a process pruning the folder leaves a leased file alone. */
  lease: FileLease | undefined;
  /** A process pruning the folder removed it between its creation and its lease: it is made again under another name. */
  taken = false;
  private handle: FileHandle | undefined;
  private created = false;

  constructor(readonly path: string) {}

  /** Creates the file (it must not exist) and leases it before a byte is written. */
  async create(): Promise<void> {
    this.handle = await open(this.path, 'wx');
    this.created = true;
    const lease = await tryLeaseFile(this.path, 'shared');
    if (typeof lease === 'string') {
      this.taken = true;
      await this.closeHandle();
      return;
    }
    this.lease = lease;
  }

  /** Writes `bytes` as the whole file and fsyncs it (nothing when it was taken). */
  async write(bytes: Buffer): Promise<void> {
    if (!this.handle) return;
    try {
      await this.handle.writeFile(bytes);
      await this.handle.sync();
    } finally {
      await this.closeHandle();
    }
  }

  /** Lets go of the file and removes it, if it made it and no one else removed it first. Never fails. */
  async discard(): Promise<void> {
    await this.closeHandle().catch(() => undefined);
    await this.lease?.release().catch(() => undefined);
    this.lease = undefined;
    if (this.created && !this.taken) await unlink(this.path).catch(() => undefined);
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}
