import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Output } from '../src/output.js';

// The optional peer's import, made to fail as Node fails it: the package missing, or a package it needs.
const failure = vi.hoisted(() => ({ error: undefined as unknown }));
vi.mock('../src/import-module.js', () => ({ importModule: async () => Promise.reject(failure.error) }));
const { openStore } = await import('../src/open-store.js');

const notFound = (message: string) => Object.assign(new Error(message), { code: 'ERR_MODULE_NOT_FOUND' });
const open = () => openStore('/nowhere', {} as never, 'existing', {} as Output, { connectionString: 'postgresql://localhost/x', store: 'memmapfs' });

describe('--postgres without a loadable @memmapfs/wal-postgres', () => {
  afterEach(() => {
    failure.error = undefined;
  });

  it('says to install it when it is not installed', async () => {
    failure.error = notFound("Cannot find package '@memmapfs/wal-postgres' imported from /usr/lib/node_modules/@memmapfs/cli/dist/index.js");
    await expect(open()).rejects.toMatchObject({ code: 'ADAPTER_NOT_INSTALLED', message: expect.stringMatching(/which is not installed\. .*npm install @memmapfs\/wal-postgres in your project, npm install -g @memmapfs\/wal-postgres/) });
  });

  it('says it did not load, and why, when a package it needs is missing (not that it is not installed)', async () => {
    failure.error = notFound("Cannot find package 'pg' imported from /usr/lib/node_modules/@memmapfs/wal-postgres/dist/index.js");
    const error = (await open().catch((thrown: unknown) => thrown)) as Error;
    expect(error).toMatchObject({ code: 'ADAPTER_NOT_INSTALLED', message: expect.stringContaining("which did not load: Cannot find package 'pg'") });
    expect(error.message).not.toContain('is not installed');
  });
});
