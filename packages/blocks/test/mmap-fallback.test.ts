import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BINDING, useBindingLoader } from './support/binding-loader.js';

const { blocksWithBinding } = useBindingLoader();
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-mmap-fallback-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh copy of the package (its once-per-process state reset), with the binding's addon refused as on a machine that could not build it. */
function blocksWithoutAddon() {
  return blocksWithBinding(() => {
    throw new Error(`Cannot find module '${BINDING}'`);
  });
}

function fallbackWarnings(spy: { mock: { calls: unknown[][] } }) {
  return spy.mock.calls.filter(([, options]) => (options as { code?: string } | undefined)?.code === 'MEMMAPFS_MMAP_UNAVAILABLE');
}

describe('reading without the mmap binding', () => {
  it("falls back to reads under reader 'auto' and warns once per process, saying why and how to get mmap", async () => {
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const { openChunkStore, mapFile } = await blocksWithoutAddon();

    const first = await openChunkStore({ dir: join(dir, 'a') });
    expect(first.reader).toBe('read');
    const ref = await first.append(Buffer.from('hello'));
    expect(Buffer.from(first.read(ref)).toString()).toBe('hello');
    await first.close();
    const second = await openChunkStore({ dir: join(dir, 'b'), reader: 'auto' });
    expect(second.reader).toBe('read');
    await second.close();
    await writeFile(join(dir, 'file'), 'bytes');
    expect(mapFile(join(dir, 'file')).mapped).toBe(false);

    const warnings = fallbackWarnings(emitWarning);
    expect(warnings).toHaveLength(1);
    const [message, options] = warnings[0] as [string, { type?: string; detail?: string }];
    expect(message).toContain(BINDING);
    expect(message).toContain("reader 'read'");
    expect(options.type).toBe('MemMapFSWarning');
    expect(options.detail).toContain("run npm install again");
    expect(options.detail).toContain('allowBuilds');
  });

  it("does not warn under reader 'read'", async () => {
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const { openChunkStore, mapFile } = await blocksWithoutAddon();
    const store = await openChunkStore({ dir, reader: 'read' });
    await store.close();
    await writeFile(join(dir, 'file'), 'bytes');
    mapFile(join(dir, 'file'), 'read');
    expect(fallbackWarnings(emitWarning)).toHaveLength(0);
  });

  it("refuses reader 'mmap' with ADDON_MISSING naming the package to install", async () => {
    const { openChunkStore } = await blocksWithoutAddon();
    await expect(openChunkStore({ dir, reader: 'mmap' })).rejects.toMatchObject({ code: 'ADDON_MISSING', message: expect.stringContaining("run npm install again") });
  });

  it('maps through the binding where it is installed', async () => {
    const { openChunkStore } = await import('@memmapfs/blocks');
    const store = await openChunkStore({ dir });
    expect(store.reader).toBe('mmap');
    await store.close();
  });
});
