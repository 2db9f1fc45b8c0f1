import { fstatSync, statSync } from 'node:fs';

/**
 * Whether `path` names the very file open as `fd` (the same inode on the same device): `'same'`;
 * `'other'` when it names another file or none (`ENOENT`, `ENOTDIR`), or the descriptor is closed
 * (`EBADF`); `'unknown'` when the look failed otherwise (`EACCES`, `EIO`), which says nothing either way.
 */
export function pathNamesDescriptor(path: string, fd: number): 'same' | 'other' | 'unknown' {
  try {
    const named = statSync(path);
    const open = fstatSync(fd);
    return named.ino === open.ino && named.dev === open.dev ? 'same' : 'other';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EBADF' ? 'other' : 'unknown';
  }
}
