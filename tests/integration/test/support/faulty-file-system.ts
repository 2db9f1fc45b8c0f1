import { writeSync } from 'node:fs';
import * as nodeFileSystem from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { StoreFileSystem } from '@memmapfs/core';

const handleOperations = new Set(['write', 'writeFile', 'read', 'datasync', 'sync', 'truncate', 'stat']);

/**
 * `node:fs/promises` with a fault at the Nth operation: that one operation fails with `code`
 * (EIO, ENOSPC, …) instead of running. Every open, rename, mkdir, readdir, readFile, writeSync and every
 * write, read, fsync, truncate and stat on a handle counts as one operation.
 */
export class FaultyFileSystem implements StoreFileSystem {
  operations = 0;
  readonly log: string[] = [];
  injected: string | undefined;

  constructor(private readonly failAt: number, private readonly code: 'EIO' | 'ENOSPC') {}

  private step(name: string): void {
    this.operations++;
    this.log.push(name);
    if (this.operations === this.failAt) {
      this.injected = name;
      throw Object.assign(new Error(`${this.code}: injected fault in ${name}`), { code: this.code, errno: this.code === 'EIO' ? -5 : -28, syscall: name });
    }
  }

  open = (async (...args: Parameters<typeof nodeFileSystem.open>) => {
    this.step('open');
    return this.wrap(await nodeFileSystem.open(...args));
  }) as typeof nodeFileSystem.open;

  readFile = (async (...args: Parameters<typeof nodeFileSystem.readFile>) => {
    this.step('readFile');
    return nodeFileSystem.readFile(...args);
  }) as typeof nodeFileSystem.readFile;

  rename = (async (...args: Parameters<typeof nodeFileSystem.rename>) => {
    this.step('rename');
    return nodeFileSystem.rename(...args);
  }) as typeof nodeFileSystem.rename;

  mkdir = (async (...args: Parameters<typeof nodeFileSystem.mkdir>) => {
    this.step('mkdir');
    return nodeFileSystem.mkdir(...args);
  }) as typeof nodeFileSystem.mkdir;

  readdir = (async (...args: Parameters<typeof nodeFileSystem.readdir>) => {
    this.step('readdir');
    return nodeFileSystem.readdir(...args);
  }) as typeof nodeFileSystem.readdir;

  link = (async (...args: Parameters<typeof nodeFileSystem.link>) => {
    this.step('link');
    return nodeFileSystem.link(...args);
  }) as typeof nodeFileSystem.link;

  unlink = (async (...args: Parameters<typeof nodeFileSystem.unlink>) => {
    this.step('unlink');
    return nodeFileSystem.unlink(...args);
  }) as typeof nodeFileSystem.unlink;

  writeSync = (fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number => {
    this.step('writeSync');
    return writeSync(fd, buffer, offset, length, position);
  };

  private wrap(handle: FileHandle): FileHandle {
    return new Proxy(handle, {
      get: (target, property) => {
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== 'function') return value;
        if (!handleOperations.has(String(property))) return value.bind(target);
        return async (...args: unknown[]) => {
          this.step(`handle.${String(property)}`);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }
}
