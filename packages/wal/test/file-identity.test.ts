import { closeSync, mkdtempSync, openSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pathNamesDescriptor } from '../src/file-identity.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'file-identity-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('pathNamesDescriptor', () => {
  it('tells the file a descriptor has open from another put in its place, from none, and from a closed descriptor', () => {
    const path = join(dir, 'state.wal');
    writeFileSync(path, 'log');
    const fd = openSync(path, 'r');
    try {
      expect(pathNamesDescriptor(path, fd)).toBe('same');
      // A copy renamed over it, as a restore or a sync tool does: same bytes, another file.
      writeFileSync(join(dir, 'copy'), 'log');
      renameSync(join(dir, 'copy'), path);
      expect(pathNamesDescriptor(path, fd)).toBe('other');
      unlinkSync(path);
      expect(pathNamesDescriptor(path, fd)).toBe('other');
      expect(pathNamesDescriptor(join(path, 'below-a-file'), fd)).toBe('other');
    } finally {
      closeSync(fd);
    }
    writeFileSync(path, 'log');
    expect(pathNamesDescriptor(path, fd)).toBe('other');
  });

  it('says nothing either way when the path cannot be looked at (ENAMETOOLONG)', () => {
    const path = join(dir, 'state.wal');
    writeFileSync(path, 'log');
    const fd = openSync(path, 'r');
    try {
      expect(pathNamesDescriptor(join(dir, 'x'.repeat(300)), fd)).toBe('unknown');
    } finally {
      closeSync(fd);
    }
  });
});
