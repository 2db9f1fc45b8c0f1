import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tryLeaseFile } from '@memmapfs/blocks';
import { searchProviderSuite } from '@memmapfs/testkit';
import { describe, expect, it } from 'vitest';
import segmentSearchDefault, { segmentSearch } from '../src/index.js';

searchProviderSuite('segments', () => segmentSearch());
// Tiny segments, merged often: every path from memory to file to merged file runs.
searchProviderSuite('segments (a file every 3 documents, merged by 2)', () => segmentSearch({ flushAfter: 3, mergeFactor: 2 }));

describe('segmentSearch options', () => {
  it('refuses one it does not take (misspelt), or one out of range, as INVALID_ARGUMENT naming the options it takes', () => {
    const refused = (message: RegExp) => expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) });
    expect(() => segmentSearch({ flushAfterr: 3 } as never)).toThrow(refused(/segmentSearch: "flushAfterr" is not one of the options it takes \(flushAfter, mergeFactor\)/));
    expect(() => segmentSearch({ flushAfter: 0 })).toThrow(refused(/must be/));
    expect(() => segmentSearch(5 as never)).toThrow(refused(/options must be an object/));
  });
});

describe('segments provider', () => {
  it('is the default export, named segments, persistent, with prefixes', () => {
    expect(segmentSearchDefault).toBe(segmentSearch);
    expect(segmentSearch().name).toBe('segments');
    expect(segmentSearch().supports).toEqual({ snapshot: false, prefix: true, wholeWords: true, persistent: true, comparableScores: true });
  });

  it('refuses options that are not whole numbers in range', () => {
    expect(() => segmentSearch({ flushAfter: 0 })).toThrow('flushAfter');
    expect(() => segmentSearch({ mergeFactor: 1.5 })).toThrow('mergeFactor');
  });
});

/** Runs `body` with a new empty folder, removed after. */
async function inFolder(body: (folder: string) => Promise<void>): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), 'memmapfs-segments-'));
  try {
    await body(folder);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** Flips one bit of the byte at `offset` (from the end when negative) of the file at `path`, in place: the file stays the one mapped. */
async function flipBit(path: string, offset: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const at = offset < 0 ? (await handle.stat()).size + offset : offset;
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0]! ^= 0x10;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

describe('segments provider saves', () => {
  const doc = (id: number, text: string) => ({ id, text, tags: [], namespace: 'default' });

  it('an open that meets a segment file gone or damaged, or a close, fails and holds none of the files: another process may remove them', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch({ flushAfter: 2 });
      await provider.openIndex(folder, undefined);
      for (let id = 1; id <= 6; id++) provider.add(doc(id, `memory ${id}`));
      const saved = await provider.saveIndex();
      await provider.close();
      const files = (await readdir(join(folder))).filter((name) => name.endsWith('.seg')).sort();
      expect(files.length).toBeGreaterThanOrEqual(3);
      await rm(join(folder, files[1]!));
      const reopened = segmentSearch({ flushAfter: 2 });
      await expect(reopened.openIndex(folder, saved)).rejects.toThrow('was removed');
      const leasable = async (names: string[]) => {
        for (const name of names) {
          const lease = await tryLeaseFile(join(folder, name), 'exclusive');
          expect(typeof lease, name).toBe('object');
          if (typeof lease === 'object') await lease.release();
        }
      };
      await leasable([files[0]!, files[2]!]);
      await reopened.close();
      // A damaged file, not a missing one: the same.
      await writeFile(join(folder, files[1]!), 'not a segment');
      const third = segmentSearch({ flushAfter: 2 });
      await expect(third.openIndex(folder, saved)).rejects.toThrow();
      await leasable(files);
      await third.close();
      // Closed while it opens: it lets go of the leases it took.
      await writeFile(join(folder, files[1]!), await readFile(join(folder, files[0]!)));
      const closing = segmentSearch({ flushAfter: 2 });
      const opening = closing.openIndex(folder, saved).then(() => 'opened', (error: Error) => error.message);
      await closing.close();
      expect(await opening).toContain('closed');
      await leasable(files);
    });
  });

  it('does not merge a segment file that fails its checksum (its damage would pass into a merged file whose checksum holds): it says so, and verify still finds it', async () => {
    await inFolder(async (folder) => {
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(`${(warning as Error & { code?: string }).code}: ${warning.message}`);
      process.on('warning', onWarning);
      try {
        const provider = segmentSearch({ flushAfter: 3, mergeFactor: 2 });
        await provider.openIndex(folder, undefined);
        for (let id = 1; id <= 3; id++) provider.add(doc(id, `banana date item${id}`));
        await provider.saveIndex();
        const [first] = (await readdir(folder)).filter((name) => name.endsWith('.seg'));
        // One bit of its body flipped.
        await flipBit(join(folder, first!), -3);
        for (let id = 4; id <= 6; id++) provider.add(doc(id, `banana date item${id}`));
        const saved = await provider.saveIndex();
        for (let turn = 0; turn < 300 && !warnings.some((w) => w.startsWith('MEMMAPFS_MERGE_FAILED')); turn++) await new Promise((resolve) => setTimeout(resolve, 10));
        expect(warnings.filter((w) => w.startsWith('MEMMAPFS_MERGE_FAILED'))).toEqual([expect.stringMatching(/checksum.*next query rebuilds the index/s)]);
        // Its saves, searches, adds and removes say the index must be rebuilt, until it is cleared.
        await expect(provider.saveIndex()).rejects.toMatchObject({ code: 'SEARCH_INDEX_DAMAGED' });
        for (const call of [() => provider.search({ text: 'banana', limit: 10 }), () => provider.add(doc(7, 'banana')), () => provider.remove(1)]) {
          expect(call).toThrow(expect.objectContaining({ code: 'SEARCH_INDEX_DAMAGED', message: expect.stringContaining(`${first} fails its checksum`) }));
        }
        await provider.close();
        expect(await segmentSearch().verifyIndex!(folder, saved)).toEqual([expect.stringContaining(first!)]);
      } finally {
        process.off('warning', onWarning);
      }
    });
  });

  it('a merge that finds another segment damaged as it works out the owners leaves the index as it was (its merged file gone), and saves refuse it', async () => {
    await inFolder(async (folder) => {
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(`${(warning as Error & { code?: string }).code}: ${warning.message}`);
      process.on('warning', onWarning);
      const segmentFiles = async () => (await readdir(folder)).filter((name) => name.endsWith('.seg')).sort();
      const written = (provider: ReturnType<typeof segmentSearch>) => (provider as unknown as { written: Array<{ file: string; reader: { docCount: number } }> }).written;
      const idle = async (provider: ReturnType<typeof segmentSearch>) => {
        for (let turn = 0; turn < 300 && (provider as unknown as { merging?: Promise<void> }).merging; turn++) await new Promise((resolve) => setTimeout(resolve, 10));
      };
      try {
        // Three segments of 30 merged into one of 90; memory 1 replaced in a later one (an owners entry, saved).
        const first = segmentSearch({ flushAfter: 30, mergeFactor: 3 });
        await first.openIndex(folder, undefined);
        for (let id = 1; id <= 90; id++) first.add(doc(id, `apple item${id}`));
        await first.saveIndex();
        await idle(first);
        first.add(doc(1, 'apple again'));
        const saved = await first.saveIndex();
        const big = written(first).find((segment) => segment.reader.docCount === 90)!.file;
        await first.close();
        // Its first document rows damaged (not the last ones, which an open reads).
        await flipBit(join(folder, big), 64 + 6);
        // Opened again, it merges new segments with the one of memory 1's new version, looking for its holders.
        const provider = segmentSearch({ flushAfter: 30, mergeFactor: 3 });
        await provider.openIndex(folder, saved);
        const before = await segmentFiles();
        for (let id = 91; id <= 150; id++) provider.add(doc(id, `banana item${id}`));
        await provider.saveIndex().catch(() => undefined);
        for (let turn = 0; turn < 300 && !warnings.some((w) => w.startsWith('MEMMAPFS_MERGE_FAILED')); turn++) await new Promise((resolve) => setTimeout(resolve, 10));
        await idle(provider);
        expect(warnings.filter((w) => w.startsWith('MEMMAPFS_MERGE_FAILED'))).toEqual([expect.stringContaining('document row 0 fails its check')]);
        // The merge's inputs are still the index's files, its own file is gone, and no description is made.
        const held = new Set(written(provider).map((segment) => segment.file));
        expect(held.has(big)).toBe(true);
        expect((await segmentFiles()).filter((name) => !before.includes(name) && !held.has(name))).toEqual([]);
        await expect(provider.saveIndex()).rejects.toMatchObject({ code: 'SEARCH_INDEX_DAMAGED' });
        await provider.close();
      } finally {
        process.off('warning', onWarning);
      }
    });
  });

  it('describes the index as it stood when the save began, whatever is added while it writes', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch({ flushAfter: 100 });
      await provider.openIndex(folder, undefined);
      for (let i = 1; i <= 10; i++) provider.add(doc(i, `apple ${i}`));
      await provider.saveIndex();
      // Replacements of written documents arrive on every turn while the next save runs.
      const saving = provider.saveIndex();
      let done = false;
      void saving.finally(() => (done = true));
      for (let turn = 0; !done; turn++) {
        provider.add(doc(1 + (turn % 10), `banana ${turn}`));
        await new Promise((resolve) => setImmediate(resolve));
      }
      const reopened = segmentSearch();
      await reopened.openIndex(folder, await saving);
      expect((await reopened.search({ text: 'apple', limit: 20 })).length + (await reopened.search({ text: 'banana', limit: 20 })).length).toBe(10);
      await reopened.close();
      await provider.close();
    });
  });

  it('writes the in-memory segment out once it holds many different words, not only after flushAfter documents: texts of words all different never make one long build', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch();
      await provider.openIndex(folder, undefined);
      // 40 texts of 20,000 words each, none repeated (hashes, code, base64): 800,000 terms, in far fewer than 4,096 documents.
      for (let i = 1; i <= 40; i++) provider.add(doc(i, Array.from({ length: 20_000 }, (_, k) => `w${i}x${k}`).join(' ')));
      let files: string[] = [];
      for (let turn = 0; turn < 200 && files.length === 0; turn++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        files = await readdir(folder);
      }
      expect(files.length).toBeGreaterThan(0);
      expect((await provider.search({ text: 'w7x19999', limit: 5 })).map((hit) => hit.id)).toEqual([7]);
      await provider.close();
    });
  });

  it('looks for the row of an add that failed half-way when its id is added again or removed', () => {
    const provider = segmentSearch();
    provider.add(doc(1, 'alpha one'));
    const postings = (provider as unknown as { memory: { builder: { postings: { add: (...args: unknown[]) => void } } } }).memory.builder.postings;
    const add = postings.add.bind(postings);
    let calls = 0;
    // (Its row taken, its words' postings not: a pool that could not grow.)
    postings.add = (...args: unknown[]) => {
      if (calls++ === 1) throw new RangeError('Array buffer allocation failed');
      add(...args);
    };
    expect(() => provider.add(doc(2, 'alpha two'))).toThrow('allocation failed');
    postings.add = add;
    provider.add(doc(2, 'beta two'));
    expect(provider.search({ text: 'beta', limit: 5 }).map((hit) => hit.id)).toEqual([2]);
    provider.remove(2);
    expect(provider.search({ text: 'alpha', limit: 5 }).map((hit) => hit.id)).toEqual([1]);
    expect(provider.search({ text: 'beta', limit: 5 })).toEqual([]);
  });

  it('replaces and removes, after a reopen, the documents of the segments it opened: the highest id they hold is known before the first add', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch();
      await provider.openIndex(folder, undefined);
      for (let i = 1; i <= 3; i++) provider.add(doc(i, `first words ${i}`));
      const saved = await provider.saveIndex();
      await provider.close();
      const reopened = segmentSearch();
      await reopened.openIndex(folder, saved);
      reopened.add(doc(3, 'second words'));
      reopened.remove(2);
      reopened.add(doc(4, 'first words again'));
      expect(reopened.search({ text: 'first', limit: 10 }).map((hit) => hit.id).sort()).toEqual([1, 4]);
      expect(reopened.search({ text: 'second', limit: 10 }).map((hit) => hit.id)).toEqual([3]);
      await reopened.close();
    });
  });

  it('gives the memory of an in-memory segment written out to the next one, and finds every document across them', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch({ flushAfter: 200, mergeFactor: 100 });
      await provider.openIndex(folder, undefined);
      const inside = provider as unknown as { sealed: unknown[]; memory: { builder: { postings: { pool: Int32Array } } } };
      const pools: ArrayBufferLike[] = [inside.memory.builder.postings.pool.buffer];
      for (let i = 1; i <= 2000; i++) {
        provider.add(doc(i, `word${i % 50} common text${i}`));
        if (i % 200 !== 0) continue;
        for (let turn = 0; turn < 500 && inside.sealed.length > 0; turn++) await new Promise((resolve) => setTimeout(resolve, 2));
        expect(inside.sealed).toHaveLength(0);
        pools.push(inside.memory.builder.postings.pool.buffer);
      }
      // Ten segments written, each (but the first two) in the memory of one written before it.
      expect((await readdir(folder)).filter((file) => file.endsWith('.seg'))).toHaveLength(10);
      expect(new Set(pools).size).toBe(2);
      expect(provider.search({ text: 'text1234', limit: 5 }).map((hit) => hit.id)).toEqual([1234]);
      expect(provider.search({ text: 'word7', limit: 100 }).map((hit) => hit.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, k) => 7 + k * 50));
      expect(provider.search({ text: 'common', limit: 3000 })).toHaveLength(2000);
      await provider.close();
    });
  });

  it('writes the in-memory segment out once it holds very many words, even of a few different terms: its postings stay bounded', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch();
      await provider.openIndex(folder, undefined);
      // 60 texts of 40,000 words from ten: 2,400,000 words, ten terms, 60 documents.
      const words = Array.from({ length: 10 }, (_, k) => `common${k}`);
      for (let i = 1; i <= 60; i++) provider.add(doc(i, Array.from({ length: 40_000 }, (_, k) => words[(k * 7 + i) % 10]).join(' ')));
      let files: string[] = [];
      for (let turn = 0; turn < 200 && files.length === 0; turn++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        files = await readdir(folder);
      }
      expect(files.length).toBeGreaterThan(0);
      expect((await provider.search({ text: 'common3', limit: 100 })).map((hit) => hit.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      await provider.close();
    });
  });

  it('finds every term of a written segment whose terms JavaScript and UTF-8 order differently (a character above U+FFFF against one from U+E000 to U+FFFF)', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch();
      await provider.openIndex(folder, undefined);
      const tags = ['\uE000', '\u{1F600}', '\uFFFD', '\u{20000}', 'plain', '\uD7FF'];
      tags.forEach((tag, i) => provider.add({ id: i + 1, text: `text ${i}`, tags: [tag], namespace: 'default' }));
      const saved = await provider.saveIndex();
      const reopened = segmentSearch();
      await reopened.openIndex(folder, saved);
      for (const [i, tag] of tags.entries()) expect((await reopened.search({ text: 'text', limit: 10, tags: [tag] })).map((hit) => hit.id)).toEqual([i + 1]);
      await reopened.close();
      await provider.close();
    });
  });

  it('returns under a steady stream of documents, without writing a file per turn', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch();
      await provider.openIndex(folder, undefined);
      let id = 1;
      let stop = false;
      const feed = () => {
        if (stop) return;
        for (let k = 0; k < 20; k++) provider.add(doc(id++, `word${id % 97} text ${id}`));
        setImmediate(feed);
      };
      feed();
      const outcome = await Promise.race([provider.saveIndex().then(() => 'saved'), new Promise((resolve) => setTimeout(() => resolve('still saving'), 3_000))]);
      stop = true;
      expect(outcome).toBe('saved');
      expect((await readdir(folder)).length).toBeLessThan(5);
      await provider.close();
    });
  });
});

describe('segments provider gives back the space of removed documents', () => {
  // Each document has a word of its own (`only<id>x`), so that what a file still holds of it can be looked for.
  const doc = (id: number) => ({ id, text: `only${id}x shared words of a memory number ${id % 13}`, tags: [], namespace: 'default' });
  /** Bytes of the segment files the saved index names, and whether any of them holds `needle`. */
  const namedFiles = async (folder: string, saved: Uint8Array, needle?: string) => {
    const names = (await readdir(folder)).filter((name) => name.endsWith('.seg'));
    const described = Buffer.from(saved).toString('latin1');
    let bytes = 0;
    let holds = false;
    for (const name of names.filter((n) => described.includes(n))) {
      const content = await readFile(join(folder, name));
      bytes += content.length;
      if (needle && content.includes(needle)) holds = true;
    }
    return { bytes, holds };
  };
  /** Saves until what is saved passes `until` (background work may take a few turns), or 300 tries have been made. */
  const settle = async (provider: ReturnType<typeof segmentSearch>, until: (saved: Uint8Array) => Promise<boolean>) => {
    let saved = await provider.saveIndex();
    for (let turn = 0; turn < 300 && !(await until(saved)); turn++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      saved = await provider.saveIndex();
    }
    return saved;
  };

  /** A provider on `folder` with documents 1–2,000 in four segments of 500 (too few for a merge of their tier, 8). */
  const twoThousand = async (folder: string) => {
    const provider = segmentSearch({ flushAfter: 500 });
    await provider.openIndex(folder, undefined);
    for (let id = 1; id <= 2_000; id++) provider.add(doc(id));
    return provider;
  };

  it('rewrites a written segment once most of its documents are removed or replaced, without waiting for a merge of its tier', async () => {
    await inFolder(async (folder) => {
      const provider = await twoThousand(folder);
      const before = await namedFiles(folder, await provider.saveIndex(), 'only11x');
      expect(before.holds).toBe(true);
      // 1,700 removed and 100 replaced: 200 documents live as they were.
      for (let id = 1; id <= 2_000; id++) {
        if (id % 10 === 0) continue;
        if (id % 10 === 5) provider.add({ ...doc(id), text: `replaced text ${id}` });
        else provider.remove(id);
      }
      const saved = await settle(provider, async (saved) => !(await namedFiles(folder, saved, 'only11x')).holds && (await namedFiles(folder, saved)).bytes < before.bytes / 3);
      await provider.removeUnusedFiles(async () => saved);
      const after = await namedFiles(folder, saved, 'only11x');
      expect(after.bytes).toBeLessThan(before.bytes / 3);
      expect(after.holds).toBe(false);
      expect((await provider.search({ text: 'only10x', limit: 5 })).map((hit) => hit.id)).toEqual([10]);
      expect(await provider.search({ text: 'only11x', limit: 5 })).toEqual([]);
      expect((await provider.search({ text: 'replaced', limit: 500 })).length).toBe(200);
      const reopened = segmentSearch();
      await reopened.openIndex(folder, saved);
      expect((await reopened.search({ text: 'shared', limit: 5_000 })).length).toBe(200);
      await reopened.close();
      await provider.close();
    });
  });

  it('counts the dead rows of an index it opens from what its description says, and rewrites a segment mostly dead', async () => {
    await inFolder(async (folder) => {
      const provider = await twoThousand(folder);
      const before = await namedFiles(folder, await provider.saveIndex(), 'only11x');
      for (let id = 1; id <= 2_000; id++) if (id % 10 !== 0) provider.remove(id);
      // Described with the removals, before any rewrite: the next process finds them in the owners table alone.
      const described = await provider.saveIndex();
      await provider.close();
      expect((await namedFiles(folder, described, 'only11x')).holds).toBe(true);
      const reopened = segmentSearch({ flushAfter: 500 });
      await reopened.openIndex(folder, described);
      // (Until every segment is rewritten: three of the four rewritten are already below a third of the bytes.)
      const saved = await settle(reopened, async (saved) => !(await namedFiles(folder, saved, 'only11x')).holds && (await namedFiles(folder, saved)).bytes < before.bytes / 3);
      await reopened.removeUnusedFiles(async () => saved);
      expect((await namedFiles(folder, saved, 'only11x')).holds).toBe(false);
      expect((await reopened.search({ text: 'shared', limit: 5_000 })).length).toBe(200);
      await reopened.close();
    });
  });

  /**
   * The index of `twoThousand` saved with documents 1–20 removed (their rows are looked up when the next
   * process counts the dead ones), closed, and the first document row of their segment damaged (an
   * open reads the last ones only). Returns its description.
   */
  const removedThenFirstRowDamaged = async (folder: string) => {
    const provider = await twoThousand(folder);
    await provider.saveIndex();
    for (let id = 1; id <= 20; id++) provider.remove(id);
    const described = await provider.saveIndex();
    const first = (provider as unknown as { written: Array<{ file: string; reader: { rowOf(id: number): number } }> }).written.find((segment) => segment.reader.rowOf(1) >= 0)!.file;
    await provider.close();
    await flipBit(join(folder, first), 64 + 6);
    return described;
  };

  it('says the index is damaged when counting its dead rows meets a damaged row, rather than counting none there', async () => {
    await inFolder(async (folder) => {
      const described = await removedThenFirstRowDamaged(folder);
      const warnings: string[] = [];
      const onWarning = (warning: Error & { code?: string }) => warnings.push(`${warning.code}: ${warning.message}`);
      process.on('warning', onWarning);
      try {
        const reopened = segmentSearch({ flushAfter: 500 });
        await reopened.openIndex(folder, described);
        // (Its first save considers merges, which counts the dead rows first.)
        await reopened.saveIndex();
        const state = reopened as unknown as { countingDead?: Promise<void>; deadRows?: Map<number, number> };
        for (let turn = 0; turn < 300 && (state.countingDead !== undefined || state.deadRows === undefined); turn++) await new Promise((resolve) => setTimeout(resolve, 10));
        // A search that reads none of the damaged rows says so too: the index is to be made again.
        expect(() => reopened.search({ text: 'only1500x', limit: 5 })).toThrow(expect.objectContaining({ code: 'SEARCH_INDEX_DAMAGED', message: expect.stringContaining('document row 0 fails its check') }));
        expect(warnings).toEqual([expect.stringMatching(/^MEMMAPFS_MERGE_FAILED: .*document row 0 fails its check.*next query rebuilds the index/s)]);
        await reopened.close();
      } finally {
        process.off('warning', onWarning);
      }
    });
  });

  it('refuses to describe the index when the count of dead rows finds it damaged while a save is under way', async () => {
    await inFolder(async (folder) => {
      const described = await removedThenFirstRowDamaged(folder);
      const onWarning = () => undefined;
      process.on('warning', onWarning);
      try {
        const reopened = segmentSearch({ flushAfter: 500 });
        await reopened.openIndex(folder, described);
        // The count takes more than one slice (as over a large owners table): its first slice ends before it reads a row.
        const state = reopened as unknown as { deadRowsSteps: (written: unknown) => Generator<void, Map<number, number>, void>; damaged?: unknown };
        const steps = state.deadRowsSteps.bind(reopened);
        state.deadRowsSteps = function* (written: unknown) {
          const until = performance.now() + 20;
          while (performance.now() < until);
          yield;
          return yield* steps(written);
        };
        // (Its first save considers merges, which starts the count.)
        await reopened.saveIndex();
        // A second save, begun while the count runs (a checkpoint's, say), with a document to write out.
        reopened.add(doc(5_000));
        const second = reopened.saveIndex();
        const outcome = await second.then((description) => ({ description }), (error: unknown) => ({ error }));
        const damagedNow = state.damaged !== undefined;
        await reopened.close();
        expect(damagedNow).toBe(true);
        // The description it returned (which the store would write) names the damaged file again.
        expect(outcome).toMatchObject({ error: expect.objectContaining({ code: 'SEARCH_INDEX_DAMAGED' }) });
      } finally {
        process.off('warning', onWarning);
      }
    });
  });

  it('saveIndex({ compact: true }) rewrites every segment a tenth of which is removed, as a compaction asks', async () => {
    await inFolder(async (folder) => {
      const provider = await twoThousand(folder);
      const before = await namedFiles(folder, await provider.saveIndex());
      // 15% of each segment: below what rewrites one by itself.
      for (let id = 1; id <= 2_000; id++) if (id % 20 < 3) provider.remove(id);
      const plain = await namedFiles(folder, await provider.saveIndex(), 'only21x');
      expect(plain.holds).toBe(true);
      const saved = await provider.saveIndex({ compact: true });
      await provider.removeUnusedFiles(async () => saved);
      const after = await namedFiles(folder, saved, 'only21x');
      expect(after.holds).toBe(false);
      expect(after.bytes).toBeLessThan(before.bytes * 0.92);
      expect((await provider.search({ text: 'shared', limit: 5_000 })).length).toBe(1_700);
      await provider.close();
    });
  });
});

describe('segments provider, when a merge fails', () => {
  it('waits before it tries a failed rewrite again: a folder it cannot write to costs a few tries, not a loop', async () => {
    await inFolder(async (folder) => {
      const provider = segmentSearch({ flushAfter: 10 });
      await provider.openIndex(folder, undefined);
      for (let id = 1; id <= 40; id++) provider.add({ id, text: `note ${id}`, tags: [], namespace: 'default' });
      await provider.saveIndex();
      const warnings: string[] = [];
      const onWarning = (warning: Error & { code?: string }) => {
        if (warning.code === 'MEMMAPFS_MERGE_FAILED') warnings.push(warning.message);
      };
      process.on('warning', onWarning);
      try {
        // Every write fails from now on (the folder is gone); half of the first segment is dead.
        await rm(folder, { recursive: true, force: true });
        for (let id = 1; id <= 5; id++) provider.remove(id);
        provider.add({ id: 41, text: 'note 41', tags: [], namespace: 'default' });
        for (let id = 42; id <= 50; id++) provider.add({ id, text: `note ${id}`, tags: [], namespace: 'default' });
        await new Promise((resolve) => setTimeout(resolve, 300));
      } finally {
        process.off('warning', onWarning);
      }
      expect(warnings.length).toBeGreaterThan(0);
      expect(warnings.length).toBeLessThan(5);
      expect((await provider.search({ text: 'note', limit: 100 })).length).toBe(45);
      await provider.close();
    });
  });
});
