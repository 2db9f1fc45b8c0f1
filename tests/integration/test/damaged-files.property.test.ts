import { cp, mkdtemp, readFile, rm, stat, truncate, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemMapError, MemMapFS } from '@memmapfs/core';
import { WAL_HEADER_SIZE } from '@memmapfs/wal';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';

let dir: string;
let fixture: string;
/** Memories of the fixture store in the order they were written (their LSN order). */
const written: Array<{ id: number; text: string }> = [];
let walSize = 0;
let caseNumber = 0;

const open = (root: string) => MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-damage-'));
  fixture = join(dir, 'fixture');
  const fs = await open(fixture);
  for (let i = 0; i < 40; i++) {
    const text = `fixture memory ${i}: ${'lorem ipsum '.repeat(i % 7)}`.trim();
    written.push({ id: await fs.appendMemory(text, [`t${i % 3}`]), text });
  }
  await fs.close();
  await rm(join(fixture, 'index'), { recursive: true });
  walSize = (await stat(join(fixture, 'state.wal'))).size;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A copy of the fixture, damaged. The copy keeps the log's identity, so its commit marker still applies. */
async function damagedCopy(damage: (root: string) => Promise<void>): Promise<string> {
  const root = join(dir, `case-${caseNumber++}`);
  await cp(fixture, root, { recursive: true });
  await damage(root);
  return root;
}

/** Every memory the store returns must be one that was written, with exactly its text. */
async function expectOnlyTrueMemories(fs: MemMapFS): Promise<number[]> {
  const present: number[] = [];
  for (const { id, text } of written) {
    try {
      const memory = await fs.getMemory(id);
      if (memory) {
        expect(memory.text).toBe(text);
        present.push(id);
      }
    } catch (error) {
      expect(MemMapError.is(error, 'BLOCK_CORRUPT') || MemMapError.is(error, 'BLOCK_MISSING'), String(error)).toBe(true);
    }
  }
  for (const hit of await fs.queryMemory('fixture', { limit: 100 })) {
    expect(written.find((w) => w.id === hit.id)?.text).toBe(hit.text);
  }
  return present;
}

describe('damaged files (property-based)', () => {
  it('a WAL cut at any byte, with its commit marker lost, opens to a prefix of what was written', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 64, max: walSize }), async (cut) => {
        const root = await damagedCopy(async (r) => {
          await truncate(join(r, 'state.wal'), cut);
          await rm(join(r, 'state.head'));
        });
        const fs = await open(root);
        const present = await expectOnlyTrueMemories(fs);
        expect(present).toEqual(written.slice(0, present.length).map((w) => w.id));
        if (cut === walSize) expect(present).toHaveLength(written.length);
        await fs.close();
        await rm(root, { recursive: true });
      }),
      { numRuns: 60 },
    );
  });

  it('a WAL cut short of its commit marker is refused as WAL_CORRUPT, and left as it is', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 65, max: walSize - 1 }), async (cut) => {
        const root = await damagedCopy((r) => truncate(join(r, 'state.wal'), cut));
        const error = await open(root).catch((e: unknown) => e);
        expect(MemMapError.is(error, 'WAL_CORRUPT'), String(error)).toBe(true);
        expect((await stat(join(root, 'state.wal'))).size).toBe(cut);
        await rm(root, { recursive: true });
      }),
      { numRuns: 30 },
    );
  });

  it('a flipped bit anywhere in the WAL is refused: WAL_HEADER_INVALID in the header, WAL_CORRUPT in a record the commit marker vouches for', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: walSize - 1 }), fc.integer({ min: 0, max: 7 }), async (offset, bit) => {
        const root = await damagedCopy(async (r) => {
          const bytes = await readFile(join(r, 'state.wal'));
          bytes[offset]! ^= 1 << bit;
          await writeFile(join(r, 'state.wal'), bytes);
        });
        try {
          const error = await open(root).then(async (fs) => {
            await fs.close();
            return undefined;
          }, (caught: unknown) => caught);
          expect(error).toBeInstanceOf(MemMapError);
          expect((error as MemMapError).code).toBe(offset < WAL_HEADER_SIZE ? 'WAL_HEADER_INVALID' : 'WAL_CORRUPT');
        } finally {
          await rm(root, { recursive: true });
        }
      }),
      { numRuns: 80 },
    );
  });

  it('flipped bits in chunk files are never returned as memory text', async () => {
    const chunk = join(fixture, 'blocks', 'chunk_0000.bin');
    const chunkSize = (await stat(chunk)).size;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: chunkSize - 1 }), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 5 }), async (flips) => {
        const root = await damagedCopy(async (r) => {
          const path = join(r, 'blocks', 'chunk_0000.bin');
          const bytes = await readFile(path);
          for (const [offset, bit] of flips) bytes[offset]! ^= 1 << bit;
          await writeFile(path, bytes);
        });
        const fs = await open(root);
        const present = await expectOnlyTrueMemories(fs);
        expect(present.length).toBeGreaterThanOrEqual(written.length - flips.length);
        await fs.close();
        await rm(root, { recursive: true });
      }),
      { numRuns: 40 },
    );
  });

  it('junk appended to the WAL is cut off and everything written is kept', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (junk) => {
        const root = await damagedCopy((r) => appendFile(join(r, 'state.wal'), junk));
        const fs = await open(root);
        expect(await expectOnlyTrueMemories(fs)).toHaveLength(written.length);
        await fs.close();
        expect((await stat(join(root, 'state.wal'))).size).toBe(walSize);
        await rm(root, { recursive: true });
      }),
      { numRuns: 40 },
    );
  });
});
