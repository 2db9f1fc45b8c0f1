import { constants, writeSync as nodeWriteSync } from 'node:fs';
import * as nodeFileSystem from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { StoreFileSystem } from '@memmapfs/core';
// (Deterministic, so that a failing crash can be replayed.)
export { seededRandom } from '@memmapfs/testkit';

const PAGE = 4096;

/** A write under way at the moment of a crash. */
export interface Tearing {
  readonly model: FileModel;
  readonly bytes: Uint8Array;
  readonly position: number;
}

/** What a power loss would leave: the store's folders, and its files' bytes by path relative to the root. */
export interface CrashState {
  readonly folders: string[];
  readonly files: Map<string, Buffer>;
}

/** One file as a disk holds it: what fsyncs made durable, and what is only in the page cache. */
export class FileModel {
  durable: Buffer = Buffer.alloc(0);
  current: Buffer = Buffer.alloc(0);
  /** Pages written since the last fsync. */
  readonly dirty = new Set<number>();

  write(bytes: Uint8Array, position: number, durableAtOnce: boolean): void {
    this.current = place(this.current, bytes, position);
    if (durableAtOnce) this.durable = place(this.durable, bytes, position);
    else for (let page = Math.floor(position / PAGE); page * PAGE < position + bytes.byteLength; page++) this.dirty.add(page);
  }

  truncate(size: number): void {
    this.current = size <= this.current.length ? Buffer.from(this.current.subarray(0, size)) : Buffer.concat([this.current, Buffer.alloc(size - this.current.length)]);
    this.dirty.add(Math.floor(size / PAGE));
  }

  /**
   * An fsync: the pages written since the last one reach the disk. Page by page, not the whole file:
   * pages a failed fsync dropped (see `failSync`) are not written by a later one.
   */
  sync(): void {
    const durable = Buffer.alloc(this.current.length);
    this.durable.copy(durable, 0, 0, Math.min(durable.length, this.durable.length));
    for (const page of this.dirty) {
      const start = page * PAGE;
      if (start < durable.length) this.current.copy(durable, start, start, Math.min(start + PAGE, durable.length));
    }
    this.durable = durable;
    this.dirty.clear();
  }

  /**
   * An fsync that fails as Linux's does on a writeback error: the pages written since the last fsync
   * did not reach the disk, and are marked clean, so that they still read back from memory and a later
   * fsync, which succeeds, does not write them.
   */
  failSync(): void {
    // (The file's size may have reached the disk: what lies past the old end reads as zeros after a loss.)
    this.durable = Buffer.concat([this.durable, Buffer.alloc(Math.max(0, this.current.length - this.durable.length))]);
    this.dirty.clear();
  }

  /**
   * What a power loss leaves of the file: the durable bytes, with each page written since the last
   * fsync kept or lost at random, and a pending truncate applied or not. `tearing`, a write under way
   * at the moment of the crash, is kept page by page at random too.
   */
  afterPowerLoss(random: () => number, tearing?: Tearing): Buffer {
    let current: Buffer = this.current;
    const dirty = new Set(this.dirty);
    if (tearing) {
      current = place(current, tearing.bytes, tearing.position);
      for (let page = Math.floor(tearing.position / PAGE); page * PAGE < tearing.position + tearing.bytes.byteLength; page++) dirty.add(page);
    }
    const kept = [...dirty].filter(() => random() < 0.5);
    let size = this.durable.length;
    if (current.length < size && random() < 0.5) size = current.length;
    for (const page of kept) size = Math.max(size, Math.min(current.length, (page + 1) * PAGE));
    const image = Buffer.alloc(size);
    this.durable.copy(image, 0, 0, Math.min(size, this.durable.length));
    for (const page of kept) {
      const start = page * PAGE;
      if (start < size) current.copy(image, start, start, Math.min(start + PAGE, size, current.length));
    }
    return image;
  }
}

function place(target: Buffer, bytes: Uint8Array, position: number): Buffer {
  const end = position + bytes.byteLength;
  const grown = end > target.length ? Buffer.concat([target, Buffer.alloc(end - target.length)]) : target;
  grown.set(bytes, position);
  return grown;
}

/**
 * `node:fs/promises` that also keeps a model of what a disk would hold after a power loss at any
 * moment, SQLite-crash-test style: for each file, what was fsynced (or written with O_DSYNC) and what
 * is only in the page cache; for each folder, which names were made durable by an fsync of the
 * folder. `crashImage()` builds, in a fresh folder, what a power loss right now would leave, losing
 * each unsynced page (and each name not yet made durable) at random. Every write the store makes must
 * go through it: handles it opened, `writeSync`, renames, links and unlinks.
 */
export class PowerLossFileSystem implements StoreFileSystem {
  private readonly names = new Map<string, FileModel>();
  private readonly durableNames = new Map<string, FileModel>();
  private readonly folders = new Set<string>();
  private readonly byFd = new Map<number, { model: FileModel; dsync: boolean }>();
  /** File operations that changed something, so far. */
  operations = 0;
  /** Called before each operation that changes something: `tearing` is the write about to happen, if it is one. */
  onOperation: ((tearing?: Tearing) => void) | undefined;
  /** Files whose next fsync fails as a writeback error makes it fail (see `FileModel.failSync`), each once. */
  failSyncOf: ((path: string) => boolean) | undefined;
  /** The fsyncs failed through `failSyncOf` so far. */
  failedSyncs = 0;

  constructor(private readonly root: string) {
    this.folders.add(root);
  }

  open = (async (path: Parameters<typeof nodeFileSystem.open>[0], flags?: string | number, mode?: number) => {
    const file = String(path);
    const numeric = typeof flags === 'number' ? flags : undefined;
    // Modelled flags only: anything else could write behind the model's back.
    if (typeof flags === 'string' && !['r', 'r+', 'w', 'wx', 'a'].includes(flags)) throw new Error(`PowerLossFileSystem: open flags ${flags} are not modelled`);
    const writes = numeric !== undefined ? (numeric & (constants.O_WRONLY | constants.O_RDWR)) !== 0 : flags !== undefined && flags !== 'r';
    const creates = numeric !== undefined ? (numeric & constants.O_CREAT) !== 0 : flags === 'w' || flags === 'wx' || flags === 'a';
    const truncates = numeric !== undefined ? (numeric & constants.O_TRUNC) !== 0 : flags === 'w';
    const dsync = numeric !== undefined && (numeric & constants.O_DSYNC) !== 0;
    const handle = await nodeFileSystem.open(path, flags, mode);
    if (this.folders.has(file)) return this.wrapFolder(handle, file);
    let model = this.names.get(file);
    if (!model && creates) {
      this.step();
      model = new FileModel();
      this.names.set(file, model);
    }
    if (model && truncates) {
      this.step();
      model.truncate(0);
    }
    if (!model) {
      if (writes) {
        await handle.close();
        throw new Error(`PowerLossFileSystem: ${file} is opened for writing but was not created through the model`);
      }
      return handle;
    }
    this.byFd.set(handle.fd, { model, dsync });
    return this.wrapFile(handle, file, model, dsync);
  }) as typeof nodeFileSystem.open;

  readFile = nodeFileSystem.readFile;
  readdir = nodeFileSystem.readdir;

  mkdir = (async (...args: Parameters<typeof nodeFileSystem.mkdir>) => {
    const made = await nodeFileSystem.mkdir(...args);
    let folder = String(args[0]);
    while (folder.startsWith(this.root)) {
      this.folders.add(folder);
      folder = dirname(folder);
    }
    return made;
  }) as typeof nodeFileSystem.mkdir;

  rename = (async (from: string, to: string) => {
    this.step();
    await nodeFileSystem.rename(from, to);
    const model = this.names.get(String(from));
    this.names.delete(String(from));
    if (model) this.names.set(String(to), model);
  }) as typeof nodeFileSystem.rename;

  link = (async (existing: string, name: string) => {
    this.step();
    await nodeFileSystem.link(existing, name);
    const model = this.names.get(String(existing));
    if (model) this.names.set(String(name), model);
  }) as typeof nodeFileSystem.link;

  unlink = (async (path: string) => {
    this.step();
    await nodeFileSystem.unlink(path);
    this.names.delete(String(path));
  }) as typeof nodeFileSystem.unlink;

  writeSync = (fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number => {
    const target = this.byFd.get(fd);
    if (target) this.step({ model: target.model, bytes: buffer.subarray(offset, offset + length), position });
    const written = nodeWriteSync(fd, buffer, offset, length, position);
    target?.model.write(buffer.subarray(offset, offset + written), position, target.dsync);
    return written;
  };

  /**
   * What a power loss right now would leave of the store: for each name made durable by a folder fsync
   * (and, at random, each change of names not yet made durable), the file's bytes after the loss.
   * Synchronous, so that it can be taken between any two operations.
   */
  crashState(random: () => number, tearing?: Tearing): CrashState {
    const names = new Map(this.durableNames);
    for (const [name, model] of this.names) if (names.get(name) !== model && random() < 0.5) names.set(name, model);
    for (const name of [...names.keys()]) if (!this.names.has(name) && random() < 0.5) names.delete(name);
    const images = new Map<FileModel, Buffer>();
    const files = new Map<string, Buffer>();
    for (const [name, model] of names) {
      let image = images.get(model);
      if (!image) {
        image = model.afterPowerLoss(random, tearing?.model === model ? tearing : undefined);
        images.set(model, image);
      }
      files.set(relative(this.root, name), image);
    }
    return { folders: [...this.folders].map((folder) => relative(this.root, folder)), files };
  }

  private step(tearing?: Tearing): void {
    this.operations++;
    this.onOperation?.(tearing);
  }

  /** Folder fsyncs make the names in the folder durable as they are now. */
  private wrapFolder(handle: FileHandle, folder: string): FileHandle {
    const syncNames = () => {
      for (const name of [...this.durableNames.keys()]) if (dirname(name) === folder && !this.names.has(name)) this.durableNames.delete(name);
      for (const [name, model] of this.names) if (dirname(name) === folder) this.durableNames.set(name, model);
    };
    return new Proxy(handle, {
      get: (target, property) => {
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== 'function') return value;
        if (property !== 'sync' && property !== 'datasync') return value.bind(target);
        return async () => {
          this.step();
          await (value as () => Promise<void>).call(target);
          syncNames();
        };
      },
    });
  }

  private wrapFile(handle: FileHandle, path: string, model: FileModel, dsync: boolean): FileHandle {
    const writeAt = async (bytes: Uint8Array, position: number, write: () => Promise<number>) => {
      this.step({ model, bytes, position });
      const written = await write();
      model.write(bytes.subarray(0, written), position, dsync);
      return written;
    };
    return new Proxy(handle, {
      get: (target, property) => {
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== 'function') return value;
        switch (property) {
          case 'write':
            return async (buffer: Uint8Array, offset = 0, length = buffer.byteLength - offset, position: number) => {
              const bytes = buffer.subarray(offset, offset + length);
              const bytesWritten = await writeAt(bytes, position, async () => (await target.write(buffer, offset, length, position)).bytesWritten);
              return { bytesWritten, buffer };
            };
          case 'writeFile':
            return async (data: Uint8Array) => {
              await writeAt(data, 0, async () => {
                await target.writeFile(data);
                return data.byteLength;
              });
            };
          case 'truncate':
            return async (size = 0) => {
              this.step();
              await target.truncate(size);
              model.truncate(size);
            };
          case 'sync':
          case 'datasync':
            return async () => {
              this.step();
              if (this.failSyncOf?.(path)) {
                this.failSyncOf = undefined;
                this.failedSyncs++;
                model.failSync();
                throw Object.assign(new Error(`EIO: i/o error, fdatasync of ${path}`), { code: 'EIO', errno: -5 });
              }
              await (value as () => Promise<void>).call(target);
              model.sync();
            };
          case 'close':
            return async () => {
              this.byFd.delete(target.fd);
              await target.close();
            };
          default:
            return value.bind(target);
        }
      },
    });
  }
}
