import * as nodeFileSystem from 'node:fs/promises';

/**
 * Node's file operations through a seam that records, in `ops`, each removal (`unlink PATH`) and each
 * fsync (`sync PATH`, of a file or a folder, once it returned): whether a removal was made durable.
 */
export function recordingFileSystem(ops: string[], base: typeof nodeFileSystem = nodeFileSystem): typeof nodeFileSystem {
  return {
    ...base,
    unlink: (async (path: string) => {
      await base.unlink(path);
      ops.push(`unlink ${String(path)}`);
    }) as typeof nodeFileSystem.unlink,
    open: (async (path: string, flags?: string, mode?: number) => {
      const handle = await base.open(path, flags, mode);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        await sync();
        ops.push(`sync ${String(path)}`);
      };
      return handle;
    }) as typeof nodeFileSystem.open,
  };
}

/** Whether the folder `folder` was fsynced after the last removal of `path` recorded in `ops` (false when there was none). */
export function removalMadeDurable(ops: readonly string[], path: string, folder: string): boolean {
  const removed = ops.lastIndexOf(`unlink ${path}`);
  return removed >= 0 && ops.slice(removed + 1).includes(`sync ${folder}`);
}
